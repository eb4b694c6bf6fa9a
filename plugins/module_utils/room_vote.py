# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Automatic failover's decision (issue 12): is a room lost, by whose votes, and may the survivor take it over now.

Three voters - room_a, room_b and, when configured, the witness at a third site - each report what they see of the
rooms other than themselves (:func:`room_view`); :func:`judge` turns the reports into one decision, ``none``,
``alarm`` (an operator decides) or ``failover`` (run failover.yml for the room). :func:`isolate` is the guard's side:
when a node of a cut-off room makes itself harmless; :func:`witness_answer` is what the witness tells each guard.
The settings and their checks live in failover_settings.py (layer 1, shared with the inventory rule) and are
re-exported here.

A plan (layer 4): pure, no I/O, no clock - ``now`` and every time are epoch seconds passed in. The voters' clocks
differ a little; ``margin_seconds`` covers that, the guard's reaction time and the latency of the witness's answer.
"""

from __future__ import annotations

import datetime
import math

from ansible_collections.twinroom.ha.plugins.module_utils.failover_settings import (
    DEFAULTS, AutomaticFailoverSettingsError, check_settings, settings_problems)
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, TwinroomError, join_words, other_room

# The settings' part of the API lives in failover_settings.py (layer 1, shared with the inventory rule).
__all__ = ['AutomaticFailoverSettingsError', 'DEFAULTS', 'settings_problems', 'check_settings', 'room_view', 'judge',
           'isolate', 'witness_answer', 'when', 'TwinroomError']

WITNESS = 'witness'
VOTERS = ROOMS + (WITNESS,)
LOST, ALIVE, ABSENT = 'lost', 'alive', 'absent'
FRESH, STALE = 'fresh', 'stale'
POWER_STATES = ('on', 'off', 'dark')
# What the reasons say of a lost room's BMCs, by the room's power in the views.
_BMC_WORDS = {'dark': 'do not answer', 'on': 'report its nodes on', 'mixed': 'do not all answer and report off'}
RUNBOOK = 'An operator decides (docs/runbook.md)'


def when(epoch):
    """An epoch as the reasons write it: UTC, ISO 8601, to the second unless it has a fraction."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    spec = 'seconds' if float(epoch).is_integer() else 'milliseconds'
    return moment.isoformat(timespec=spec).replace('+00:00', 'Z')


def _room(room, what='room'):
    if room not in ROOMS:
        raise TwinroomError('Unknown %s %s: automatic failover knows the rooms %s.' % (what, room, join_words(ROOMS)))
    return room


def _power(bmc_power):
    states = set()
    for node, state in sorted((bmc_power or {}).items()):
        if state not in POWER_STATES:
            raise TwinroomError("The BMC of %s reads '%s'; a room view takes on, off or dark (the BMC did not answer)."
                                % (node, state))
        states.add(state)
    if not states:
        return 'dark'  # no BMC answered anything
    return states.pop() if len(states) == 1 else 'mixed'


def room_view(room, now, leases, api_answered_at, datastore_answered_at, bmc_power, detect_seconds):
    """One voter's view of one room from raw observations.

    ``leases``: {node: last renew time or None}; ``api_answered_at`` / ``datastore_answered_at``: when the room's API
    server / its PostgreSQL last answered this voter, or None (never); ``bmc_power``: {node: on, off or dark (the BMC
    did not answer)}. A signal is fresh when it was seen less than ``detect_seconds`` ago; at exactly
    ``detect_seconds`` the room has been silent for detect_seconds and the signal is stale. The leases are one
    signal, fresh when any node renewed. The room is unreachable only when every signal - leases, API server and
    datastore - is stale; ``unreachable_since`` is then the latest of their last-seen times (None when never seen).
    ``power`` is off, on or dark when every node's BMC agrees (no BMC at all is dark), else mixed. Besides the
    documented keys the view carries ``last_seen`` (the latest signal, reachable or not) and ``observed_at``
    (``now``), which judge() uses to ignore an old report and to tell a cut link from a room going down.
    """
    _room(room)
    renewed = [at for at in (leases or {}).values() if at is not None]
    seen = {'leases': max(renewed) if renewed else None, 'api': api_answered_at, 'datastore': datastore_answered_at}
    signals = dict((name, FRESH if at is not None and now - at < detect_seconds else STALE) for name, at in seen.items())
    times = [at for at in seen.values() if at is not None]
    last_seen = max(times) if times else None
    reachable = FRESH in signals.values()
    return {'room': room, 'reachable': reachable, 'unreachable_since': None if reachable else last_seen,
            'signals': signals, 'power': _power(bmc_power), 'last_seen': last_seen, 'observed_at': now}


def _reports(views, voters, now, detect):
    """{voter: {room: view}} of the voters heard, reports older than ``detect`` left out (an old report is no vote)."""
    reports = {}
    for voter, rooms in sorted((views or {}).items()):
        if voter not in voters:
            raise TwinroomError("A report from '%s', which is not a voter: the voters are %s (the witness only when the "
                                "settings say witness: true)." % (voter, join_words(voters)))
        for room, view in sorted((rooms or {}).items()):
            if _room(room) == voter:
                raise TwinroomError('%s reported on itself: a voter reports only on the rooms other than itself.'
                                    % voter)
            observed = view.get('observed_at')
            if observed is None or now - observed < detect:
                reports.setdefault(voter, {})[room] = view
    return reports


def _ballot(room, reports, voters):
    """{voter: lost, alive or absent} on ``room``; the room itself is alive when its own report arrived."""
    votes = {}
    for voter in voters:
        if voter == room:
            votes[voter] = ALIVE if voter in reports else ABSENT
            continue
        view = reports.get(voter, {}).get(room)
        votes[voter] = ABSENT if view is None else ALIVE if view['reachable'] else LOST
    return votes


def _declared_lost(room, votes, witness):
    lost = sum(1 for vote in votes.values() if vote == LOST)
    if witness:
        return lost >= 2  # a majority of three: the other room and the witness
    # Without a witness the other room is the only voter on the room: the room is lost when it says so and the room
    # itself is not heard (both heard and both saying "lost" is a cut link, judged apart).
    return lost >= 1 and votes[room] != ALIVE


def _voters_text(voters):
    return join_words('the witness' if voter == WITNESS else voter for voter in voters)


def _votes_text(votes):
    return ', '.join('%s %s' % (voter, votes[voter]) for voter in VOTERS if voter in votes)


def _decision(action, room, reason, method=None, not_before=None, subject=None):
    return {'action': action, 'room': room, 'reason': reason, 'method': method, 'not_before': not_before,
            'subject': subject or room}


def _combined_power(views):
    states = set(view['power'] for view in views)
    return states.pop() if len(states) == 1 else 'mixed'


def _takeover(lost, survivor, situation, context, extra_times=()):
    """Fail ``lost`` over to ``survivor``, wait for its isolation, or raise the alarm: rules 2, 3, 4 and 7."""
    settings, reports, ballots, memory, now = context
    failed_over = memory['failed_over']
    if lost in failed_over:
        return _decision('none', lost, '%s. %s already failed over at %s: no second automatic failover until '
                         'recover.yml has brought it back and its failed_over record is cleared.'
                         % (situation, lost, when(failed_over[lost])))
    if survivor in failed_over:
        return _decision('alarm', lost, '%s. %s failed over at %s and has not been recovered: no automatic failover '
                         'to it. %s.' % (situation, survivor, when(failed_over[survivor]), RUNBOOK))
    # The lost room's own word on the survivor is no doubt: it is the room that is cut off.
    doubting = [voter for voter, vote in sorted(ballots[survivor].items()) if vote == LOST and voter != lost]
    if doubting:
        return _decision('alarm', lost, '%s. %s is itself unreachable from %s: no automatic failover to a room that '
                         'may be isolating itself. %s.' % (situation, survivor, _voters_text(doubting), RUNBOOK))
    views = [rooms[lost] for voter, rooms in sorted(reports.items()) if lost in rooms]
    power = _combined_power(views)
    if power == 'off':
        return _decision('failover', lost, '%s. Its BMCs answer and report every node off: failing over to %s; '
                         'failover.yml fences %s through its BMCs.' % (situation, survivor, lost), method='bmc-off')
    bmcs = 'Its BMCs %s' % _BMC_WORDS[power]
    manual = 'An operator decides: check the room, then run failover.yml -e lost_room=%s.' % lost
    if not settings['witness'] and settings['preferred_room'] == lost:
        return _decision('alarm', lost, '%s. %s and %s is the preferred room (twinroom_preferred_room) with no '
                         'witness: it never isolates itself, so only BMCs reporting every node off make its failover '
                         'automatic. %s' % (situation, bmcs, lost, manual))
    if not settings['witness'] and settings['preferred_room'] is None:
        return _decision('alarm', lost, '%s. %s and there is neither a witness nor twinroom_preferred_room: only BMCs '
                         'reporting every node off make a failover automatic. %s' % (situation, bmcs, manual))
    own = reports.get(lost, {}).get(survivor)
    if own is not None and own['reachable']:
        return _decision('alarm', lost, '%s. %s and %s still hears %s, so it does not isolate itself: no automatic '
                         'failover. %s.' % (situation, bmcs, lost, survivor, RUNBOOK))
    # The lost room's guard counts from the last time it saw the survivor or the witness: no later than the last
    # time any voter heard from it, its own last sight of the survivor, and (cut link) the witness's withdrawal.
    # A voter that still hears the room (the witness, across a cut link) tells nothing of what the room sees.
    heard = [view['last_seen'] for view in views if not view['reachable']] + [own['last_seen'] if own else None]
    heard += list(extra_times)
    heard = [at for at in heard if at is not None]
    if not heard:
        return _decision('alarm', lost, '%s. %s and no voter has ever heard from %s, so when it isolated itself is not '
                         'known: no automatic failover. %s.' % (situation, bmcs, lost, RUNBOOK))
    last = max(heard)
    not_before = last + settings['isolation_seconds'] + settings['margin_seconds']
    timing = '%s, its last contact, + %d s isolation + %d s margin' % (
        when(last), settings['isolation_seconds'], settings['margin_seconds'])
    if now >= not_before:
        return _decision('failover', lost, '%s. %s; %s has isolated itself by now (%s = %s): failing over to %s '
                         'without the BMCs\' word.' % (situation, bmcs, lost, timing, when(not_before), survivor),
                         method='isolation', not_before=not_before)
    return _decision('none', lost, '%s. %s: failing over to %s at %s, once %s has isolated itself (%s), in %d s.'
                     % (situation, bmcs, survivor, when(not_before), lost, timing, math.ceil(not_before - now)),
                     method='isolation', not_before=not_before)


def _cut_with_witness(reports, ballots, detect):
    """The rooms that report the other unreachable while the witness has heard that one for detect_seconds longer:
    a cut link, not a room going down (both would have lost it at about the same time)."""
    witness = reports.get(WITNESS, {})
    if any(ballots[room][WITNESS] != ALIVE for room in ROOMS):
        return []
    cut = []
    for room in ROOMS:
        view = reports.get(other_room(room), {}).get(room)
        if view is None or view['reachable']:
            continue
        since = view['unreachable_since']
        if since is None or witness[room]['last_seen'] - since >= detect:
            cut.append(room)
    return cut


def _decide(settings, reports, ballots, memory, now, primary_room):
    context = (settings, reports, ballots, memory, now)
    witness = settings['witness']
    both = '; '.join('votes on %s: %s' % (room, _votes_text(ballots[room])) for room in ROOMS)
    if not reports:
        return _decision('none', None, 'No voter has reported within twinroom_detect_seconds (%d s): nothing to judge.'
                         % settings['detect_seconds'])
    lost = [room for room in ROOMS if _declared_lost(room, ballots[room], witness)]
    if len(lost) == 2:
        return _decision('alarm', None, 'Both rooms are lost (%s): no automatic failover, there is no room to fail '
                         'over to. %s.' % (both, RUNBOOK), subject='rooms')
    if lost:
        room = lost[0]
        votes = ballots[room]
        heard = [reports[voter][room]['last_seen'] for voter in reports if room in reports[voter]]
        heard = [at for at in heard if at is not None]
        last = 'last heard from at %s' % when(max(heard)) if heard else 'never heard from'
        by = 'a majority of the voters' if witness else '%s, with no witness' % other_room(room)
        situation = '%s is lost: %s, unreachable for twinroom_detect_seconds (%d s) by %s (votes: %s)' % (
            room, last, settings['detect_seconds'], by, _votes_text(votes))
        return _takeover(room, other_room(room), situation, context)
    unheard = [(room, [voter for voter in sorted(ballots[room]) if ballots[room][voter] == LOST]) for room in ROOMS]
    unheard = [(room, voters) for room, voters in unheard if voters]
    if witness and (WITNESS not in reports or all(ballots[room][WITNESS] == LOST for room in ROOMS)):
        deaf = ['%s does not hear %s' % (voter, room) for room, voters in unheard for voter in voters if voter != WITNESS]
        if deaf:
            fault = deaf[0] if len(deaf) == 1 else 'the rooms do not hear each other'
            return _decision('alarm', None, 'Two faults at once: the witness is lost and %s (%s): no automatic '
                             'failover, no room has a majority, and a room that sees neither the other room nor the '
                             'witness isolates itself. %s.' % (fault, both, RUNBOOK), subject='rooms')
        return _decision('alarm', None, 'The witness is lost (%s): no failover, both rooms hear each other. Bring the '
                         'witness back: while it is lost, a cut link between the rooms isolates both rooms.' % both,
                         subject=WITNESS)
    if witness:
        cut = _cut_with_witness(reports, ballots, settings['detect_seconds'])
        held = sorted(memory['withdrawn'])
        if cut and held:  # one room withdrawn at most, the same while the cut lasts, whatever primary_room says now
            primary_room = other_room(held[0])
        if cut and primary_room is None:
            return _decision('alarm', None, 'The link between the rooms is cut: the witness hears both rooms but they '
                             'do not hear each other (%s), and which room holds the datastore primary is not known: the '
                             'witness keeps both, no automatic failover. %s.' % (both, RUNBOOK), subject='rooms')
        if cut:
            kept, room = _room(primary_room, 'primary room'), other_room(primary_room)
            withdrawn = memory['withdrawn'].setdefault(room, now)
            situation = ('The link between the rooms is cut: the witness hears both rooms but they do not hear each '
                         'other (votes on %s: %s); the witness keeps %s, which holds the datastore primary, and '
                         'stopped answering %s at %s, so %s isolates itself'
                         % (room, _votes_text(ballots[room]), kept, room, when(withdrawn), room))
            return _takeover(room, kept, situation, context, extra_times=(withdrawn,))
    elif all(ballots[room][other_room(room)] == LOST for room in ROOMS):
        preferred = settings['preferred_room']
        if preferred is None:
            return _decision('alarm', None, 'The link between the rooms is cut: each room reports the other '
                             'unreachable (%s), and there is neither a witness nor twinroom_preferred_room: no '
                             'automatic failover. %s.' % (both, RUNBOOK), subject='rooms')
        room = other_room(preferred)
        situation = ('The link between the rooms is cut: each room reports the other unreachable and there is no '
                     'witness (votes on %s: %s); %s is the preferred room (twinroom_preferred_room), so %s isolates '
                     'itself' % (room, _votes_text(ballots[room]), preferred, room))
        return _takeover(room, preferred, situation, context)
    if unheard:
        room, voters = unheard[0]
        return _decision('none', room, '%s is unreachable from %s only (votes: %s): no majority, no failover yet.'
                         % (room, _voters_text(voters), _votes_text(ballots[room])))
    return _decision('none', None, 'Both rooms are reachable (%s): nothing to do.' % both)


def _memory(memory):
    memory = memory or {}
    return dict((key, dict(memory.get(key) or {})) for key in ('failed_over', 'alarmed', 'withdrawn'))


def judge(views, now, settings, memory, primary_room=None):
    """The decision of automatic failover from the voters' reports.

    ``views``: {voter: {room: room_view(...)}}, voter room_a, room_b or witness, each on the rooms other than itself;
    a report whose ``observed_at`` is ``detect_seconds`` or more before ``now`` counts as no report. ``memory``:
    {"failed_over": {room: epoch}, "alarmed": {subject: epoch}, "withdrawn": {room: epoch}}, persisted by the caller
    from one call's result to the next. ``primary_room``: the room holding the datastore primary, for a cut link.

    Returns {"action": none, alarm or failover, "room", "reason" (operator-facing, exact), "votes", "method":
    bmc-off, isolation or None, "not_before", "memory"} plus "ballots" ({room: {voter: vote}}, every vote on both
    rooms). ``votes`` are the votes on ``room``; with no room, each voter's word: absent, lost when it reports a room
    unreachable, else alive. The rules:

    1. A voter votes a room lost when its view says unreachable, alive when reachable, and is absent without a report;
       a room votes alive for itself when its report arrived. With a witness, a room is lost when two of the three
       voters (the other room and the witness) vote it lost. Without one, when the other room votes it lost and the
       room itself is not heard.
    2. BMCs that answer and report every node off (in every view of the room) - failover, method bmc-off, at once.
    3. Otherwise (dark, on or mixed), with a witness: failover by isolation, not before the room was last heard
       from + isolation_seconds + margin_seconds (``not_before``); until then action none, saying when. No voter
       ever heard from it, or the room's own report still hears the survivor: alarm.
    4. Without a witness: the non-preferred room is taken over as in 3 (its guard isolates it when it loses the
       preferred room); the preferred room only as in 2, else alarm; no preferred room: only 2, else alarm.
    5. A cut link with a witness: the witness hears both rooms, at least one room reports the other unreachable, and
       the witness heard that room detect_seconds after it did (a room going down is lost by both at once, so it is
       never taken for a cut link). The witness keeps ``primary_room``; the other room enters ``memory["withdrawn"]``
       at the first such decision: the witness must stop answering that room's guard from then on, so the room
       isolates itself, and it is taken over as in 3, counted from the withdrawal. Unknown primary room: alarm, and
       the witness keeps answering both. The witness withdraws one room at most: while ``memory["withdrawn"]`` holds
       a room, it keeps the other, whatever ``primary_room`` says then. Without a witness, a cut link (both rooms
       heard, each reporting the other unreachable) leaves the preferred room and takes the other over as in 3; no
       preferred room: alarm.
    6. The witness lost (no report, or it hears neither room) and a room unreachable from the other: two faults,
       alarm, no failover; the rooms' guards isolate both. The witness lost alone: alarm.
    7. One automatic failover per room: while ``memory["failed_over"]`` holds the room (the caller clears it after
       recover.yml), action none saying when it failed over. Both rooms lost: alarm. Never fail over to a room that
       any voter reports unreachable or that failed over and was not recovered: alarm.

    An alarm is raised once per subject (a room, "witness" or "rooms") while it stands: a repeat is action none
    saying when it was raised; ``memory["alarmed"]`` forgets a subject as soon as a judgment does not raise it.
    """
    settings = check_settings(settings)
    if primary_room is not None:
        _room(primary_room, 'primary room')
    voters = VOTERS if settings['witness'] else ROOMS
    reports = _reports(views, voters, now, settings['detect_seconds'])
    ballots = dict((room, _ballot(room, reports, voters)) for room in ROOMS)
    memory = _memory(memory)
    decision = _decide(settings, reports, ballots, memory, now, primary_room)
    subject = decision.pop('subject')
    alarmed = memory['alarmed']
    memory['alarmed'] = {}
    if decision['action'] == 'alarm':
        memory['alarmed'][subject] = alarmed.get(subject, now)
        if subject in alarmed:
            decision.update(action='none', reason='Alarm already raised at %s, still standing: %s'
                            % (when(alarmed[subject]), decision['reason']))
    if decision['action'] == 'failover':
        memory['failed_over'][decision['room']] = now
    # A room every voter hears again gets the witness's answer back.
    memory['withdrawn'] = dict((room, at) for room, at in memory['withdrawn'].items() if LOST in ballots[room].values())
    if decision['room'] is not None:
        votes = ballots[decision['room']]
    else:
        votes = dict((voter, ABSENT if voter not in reports else
                      LOST if any(not view['reachable'] for view in reports[voter].values()) else ALIVE)
                     for voter in voters)
    decision.update(votes=votes, ballots=ballots, memory=memory)
    return decision


def isolate(now, last_seen_other_room, last_seen_witness, witness, preferred_room, own_room, settings):
    """Whether the guard on a node of ``own_room`` isolates it now: stops its workloads, powers it off or reboots it.

    ``last_seen_other_room``: when this node last heard the other room; ``last_seen_witness``: when the witness last
    answered it - the witness stops answering a room that judge() put in ``memory["withdrawn"]`` (a cut link), which
    is how that room learns it must isolate. None: not since the guard started. ``witness``, ``preferred_room``: as
    configured; ``settings``: isolation_seconds.

    With a witness, a node isolates once it has seen neither the other room nor the witness for isolation_seconds
    (exactly isolation_seconds isolates). Without one, a node of the non-preferred room isolates once it has not seen
    the preferred room for isolation_seconds; a node of the preferred room never isolates, nor does any node with no
    preferred room. The guard arms only once it has seen them: a node that has seen none of them since it started is
    not isolated (a room booting while the rest is down must be able to come up). Two faults at once (witness lost,
    link cut): every node isolates - no room runs on without a majority, so nothing runs twice; judge() raises the
    alarm and nothing is failed over. Returns {"isolate", "reason", "at": when it isolates or isolated, or None}.
    """
    settings = check_settings(settings)
    _room(own_room)
    if preferred_room is not None:
        _room(preferred_room, 'preferred room')
    other = other_room(own_room)
    if witness:
        seen = [at for at in (last_seen_other_room, last_seen_witness) if at is not None]
        unseen, them = 'seen neither %s nor the witness' % other, '%s or the witness' % other
    elif preferred_room is None:
        return {'isolate': False, 'at': None, 'reason': 'No witness and no twinroom_preferred_room: a node never '
                'isolates itself; only BMCs reporting a room off make its failover automatic.'}
    elif preferred_room == own_room:
        return {'isolate': False, 'at': None, 'reason': '%s is the preferred room (twinroom_preferred_room) and there '
                'is no witness: its nodes never isolate themselves.' % own_room}
    else:
        seen = [at for at in (last_seen_other_room,) if at is not None]
        unseen, them = 'not seen %s, the preferred room,' % other, '%s, the preferred room,' % other
    if not seen:
        return {'isolate': False, 'at': None, 'reason': 'This node of %s has %s since its guard started: the guard '
                'arms only once it has seen %s.' % (own_room, unseen, them.rstrip(','))}
    last = max(seen)
    at = last + settings['isolation_seconds']
    if now >= at:
        return {'isolate': True, 'at': at, 'reason': 'This node of %s has %s since %s, for twinroom_isolation_seconds '
                '(%d s): isolating it - stop its workloads, power it off or reboot it.'
                % (own_room, unseen, when(last), settings['isolation_seconds'])}
    return {'isolate': False, 'at': at, 'reason': 'This node of %s last saw %s at %s: it isolates itself at %s unless '
            'it hears from %s again.' % (own_room, them, when(last), when(at), other if not witness else 'them')}


def witness_answer(method, path, withdrawn, step_at, step_age, stale_seconds, started_at):
    """The witness's answer to an isolation guard's request: (HTTP status, JSON body).

    ``GET /rooms/<room>`` (a query string is ignored): 403 when ``withdrawn`` (judge()'s ``memory["withdrawn"]``)
    holds the room - rule 5, the room isolates itself; 503 when the watch has completed no step since it started at
    ``started_at`` (``step_at`` None) or its last step, at ``step_at``, is more than ``stale_seconds`` old
    (``step_age``) - a watch that hangs or stopped watches nothing, so it vouches for no room; else 200. The body has
    "room", "answer" (true with 200 only), "watch_step_at" and, with no, "reason". Another path: 404; another
    method: 405."""
    if method != 'GET':
        return 405, {'answer': False, 'reason': 'The witness answers GET only, not %s.' % method}
    parts = path.split('?')[0].split('/')
    room = parts[2] if len(parts) == 3 and parts[:2] == ['', 'rooms'] else None
    if room not in ROOMS:
        return 404, {'answer': False, 'reason': 'No such path %s: the witness answers GET %s.'
                     % (path, join_words('/rooms/%s' % name for name in ROOMS))}
    body = {'room': room, 'answer': False, 'watch_step_at': None if step_at is None else when(round(step_at, 3))}
    if room in (withdrawn or {}):
        return 403, dict(body, reason='%s was withdrawn at %s: the link between the rooms is cut and the witness keeps '
                         '%s, so %s isolates itself.' % (room, when(withdrawn[room]), other_room(room), room))
    if step_at is None or step_age > stale_seconds:
        since = body['watch_step_at'] or 'it started at %s' % when(round(started_at, 3))
        return 503, dict(body, reason='The watch has not completed a step since %s (the witness answers for %g s '
                         'after one): it vouches for no room it does not watch.' % (since, stale_seconds))
    return 200, dict(body, answer=True)
