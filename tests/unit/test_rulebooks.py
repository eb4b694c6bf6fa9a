# -*- coding: utf-8 -*-
"""The automatic failover's rulebooks, read by ansible-rulebook's own parser: what each rule runs, and that a
failover is run only for a room whose BMCs report it off (an isolation decision is printed for an operator)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

rules_parser = pytest.importorskip('ansible_rulebook.rules_parser')

RULEBOOKS = pathlib.Path(__file__).resolve().parents[2] / 'extensions' / 'eda' / 'rulebooks'
FAILOVER = 'event.twinroom.action == "failover" and event.twinroom.method == "bmc-off"'


def rules(name):
    rule_sets = rules_parser.parse_rule_sets(yaml.safe_load((RULEBOOKS / name).read_text()))
    assert len(rule_sets) == 1
    return rule_sets[0]


@pytest.mark.parametrize('name, runs', [('automatic_failover.yml', 'run_playbook'),
                                        ('automatic_failover_awx.yml', 'run_job_template')])
def test_only_a_room_reported_off_is_failed_over(name, runs):
    rule_set = rules(name)
    assert [source.source_name for source in rule_set.sources] == ['twinroom.ha.room_watch']
    acting = [rule for rule in rule_set.rules if any(action.action == runs for action in rule.actions)]
    assert len(acting) == 1
    assert acting[0].condition.when == 'all'
    written = [rule for rule in yaml.safe_load((RULEBOOKS / name).read_text())[0]['rules']
               if rule['name'] == acting[0].name][0]
    assert written['condition'] == FAILOVER
    assert "Identifier(value='event.twinroom.method'), operator='==', right=String(value='bmc-off')" in \
        repr(acting[0].condition.value)
    assert [action.action for action in acting[0].actions] == ['print_event', runs]
    others = [rule for rule in rule_set.rules if rule is not acting[0]]
    assert all([action.action for action in rule.actions] == ['print_event'] for rule in others)


def test_the_playbook_runs_with_the_controller_in_its_limit():
    rule_set = rules('automatic_failover.yml')
    assert rule_set.hosts == ['all,localhost']
    run = [action for rule in rule_set.rules for action in rule.actions if action.action == 'run_playbook'][0]
    assert run.action_args['name'] == '{{ twinroom_playbooks_dir }}/failover.yml'
    assert run.action_args['extra_vars'] == {'lost_room': '{{ event.twinroom.room }}', 'failover_trigger': 'room_watch'}
