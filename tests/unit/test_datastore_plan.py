# -*- coding: utf-8 -*-
"""The datastore decisions, one YAML case per rule: observed state + request -> plan or exact error.

Fixtures (tests/unit/fixtures/datastore/*.yml) hold ``defaults`` (merged into each case's ``request``
and ``peer``) and ``cases``; a case expects either ``plan`` (list of step names, optionally
``predicted`` state, ``diff`` and ``changed``) or ``error`` (the exact message).
The runner tests below use fakes for the node and the peer probe: no PostgreSQL needed.
"""

from __future__ import annotations

import calendar
import copy
import os
import re
import pathlib
import sys
import time

import pytest
import yaml

from fakeclock import FakeClock

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, datastore_plan, postgres, rooms
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, datastore_plan, postgres, rooms

FIXTURES = sorted((pathlib.Path(__file__).parent / 'fixtures' / 'datastore').glob('*.yml'))

BASE_REQUEST = dict(replication_user='replicator', allow_clone=True, data_dir='/var/lib/postgresql/15/kine')


def load_cases():
    cases = []
    for path in FIXTURES:
        with open(path) as stream:
            content = yaml.safe_load(stream)
        defaults = content.get('defaults') or {}
        for case in content['cases']:
            case = copy.deepcopy(case)
            case['request'] = dict(BASE_REQUEST, **dict(defaults.get('request') or {}, **(case.get('request') or {})))
            case['peer'] = dict(defaults.get('peer') or {}, **(case.get('peer') or {}))
            cases.append(pytest.param(case, id='%s:%s' % (path.stem, case['id'])))
    return cases


CASES = load_cases()


@pytest.mark.parametrize('case', CASES)
def test_decision(case):
    if 'error' in case:
        with pytest.raises(datastore.DatastoreError) as caught:
            datastore_plan.decide(case['local'], case['peer'], case['request'])
        assert caught.value.msg == case['error']
        return
    steps, predicted = datastore_plan.decide(case['local'], case['peer'], case['request'])
    assert [str(step) for step in steps] == case['plan']
    assert any(step.changes for step in steps) == case.get('changed', bool(case['plan']))
    for key, value in (case.get('predicted') or {}).items():
        assert predicted[key] == value, key
    if 'diff' in case:
        assert datastore_plan.diff_view(case['local']) == case['diff']['before']
        assert datastore_plan.diff_view(predicted) == case['diff']['after']


def test_decide_does_not_change_its_input():
    local = dict(role='standby', timeline=1, synchronous_standby_names='"a-cp1"')
    peer = dict(address='10.77.0.110', answers=False, fenced=True)
    before = (copy.deepcopy(local), copy.deepcopy(peer))
    datastore_plan.decide(local, peer, dict(BASE_REQUEST, state='primary', node_name='b-cp1'))
    assert (local, peer) == before


def test_fixtures_use_every_action_and_both_outcomes():
    actions, errors, plans = set(), 0, 0
    for param in CASES:
        case = param.values[0]
        if 'error' in case:
            errors += 1
            continue
        plans += 1
        actions.update(name.split('(')[0] for name in case['plan'])
    assert actions == set(datastore_plan.ACTIONS)
    assert errors and plans


# --- small pure helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, names', [
    ('', []),
    ('"b-cp1"', ['b-cp1']),
    ('b1, "b-cp1"', ['b1', 'b-cp1']),
    ('FIRST 1 ("b-cp1", a)', ['b-cp1', 'a']),
    ('ANY 1 (*)', ['*']),
    ('2 (x, y)', ['x', 'y']),
    ('"we""ird"', ['we"ird']),
])
def test_parse_standby_names(value, names):
    assert datastore_formats.parse_standby_names(value) == names


def test_standby_names_value_round_trips():
    for name in ('b-cp1', 'plain', 'we"ird'):
        assert datastore_formats.parse_standby_names(datastore_formats.standby_names_value(name)) == [name]


@pytest.mark.parametrize('value, masked', [
    ('postgres://kine:s3cret@10.77.0.110:5432/kine?sslmode=disable',
     'postgres://kine:***@10.77.0.110:5432/kine?sslmode=disable'),
    ('postgres://kine:p@ss:w@127.0.0.1:5432/kine', 'postgres://kine:***@127.0.0.1:5432/kine'),
    ('postgres://kine@127.0.0.1/kine?password=s3cret&sslmode=require',
     'postgres://kine@127.0.0.1/kine?password=***&sslmode=require'),
    ('postgres://127.0.0.1/kine', 'postgres://127.0.0.1/kine'),
    (None, None),
])
def test_mask_endpoint(value, masked):
    assert datastore_formats.mask_endpoint(value) == masked


def test_read_kine_env():
    text = '# written by kine role\nKINE_LISTEN=0.0.0.0:2379\nexport KINE_ENDPOINT="postgres://k:pw@h:5432/kine"\n'
    assert datastore_formats.read_kine_env(text) == 'postgres://k:pw@h:5432/kine'
    assert datastore_formats.read_kine_env('OTHER=1\n') is None


def test_conninfo_round_trip():
    text = datastore_formats.build_conninfo(host='10.77.0.110', port=5432, user='replicator', passfile='/var/lib/p q/x',
                                            application_name="b'cp1", dbname=None)
    assert 'dbname' not in text
    assert datastore_formats.parse_conninfo(text) == dict(host='10.77.0.110', port='5432', user='replicator',
                                                          passfile='/var/lib/p q/x', application_name="b'cp1")


def test_auto_conf_replaces_only_the_named_settings():
    text = ("# Do not edit this file manually!\n"
            "synchronous_standby_names = '\"b-cp1\"'\n"
            "primary_conninfo = 'host=old'\n"
            "primary_slot_name = 'slot'\n")
    conninfo = "host=10.77.0.110 application_name='b cp1'"
    new = datastore_formats.set_auto_conf(text, dict(primary_conninfo=conninfo, primary_slot_name=None))
    assert datastore_formats.read_auto_conf(new, 'primary_conninfo') == conninfo
    assert datastore_formats.read_auto_conf(new, 'primary_slot_name') is None
    assert datastore_formats.read_auto_conf(new, 'synchronous_standby_names') == '"b-cp1"'
    assert new.count('primary_conninfo') == 1


def test_pgpass_line_escapes_separators():
    assert datastore_formats.pgpass_line('fd00::1', 5432, 'replicator', 'a:b\\c') == 'fd00\\:\\:1:5432:*:replicator:a\\:b\\\\c\n'


def test_endpoint_brackets_ipv6():
    assert datastore_formats.endpoint('10.77.0.110', 5432) == '10.77.0.110:5432'
    assert datastore_formats.endpoint('fd00::1', 5432) == '[fd00::1]:5432'


def test_argument_spec_is_a_fresh_copy():
    first = datastore.datastore_argument_spec(state=dict(type='str'))
    first['port']['default'] = 1
    second = datastore.datastore_argument_spec()
    assert second['port']['default'] == 5432 and 'state' not in second
    assert second['replication_password']['no_log'] is True


def test_wait_for_returns_time_waited():
    clock = FakeClock(100.0)
    seen = iter([dict(role='stopped'), dict(role='stopped'), dict(role='standby')])
    waited, last = postgres.wait_for('x', lambda: next(seen), lambda s: s['role'] == 'standby', 10,
                                     interval=1, clock=clock, sleep=clock.sleep)
    assert (waited, last) == (2.0, dict(role='standby'))


def test_wait_for_times_out_with_the_partial_state():
    clock = FakeClock(100.0)
    with pytest.raises(datastore.DatastoreError) as caught:
        postgres.wait_for('streaming from 10.77.0.210:5432', lambda: dict(role='standby', upstream={'status': 'waiting'}),
                          lambda s: False, 3, interval=1, clock=clock, sleep=clock.sleep)
    assert caught.value.msg == ("timed out after 3s waiting for streaming from 10.77.0.210:5432; last seen: "
                                "{'role': 'standby', 'upstream': {'status': 'waiting'}}")
    assert caught.value.details['partial_state'] == dict(role='standby', upstream={'status': 'waiting'})


@pytest.mark.parametrize('local, peer_view, expected', [
    (dict(role='primary', synchronous_standby_names='"b-cp1"',
          standbys=[dict(application_name='b-cp1', state='streaming', sync_state='sync', lag_bytes=0, lag_seconds=0.0)]),
     None, dict(mode='sync', state='streaming', lag_bytes=0, lag_seconds=0.0)),
    (dict(role='primary', synchronous_standby_names='"b-cp1"'), None,
     dict(mode='sync', state='none', lag_bytes=None, lag_seconds=None)),
    (dict(role='primary', standbys=[dict(application_name='b-cp1', state='catchup', sync_state='async', lag_bytes=9)]),
     None, dict(mode='async', state='catchup', lag_bytes=9, lag_seconds=None)),
    (dict(role='primary'), None, dict(mode='none', state='none', lag_bytes=None, lag_seconds=None)),
    (dict(role='standby', upstream=dict(status='streaming', lag_bytes=0, lag_seconds=0.0)), dict(sync_state='sync'),
     dict(mode='sync', state='streaming', lag_bytes=0, lag_seconds=0.0)),
    (dict(role='standby', upstream=dict(status='waiting', lag_bytes=16, lag_seconds=1.5)), None,
     dict(mode='unknown', state='waiting', lag_bytes=16, lag_seconds=1.5)),
    (dict(role='stopped', stopped_as='primary'), None, dict(mode=None, state=None, lag_bytes=None, lag_seconds=None)),
])
def test_replication_summary(local, peer_view, expected):
    summary = datastore_plan.replication_summary(local, peer_view)
    assert dict((key, summary[key]) for key in expected) == expected


# --- the runner, with fakes for the node and the peer ----------------------------------------------

class FakeNode(object):
    """Stands for LocalNode: records calls; observe() returns the states given, the last one repeated."""

    def __init__(self, states, rewind_fails=False, history=()):
        self.states = list(states)
        self.calls = []
        self.rewind_fails = rewind_fails
        self.history = list(history)

    def read_history(self):
        return list(self.history)

    def write_history(self, history):
        self.history = list(history)

    def observe(self):
        state = self.states[0] if len(self.states) == 1 else self.states.pop(0)
        return datastore_formats.normalize_local(state)

    def __getattr__(self, name):
        def call(*args):
            self.calls.append(name)
            if name == 'rewind_from' and self.rewind_fails:
                raise datastore.DatastoreError('pg_rewind failed (exit 1): pg_rewind: fatal: target server needs '
                                               'to use either data checksums or "wal_log_hints = on"')
            if name == 'rewind_from':
                return 'pg_rewind: Done!'
            if name == 'clone_from':
                return '/var/lib/postgresql/15/kine.replaced'
            return 0.5
        return call


def fake_probe(**observed):
    def probe(settings, fenced=False):
        return datastore_formats.normalize_peer(dict(observed, address=settings.peer_address, port=settings.peer_port,
                                                     fenced=bool(fenced)))
    return probe


PRIMARY_B = dict(answers=True, role='primary', timeline=2, synchronous_standby_names='')
OLD_PRIMARY_A = dict(role='primary', timeline=1, synchronous_standby_names='"b-cp1"')
STREAMING_A = dict(role='standby', timeline=2, synchronous_standby_names='',
                   upstream=dict(host='10.77.0.210', port=5432, user='replicator', application_name='a-cp1',
                                 status='streaming'))
REJOIN = dict(state='standby', peer_address='10.77.0.210', node_name='a-cp1')


def test_check_mode_reads_and_reports_but_does_nothing():
    node = FakeNode([OLD_PRIMARY_A])
    result = datastore.run_datastore(REJOIN, check_mode=True, diff=True, node=node, probe=fake_probe(**PRIMARY_B))
    assert node.calls == []
    assert result['changed'] is True
    assert result['plan'] == ['stop', 'rewind_from(10.77.0.210:5432)', 'write_standby_config(10.77.0.210:5432)',
                              'start', 'wait_streaming(10.77.0.210:5432)']
    assert result['diff'] == dict(
        before=dict(role='primary', synchronous_standby_names='"b-cp1"', primary_conninfo_host=None, primary_conninfo_sslmode=None),
        after=dict(role='standby', synchronous_standby_names='', primary_conninfo_host='10.77.0.210',
                   primary_conninfo_sslmode='prefer'))
    assert result['rejoin_method'] is None


def test_rejoin_applies_the_plan_in_order():
    node = FakeNode([OLD_PRIMARY_A, STREAMING_A])
    result = datastore.run_datastore(REJOIN, node=node, probe=fake_probe(**PRIMARY_B))
    assert node.calls == ['stop', 'rewind_from', 'write_standby_config', 'start', 'wait_streaming']
    assert (result['changed'], result['rejoin_method'], result['role']) == (True, 'rewind', 'standby')
    assert result['rewind_output'] == 'pg_rewind: Done!'


def test_rewind_failure_falls_back_to_clone_and_says_so():
    node = FakeNode([OLD_PRIMARY_A, STREAMING_A], rewind_fails=True)
    result = datastore.run_datastore(REJOIN, node=node, probe=fake_probe(**PRIMARY_B))
    assert node.calls == ['stop', 'rewind_from', 'clone_from', 'write_standby_config', 'start', 'wait_streaming']
    assert result['rejoin_method'] == 'clone'
    assert 'wal_log_hints' in result['rewind_error']
    assert result['replaced_data_dir'] == '/var/lib/postgresql/15/kine.replaced'


def test_rewind_failure_without_clone_fails_with_the_steps_done():
    node = FakeNode([OLD_PRIMARY_A, dict(role='stopped', stopped_as='primary', timeline=1)], rewind_fails=True)
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.run_datastore(dict(REJOIN, allow_clone=False), node=node, probe=fake_probe(**PRIMARY_B))
    assert caught.value.msg.startswith('pg_rewind from 10.77.0.210:5432 failed and allow_clone is false: ')
    assert caught.value.details['done'] == ['stop']
    assert caught.value.details['failed_step'] == 'rewind_from(10.77.0.210:5432)'
    assert caught.value.details['state']['role'] == 'stopped'


def test_refusal_carries_the_observed_state():
    node = FakeNode([dict(role='standby', timeline=1)])
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.run_datastore(dict(state='primary', peer_address='10.77.0.110', node_name='b-cp1'),
                                node=node, probe=fake_probe(answers=False, error='timeout expired'))
    assert 'cannot tell a dead primary from a cut link' in caught.value.msg
    assert caught.value.details['peer']['error'] == 'timeout expired'
    assert node.calls == []


def test_second_run_reports_no_change():
    node = FakeNode([STREAMING_A])
    result = datastore.run_datastore(REJOIN, diff=True, node=node, probe=fake_probe(**PRIMARY_B))
    assert (result['changed'], result['plan'], node.calls) == (False, [], [])
    assert result['diff']['before'] == result['diff']['after']


def test_info_reports_masked_kine_endpoint_and_blocked_writes(tmp_path):
    env = tmp_path / 'kine.env'
    env.write_text('KINE_ENDPOINT=postgres://kine:hunter2@10.77.0.110:5432/kine?sslmode=disable\n')
    node = FakeNode([dict(role='primary', timeline=2, synchronous_standby_names='"b-cp1"')])
    result = datastore.run_datastore_info(dict(kine_env_file=str(env)), node=node)
    assert result['kine'] == dict(env_file=str(env), endpoint='postgres://kine:***@10.77.0.110:5432/kine?sslmode=disable')
    assert 'hunter2' not in repr(result)
    assert (result['replication']['mode'], result['replication']['state']) == ('sync', 'none')
    assert result['warnings'] and 'writes wait until b-cp1 streams again' in result['warnings'][0]
    assert node.calls == []


def test_already_primary_warns_when_the_peer_is_primary_too():
    node = FakeNode([dict(role='primary', timeline=2)])
    result = datastore.run_datastore(dict(state='primary', peer_address='10.77.0.110', node_name='b-cp1'), node=node,
                                     probe=fake_probe(answers=True, role='primary', timeline=1))
    assert (result['changed'], result['plan'], node.calls) == (False, [], [])
    assert result['warnings'] == ['both b-cp1 and the peer at 10.77.0.110:5432 answer as primary. Fence the one '
                                  'that must not be primary, then rejoin it with state: standby.']


# --- the datastore history ----------------------------------------------------------------------------------------

PROMOTED_A_TL3 = dict(event='primary', node='a-cp1', timeline=3, system_identifier='7', lsn='0/5000000',
                      at='2026-12-03T07:00:00Z')


def test_takeover_of_a_former_primary_is_refused_when_the_history_names_a_newer_primary():
    # The controller's copy knows a-cp1 was promoted to timeline 3 while b-cp1 was off; b-cp1's own copy does not.
    node = FakeNode([dict(role='stopped', stopped_as='primary', timeline=2, lsn='0/4000000', system_identifier='7')])
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.run_datastore(dict(state='primary', peer_address='10.77.0.110', peer_fenced=True, node_name='b-cp1',
                                     history=[PROMOTED_A_TL3]),
                                node=node, probe=fake_probe(answers=False, error='timeout expired'))
    assert caught.value.msg.startswith('refusing to make b-cp1 primary: a-cp1 was primary on timeline 3 with no '
                                       'synchronous standby (recorded 2026-12-03T07:00:00Z, LSN 0/5000000), and b-cp1 '
                                       'is stopped as primary on timeline 2 at LSN 0/4000000')
    assert caught.value.details['history'] == [PROMOTED_A_TL3]
    assert node.calls == [] and node.history == []


def test_discard_newer_writes_lets_the_takeover_go_ahead():
    node = FakeNode([dict(role='stopped', stopped_as='primary', timeline=2, system_identifier='7'),
                     dict(role='primary', timeline=2, system_identifier='7', lsn='0/4000100')])
    result = datastore.run_datastore(dict(state='primary', peer_address='10.77.0.110', peer_fenced=True,
                                          node_name='b-cp1', history=[PROMOTED_A_TL3], discard_newer_writes=True),
                                     node=node, probe=fake_probe(answers=False))
    assert node.calls == ['start']
    assert [(e['event'], e['node'], e['timeline']) for e in result['history']] == [
        ('primary', 'b-cp1', 2), ('primary', 'a-cp1', 3)]


def test_a_promotion_is_recorded_on_the_node_and_returned():
    node = FakeNode([dict(role='standby', timeline=2, system_identifier='7'),
                     dict(role='primary', timeline=3, system_identifier='7', lsn='0/5000000')],
                    history=[dict(event='synchronous', node='b-cp1', standby='a-cp1', timeline=2, system_identifier='7',
                                  at='2026-12-03T06:00:00Z')])
    result = datastore.run_datastore(dict(state='primary', peer_address='10.77.0.210', peer_fenced=True,
                                          node_name='a-cp1'), node=node, probe=fake_probe(answers=False))
    assert node.calls == ['promote']
    last = result['history'][-1]
    assert (last['event'], last['node'], last['timeline'], last['lsn']) == ('primary', 'a-cp1', 3, '0/5000000')
    assert node.history == result['history']


def test_check_mode_writes_no_history():
    node = FakeNode([dict(role='standby', timeline=2, system_identifier='7')])
    result = datastore.run_datastore(dict(state='primary', peer_address='10.77.0.210', peer_fenced=True,
                                          node_name='a-cp1'), check_mode=True, node=node,
                                     probe=fake_probe(answers=False))
    assert result['changed'] and node.calls == [] and node.history == []
    assert result['history'][-1]['timeline'] == 3  # what the promotion would record


def test_the_history_records_times_as_before():
    # The runner writes rooms.utc_now(); the history files on the nodes hold times written with
    # time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), and merging compares them as text: same format, same clock.
    expected = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(1796320000.7))
    now = rooms.utc_now()
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', now) and len(now) == len(expected)
    parsed = calendar.timegm(time.strptime(now, '%Y-%m-%dT%H:%M:%SZ'))
    assert abs(parsed - time.time()) < 5


@pytest.mark.parametrize('run', [
    lambda node: datastore.run_datastore_info({}, node=node),
    lambda node: datastore.run_datastore(dict(REJOIN), check_mode=True, node=node, probe=fake_probe(**PRIMARY_B)),
], ids=['info', 'datastore'])
def test_a_damaged_history_entry_on_the_node_is_a_refusal(run):
    node = FakeNode([STREAMING_A], history=[dict(event='primary', node='a-cp1', timeline='two')])
    with pytest.raises(datastore.DatastoreError) as caught:
        run(node)
    assert caught.value.msg == "datastore history entry 0 has no timeline: {'event': 'primary', 'node': 'a-cp1', " \
                               "'timeline': 'two'}"


# --- before_fencing: the takeover decided while the lost room is still untouched -------------------------------------

TAKEOVER_A = dict(state='primary', peer_address='10.77.0.210', node_name='a-cp1', before_fencing=True)


def never_probe(settings, fenced=False):
    raise AssertionError('before_fencing must not ask the peer: it may still run')


def test_before_fencing_plans_the_promotion_without_asking_the_peer():
    node = FakeNode([dict(role='standby', timeline=2, system_identifier='7', synchronous_standby_names='')])
    result = datastore.run_datastore(TAKEOVER_A, check_mode=True, node=node, probe=never_probe)
    assert (result['plan'], node.calls, node.history) == (['promote'], [], [])


def test_before_fencing_refuses_a_survivor_without_a_cluster():
    node = FakeNode([dict(role='absent')])
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.run_datastore(TAKEOVER_A, check_mode=True, node=node, probe=never_probe)
    assert caught.value.msg == ('no PostgreSQL cluster at /var/lib/postgresql/15/kine on a-cp1, so it cannot become '
                                'primary. Create it first (role twinroom.ha.kine_datastore).')
    assert node.calls == []


def test_before_fencing_refuses_a_survivor_that_lacks_acknowledged_writes():
    node = FakeNode([dict(role='stopped', stopped_as='primary', timeline=2, lsn='0/4000000', system_identifier='7')])
    request = dict(TAKEOVER_A, node_name='b-cp1', peer_address='10.77.0.110', history=[PROMOTED_A_TL3])
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.run_datastore(request, check_mode=True, node=node, probe=never_probe)
    assert caught.value.msg.startswith('refusing to make b-cp1 primary: a-cp1 was primary on timeline 3')


@pytest.mark.parametrize('request_, check_mode, message', [
    (TAKEOVER_A, False, 'before_fencing decides a takeover without making it, so it runs only in check mode: add '
                        'check_mode: true to the task.'),
    (dict(TAKEOVER_A, state='standby'), True, 'before_fencing decides a takeover: use it with state: primary.'),
])
def test_before_fencing_is_refused_outside_a_check_mode_takeover(request_, check_mode, message):
    node = FakeNode([dict(role='standby', timeline=2)])
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.run_datastore(request_, check_mode=check_mode, node=node, probe=never_probe)
    assert caught.value.msg == message
    assert node.calls == []
