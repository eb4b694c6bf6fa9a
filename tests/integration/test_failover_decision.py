# -*- coding: utf-8 -*-
"""failover.yml refuses a failover_decision that is not the room watch's decision: the exact message, before the
operation lock and before any node. Needs no lab: the fixture inventory's nodes do not exist, so a task on any of
them would show in PLAY RECAP (tests/integration/test_validate_inventory.py proves that trap)."""

from __future__ import annotations

import pytest

from playbook import output, play_recap, run_playbook

VALID = 'tests/integration/fixtures/inventories/valid'
REFUSED = ("failover_decision is not a decision of the room watch (%s): refusing to start the failover. The "
           "rulebooks pass it as a mapping with reason, votes, method and decided_at; leave it out for an operator's "
           "failover.")


@pytest.mark.parametrize('decision, problems', [
    ('room_b lost', 'it is text, not a mapping'),
    ({'reason': 'room_a is lost.', 'votes': 'room_b lost'},
     'it lacks method and decided_at; votes is text, not a mapping of voter to vote'),
], ids=['text', 'incomplete'])
def test_a_decision_that_is_not_one_is_refused_before_anything(decision, problems):
    assert_refused_before_anything({'lost_room': 'room_a', 'failover_decision': decision}, REFUSED % problems)


def assert_refused_before_anything(extra_vars, message):
    """failover.yml with extra_vars fails with message, on the controller only, before the lock, changing nothing."""
    result = run_playbook('playbooks/failover.yml', VALID, extra_vars=extra_vars)
    text = output(result)
    assert result.returncode != 0, text
    assert 'Task failed: Action failed: %s' % message in text, text
    assert 'Take the operation lock' not in text
    recap = play_recap(text)
    assert set(recap) == {'localhost'}, text
    assert (recap['localhost']['failed'], recap['localhost']['changed']) == (1, 0)


ISOLATION_REFUSED = ("The room watch's decision does not confirm that room_a is down (%s): refusing to fence it while "
                     "its BMCs do not answer. Check the room; once you know it has no power, run failover.yml with "
                     "-e confirm_room_down=true.")
ISOLATION = {'reason': 'room_a is lost.', 'votes': {'room_a': 'absent', 'room_b': 'lost'}, 'method': 'isolation',
             'decided_at': 1796281200.25}


@pytest.mark.parametrize('decision, extra, problems', [
    (dict(ISOLATION, not_before=1796281190.5), {},
     'twinroom_automatic_failover is not true in this inventory, so no isolation guard runs on the nodes of room_a '
     'and nothing powered them off; there is neither a witness nor twinroom_preferred_room, so no node isolates '
     'itself'),
    (dict(ISOLATION, not_before=1796281190.5), {'twinroom_automatic_failover': True, 'twinroom_preferred_room': 'room_a'},
     'room_a is the preferred room (twinroom_preferred_room) and there is no witness, so its nodes never isolate '
     'themselves'),
    (dict(ISOLATION, not_before=None), {'twinroom_automatic_failover': True, 'twinroom_preferred_room': 'room_b'},
     'not_before is null, not epoch seconds'),
], ids=['no-guards', 'preferred-room-lost', 'no-time'])
def test_an_isolation_decision_that_confirms_nothing_is_refused_before_anything(decision, extra, problems):
    assert_refused_before_anything(dict(extra, lost_room='room_a', failover_decision=decision),
                                   ISOLATION_REFUSED % problems)


def test_an_isolation_decision_before_its_time_is_refused_with_both_times():
    extra_vars = {'lost_room': 'room_a', 'twinroom_automatic_failover': True, 'twinroom_preferred_room': 'room_b',
                  'failover_decision': dict(ISOLATION, not_before=4102444800)}  # 2100-01-01
    result = run_playbook('playbooks/failover.yml', VALID, extra_vars=extra_vars)
    text = output(result)
    assert result.returncode != 0, text
    refused = ISOLATION_REFUSED % ("it allows the failover from 2100-01-01T00:00:00Z (the room's last contact + "
                                   "isolation_seconds + margin_seconds) and it is ")
    assert 'Task failed: Action failed: %sand it is 20' % refused.split("and it is ", maxsplit=1)[0] in text, text
    assert ' s early): refusing to fence it while its BMCs do not answer.' in text, text
    assert 'Take the operation lock' not in text
