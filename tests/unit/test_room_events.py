# -*- coding: utf-8 -*-
"""Automatic failover's record (plugins/module_utils/room_events.py): the Kubernetes Events of the room watch's
decisions and of a failover failover.yml carried out, field by field; the check of failover.yml's failover_decision
(exact messages); and where failover.yml makes that check, writes its Event and reports both."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
import yaml

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import room_events
    from ansible_collections.twinroom.ha.plugins.filter import failover_decision_problems as problems_filter
    from ansible_collections.twinroom.ha.plugins.filter import failover_event as event_filter
    from ansible_collections.twinroom.ha.plugins.filter import failover_isolation_problems as isolation_filter
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import room_events
    from ansible_collections.twinroom.ha.plugins.filter import failover_decision_problems as problems_filter
    from ansible_collections.twinroom.ha.plugins.filter import failover_event as event_filter
    from ansible_collections.twinroom.ha.plugins.filter import failover_isolation_problems as isolation_filter

REPO = pathlib.Path(__file__).resolve().parents[2]
FAILOVER = REPO / 'playbooks' / 'failover.yml'

DECIDED_AT = 1796281200.25  # 2026-12-03T07:00:00.250Z
REASON = ('room_a is lost: last heard from at 2026-12-03T06:59:50Z, unreachable for twinroom_detect_seconds (10 s) by '
          'a majority of the voters (votes: room_a absent, room_b lost, witness lost). Its BMCs answer and report '
          'every node off: failing over to room_b; failover.yml fences room_a through its BMCs.')
VOTES = {'witness': 'lost', 'room_b': 'lost', 'room_a': 'absent'}
FAILOVER_DECISION = {'action': 'failover', 'room': 'room_a', 'method': 'bmc-off', 'reason': REASON, 'votes': VOTES,
                     'not_before': None, 'decided_at': DECIDED_AT, 'views': {}}


def common(name, reason, action, message, event_time, stamp, instance='watch-host'):
    return {
        'apiVersion': 'v1',
        'kind': 'Event',
        'metadata': {'name': name, 'namespace': 'kube-system'},
        'involvedObject': {'apiVersion': 'v1', 'kind': 'Namespace', 'name': 'kube-system'},
        'type': 'Warning',
        'reason': reason,
        'action': action,
        'message': message,
        'eventTime': event_time,
        'firstTimestamp': stamp,
        'lastTimestamp': stamp,
        'count': 1,
        'source': {'component': 'twinroom.ha'},
        'reportingComponent': 'twinroom.ha',
        'reportingInstance': instance,
    }


# --- the watch's decisions ----------------------------------------------------------------------------------------

def test_a_failover_decision_is_a_warning_event_with_its_votes_and_reason():
    assert room_events.decision_event(FAILOVER_DECISION, 'watch-host') == common(
        'twinroom-decision-failover-room-a-1796281200250', 'RoomFailoverDecided', 'Decide',
        'Failover of room_a decided (bmc-off). Votes: room_a absent, room_b lost, witness lost. ' + REASON,
        '2026-12-03T07:00:00.250000Z', '2026-12-03T07:00:00Z')


def test_an_alarm_on_both_rooms_names_no_room():
    reason = ('Both rooms are lost (votes on room_a: room_a absent, room_b absent; votes on room_b: room_a absent, '
              'room_b absent): no automatic failover, there is no room to fail over to. An operator decides '
              '(docs/runbook.md).')
    decision = {'action': 'alarm', 'room': None, 'method': None, 'reason': reason,
                'votes': {'room_a': 'absent', 'room_b': 'absent'}, 'decided_at': 1796281202.0}
    assert room_events.decision_event(decision, 'watch-host') == common(
        'twinroom-decision-alarm-rooms-1796281202000', 'RoomAlarm', 'Decide',
        'Alarm. Votes: room_a absent, room_b absent. ' + reason,
        '2026-12-03T07:00:02.000000Z', '2026-12-03T07:00:02Z')


def test_an_alarm_on_one_room_names_it():
    decision = dict(FAILOVER_DECISION, action='alarm', method=None, reason='The link between the rooms is cut.')
    body = room_events.decision_event(decision, 'watch-host')
    assert body['metadata']['name'] == 'twinroom-decision-alarm-room-a-1796281200250'
    assert (body['reason'], body['message']) == (
        'RoomAlarm', 'Alarm on room_a. Votes: room_a absent, room_b lost, witness lost. The link between the rooms '
        'is cut.')


def test_a_long_message_is_cut_to_what_the_api_server_takes():
    decision = dict(FAILOVER_DECISION, reason=u'\u00e9' * 2000)  # two bytes each in UTF-8
    message = room_events.decision_event(decision, 'watch-host')['message']
    assert len(message.encode('utf-8')) <= 1024
    assert message.endswith(u'\u2026')
    assert message.startswith('Failover of room_a decided (bmc-off). Votes: ')


def test_the_reporting_instance_is_kept_within_its_limit():
    assert room_events.decision_event(FAILOVER_DECISION, 'h' * 200)['reportingInstance'] == 'h' * 128
    assert room_events.decision_event(FAILOVER_DECISION, '')['reportingInstance'] == 'twinroom.ha'


# --- a failover carried out ---------------------------------------------------------------------------------------

def test_an_operators_failover_event_gives_rooms_rto_and_trigger():
    body = room_events.failover_event('room_a', 'room_b', 'operator', '1796281200.7', 1796281229.55,
                                      instance='controller')
    assert body == common(
        'twinroom-failover-room-a-1796281200', 'RoomFailedOver', 'Failover',
        'room_a failed over to room_b: every workload back in 28.8 s (RTO, from the start of failover.yml), trigger '
        'operator.',
        '2026-12-03T07:00:29.550000Z', '2026-12-03T07:00:29Z', instance='controller')


def test_an_automatic_failover_event_gives_the_votes_of_its_decision():
    decision = {'reason': REASON, 'votes': VOTES, 'method': 'bmc-off', 'decided_at': DECIDED_AT}
    body = room_events.failover_event('room_b', 'room_a', 'room_watch', 1796281203.0, 1796281245.04, decision,
                                      'controller')
    assert body['metadata']['name'] == 'twinroom-failover-room-b-1796281203'
    assert body['message'] == (
        'room_b failed over to room_a: every workload back in 42.0 s (RTO, from the start of failover.yml), trigger '
        'room_watch. Votes: room_a absent, room_b lost, witness lost (bmc-off, decided at 2026-12-03T07:00:00Z).')


def test_the_filter_reports_from_the_controllers_host(monkeypatch):
    monkeypatch.setattr(event_filter.socket, 'gethostname', lambda: 'ctl-1')
    filters = event_filter.FilterModule().filters()
    body = filters['failover_event']('room_a', 'room_b', 'operator', 1796281200.0, 1796281230.0)
    assert body['reportingInstance'] == 'ctl-1'
    assert filters['failover_event']('room_a', 'room_b', 'operator', 1796281200.0, 1796281230.0,
                                     instance='other')['reportingInstance'] == 'other'


# --- failover_decision, as failover.yml checks it ------------------------------------------------------------------

PASSED = {'reason': REASON, 'votes': VOTES, 'method': 'bmc-off', 'decided_at': DECIDED_AT}
REFUSED = ("failover_decision is not a decision of the room watch (%s): refusing to start the failover. The "
           "rulebooks pass it as a mapping with reason, votes, method and decided_at; leave it out for an operator's "
           "failover.")


@pytest.mark.parametrize('value', [None, PASSED, dict(PASSED, decided_at=1796281200), dict(PASSED, votes={}),
                                   dict(PASSED, extra='kept')],
                         ids=['absent', 'from the rulebook', 'whole seconds', 'no votes', 'more keys'])
def test_a_decision_as_the_rulebooks_pass_it_or_none_passes(value):
    assert room_events.decision_problems(value) == []


@pytest.mark.parametrize('value, problems', [
    ('room_a', 'it is text, not a mapping'),
    (['room_a'], 'it is a list, not a mapping'),
    (True, 'it is a boolean, not a mapping'),
    ({}, 'it lacks reason, votes, method and decided_at'),
    ({'reason': REASON, 'method': 'bmc-off'}, 'it lacks votes and decided_at'),
    (dict(PASSED, reason=''), 'reason is empty, not text'),
    (dict(PASSED, method=None), 'method is null, not text'),
    (dict(PASSED, votes='room_b lost'), 'votes is text, not a mapping of voter to vote'),
    (dict(PASSED, decided_at='2026-12-03T07:00:00Z'), 'decided_at is text, not epoch seconds'),
    (dict(PASSED, decided_at=True), 'decided_at is a boolean, not epoch seconds'),
    ({'reason': 3, 'votes': [], 'method': 'bmc-off'},
     'it lacks decided_at; reason is a number, not text; votes is a list, not a mapping of voter to vote'),
], ids=['text', 'list', 'boolean', 'empty', 'two missing', 'empty reason', 'null method', 'votes text',
        'time as text', 'time as boolean', 'several'])
def test_anything_else_is_refused_naming_the_variable_and_each_fault(value, problems):
    assert room_events.decision_problems(value) == [REFUSED % problems]
    assert problems_filter.FilterModule().filters()['failover_decision_problems'](value) == [REFUSED % problems]


# --- failover.yml: where it checks, writes and reports ----------------------------------------------------------------

def plays():
    return yaml.safe_load(FAILOVER.read_text())


def play(name):
    return [entry for entry in plays() if entry.get('name') == name][0]


def test_failover_yml_checks_the_decision_with_its_inputs_before_anything_changes():
    tasks = play('Decide whether the failover is justified')['tasks']
    names = [task['name'] for task in tasks]
    check = tasks[names.index("Require the room watch's decision to be whole, when one is given")]
    assert names.index("Require the room watch's decision to be whole, when one is given") == \
        names.index('Require a known room') + 1
    assert names.index('Take the operation lock') > names.index(check['name'])
    assert check['ansible.builtin.assert'] == {'that': 'failover_decision_problems | length == 0',
                                               'fail_msg': "{{ failover_decision_problems | join(' ') }}",
                                               'quiet': True}
    assert check['vars'] == {'failover_decision_problems':
                             '{{ failover_decision | default(none) | twinroom.ha.failover_decision_problems }}'}


def test_failover_yml_writes_its_event_once_the_workloads_run_and_reports_a_failed_write():
    tasks = play("Bring the lost room's workloads back and report")['tasks']
    names = [task['name'] for task in tasks]
    record = tasks[names.index('Record the failover as a Kubernetes Event')]
    assert names.index('Note the timeline, and the RTO again if a workload had to be waited for a second time') < \
        names.index(record['name']) < names.index('Write the failover report (JSON)')
    assert record['when'] == tasks[names.index('Write the failover report (JSON)')]['when']
    describe, write = record['block']
    assert 'twinroom.ha.failover_event(' in describe['ansible.builtin.set_fact']['failover_event']
    assert write['kubernetes.core.k8s'] == {
        'kubeconfig': '{{ failover_kubeconfig }}', 'context': '{{ failover_context }}', 'state': 'present',
        'definition': '{{ failover_event }}'}
    assert 'ignore_errors' not in write and 'failed_when' not in write
    [rescued] = record['rescue']
    assert rescued['ansible.builtin.set_fact'] == {
        'failover_event_error': "{{ ansible_failed_result.msg | default('the Event could not be written') }}"}
    report = tasks[names.index('Write the failover report (JSON)')]['vars']['failover_report']
    assert report['decision'] == '{{ failover_decision | default(none) }}'
    assert report['event_written'] == '{{ failover_event is defined and failover_event_error is not defined }}'
    assert report['event_error'] == '{{ failover_event_error | default(none) }}'


# --- an isolation decision as the confirmation that a room with dark BMCs is down --------------------------------

NOT_BEFORE = 1796281190.5  # 2026-12-03T06:59:50.500Z
ISOLATION = dict(FAILOVER_DECISION, room='room_b', method='isolation', not_before=NOT_BEFORE)
REFUSAL = ("The room watch's decision does not confirm that %s is down (%s): refusing to fence it while its BMCs do "
           "not answer. Check the room; once you know it has no power, run failover.yml with "
           "-e confirm_room_down=true.")


@pytest.mark.parametrize('witness, preferred', [(False, 'room_a'), (True, None), (True, 'room_b')])
def test_an_isolation_decision_whose_time_has_come_confirms_the_room_down(witness, preferred):
    assert room_events.isolation_problems(ISOLATION, 'room_b', NOT_BEFORE, True, witness, preferred) == []
    assert room_events.isolation_problems(ISOLATION, 'room_b', NOT_BEFORE + 600, True, witness, preferred) == []


@pytest.mark.parametrize('decision, now, automatic, witness, preferred, room, faults', [
    (ISOLATION, NOT_BEFORE - 12.5, True, False, 'room_a', 'room_b',
     'it allows the failover from 2026-12-03T06:59:50Z (the room\'s last contact + isolation_seconds + '
     'margin_seconds) and it is 2026-12-03T06:59:38Z, 12 s early'),
    (ISOLATION, NOT_BEFORE, False, False, 'room_a', 'room_b',
     'twinroom_automatic_failover is not true in this inventory, so no isolation guard runs on the nodes of room_b '
     'and nothing powered them off'),
    (ISOLATION, NOT_BEFORE, True, False, 'room_b', 'room_b',
     'room_b is the preferred room (twinroom_preferred_room) and there is no witness, so its nodes never isolate '
     'themselves'),
    (ISOLATION, NOT_BEFORE, True, False, None, 'room_b',
     'there is neither a witness nor twinroom_preferred_room, so no node isolates itself'),
    (dict(ISOLATION, not_before=None), NOT_BEFORE, True, True, None, 'room_b', 'not_before is null, not epoch seconds'),
    (dict(ISOLATION, not_before='soon'), NOT_BEFORE, True, True, None, 'room_b', 'not_before is text, not epoch seconds'),
    (FAILOVER_DECISION, NOT_BEFORE, True, True, None, 'room_a', 'its method is bmc-off, not isolation'),
    (None, NOT_BEFORE, True, True, None, 'room_a', 'its method is null, not isolation'),
    (ISOLATION, NOT_BEFORE - 1, False, False, None, 'room_b',
     'twinroom_automatic_failover is not true in this inventory, so no isolation guard runs on the nodes of room_b '
     'and nothing powered them off; there is neither a witness nor twinroom_preferred_room, so no node isolates '
     'itself; it allows the failover from 2026-12-03T06:59:50Z (the room\'s last contact + isolation_seconds + '
     'margin_seconds) and it is 2026-12-03T06:59:49Z, 1 s early'),
])
def test_anything_else_is_refused_naming_each_fault(decision, now, automatic, witness, preferred, room, faults):
    assert room_events.isolation_problems(decision, room, now, automatic, witness, preferred) == [REFUSAL % (room, faults)]


def test_failover_yml_takes_an_isolation_decision_only_once_checked_and_before_the_lock():
    tasks = play('Decide whether the failover is justified')['tasks']
    names = [task['name'] for task in tasks]
    check = tasks[names.index("Check the room watch's isolation decision, when the failover was started for one")]
    assert names.index("Require the room watch's decision to be whole, when one is given") < names.index(
        check['name']) < names.index('Take the operation lock')
    assert check['when'] == "failover_room_down_by == 'isolation'"
    assert 'twinroom.ha.failover_isolation_problems(lost_room, now(utc=true).timestamp(),' in \
        check['vars']['failover_isolation_problems']
    started = play('Start the failover clock')['tasks'][0]['ansible.builtin.set_fact']['failover_room_down_by']
    assert "'operator' if confirm_room_down | default(false) | bool" in started
    fences = [task['twinroom.ha.fence'] for entry in plays() for task in entry.get('tasks', [])
              if 'twinroom.ha.fence' in task and task['twinroom.ha.fence'].get('state') == 'fenced']
    assert len(fences) == 2
    for fence in fences:
        assert fence['confirm_room_down'] == "{{ failover_room_down_by != 'none' }}"
        assert fence['room_down_by'] == "{{ 'isolation' if failover_room_down_by == 'isolation' else 'operator' }}"


def test_the_filter_takes_what_failover_yml_passes():
    check = isolation_filter.FilterModule().filters()['failover_isolation_problems']
    # now as Ansible passes it (a float from now().timestamp()), the preferred room unset as '' or None.
    assert check(ISOLATION, 'room_b', str(NOT_BEFORE + 1), 1, 0, 'room_a') == []
    assert check(ISOLATION, 'room_b', NOT_BEFORE + 1, True, False, '') == [REFUSAL % (
        'room_b', 'there is neither a witness nor twinroom_preferred_room, so no node isolates itself')]
