# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which control-plane node's PostgreSQL is the primary, from what datastore_info saw on each.

A pure decision, used by the kine_datastore role before it changes anything:
- a node running as primary is the primary; two running primaries is a split the role refuses;
- with no running primary (every node powered off and back), the node that was primary last wins:
  among nodes stopped as primary, the newest timeline. Two stopped primaries of the same cluster
  (same system identifier) on the same timeline cannot be told apart: refused, the operator decides;
- nodes that never ran a pair yet (fresh clusters have different system identifiers) get the
  configured initial primary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class PrimaryChoiceError(ValueError):
    pass


def choose_primary(states, initial):
    """states: {host: datastore_info result (role, stopped_as, timeline, system_identifier)}."""
    running = sorted(h for h, s in states.items() if s.get('role') == 'primary')
    if len(running) > 1:
        raise PrimaryChoiceError(
            'Both %s run a PostgreSQL primary: the datastore is split. Do not write to either; fence the '
            'node whose writes you will discard and rejoin it with playbooks/control_plane_rejoin.yml.'
            % ' and '.join(running))
    if running:
        return running[0]
    stopped = dict((h, s) for h, s in states.items() if s.get('role') == 'stopped' and s.get('stopped_as') == 'primary')
    standbys = [h for h, s in states.items() if s.get('role') in ('standby', 'stopped') and s.get('stopped_as') != 'primary'
                and s.get('role') != 'absent']
    identifiers = set(s.get('system_identifier') for s in stopped.values())
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
        return list(stopped)[0]
    return initial
