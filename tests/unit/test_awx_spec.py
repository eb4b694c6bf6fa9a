# -*- coding: utf-8 -*-
"""AWX as code: the surveys and credential types in awx/ pass AWX's checks, offer the inventory's rooms, and
inject and ask exactly what the playbooks read; bad ones are refused with the exact problem
(fixtures/awx/bad_specs.yml). No AWX needed."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import awx_spec
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import awx_spec

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / 'awx'
SETUP = yaml.safe_load((AWX / 'defaults.yml').read_text())
BAD = yaml.safe_load((Path(__file__).parent / 'fixtures' / 'awx' / 'bad_specs.yml').read_text())
EXAMPLE_GROUPS = list(yaml.safe_load((REPO / 'inventories' / 'example' / 'hosts.yml').read_text())['all']['children'])
SURVEYS = sorted(path.stem for path in (AWX / 'surveys').glob('*.json'))
CREDENTIAL_TYPES = sorted(path.stem for path in (AWX / 'credential_types').glob('*.json'))


def load(kind, name):
    return json.loads((AWX / kind / (name + '.json')).read_text())


def playbook_text(playbook):
    return (REPO / playbook).read_text()


def reads_variable(text, variable):
    return re.search(r'\b%s\b' % re.escape(variable), text) is not None


@pytest.mark.parametrize('name', SURVEYS)
def test_survey_files_pass_awx_checks_with_the_example_inventory_rooms(name):
    rooms = awx_spec.inventory_rooms(EXAMPLE_GROUPS)
    assert rooms == ['room_a', 'room_b']
    assert awx_spec.survey_problems(load('surveys', name), rooms=rooms, name=name) == []


def test_every_survey_file_is_checked_by_the_setup_playbook():
    assert sorted(SETUP['awx_setup_surveys']) == SURVEYS
    used = sorted(template['survey'] for template in SETUP['awx_setup_job_templates'] if 'survey' in template)
    assert set(used) | {'failover_recover'} == set(SURVEYS)


@pytest.mark.parametrize('name', CREDENTIAL_TYPES)
def test_credential_type_files_inject_what_the_playbooks_read(name):
    reads = SETUP['awx_setup_credential_reads'][name]
    assert awx_spec.credential_type_problems(load('credential_types', name), reads=reads, name=name) == []


@pytest.mark.parametrize('name, variable', [
    pytest.param(name, variable, id='%s-%s' % (name, variable))
    for name, variables in sorted(SETUP['awx_setup_credential_reads'].items()) for variable in variables])
def test_the_injected_variables_are_the_ones_the_playbooks_and_roles_read(name, variable):
    sources = list((REPO / 'playbooks').glob('*.yml')) + list((REPO / 'roles').glob('*/*/*.yml'))
    assert any(reads_variable(path.read_text(), variable) for path in sources
               if path.name != 'awx_setup.yml'), '%s is read nowhere' % variable


def _template_cases():
    for template in SETUP['awx_setup_job_templates']:
        if 'survey' not in template:
            continue
        for question in load('surveys', template['survey'])['spec']:
            yield pytest.param(template['playbook'], question['variable'],
                               id='%s-%s' % (template['name'], question['variable']))


@pytest.mark.parametrize('playbook, variable', list(_template_cases()))
def test_each_survey_question_sets_a_variable_its_playbook_reads(playbook, variable):
    assert reads_variable(playbook_text(playbook), variable)


def test_job_templates_run_playbooks_that_exist_with_credentials_the_setup_creates():
    created = {'nodes (SSH)', 'BMC', 'kubeconfig', 'datastore'}
    for template in SETUP['awx_setup_job_templates']:
        assert (REPO / template['playbook']).is_file(), template['playbook']
        assert set(template['credentials']) <= created, template['name']
    assert [t['name'] for t in SETUP['awx_setup_job_templates']] == ['site', 'validate', 'failover', 'recover',
                                                                     'drill', 'automatic failover']


def test_the_template_the_eda_rulebook_launches_takes_what_the_launch_sends():
    """AWX refuses a launch with variables its template neither asks for nor has in a survey, and a limit it does
    not ask for; ansible-rulebook's run_job_template always sends a limit (the rulebook's hosts) and its own
    ansible_eda beside the rulebook's extra_vars. The template the rulebook names asks for both, runs failover.yml,
    and failover.yml reads every variable the rulebook passes."""
    rulebook = yaml.safe_load((REPO / 'extensions' / 'eda' / 'rulebooks' / 'automatic_failover_awx.yml').read_text())
    launch = [action['run_job_template'] for rule in rulebook[0]['rules'] for action in rule.get('actions', [])
              if 'run_job_template' in action][0]
    named = re.search(r"default\('([^']+)'\)", launch['name']).group(1)
    [template] = [t for t in SETUP['awx_setup_job_templates']
                  if '%s %s' % (SETUP['awx_setup_project'], t['name']) == named]
    assert template['playbook'] == 'playbooks/failover.yml'
    assert template.get('ask_variables') is True and template.get('ask_limit') is True
    assert 'survey' not in template
    for variable in launch['job_args']['extra_vars']:
        assert reads_variable(playbook_text(template['playbook']), variable), variable
    # The operators' templates keep their surveys and take nothing else.
    others = [t for t in SETUP['awx_setup_job_templates'] if t is not template]
    assert not any(t.get('ask_variables') or t.get('ask_limit') for t in others)
    setup = playbook_text('playbooks/awx_setup.yml')
    assert 'ask_variables_on_launch: "{{ item.ask_variables | default(false) }}"' in setup
    assert 'ask_limit_on_launch: "{{ item.ask_limit | default(false) }}"' in setup


def test_the_drill_and_the_dark_bmc_confirmation_are_typed_not_picked():
    """A typed `true` (text, at most 4 characters) is the only answer that turns them on; failover.yml reads
    them through `| bool`, so any other text leaves them off and the unjustified failover is refused."""
    confirm = {q['variable']: q for q in load('surveys', 'failover')['spec']}['confirm_room_down']
    drill_force = {q['variable']: q for q in load('surveys', 'drill')['spec']}['force']
    for question in (confirm, drill_force):
        assert (question['type'], question['max'], question['default']) == ('text', 4, '')
    assert drill_force['required'] and drill_force['min'] == 4


@pytest.mark.parametrize('case', BAD['surveys'], ids=lambda case: case['id'])
def test_bad_surveys_are_refused_naming_the_problem(case):
    rooms = case.get('rooms', ('room_a', 'room_b'))
    assert awx_spec.survey_problems(case['survey'], rooms=rooms) == case['problems']


@pytest.mark.parametrize('case', BAD['credential_types'], ids=lambda case: case['id'])
def test_bad_credential_types_are_refused_naming_the_problem(case):
    assert awx_spec.credential_type_problems(case['credential_type'], reads=case.get('reads', ())) == case['problems']


def test_choices_as_awx_also_takes_them_one_per_line():
    assert awx_spec.choices_list('room_a\nroom_b\n') == ['room_a', 'room_b']
    survey = dict(name='s', description='', spec=[dict(question_name='Room', variable='lost_room',
                                                       type='multiplechoice', required=True,
                                                       choices='room_b\nroom_a')])
    assert awx_spec.survey_problems(survey) == []


def test_the_workflow_survey_sets_only_variables_its_failover_or_recovery_reads():
    texts = playbook_text('playbooks/failover.yml') + playbook_text('playbooks/recover.yml')
    for question in load('surveys', 'failover_recover')['spec']:
        assert reads_variable(texts, question['variable']), question['variable']
