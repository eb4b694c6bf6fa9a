# -*- coding: utf-8 -*-
"""Automatic failover's decision (room_vote.py): the settings, one voter's view, the judgment over the issue's rules
(one case per row, the exact reason) and the isolation response."""

from __future__ import annotations

import os
import sys

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import room_vote
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import room_vote

NOW = 1800000000  # 2027-01-15T08:00:00Z
W = {'witness': True}
A = {'preferred_room': 'room_a'}
NONE = {}


def seen(room, last, power='dark', now=NOW):
    """A voter's view of ``room`` whose every signal was last seen at ``last`` (None: never); ``power`` for both of
    its nodes' BMCs, mixed: one off, one dark."""
    nodes = {'n1': 'off', 'n2': 'dark'} if power == 'mixed' else {'n1': power, 'n2': power}
    return room_vote.room_view(room, now, {'n1': last, 'n2': None}, last, last, nodes, 10)


# (id, settings, views, memory, primary_room) -> expected (action, room, method, not_before, votes)
CASES = [
    ('1-majority-lost-room-b-dark-isolated', W,
     {'room_a': {'room_b': seen('room_b', NOW - 60)}, 'witness': {'room_a': seen('room_a', NOW - 1), 'room_b': seen('room_b', NOW - 58)}},
     None, None, ('failover', 'room_b', 'isolation', NOW - 18, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('1-one-vote-is-no-majority', W,
     {'room_a': {'room_b': seen('room_b', NOW - 10)}, 'witness': {'room_a': seen('room_a', NOW - 1), 'room_b': seen('room_b', NOW - 9.5)}},
     None, None, ('none', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'alive'})),
    ('1-exactly-detect-seconds-is-lost', W,
     {'room_a': {'room_b': seen('room_b', NOW - 10, 'off')}, 'witness': {'room_a': seen('room_a', NOW - 1), 'room_b': seen('room_b', NOW - 10, 'off')}},
     None, None, ('failover', 'room_b', 'bmc-off', None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('2-bmcs-off-with-witness', W,
     {'room_b': {'room_a': seen('room_a', NOW - 12, 'off')}, 'witness': {'room_a': seen('room_a', NOW - 12, 'off'), 'room_b': seen('room_b', NOW)}},
     None, None, ('failover', 'room_a', 'bmc-off', None, {'room_a': 'absent', 'room_b': 'lost', 'witness': 'lost'})),
    ('2-bmcs-off-without-witness-or-preferred-room', NONE,
     {'room_a': {'room_b': seen('room_b', NOW - 12, 'off')}},
     None, None, ('failover', 'room_b', 'bmc-off', None, {'room_a': 'lost', 'room_b': 'absent'})),
    ('3-dark-waits-for-isolation', W,
     {'room_a': {'room_b': seen('room_b', NOW - 15)}, 'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW - 15)}},
     None, None, ('none', 'room_b', 'isolation', NOW + 25, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('3-exactly-not-before-fails-over', W,
     {'room_a': {'room_b': seen('room_b', NOW - 40, 'mixed')}, 'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW - 41)}},
     None, None, ('failover', 'room_b', 'isolation', NOW, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('3-bmcs-on-wait-too', W,
     {'room_a': {'room_b': seen('room_b', NOW - 20, 'on')}, 'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW - 20, 'on')}},
     None, None, ('none', 'room_b', 'isolation', NOW + 20, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('3-never-heard-from-alarm', W,
     {'room_a': {'room_b': seen('room_b', None)}, 'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', None)}},
     None, None, ('alarm', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('4-non-preferred-room-lost-isolated', A,
     {'room_a': {'room_b': seen('room_b', NOW - 45)}},
     None, None, ('failover', 'room_b', 'isolation', NOW - 5, {'room_a': 'lost', 'room_b': 'absent'})),
    ('4-preferred-room-lost-dark-alarm', A,
     {'room_b': {'room_a': seen('room_a', NOW - 120)}},
     None, None, ('alarm', 'room_a', None, None, {'room_a': 'absent', 'room_b': 'lost'})),
    ('4-preferred-room-lost-bmcs-off', A,
     {'room_b': {'room_a': seen('room_a', NOW - 12, 'off')}},
     None, None, ('failover', 'room_a', 'bmc-off', None, {'room_a': 'absent', 'room_b': 'lost'})),
    ('4-no-preferred-room-dark-alarm', NONE,
     {'room_a': {'room_b': seen('room_b', NOW - 120)}},
     None, None, ('alarm', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'absent'})),
    ('5-link-cut-witness-keeps-primary-room', W,
     {'room_a': {'room_b': seen('room_b', NOW - 25, 'on')}, 'room_b': {'room_a': seen('room_a', NOW - 25, 'on')},
      'witness': {'room_a': seen('room_a', NOW - 1, 'on'), 'room_b': seen('room_b', NOW - 1, 'on')}},
     None, 'room_a', ('none', 'room_b', 'isolation', NOW + 40, {'room_a': 'lost', 'room_b': 'alive', 'witness': 'alive'})),
    ('5-link-cut-after-withdrawal-and-isolation', W,
     {'room_a': {'room_b': seen('room_b', NOW - 70, 'on')}, 'room_b': {'room_a': seen('room_a', NOW - 70, 'on')},
      'witness': {'room_a': seen('room_a', NOW - 1, 'on'), 'room_b': seen('room_b', NOW - 1, 'on')}},
     {'withdrawn': {'room_b': NOW - 40}}, 'room_a', ('failover', 'room_b', 'isolation', NOW, {'room_a': 'lost', 'room_b': 'alive', 'witness': 'alive'})),
    ('5-link-cut-withdrawal-stands-whatever-primary-room', W,
     {'room_a': {'room_b': seen('room_b', NOW - 25, 'on')}, 'room_b': {'room_a': seen('room_a', NOW - 25, 'on')},
      'witness': {'room_a': seen('room_a', NOW - 1, 'on'), 'room_b': seen('room_b', NOW - 1, 'on')}},
     {'withdrawn': {'room_b': NOW - 10}}, 'room_b',
     ('none', 'room_b', 'isolation', NOW + 30, {'room_a': 'lost', 'room_b': 'alive', 'witness': 'alive'})),
    ('5-link-cut-primary-unknown-alarm', W,
     {'room_a': {'room_b': seen('room_b', NOW - 25)}, 'room_b': {'room_a': seen('room_a', NOW - 25)},
      'witness': {'room_a': seen('room_a', NOW - 1), 'room_b': seen('room_b', NOW - 1)}},
     None, None, ('alarm', None, None, None, {'room_a': 'lost', 'room_b': 'lost', 'witness': 'alive'})),
    ('5-room-going-down-is-no-link-cut', W,
     {'room_a': {'room_b': seen('room_b', NOW - 11)}, 'witness': {'room_a': seen('room_a', NOW - 1), 'room_b': seen('room_b', NOW - 2)}},
     None, 'room_b', ('none', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'alive'})),
    ('5-link-cut-without-witness-preferred-room-stays', A,
     {'room_a': {'room_b': seen('room_b', NOW - 50, 'on')}, 'room_b': {'room_a': seen('room_a', NOW - 52, 'on')}},
     None, None, ('failover', 'room_b', 'isolation', NOW - 10, {'room_a': 'lost', 'room_b': 'alive'})),
    ('5-link-cut-without-witness-or-preferred-room-alarm', NONE,
     {'room_a': {'room_b': seen('room_b', NOW - 50, 'on')}, 'room_b': {'room_a': seen('room_a', NOW - 50, 'on')}},
     None, None, ('alarm', None, None, None, {'room_a': 'lost', 'room_b': 'lost'})),
    ('6-two-faults-link-cut-and-witness-lost', W,
     {'room_a': {'room_b': seen('room_b', NOW - 30)}, 'room_b': {'room_a': seen('room_a', NOW - 30)}},
     None, 'room_a', ('alarm', None, None, None, {'room_a': 'lost', 'room_b': 'lost', 'witness': 'absent'})),
    ('6-two-faults-room-and-witness-lost', W,
     {'room_a': {'room_b': seen('room_b', NOW - 30)}},
     None, 'room_a', ('alarm', None, None, None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'absent'})),
    ('6-witness-lost-alone', W,
     {'room_a': {'room_b': seen('room_b', NOW)}, 'room_b': {'room_a': seen('room_a', NOW)}},
     None, None, ('alarm', None, None, None, {'room_a': 'alive', 'room_b': 'alive', 'witness': 'absent'})),
    ('6-witness-hears-neither-room', W,
     {'room_a': {'room_b': seen('room_b', NOW)}, 'room_b': {'room_a': seen('room_a', NOW)},
      'witness': {'room_a': seen('room_a', NOW - 30), 'room_b': seen('room_b', NOW - 30)}},
     None, None, ('alarm', None, None, None, {'room_a': 'alive', 'room_b': 'alive', 'witness': 'lost'})),
    ('7-already-failed-over', W,
     {'room_a': {'room_b': seen('room_b', NOW - 60)}, 'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW - 60)}},
     {'failed_over': {'room_b': NOW - 19}}, None, ('none', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('7-both-rooms-lost', W,
     {'room_a': {'room_b': seen('room_b', NOW - 30)}, 'room_b': {'room_a': seen('room_a', NOW - 30)},
      'witness': {'room_a': seen('room_a', NOW - 30), 'room_b': seen('room_b', NOW - 30)}},
     None, 'room_a', ('alarm', None, None, None, {'room_a': 'lost', 'room_b': 'lost', 'witness': 'lost'})),
    ('7-never-to-an-unreachable-room', W,
     {'room_a': {'room_b': seen('room_b', NOW - 60)}, 'witness': {'room_a': seen('room_a', NOW - 30), 'room_b': seen('room_b', NOW - 60)}},
     None, None, ('alarm', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('7-never-to-a-room-failed-over', W,
     {'room_a': {'room_b': seen('room_b', NOW - 60, 'off')}, 'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW - 60, 'off')}},
     {'failed_over': {'room_a': NOW - 3600}}, None, ('alarm', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'absent', 'witness': 'lost'})),
    ('7-lost-room-still-hears-survivor', W,
     {'room_a': {'room_b': seen('room_b', NOW - 60)}, 'room_b': {'room_a': seen('room_a', NOW)},
      'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW - 60)}},
     None, None, ('alarm', 'room_b', None, None, {'room_a': 'lost', 'room_b': 'alive', 'witness': 'lost'})),
    ('all-reachable', W,
     {'room_a': {'room_b': seen('room_b', NOW)}, 'room_b': {'room_a': seen('room_a', NOW - 2)},
      'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW)}},
     None, None, ('none', None, None, None, {'room_a': 'alive', 'room_b': 'alive', 'witness': 'alive'})),
    ('an-old-report-is-no-vote', NONE,
     {'room_a': {'room_b': seen('room_b', NOW - 60, now=NOW - 10)}},
     None, None, ('none', None, None, None, {'room_a': 'absent', 'room_b': 'absent'})),
]


REASONS = {
    '1-majority-lost-room-b-dark-isolated':
        'room_b is lost: last heard from at 2027-01-15T07:59:02Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). Its BMCs do not '
        'answer; room_b has isolated itself by now (2027-01-15T07:59:02Z, its last contact, + 30 s isolation '
        "+ 10 s margin = 2027-01-15T07:59:42Z): failing over to room_a without the BMCs' word.",
    '1-one-vote-is-no-majority':
        'room_b is unreachable from room_a only (votes: room_a lost, room_b absent, witness alive): no '
        'majority, no failover yet.',
    '1-exactly-detect-seconds-is-lost':
        'room_b is lost: last heard from at 2027-01-15T07:59:50Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). Its BMCs answer '
        'and report every node off: failing over to room_a; failover.yml fences room_b through its BMCs.',
    '2-bmcs-off-with-witness':
        'room_a is lost: last heard from at 2027-01-15T07:59:48Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a absent, room_b lost, witness lost). Its BMCs answer '
        'and report every node off: failing over to room_b; failover.yml fences room_a through its BMCs.',
    '2-bmcs-off-without-witness-or-preferred-room':
        'room_b is lost: last heard from at 2027-01-15T07:59:48Z, unreachable for twinroom_detect_seconds (10'
        ' s) by room_a, with no witness (votes: room_a lost, room_b absent). Its BMCs answer and report every'
        ' node off: failing over to room_a; failover.yml fences room_b through its BMCs.',
    '3-dark-waits-for-isolation':
        'room_b is lost: last heard from at 2027-01-15T07:59:45Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). Its BMCs do not '
        'answer: failing over to room_a at 2027-01-15T08:00:25Z, once room_b has isolated itself '
        '(2027-01-15T07:59:45Z, its last contact, + 30 s isolation + 10 s margin), in 25 s.',
    '3-exactly-not-before-fails-over':
        'room_b is lost: last heard from at 2027-01-15T07:59:20Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). Its BMCs do not '
        'all answer and report off; room_b has isolated itself by now (2027-01-15T07:59:20Z, its last '
        'contact, + 30 s isolation + 10 s margin = 2027-01-15T08:00:00Z): failing over to room_a without the '
        "BMCs' word.",
    '3-bmcs-on-wait-too':
        'room_b is lost: last heard from at 2027-01-15T07:59:40Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). Its BMCs report '
        'its nodes on: failing over to room_a at 2027-01-15T08:00:20Z, once room_b has isolated itself '
        '(2027-01-15T07:59:40Z, its last contact, + 30 s isolation + 10 s margin), in 20 s.',
    '3-never-heard-from-alarm':
        'room_b is lost: never heard from, unreachable for twinroom_detect_seconds (10 s) by a majority of '
        'the voters (votes: room_a lost, room_b absent, witness lost). Its BMCs do not answer and no voter '
        'has ever heard from room_b, so when it isolated itself is not known: no automatic failover. An '
        'operator decides (docs/runbook.md).',
    '4-non-preferred-room-lost-isolated':
        'room_b is lost: last heard from at 2027-01-15T07:59:15Z, unreachable for twinroom_detect_seconds (10'
        ' s) by room_a, with no witness (votes: room_a lost, room_b absent). Its BMCs do not answer; room_b '
        'has isolated itself by now (2027-01-15T07:59:15Z, its last contact, + 30 s isolation + 10 s margin ='
        " 2027-01-15T07:59:55Z): failing over to room_a without the BMCs' word.",
    '4-preferred-room-lost-dark-alarm':
        'room_a is lost: last heard from at 2027-01-15T07:58:00Z, unreachable for twinroom_detect_seconds (10'
        ' s) by room_b, with no witness (votes: room_a absent, room_b lost). Its BMCs do not answer and '
        'room_a is the preferred room (twinroom_preferred_room) with no witness: it never isolates itself, so'
        ' only BMCs reporting every node off make its failover automatic. An operator decides: check the '
        'room, then run failover.yml -e lost_room=room_a.',
    '4-preferred-room-lost-bmcs-off':
        'room_a is lost: last heard from at 2027-01-15T07:59:48Z, unreachable for twinroom_detect_seconds (10'
        ' s) by room_b, with no witness (votes: room_a absent, room_b lost). Its BMCs answer and report every'
        ' node off: failing over to room_b; failover.yml fences room_a through its BMCs.',
    '4-no-preferred-room-dark-alarm':
        'room_b is lost: last heard from at 2027-01-15T07:58:00Z, unreachable for twinroom_detect_seconds (10'
        ' s) by room_a, with no witness (votes: room_a lost, room_b absent). Its BMCs do not answer and there'
        ' is neither a witness nor twinroom_preferred_room: only BMCs reporting every node off make a '
        'failover automatic. An operator decides: check the room, then run failover.yml -e lost_room=room_b.',
    '5-link-cut-witness-keeps-primary-room':
        'The link between the rooms is cut: the witness hears both rooms but they do not hear each other '
        '(votes on room_b: room_a lost, room_b alive, witness alive); the witness keeps room_a, which holds '
        'the datastore primary, and stopped answering room_b at 2027-01-15T08:00:00Z, so room_b isolates '
        'itself. Its BMCs report its nodes on: failing over to room_a at 2027-01-15T08:00:40Z, once room_b '
        'has isolated itself (2027-01-15T08:00:00Z, its last contact, + 30 s isolation + 10 s margin), in 40 '
        's.',
    '5-link-cut-withdrawal-stands-whatever-primary-room':
        'The link between the rooms is cut: the witness hears both rooms but they do not hear each other '
        '(votes on room_b: room_a lost, room_b alive, witness alive); the witness keeps room_a, which holds '
        'the datastore primary, and stopped answering room_b at 2027-01-15T07:59:50Z, so room_b isolates '
        'itself. Its BMCs report its nodes on: failing over to room_a at 2027-01-15T08:00:30Z, once room_b '
        'has isolated itself (2027-01-15T07:59:50Z, its last contact, + 30 s isolation + 10 s margin), in 30 '
        's.',
    '5-link-cut-after-withdrawal-and-isolation':
        'The link between the rooms is cut: the witness hears both rooms but they do not hear each other '
        '(votes on room_b: room_a lost, room_b alive, witness alive); the witness keeps room_a, which holds '
        'the datastore primary, and stopped answering room_b at 2027-01-15T07:59:20Z, so room_b isolates '
        'itself. Its BMCs report its nodes on; room_b has isolated itself by now (2027-01-15T07:59:20Z, its '
        'last contact, + 30 s isolation + 10 s margin = 2027-01-15T08:00:00Z): failing over to room_a without'
        " the BMCs' word.",
    '5-link-cut-primary-unknown-alarm':
        'The link between the rooms is cut: the witness hears both rooms but they do not hear each other '
        '(votes on room_a: room_a alive, room_b lost, witness alive; votes on room_b: room_a lost, room_b '
        'alive, witness alive), and which room holds the datastore primary is not known: the witness keeps '
        'both, no automatic failover. An operator decides (docs/runbook.md).',
    '5-room-going-down-is-no-link-cut':
        'room_b is unreachable from room_a only (votes: room_a lost, room_b absent, witness alive): no '
        'majority, no failover yet.',
    '5-link-cut-without-witness-preferred-room-stays':
        'The link between the rooms is cut: each room reports the other unreachable and there is no witness '
        '(votes on room_b: room_a lost, room_b alive); room_a is the preferred room '
        '(twinroom_preferred_room), so room_b isolates itself. Its BMCs report its nodes on; room_b has '
        'isolated itself by now (2027-01-15T07:59:10Z, its last contact, + 30 s isolation + 10 s margin = '
        "2027-01-15T07:59:50Z): failing over to room_a without the BMCs' word.",
    '5-link-cut-without-witness-or-preferred-room-alarm':
        'The link between the rooms is cut: each room reports the other unreachable (votes on room_a: room_a '
        'alive, room_b lost; votes on room_b: room_a lost, room_b alive), and there is neither a witness nor '
        'twinroom_preferred_room: no automatic failover. An operator decides (docs/runbook.md).',
    '6-two-faults-link-cut-and-witness-lost':
        'Two faults at once: the witness is lost and the rooms do not hear each other (votes on room_a: '
        'room_a alive, room_b lost, witness absent; votes on room_b: room_a lost, room_b alive, witness '
        'absent): no automatic failover, no room has a majority, and a room that sees neither the other room '
        'nor the witness isolates itself. An operator decides (docs/runbook.md).',
    '6-two-faults-room-and-witness-lost':
        'Two faults at once: the witness is lost and room_a does not hear room_b (votes on room_a: room_a '
        'alive, room_b absent, witness absent; votes on room_b: room_a lost, room_b absent, witness absent): '
        'no automatic failover, no room has a majority, and a room that sees neither the other room nor the '
        'witness isolates itself. An operator decides (docs/runbook.md).',
    '6-witness-lost-alone':
        'The witness is lost (votes on room_a: room_a alive, room_b alive, witness absent; votes on room_b: '
        'room_a alive, room_b alive, witness absent): no failover, both rooms hear each other. Bring the '
        'witness back: while it is lost, a cut link between the rooms isolates both rooms.',
    '6-witness-hears-neither-room':
        'The witness is lost (votes on room_a: room_a alive, room_b alive, witness lost; votes on room_b: '
        'room_a alive, room_b alive, witness lost): no failover, both rooms hear each other. Bring the '
        'witness back: while it is lost, a cut link between the rooms isolates both rooms.',
    '7-already-failed-over':
        'room_b is lost: last heard from at 2027-01-15T07:59:00Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). room_b already '
        'failed over at 2027-01-15T07:59:41Z: no second automatic failover until recover.yml has brought it '
        'back and its failed_over record is cleared.',
    '7-both-rooms-lost':
        'Both rooms are lost (votes on room_a: room_a alive, room_b lost, witness lost; votes on room_b: '
        'room_a lost, room_b alive, witness lost): no automatic failover, there is no room to fail over to. '
        'An operator decides (docs/runbook.md).',
    '7-never-to-an-unreachable-room':
        'room_b is lost: last heard from at 2027-01-15T07:59:00Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). room_a is itself '
        'unreachable from the witness: no automatic failover to a room that may be isolating itself. An '
        'operator decides (docs/runbook.md).',
    '7-never-to-a-room-failed-over':
        'room_b is lost: last heard from at 2027-01-15T07:59:00Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b absent, witness lost). room_a failed '
        'over at 2027-01-15T07:00:00Z and has not been recovered: no automatic failover to it. An operator '
        'decides (docs/runbook.md).',
    '7-lost-room-still-hears-survivor':
        'room_b is lost: last heard from at 2027-01-15T07:59:00Z, unreachable for twinroom_detect_seconds (10'
        ' s) by a majority of the voters (votes: room_a lost, room_b alive, witness lost). Its BMCs do not '
        'answer and room_b still hears room_a, so it does not isolate itself: no automatic failover. An '
        'operator decides (docs/runbook.md).',
    'all-reachable':
        'Both rooms are reachable (votes on room_a: room_a alive, room_b alive, witness alive; votes on '
        'room_b: room_a alive, room_b alive, witness alive): nothing to do.',
    'an-old-report-is-no-vote':
        'No voter has reported within twinroom_detect_seconds (10 s): nothing to judge.',
}


@pytest.mark.parametrize('case', CASES, ids=[case[0] for case in CASES])
def test_judge(case):
    name, settings, views, memory, primary_room, (action, room, method, not_before, votes) = case
    decision = room_vote.judge(views, NOW, settings, memory, primary_room=primary_room)
    assert (decision['action'], decision['room'], decision['method'], decision['not_before'], decision['votes']) == (
        action, room, method, not_before, votes)
    assert decision['reason'] == REASONS[name]
    assert set(decision['ballots']) == {'room_a', 'room_b'}
    if action == 'failover':
        assert decision['memory']['failed_over'][room] == NOW


def test_every_rule_has_a_case():
    assert set(name.split('-')[0] for name, *unused in CASES) >= {'1', '2', '3', '4', '5', '6', '7'}


LOST_B = {'room_a': {'room_b': seen('room_b', NOW - 60, 'off')},
          'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW - 60, 'off')}}


def test_no_storm_one_failover_per_room_until_the_record_is_cleared():
    first = room_vote.judge(LOST_B, NOW, W, None)
    assert (first['action'], first['memory']['failed_over']) == ('failover', {'room_b': NOW})
    second = room_vote.judge(LOST_B, NOW + 5, W, first['memory'])
    assert second['action'] == 'none'
    assert 'room_b already failed over at 2027-01-15T08:00:00Z: no second automatic failover' in second['reason']
    cleared = dict(second['memory'], failed_over={})  # recover.yml brought room_b back
    assert room_vote.judge(LOST_B, NOW + 5, W, cleared)['action'] == 'failover'


def test_an_alarm_is_raised_once_while_it_stands():
    views = {'room_a': {'room_b': seen('room_b', NOW)}, 'room_b': {'room_a': seen('room_a', NOW)}}
    first = room_vote.judge(views, NOW, W, {})
    assert (first['action'], first['memory']['alarmed']) == ('alarm', {'witness': NOW})
    again = room_vote.judge(views, NOW + 1, W, first['memory'])
    assert again['action'] == 'none'
    assert again['reason'] == 'Alarm already raised at 2027-01-15T08:00:00Z, still standing: ' + first['reason']
    witness = {'room_a': seen('room_a', NOW + 2, now=NOW + 2), 'room_b': seen('room_b', NOW + 2, now=NOW + 2)}
    back = dict(views, witness=witness)
    ended = room_vote.judge(back, NOW + 2, W, again['memory'])
    assert (ended['action'], ended['memory']['alarmed']) == ('none', {})


def test_the_witness_answers_a_withdrawn_room_again_once_every_voter_hears_it():
    memory = {'withdrawn': {'room_b': NOW - 5}}
    views = {'room_a': {'room_b': seen('room_b', NOW)}, 'room_b': {'room_a': seen('room_a', NOW)},
             'witness': {'room_a': seen('room_a', NOW), 'room_b': seen('room_b', NOW)}}
    assert room_vote.judge(views, NOW, W, memory)['memory']['withdrawn'] == {}


@pytest.mark.parametrize('primary_room', ['room_a', 'room_b', None])
def test_the_witness_withdraws_one_room_at_most_and_keeps_to_it(primary_room):
    """Whatever a later step says of the primary room (it may not be readable, or read wrong), a withdrawal
    stands until every voter hears the room again: the witness never withdraws the room it kept."""
    views = {'room_a': {'room_b': seen('room_b', NOW - 25)}, 'room_b': {'room_a': seen('room_a', NOW - 25)},
             'witness': {'room_a': seen('room_a', NOW - 1), 'room_b': seen('room_b', NOW - 1)}}
    decision = room_vote.judge(views, NOW, W, {'withdrawn': {'room_b': NOW - 10}}, primary_room=primary_room)
    assert (decision['action'], decision['room'], decision['memory']['withdrawn']) == (
        'none', 'room_b', {'room_b': NOW - 10})


# (method, path, withdrawn, step_at, step_age) -> (status, body)
ANSWERS = [
    ('GET', '/rooms/room_a', {}, NOW, 1.0, 200,
     {'room': 'room_a', 'answer': True, 'watch_step_at': '2027-01-15T08:00:00Z'}),
    ('GET', '/rooms/room_b?probe=1', {}, NOW + 0.25, 6.0, 200,
     {'room': 'room_b', 'answer': True, 'watch_step_at': '2027-01-15T08:00:00.250Z'}),
    ('GET', '/rooms/room_b', {'room_b': NOW - 30}, NOW, 1.0, 403,
     {'room': 'room_b', 'answer': False, 'watch_step_at': '2027-01-15T08:00:00Z',
      'reason': 'room_b was withdrawn at 2027-01-15T07:59:30Z: the link between the rooms is cut and the witness keeps '
                'room_a, so room_b isolates itself.'}),
    ('GET', '/rooms/room_a', {'room_b': NOW - 30}, NOW, 1.0, 200,
     {'room': 'room_a', 'answer': True, 'watch_step_at': '2027-01-15T08:00:00Z'}),
    ('GET', '/rooms/room_a', {}, NOW, 6.5, 503,
     {'room': 'room_a', 'answer': False, 'watch_step_at': '2027-01-15T08:00:00Z',
      'reason': 'The watch has not completed a step since 2027-01-15T08:00:00Z (the witness answers for 6 s after '
                'one): it vouches for no room it does not watch.'}),
    ('GET', '/rooms/room_a', {}, None, None, 503,
     {'room': 'room_a', 'answer': False, 'watch_step_at': None,
      'reason': 'The watch has not completed a step since it started at 2027-01-15T07:59:00Z (the witness answers for '
                '6 s after one): it vouches for no room it does not watch.'}),
    ('GET', '/rooms/room_b', {'room_b': NOW - 30}, NOW, 60.0, 403,
     {'room': 'room_b', 'answer': False, 'watch_step_at': '2027-01-15T08:00:00Z',
      'reason': 'room_b was withdrawn at 2027-01-15T07:59:30Z: the link between the rooms is cut and the witness keeps '
                'room_a, so room_b isolates itself.'}),
    ('GET', '/rooms/', {}, NOW, 1.0, 404,
     {'answer': False, 'reason': 'No such path /rooms/: the witness answers GET /rooms/room_a and /rooms/room_b.'}),
    ('GET', '/rooms/witness', {}, NOW, 1.0, 404,
     {'answer': False, 'reason': 'No such path /rooms/witness: the witness answers GET /rooms/room_a and '
                                 '/rooms/room_b.'}),
    ('POST', '/rooms/room_a', {}, NOW, 1.0, 405,
     {'answer': False, 'reason': 'The witness answers GET only, not POST.'}),
]


@pytest.mark.parametrize('answer', ANSWERS, ids=['200', '200-query', '403', '200-other-room', '503-stale',
                                                 '503-no-step', '403-before-503', '404-no-room', '404-witness',
                                                 '405'])
def test_witness_answer(answer):
    method, path, withdrawn, step_at, step_age, status, body = answer
    assert room_vote.witness_answer(method, path, withdrawn, step_at, step_age, 6.0, NOW - 60) == (status, body)


@pytest.mark.parametrize('views, settings, message', [
    ({'witness': {'room_a': seen('room_a', NOW)}}, NONE,
     "A report from 'witness', which is not a voter: the voters are room_a and room_b (the witness only when the "
     "settings say witness: true)."),
    ({'room_a': {'room_a': seen('room_a', NOW)}}, NONE,
     'room_a reported on itself: a voter reports only on the rooms other than itself.'),
    ({'room_a': {'room_c': {}}}, NONE, 'Unknown room room_c: automatic failover knows the rooms room_a and room_b.'),
])
def test_malformed_reports_are_refused(views, settings, message):
    with pytest.raises(room_vote.TwinroomError) as raised:
        room_vote.judge(views, NOW, settings, {})
    assert raised.value.msg == message


def test_judge_checks_its_settings_and_the_primary_room():
    with pytest.raises(room_vote.AutomaticFailoverSettingsError) as raised:
        room_vote.judge({}, NOW, {'detect_seconds': 20}, {})
    assert raised.value.msg == (
        'The automatic failover settings are not valid: twinroom_detect_seconds is 20; it must be a whole number of '
        'seconds from 1 to 10: a room is declared lost after that long without any signal from it.')
    with pytest.raises(room_vote.TwinroomError) as raised:
        room_vote.judge({}, NOW, W, {}, primary_room='room_c')
    assert raised.value.msg == 'Unknown primary room room_c: automatic failover knows the rooms room_a and room_b.'


# room_view: (leases, api, datastore, power) -> (reachable, unreachable_since, signals, power)
VIEWS = [
    ('all-fresh', {'n1': NOW - 1, 'n2': NOW - 3}, NOW, NOW, {'n1': 'on', 'n2': 'on'},
     (True, None, {'leases': 'fresh', 'api': 'fresh', 'datastore': 'fresh'}, 'on')),
    ('one-signal-is-enough', {'n1': NOW - 30}, NOW - 30, NOW - 9.9, {'n1': 'on'},
     (True, None, {'leases': 'stale', 'api': 'stale', 'datastore': 'fresh'}, 'on')),
    ('exactly-detect-seconds-is-stale', {'n1': NOW - 10, 'n2': None}, NOW - 10, NOW - 12, {'n1': 'off', 'n2': 'off'},
     (False, NOW - 10, {'leases': 'stale', 'api': 'stale', 'datastore': 'stale'}, 'off')),
    ('latest-signal-is-since', {'n1': NOW - 40}, NOW - 25, None, {'n1': 'dark', 'n2': 'dark'},
     (False, NOW - 25, {'leases': 'stale', 'api': 'stale', 'datastore': 'stale'}, 'dark')),
    ('never-seen', {}, None, None, {'n1': 'on', 'n2': 'off'},
     (False, None, {'leases': 'stale', 'api': 'stale', 'datastore': 'stale'}, 'mixed')),
    ('no-bmc-reading-is-dark', {'n1': None}, NOW, None, {},
     (True, None, {'leases': 'stale', 'api': 'fresh', 'datastore': 'stale'}, 'dark')),
]


@pytest.mark.parametrize('case', VIEWS, ids=[case[0] for case in VIEWS])
def test_room_view(case):
    name, leases, api, datastore, power, (reachable, since, signals, combined) = case
    view = room_vote.room_view('room_b', NOW, leases, api, datastore, power, 10)
    assert (view['room'], view['reachable'], view['unreachable_since'], view['signals'], view['power']) == (
        'room_b', reachable, since, signals, combined)
    assert view['observed_at'] == NOW


def test_room_view_refuses_an_unknown_power_state():
    with pytest.raises(room_vote.TwinroomError) as raised:
        room_vote.room_view('room_a', NOW, {}, None, None, {'a-w1': 'unknown'}, 10)
    assert raised.value.msg == ("The BMC of a-w1 reads 'unknown'; a room view takes on, off or dark (the BMC did not "
                                "answer).")


SETTINGS = [
    ({}, []),
    (None, []),
    ({'detect_seconds': 1, 'isolation_seconds': 2, 'margin_seconds': 0, 'preferred_room': 'room_b', 'witness': True},
     []),
    ({'detect_seconds': 0}, ['twinroom_detect_seconds is 0; it must be a whole number of seconds from 1 to 10: a room '
                             'is declared lost after that long without any signal from it.']),
    ({'detect_seconds': 11}, ['twinroom_detect_seconds is 11; it must be a whole number of seconds from 1 to 10: a '
                              'room is declared lost after that long without any signal from it.']),
    ({'detect_seconds': '10'}, ["twinroom_detect_seconds is '10'; it must be a whole number of seconds from 1 to 10: "
                                "a room is declared lost after that long without any signal from it."]),
    ({'detect_seconds': True}, ['twinroom_detect_seconds is True; it must be a whole number of seconds from 1 to 10: '
                                'a room is declared lost after that long without any signal from it.']),
    ({'isolation_seconds': 10}, [
        'twinroom_isolation_seconds (10) must be greater than twinroom_detect_seconds (10): a room must isolate itself '
        'only after the other side could have declared it lost, or an interruption too short to fail anything over '
        'powers a room off. Raise twinroom_isolation_seconds above 10.']),
    ({'detect_seconds': 5, 'isolation_seconds': 4}, [
        'twinroom_isolation_seconds (4) must be greater than twinroom_detect_seconds (5): a room must isolate itself '
        'only after the other side could have declared it lost, or an interruption too short to fail anything over '
        'powers a room off. Raise twinroom_isolation_seconds above 5.']),
    ({'isolation_seconds': 2.5}, ['twinroom_isolation_seconds is 2.5; it must be a whole number of seconds, greater '
                                  'than twinroom_detect_seconds.']),
    ({'margin_seconds': -1}, ['twinroom_margin_seconds is -1; it must be a whole number of seconds, 0 or more: the '
                              'survivor waits twinroom_isolation_seconds plus this margin before it takes over a room '
                              'whose BMCs do not answer.']),
    ({'preferred_room': 'room_c'}, ["twinroom_preferred_room is 'room_c'; it must be room_a or room_b, or unset for no "
                                    "preferred room."]),
    ({'witness': 'yes'}, ["The witness setting is 'yes'; it must be true or false (true when the inventory has hosts "
                          "in group witness)."]),
    ({'detect': 10}, ['Unknown automatic failover setting detect: the settings are detect_seconds, isolation_seconds, '
                      'margin_seconds, preferred_room and witness. Remove or correct it.']),
    ({'detect': 10, 'margin': 1, 'detect_seconds': 12}, [
        'Unknown automatic failover settings detect and margin: the settings are detect_seconds, isolation_seconds, '
        'margin_seconds, preferred_room and witness. Remove or correct them.',
        'twinroom_detect_seconds is 12; it must be a whole number of seconds from 1 to 10: a room is declared lost '
        'after that long without any signal from it.']),
    (['detect_seconds'], ["The automatic failover settings are ['detect_seconds']; they must be a mapping of "
                          "detect_seconds, isolation_seconds, margin_seconds, preferred_room and witness."]),
]


@pytest.mark.parametrize('settings, problems', SETTINGS)
def test_settings_problems(settings, problems):
    assert room_vote.settings_problems(settings) == problems


def test_check_settings_merges_the_defaults_and_joins_every_problem():
    assert room_vote.check_settings({'witness': True}) == dict(room_vote.DEFAULTS, witness=True)
    assert room_vote.DEFAULTS == {'detect_seconds': 10, 'isolation_seconds': 30, 'margin_seconds': 10,
                                  'preferred_room': None, 'witness': False}
    with pytest.raises(room_vote.AutomaticFailoverSettingsError) as raised:
        room_vote.check_settings({'margin_seconds': -1, 'preferred_room': 'c'})
    assert raised.value.msg == 'The automatic failover settings are not valid: ' + ' '.join(
        room_vote.settings_problems({'margin_seconds': -1, 'preferred_room': 'c'}))
    assert isinstance(raised.value, room_vote.TwinroomError)


# isolate(now, last_seen_other_room, last_seen_witness, witness, preferred_room, own_room) -> (isolate, at, reason)
ISOLATION = [
    ('witness-both-unseen-for-isolation-seconds', (NOW - 40, NOW - 30, True, None, 'room_b'), (
        True, NOW, 'This node of room_b has seen neither room_a nor the witness since 2027-01-15T07:59:30Z, for '
                   'twinroom_isolation_seconds (30 s): isolating it - stop its workloads, power it off or reboot it.')),
    ('witness-still-answers', (NOW - 40, NOW - 29.5, True, None, 'room_b'), (
        False, NOW + 0.5, 'This node of room_b last saw room_a or the witness at 2027-01-15T07:59:30.500Z: it isolates '
                          'itself at 2027-01-15T08:00:00.500Z unless it hears from them again.')),
    ('witness-other-room-still-seen', (NOW - 1, NOW - 300, True, 'room_b', 'room_b'), (
        False, NOW + 29, 'This node of room_b last saw room_a or the witness at 2027-01-15T07:59:59Z: it isolates '
                         'itself at 2027-01-15T08:00:29Z unless it hears from them again.')),
    ('witness-guard-not-armed', (None, None, True, None, 'room_a'), (
        False, None, 'This node of room_a has seen neither room_b nor the witness since its guard started: the guard '
                     'arms only once it has seen room_b or the witness.')),
    ('no-witness-non-preferred-isolates', (NOW - 31, None, False, 'room_a', 'room_b'), (
        True, NOW - 1, 'This node of room_b has not seen room_a, the preferred room, since 2027-01-15T07:59:29Z, for '
                       'twinroom_isolation_seconds (30 s): isolating it - stop its workloads, power it off or reboot '
                       'it.')),
    ('no-witness-non-preferred-waits', (NOW - 10, None, False, 'room_a', 'room_b'), (
        False, NOW + 20, 'This node of room_b last saw room_a, the preferred room, at 2027-01-15T07:59:50Z: it isolates '
                         'itself at 2027-01-15T08:00:20Z unless it hears from room_a again.')),
    ('no-witness-non-preferred-not-armed', (None, None, False, 'room_a', 'room_b'), (
        False, None, 'This node of room_b has not seen room_a, the preferred room, since its guard started: the guard '
                     'arms only once it has seen room_a, the preferred room.')),
    ('no-witness-preferred-never', (NOW - 3600, None, False, 'room_a', 'room_a'), (
        False, None, 'room_a is the preferred room (twinroom_preferred_room) and there is no witness: its nodes never '
                     'isolate themselves.')),
    ('no-witness-no-preferred-never', (NOW - 3600, None, False, None, 'room_b'), (
        False, None, 'No witness and no twinroom_preferred_room: a node never isolates itself; only BMCs reporting a '
                     'room off make its failover automatic.')),
]


@pytest.mark.parametrize('case', ISOLATION, ids=[case[0] for case in ISOLATION])
def test_isolate(case):
    name, (other, witness_seen, witness, preferred, own), (isolates, at, reason) = case
    assert room_vote.isolate(NOW, other, witness_seen, witness, preferred, own, {}) == {
        'isolate': isolates, 'at': at, 'reason': reason}


def test_isolation_follows_the_settings():
    decision = room_vote.isolate(NOW, NOW - 12, None, True, None, 'room_a', {'detect_seconds': 5,
                                                                             'isolation_seconds': 12})
    assert (decision['isolate'], decision['at']) == (True, NOW)
    with pytest.raises(room_vote.AutomaticFailoverSettingsError):
        room_vote.isolate(NOW, NOW, None, True, None, 'room_a', {'isolation_seconds': 5})
