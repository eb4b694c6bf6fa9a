# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which control-plane node's PostgreSQL is the primary, from what datastore_info saw on each.

A pure decision, used by the kine_datastore role before it creates or changes anything:
- a node running as primary is the primary; two running primaries is a split the role refuses;
- with no running primary (every node powered off and back), the datastore history decides: the node
  that may become primary without losing an acknowledged write (the last primary, or its synchronous
  standby). Without a history (a pair set up before it was kept), the node that was primary last wins:
  among nodes stopped as primary, the newest timeline. Two stopped primaries of the same cluster
  (same system identifier) on the same timeline cannot be told apart: refused, the operator decides;
- a node whose cluster is another one than the one the others hold (a rebuilt node with an empty
  cluster), or a standby whose data is newer than the stopped primary's, is never chosen over them:
  refused, naming both, so nothing is cloned from the wrong side;
- nodes that have no data yet, or fresh clusters that never ran as a pair, get the configured initial
  primary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.twinroom.ha.plugins.module_utils import datastore_history
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError


class PrimaryChoiceError(TwinroomError):
    """No node may be chosen as the datastore primary without risking acknowledged writes."""


def _describe(host, state):
    role = state.get('role')
    if role == 'stopped':
        role = 'stopped as %s' % (state.get('stopped_as') or 'primary')
    return '%s (%s, system %s, timeline %s)' % (host, role, state.get('system_identifier') or 'unknown',
                                                state.get('timeline'))


def _with_data(states):
    return dict((h, s) for h, s in states.items() if s.get('role') in ('primary', 'standby', 'stopped'))


def _was_standby(state):
    return state.get('role') == 'standby' or (state.get('role') == 'stopped' and state.get('stopped_as') == 'standby')


def _from_history(data, history):
    """The node the history allows, or a refusal naming why none may be primary."""
    allowed, refusals = [], []
    for host in sorted(data):
        try:
            datastore_history.check_promotion(host, data[host], history)
            allowed.append(host)
        except datastore_history.HistoryError as exc:
            refusals.append(exc.msg)
    if not allowed:
        raise PrimaryChoiceError(
            'No control-plane node may become the datastore primary without losing acknowledged writes: %s'
            % ' / '.join(refusals))
    last = datastore_history.latest(history)
    if last['node'] in allowed:
        return last['node']
    standby = allowed[0]
    raise PrimaryChoiceError(
        '%s cannot be the datastore primary (%s), and %s, its synchronous standby, holds every write it '
        'acknowledged but is a standby. Nothing was changed. Promote %s by hand (pg_ctlcluster <version> <cluster> '
        'start, then pg_ctlcluster <version> <cluster> promote), then run site.yml again: %s is then rejoined as '
        'its standby.' % (last['node'], ' / '.join(refusals) or 'no data', standby, standby, last['node']))


def choose_primary(states, initial, history=None):  # noqa: C901 - one rule per branch, in the docstring's order
    """states: {host: datastore_info result (role, stopped_as, timeline, system_identifier, history)}.

    ``history``: the controller's copy of the datastore history; each node's own copy (``history`` in its
    state) is merged in.
    """
    running = sorted(h for h, s in states.items() if s.get('role') == 'primary')
    if len(running) > 1:
        raise PrimaryChoiceError(
            'Both %s run a PostgreSQL primary: the datastore is split. Do not write to either; fence the '
            'node whose writes you will discard and rejoin it with playbooks/control_plane_rejoin.yml.'
            % ' and '.join(running))
    if running:
        return running[0]
    data = _with_data(states)
    if not data:
        return initial
    merged = datastore_history.merge(history or [], *[s.get('history') or [] for s in states.values()])
    if merged:
        return _from_history(data, merged)

    stopped = dict((h, s) for h, s in data.items() if not _was_standby(s))
    standbys = dict((h, s) for h, s in data.items() if _was_standby(s))
    identifiers = set(str(s.get('system_identifier')) for s in data.values())
    if standbys and len(identifiers) > 1:
        raise PrimaryChoiceError(
            'The control-plane nodes hold different PostgreSQL clusters: %s. One was rebuilt or created anew; '
            'making it primary would clone its empty or foreign cluster over the datastore. Nothing was changed. '
            'Keep the node with the datastore: start it as primary (pg_ctlcluster <version> <cluster> start, then '
            'promote if it is a standby), then run site.yml again and the other node is cloned from it.'
            % ', '.join(_describe(h, data[h]) for h in sorted(data)))
    if len(stopped) > 1 and len(identifiers) == 1:
        newest = max(s.get('timeline') or 0 for s in stopped.values())
        latest = sorted(h for h, s in stopped.items() if (s.get('timeline') or 0) == newest)
        if len(latest) > 1:
            raise PrimaryChoiceError(
                'Both %s were last a primary on timeline %d: cannot tell which has the newest writes. Start '
                'the one to keep by hand (systemctl start postgresql@15-kine), then run site.yml.'
                % (' and '.join(latest), newest))
        return latest[0]
    if len(stopped) == 1 and standbys:
        host, state = list(stopped.items())[0]
        ahead = sorted(h for h, s in standbys.items() if (s.get('timeline') or 0) > (state.get('timeline') or 0))
        if ahead:
            raise PrimaryChoiceError(
                'Refusing to make %s primary: %s is on a newer timeline, so it was promoted after %s stopped and '
                'holds writes %s lacks. Nothing was changed. Start %s as primary by hand (pg_ctlcluster <version> '
                '<cluster> start; it promotes when it is a standby), then run site.yml again.'
                % (_describe(host, state), ', '.join(_describe(h, standbys[h]) for h in ahead), host, host, ahead[0]))
        return host
    if standbys and not stopped:
        raise PrimaryChoiceError(
            'No control-plane node is or was a primary, but %s hold the datastore as standbys: creating a new '
            'primary would clone an empty cluster over it. Nothing was changed. Promote the standby with the '
            'newest data (pg_ctlcluster <version> <cluster> start, then pg_ctlcluster <version> <cluster> promote), '
            'then run site.yml again.' % ', '.join(_describe(h, standbys[h]) for h in sorted(standbys)))
    return initial
