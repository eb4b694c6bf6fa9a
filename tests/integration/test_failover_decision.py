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
    extra_vars = {'lost_room': 'room_a', 'failover_decision': decision}
    result = run_playbook('playbooks/failover.yml', VALID, extra_vars=extra_vars)
    text = output(result)
    assert result.returncode != 0, text
    assert 'Task failed: Action failed: %s' % (REFUSED % problems) in text, text
    assert 'Take the operation lock' not in text
    recap = play_recap(text)
    assert set(recap) == {'localhost'}, text
    assert (recap['localhost']['failed'], recap['localhost']['changed']) == (1, 0)
