# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The datastore's history: which node was primary on which timeline, and who held its synchronous copy.

A takeover has to know whether the node it promotes has every write the last primary acknowledged, and
the node that knows is the one that is gone. So every run of the datastore module that leaves a primary
records what it left - ``primary`` (a primary with no synchronous standby: after a bootstrap, a promotion,
or synchronous replication turned off for a fenced standby) or ``synchronous`` (a primary whose named
standby confirms every commit) - in a history kept on each control-plane node and on the controller.
Copies merge; the newest event is the one with the highest timeline, then the latest time.

Pure: no I/O here (the datastore runner reads and writes the files).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError

EVENTS = ('primary', 'synchronous')
# At most this many events are kept: enough for years of failovers, small enough to pass as a variable.
KEEP = 200


class HistoryError(TwinroomError):
    """The history refuses a decision that could discard acknowledged writes."""


def _event_key(event):
    return (event.get('event'), event.get('node'), event.get('timeline'), event.get('standby'),
            str(event.get('system_identifier')))


def _order(event):
    return (int(event.get('timeline') or 0), event.get('at') or '')


def normalize(history):
    """A list of event dicts, checked: unknown or malformed entries raise HistoryError."""
    events = []
    for index, event in enumerate(history or ()):
        if not isinstance(event, dict) or event.get('event') not in EVENTS or not event.get('node'):
            raise HistoryError(
                'datastore history entry %d is not an event (%r): expected event (%s), node, timeline. Restore the '
                'history file from another copy (each control-plane node and the controller keep one).'
                % (index, event, ' or '.join(EVENTS)))
        try:
            timeline = int(event.get('timeline'))
        except (TypeError, ValueError):
            raise HistoryError('datastore history entry %d has no timeline: %r' % (index, event))
        clean = dict(event)
        clean['timeline'] = timeline
        events.append(clean)
    return events


def merge(*copies):
    """Every copy's events once, oldest first (timeline, then time); at most KEEP of the newest."""
    seen = {}
    for copy in copies:
        for event in normalize(copy):
            key = _event_key(event)
            if key not in seen or (event.get('at') or '') < (seen[key].get('at') or ''):
                seen[key] = event  # the first time a state was recorded is when it began
    merged = sorted(seen.values(), key=_order)
    return merged[-KEEP:]


def latest(history):
    events = normalize(history)
    return max(events, key=_order) if events else None


def current_event(node_name, state, at):
    """What a primary's observed state says: the event to record, or None when ``state`` is no primary."""
    if state.get('role') != 'primary' or state.get('timeline') is None:
        return None
    names = state.get('synchronous_standby_names') or ''
    standby = None
    for row in state.get('standbys') or ():
        if row.get('sync_state') == 'sync' and row.get('state') == 'streaming' and row.get('application_name') \
                and row.get('application_name') in names:
            standby = row.get('application_name')
    event = dict(event='synchronous' if standby else 'primary', node=node_name, timeline=int(state['timeline']),
                 system_identifier=str(state.get('system_identifier') or '') or None, lsn=state.get('lsn'), at=at)
    if standby:
        event['standby'] = standby
    return event


def record(history, event):
    """``history`` with ``event`` appended unless the newest event already says the same."""
    events = normalize(history)
    if event is None:
        return events
    last = latest(events)
    if last is not None and _event_key(last) == _event_key(event):
        return events
    return merge(events, [event])


def _where(local):
    was = local.get('role')
    if was == 'stopped':
        was = 'stopped as %s' % (local.get('stopped_as') or 'primary')
    return '%s on timeline %s at LSN %s' % (was, local.get('timeline'), local.get('lsn') or 'unknown')


def check_promotion(node_name, local, history):
    """Refuse to make ``node_name`` primary unless it has every write the last primary acknowledged.

    ``local``: the node's observed state (role, stopped_as, timeline, lsn, system_identifier). Allowed:
    the last primary itself on its timeline (a restart), or the standby the last primary named synchronous
    (of the same cluster: the system identifier is compared first). With no history (a pair set up before it existed) nothing is refused here.
    """
    last = latest(history)
    if last is None:
        return None
    mine = local.get('system_identifier')
    theirs = last.get('system_identifier')
    if mine and theirs and str(mine) != str(theirs):
        raise HistoryError(
            'refusing to make %s primary: its PostgreSQL cluster (system %s, %s) is not the datastore\'s (system %s, '
            'last primary %s on timeline %s): it was rebuilt or created anew, and making it primary would replace '
            'the datastore by an empty or foreign one. Keep the node that holds system %s; remove %s\'s data '
            'directory only to re-clone it from there.'
            % (node_name, mine, _where(local), theirs, last['node'], last['timeline'], theirs, node_name))
    timeline = local.get('timeline')
    if last['node'] == node_name:
        if timeline is not None and int(timeline) < last['timeline']:
            raise HistoryError(
                'refusing to make %s primary: it is %s, but it was primary on timeline %s (recorded %s); its data '
                'directory is older than its own history. Restore the node with the newest data.'
                % (node_name, _where(local), last['timeline'], last.get('at')))
        return last
    if last['event'] == 'synchronous' and last.get('standby') == node_name:
        # Named synchronous: it confirmed every commit since. Its timeline is not compared: a standby reports the
        # timeline of its last restartpoint until its WAL receiver runs, which lags the primary's (seen on the lab:
        # timeline 1 while streaming timeline 2 from a primary that was then lost).
        return last
    if last['event'] == 'synchronous':
        since = 'with %s as its synchronous standby' % last.get('standby')
    else:
        since = 'with no synchronous standby'
    raise HistoryError(
        'refusing to make %s primary: %s was primary on timeline %s %s (recorded %s, LSN %s), and %s is %s, so it '
        'lacks writes %s acknowledged. Promoting it would lose them. Bring %s back (power its room on, run '
        'recover.yml) so %s can rejoin it; if %s is gone for good and those writes may be lost, say so with '
        'discard_newer_writes: true.'
        % (node_name, last['node'], last['timeline'], since, last.get('at'), last.get('lsn') or 'unknown',
           node_name, _where(local), last['node'], last['node'], node_name, last['node']))
