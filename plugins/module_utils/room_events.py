# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Automatic failover's record in the cluster: each decision of the room watch and each failover carried out, as a
Kubernetes Event; and the decision as failover.yml takes it from the rulebook (``failover_decision``).

A plan (layer 4): pure - every body is built from what was decided and when (epoch seconds passed in), nothing is
read or written here. The room watch posts :func:`decision_event` through k8s.py (room_watch.py); failover.yml
writes :func:`failover_event` with kubernetes.core.k8s (the filter twinroom.ha.failover_event) and checks its
``failover_decision`` with :func:`decision_problems` (the filter twinroom.ha.failover_decision_problems) and, when
the lost room's BMCs do not answer, an isolation decision with :func:`isolation_problems` (the filter
twinroom.ha.failover_isolation_problems).

Where the Events are: core v1 Events in the namespace ``kube-system``, about the Namespace ``kube-system`` itself.
A room is no Kubernetes object, and a decision may concern no room at all (both rooms, or the witness), so no Node
would do for all of them; the lost room's Nodes carry their own ``Fenced`` Events already (twinroom.ha.fence).
kube-system exists in every cluster, is never deleted, and is where the control plane keeps its own records (the
leader leases failover.yml releases). An Event about a cluster-scoped object may live in kube-system only when it
has an ``eventTime``, which then requires ``action``, ``reportingComponent`` (``reportingController`` in
events.k8s.io) and ``reportingInstance``, and limits the message to 1024 bytes; ``firstTimestamp``,
``lastTimestamp`` and ``count`` are set too, for the clients that sort by them. List them with::

    kubectl get events -n kube-system --field-selector reportingComponent=twinroom.ha
    kubectl get events -A --field-selector reason=RoomFailedOver
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, join_words

EVENT_NAMESPACE = 'kube-system'
COMPONENT = 'twinroom.ha'
INVOLVED_OBJECT = {'apiVersion': 'v1', 'kind': 'Namespace', 'name': 'kube-system'}
# The Events' reasons: a failover carried out (failover.yml), and the watch's two kinds of decision.
FAILED_OVER = 'RoomFailedOver'
DECIDED = {'failover': 'RoomFailoverDecided', 'alarm': 'RoomAlarm'}
NOTE_LIMIT = 1024         # bytes: the API server refuses a longer message on an Event with an eventTime
INSTANCE_LIMIT = 128      # characters of reportingInstance, likewise
DECISION_KEYS = ('reason', 'votes', 'method', 'decided_at')
VOTER_ORDER = ROOMS + ('witness',)


def microtime(epoch):
    """Epoch seconds as Kubernetes writes a MicroTime (eventTime): UTC, six decimals, Z."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def seconds(epoch):
    """Epoch seconds as Kubernetes writes a Time (firstTimestamp): UTC, to the second, Z."""
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def votes_text(votes):
    """{voter: vote} -> 'room_a absent, room_b lost, witness lost': the rooms first, then the witness."""
    order = [voter for voter in VOTER_ORDER if voter in votes] + sorted(set(votes) - set(VOTER_ORDER))
    return ', '.join('%s %s' % (voter, votes[voter]) for voter in order)


def _note(text):
    """``text`` cut to NOTE_LIMIT bytes (UTF-8), ending with an ellipsis when cut."""
    encoded = text.encode('utf-8')
    if len(encoded) <= NOTE_LIMIT:
        return text
    return encoded[:NOTE_LIMIT - 3].decode('utf-8', 'ignore') + u'\u2026'


def _dns_part(text):
    return str(text).lower().replace('_', '-')


def _event(name, reason, action, message, epoch, instance):
    return {
        'apiVersion': 'v1',
        'kind': 'Event',
        'metadata': {'name': name, 'namespace': EVENT_NAMESPACE},
        'involvedObject': dict(INVOLVED_OBJECT),
        'type': 'Warning',
        'reason': reason,
        'action': action,
        'message': _note(message),
        'eventTime': microtime(epoch),
        'firstTimestamp': seconds(epoch),
        'lastTimestamp': seconds(epoch),
        'count': 1,
        'source': {'component': COMPONENT},
        'reportingComponent': COMPONENT,
        'reportingInstance': (instance or COMPONENT)[:INSTANCE_LIMIT],
    }


def decision_event(decision, instance):
    """The Event of one decision the room watch emits (an event's ``twinroom`` payload: action failover or alarm,
    room or None, method, reason, votes, decided_at), reported by ``instance`` (the host the watch runs on).

    Named ``twinroom-decision-<action>-<room, or rooms>-<decided_at in ms>``; reason RoomFailoverDecided or
    RoomAlarm, action Decide; the message says what was decided, the votes, and the plan's reason."""
    action = decision['action']
    room = decision.get('room')
    if action == 'failover':
        what = 'Failover of %s decided (%s).' % (room, decision.get('method'))
    else:
        what = 'Alarm on %s.' % room if room else 'Alarm.'
    votes = decision.get('votes') or {}
    message = '%s Votes: %s. %s' % (what, votes_text(votes) or 'none', decision.get('reason') or '')
    name = 'twinroom-decision-%s-%s-%d' % (_dns_part(action), _dns_part(room or 'rooms'),
                                           int(round(decision['decided_at'] * 1000)))
    return _event(name, DECIDED.get(action, 'RoomDecision'), 'Decide', message.strip(), decision['decided_at'],
                  instance)


def failover_event(lost_room, survivor, trigger, started, done_at, decision=None, instance=None):
    """The Event of a failover failover.yml carried out: ``lost_room`` failed over to ``survivor``, started at
    ``started`` and every workload running again at ``done_at`` (epoch seconds), by ``trigger`` (operator or
    room_watch), on the room watch's ``decision`` (or None), reported by ``instance`` (the controller's host).

    Named ``twinroom-failover-<lost room>-<started, whole seconds>`` (one per failover); reason RoomFailedOver,
    action Failover, at ``done_at``; the message gives the rooms, the RTO, the trigger and, when there are any,
    the votes."""
    rto = round(float(done_at) - float(started), 1)
    message = '%s failed over to %s: every workload back in %s s (RTO, from the start of failover.yml), trigger %s.' % (
        lost_room, survivor, rto, trigger or 'operator')
    if decision and decision.get('votes'):
        message += ' Votes: %s (%s, decided at %s).' % (votes_text(decision['votes']), decision.get('method'),
                                                        seconds(decision['decided_at']))
    name = 'twinroom-failover-%s-%d' % (_dns_part(lost_room), int(float(started)))
    return _event(name, FAILED_OVER, 'Failover', message, float(done_at), instance)


def _kind(value):
    """What a value is, as the messages say it."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, str):
        return 'text' if value.strip() else 'empty'
    if isinstance(value, Mapping):
        return 'a mapping'
    if isinstance(value, (list, tuple)):
        return 'a list'
    return 'a %s' % type(value).__name__


def decision_problems(decision):
    """[] when ``decision`` (failover.yml's ``failover_decision``) is absent (None) or is the room watch's decision
    as the rulebooks pass it - a mapping with reason (text), votes (a mapping of voter to vote), method (text) and
    decided_at (epoch seconds); else one message that names the variable and each fault."""
    if decision is None:
        return []
    problems = []
    if not isinstance(decision, Mapping):
        problems.append('it is %s, not a mapping' % _kind(decision))
    else:
        missing = [key for key in DECISION_KEYS if key not in decision]
        if missing:
            problems.append('it lacks %s' % join_words(missing))
        for key in ('reason', 'method'):
            if key in decision and not (isinstance(decision[key], str) and decision[key].strip()):
                problems.append('%s is %s, not text' % (key, _kind(decision[key])))
        if 'votes' in decision and not isinstance(decision['votes'], Mapping):
            problems.append('votes is %s, not a mapping of voter to vote' % _kind(decision['votes']))
        decided_at = decision.get('decided_at')
        if 'decided_at' in decision and (isinstance(decided_at, bool) or not isinstance(decided_at, (int, float))):
            problems.append('decided_at is %s, not epoch seconds' % _kind(decided_at))
    if not problems:
        return []
    return ["failover_decision is not a decision of the room watch (%s): refusing to start the failover. The "
            "rulebooks pass it as a mapping with reason, votes, method and decided_at; leave it out for an "
            "operator's failover." % '; '.join(problems)]


def isolation_problems(decision, lost_room, now, automatic_failover, witness, preferred_room):
    """[] when failover.yml may take ``decision`` (a usable failover_decision, see :func:`decision_problems`) as the
    confirmation that ``lost_room`` is down: its method is ``isolation``, the inventory installs the isolation guards
    (``automatic_failover``), the lost room's nodes do isolate themselves in this configuration (a witness, or
    ``preferred_room`` set to the other room), and ``now`` (epoch seconds) is at or after the decision's
    ``not_before`` (the room's last contact + isolation_seconds + margin_seconds). Else one message naming each fault
    and what to do. A decision of any other method is no confirmation."""
    faults = []
    if not isinstance(decision, Mapping) or decision.get('method') != 'isolation':
        faults.append('its method is %s, not isolation' % (
            decision.get('method') if isinstance(decision, Mapping) else _kind(decision)))
    else:
        if not automatic_failover:
            faults.append('twinroom_automatic_failover is not true in this inventory, so no isolation guard runs on '
                          'the nodes of %s and nothing powered them off' % lost_room)
        if not witness and not preferred_room:
            faults.append('there is neither a witness nor twinroom_preferred_room, so no node isolates itself')
        elif not witness and preferred_room == lost_room:
            faults.append('%s is the preferred room (twinroom_preferred_room) and there is no witness, so its nodes '
                          'never isolate themselves' % lost_room)
        not_before = decision.get('not_before')
        if isinstance(not_before, bool) or not isinstance(not_before, (int, float)):
            faults.append('not_before is %s, not epoch seconds' % _kind(not_before))
        elif now < not_before:
            early = (seconds(not_before), seconds(now), not_before - now)
            faults.append('it allows the failover from %s (the room\'s last contact + isolation_seconds + '
                          'margin_seconds) and it is %s, %.0f s early' % early)
    if not faults:
        return []
    return ['The room watch\'s decision does not confirm that %s is down (%s): refusing to fence it while its BMCs do '
            'not answer. Check the room; once you know it has no power, run failover.yml with '
            '-e confirm_room_down=true.' % (lost_room, '; '.join(faults))]
