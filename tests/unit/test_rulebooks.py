# -*- coding: utf-8 -*-
"""The automatic failover's rulebooks, read by ansible-rulebook's own parser: what each rule runs, that every failover
decision (BMCs reporting the room off, or the room isolated) runs failover.yml and nothing else does, and that both
pass the decision on (failover_decision, with not_before), which ansible-rulebook renders into what failover.yml
takes: failover.yml's own checks (room_events.decision_problems, and isolation_problems for an isolation decision)
accept it."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
import yaml

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import room_events
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import room_events

rules_parser = pytest.importorskip('ansible_rulebook.rules_parser')
rulebook_util = pytest.importorskip('ansible_rulebook.util')

RULEBOOKS = pathlib.Path(__file__).resolve().parents[2] / 'extensions' / 'eda' / 'rulebooks'
FAILOVER = 'event.twinroom.action == "failover"'


def rules(name):
    rule_sets = rules_parser.parse_rule_sets(yaml.safe_load((RULEBOOKS / name).read_text()))
    assert len(rule_sets) == 1
    return rule_sets[0]


@pytest.mark.parametrize('name, runs', [('automatic_failover.yml', 'run_playbook'),
                                        ('automatic_failover_awx.yml', 'run_job_template')])
def test_every_failover_decision_and_nothing_else_runs_the_failover(name, runs):
    rule_set = rules(name)
    assert [source.source_name for source in rule_set.sources] == ['twinroom.ha.room_watch']
    acting = [rule for rule in rule_set.rules if any(action.action == runs for action in rule.actions)]
    assert len(acting) == 1
    assert acting[0].condition.when == 'all'
    written = [rule for rule in yaml.safe_load((RULEBOOKS / name).read_text())[0]['rules']
               if rule['name'] == acting[0].name][0]
    assert written['condition'] == FAILOVER
    assert "Identifier(value='event.twinroom.action'), operator='==', right=String(value='failover')" in \
        repr(acting[0].condition.value)
    assert 'method' not in repr(acting[0].condition.value)
    assert [action.action for action in acting[0].actions] == ['print_event', runs]
    others = [rule for rule in rule_set.rules if rule is not acting[0]]
    assert all([action.action for action in rule.actions] == ['print_event'] for rule in others)


def test_the_playbook_runs_with_the_controller_in_its_limit():
    rule_set = rules('automatic_failover.yml')
    assert rule_set.hosts == ['all,localhost']
    run = [action for rule in rule_set.rules for action in rule.actions if action.action == 'run_playbook'][0]
    assert run.action_args['name'] == '{{ twinroom_playbooks_dir }}/failover.yml'
    assert run.action_args['extra_vars'] == {'lost_room': '{{ event.twinroom.room }}', 'failover_trigger': 'room_watch',
                                             'failover_decision': DECISION}


DECISION = {'reason': '{{ event.twinroom.reason }}', 'votes': '{{ event.twinroom.votes }}',
            'method': '{{ event.twinroom.method }}', 'decided_at': '{{ event.twinroom.decided_at }}',
            'not_before': '{{ event.twinroom.not_before }}'}
EVENT = {'twinroom': {
    'action': 'failover', 'room': 'room_a', 'method': 'bmc-off', 'not_before': None, 'decided_at': 1796281200.25,
    'reason': 'room_a is lost: unreachable by a majority of the voters (votes: room_a absent, room_b lost, witness '
              'lost). Its BMCs answer and report every node off: failing over to room_b.',
    'votes': {'room_a': 'absent', 'room_b': 'lost', 'witness': 'lost'}, 'views': {}}}


def launched(name):
    """The extra variables the rule that fails a room over passes, as written in the rulebook."""
    rule_set = rules(name)
    action = [action for rule in rule_set.rules for action in rule.actions
              if action.action in ('run_playbook', 'run_job_template')][0]
    if action.action == 'run_job_template':
        return action.action_args['job_args']['extra_vars']
    return action.action_args['extra_vars']


@pytest.mark.parametrize('name', ['automatic_failover.yml', 'automatic_failover_awx.yml'])
def test_both_rulebooks_pass_the_decision_with_its_votes(name):
    extra_vars = launched(name)
    assert extra_vars['failover_decision'] == DECISION
    assert extra_vars['failover_trigger'] == 'room_watch'
    # As ansible-rulebook renders them for an event (native types: the votes stay a mapping, the time a number),
    # they are what failover.yml's check accepts.
    rendered = rulebook_util.substitute_variables(extra_vars, {'event': EVENT})
    assert rendered['lost_room'] == 'room_a'
    assert rendered['failover_decision'] == dict((key, EVENT['twinroom'][key]) for key in DECISION)
    assert room_events.decision_problems(rendered['failover_decision']) == []


ISOLATION = {'twinroom': dict(
    EVENT['twinroom'], room='room_b', method='isolation', not_before=1796281190.5,
    reason='room_b is lost: unreachable for twinroom_detect_seconds (10 s) by room_a (votes: room_a lost, room_b '
           'absent). Its BMCs do not answer; room_b has isolated itself by now: failing over to room_a without the '
           'BMCs\' word.', votes={'room_a': 'lost', 'room_b': 'absent'})}


@pytest.mark.parametrize('name', ['automatic_failover.yml', 'automatic_failover_awx.yml'])
def test_an_isolation_decision_reaches_failover_yml_with_its_time(name):
    rendered = rulebook_util.substitute_variables(launched(name), {'event': ISOLATION})
    decision = rendered['failover_decision']
    assert decision['method'] == 'isolation' and decision['not_before'] == 1796281190.5
    assert room_events.decision_problems(decision) == []
    # As failover.yml checks it: the preferred room survives, no witness, the guards installed, after not_before.
    assert room_events.isolation_problems(decision, 'room_b', 1796281200.25, True, False, 'room_a') == []


def test_the_awx_rulebook_launches_the_template_made_for_it_with_the_controller_in_its_limit():
    rule_set = rules('automatic_failover_awx.yml')
    assert rule_set.hosts == ['all,localhost']
    launch = [action for rule in rule_set.rules for action in rule.actions if action.action == 'run_job_template'][0]
    assert launch.action_args['name'] == "{{ twinroom_failover_job_template | default('twinroom automatic failover') }}"
