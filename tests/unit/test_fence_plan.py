# -*- coding: utf-8 -*-
"""The fencing decisions, one YAML case per rule: observations + request -> plan per node or exact error.

Fixtures (tests/unit/fixtures/fence/*.yml) hold ``defaults`` (``request``, and ``node`` merged into each
observed node) and ``cases``; a case expects either ``plan`` ({node: steps, method, power_state, fenced})
or ``error`` (the exact message).
The runner tests below use a fake fence agent (an executor that plays the BMCs) and a fake recorder for
the API: no BMC, no cluster needed.
"""

from __future__ import annotations

import copy
import datetime
import os
import pathlib
import socket
import sys
import threading
from types import SimpleNamespace

import pytest
import yaml

from fakeclock import FakeClock

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import bmc, fence, fence_plan, k8s_nodes, rooms
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import bmc, fence, fence_plan, k8s_nodes, rooms

FIXTURES = sorted((pathlib.Path(__file__).parent / 'fixtures' / 'fence').glob('*.yml'))
FIND_AGENT = bmc.FenceAgent._agent
BASE_REQUEST = dict(state='fenced', room=None, confirm_room_down=False, out_of_service=True)


def load_cases():
    cases = []
    for path in FIXTURES:
        with open(path) as stream:
            content = yaml.safe_load(stream)
        defaults = content.get('defaults') or {}
        for case in content['cases']:
            case = copy.deepcopy(case)
            case['request'] = dict(BASE_REQUEST, **dict(defaults.get('request') or {}, **(case.get('request') or {})))
            case['nodes'] = [dict(defaults.get('node') or {}, **node) for node in case['nodes']]
            cases.append(pytest.param(case, id='%s:%s' % (path.stem, case['id'])))
    return cases


CASES = load_cases()


@pytest.mark.parametrize('case', CASES)
def test_decision(case):
    if 'error' in case:
        with pytest.raises(fence.FenceError) as caught:
            fence_plan.decide(case['nodes'], case['request'])
        assert caught.value.msg == case['error']
        return
    plans = fence_plan.decide(case['nodes'], case['request'])
    assert [plan['name'] for plan in plans] == [node['name'] for node in case['nodes']]
    assert sorted(case['plan']) == sorted(plan['name'] for plan in plans), 'every node needs an expectation'
    for plan in plans:
        expected = case['plan'][plan['name']]
        assert plan['steps'] == expected['steps'], plan['name']
        assert plan['changed'] == bool(expected['steps'])
        for key in ('method', 'power_state', 'fenced'):
            if key in expected:
                assert plan[key] == expected[key], (plan['name'], key)
        if case['request']['state'] == 'fenced':
            assert plan['fenced'] is True
            assert plan['method'] in fence_plan.METHODS
            # Never a taint without power verified off, or a dark BMC with confirmation.
            node = next(n for n in case['nodes'] if n['name'] == plan['name'])
            if 'taint' in plan['steps'] and plan['method'] == 'bmc':
                assert node['power_state'] == 'off' or 'verify_off' in plan['steps']
            if plan['method'] == 'confirmed-down' and plan['steps']:
                assert not node['bmc_reachable']
                assert case['request']['confirm_room_down']
            # Never counted as fenced while renewing its lease, unless powered off and watched going stale first.
            if node.get('lease_fresh') and case['request']['out_of_service']:
                assert 'verify_lease_stale' in plan['steps'], plan['name']
                assert plan['steps'].index('verify_lease_stale') == plan['steps'].index('verify_off') + 1


def test_fixtures_use_every_step_and_both_outcomes():
    steps, errors, plans = set(), 0, 0
    for param in CASES:
        case = param.values[0]
        if 'error' in case:
            errors += 1
            continue
        plans += 1
        for expected in case['plan'].values():
            steps.update(expected['steps'])
    assert steps == set(fence_plan.STEPS)
    assert errors and plans


def test_decide_does_not_change_its_input():
    nodes = [dict(name='a-w1', bmc='127.77.1.11:8443', bmc_reachable=True, power_state='on', exists=True,
                  tainted=False, record=None)]
    before = copy.deepcopy(nodes)
    fence_plan.decide(nodes, dict(BASE_REQUEST, room='room_a'))
    assert nodes == before


def test_unknown_power_state_is_a_bug_not_a_plan():
    with pytest.raises(ValueError):
        fence_plan.decide([dict(name='x', bmc_reachable=True, power_state='maybe')], BASE_REQUEST)


# --- small pure helpers ---------------------------------------------------------------------------

TAINT = dict(key=rooms.OUT_OF_SERVICE_TAINT_KEY, value='nodeshutdown', effect='NoExecute', timeAdded='2026-11-21T17:00:00Z')


def test_fence_taint_added_after_existing_ones():
    other = dict(key='dedicated', value='db', effect='NoSchedule')
    assert k8s_nodes.with_fence_taint([other], '2026-11-21T17:00:00Z') == [other, TAINT]


def test_fence_taint_not_added_twice_whatever_its_value():
    by_hand = dict(key=rooms.OUT_OF_SERVICE_TAINT_KEY, value='other', effect='NoExecute')
    assert k8s_nodes.with_fence_taint([by_hand], 'now') == [by_hand]


def test_fence_taint_removal_keeps_the_others():
    noschedule = dict(key=rooms.OUT_OF_SERVICE_TAINT_KEY, value='nodeshutdown', effect='NoSchedule')
    assert k8s_nodes.without_fence_taint([noschedule, TAINT]) == [noschedule]
    assert k8s_nodes.without_fence_taint(None) == []


@pytest.mark.parametrize('value, record', [
    (None, None),
    ('', None),
    ('{"at":"2026-11-21T17:00:00Z","method":"bmc"}', {'at': '2026-11-21T17:00:00Z', 'method': 'bmc'}),
    ('yes', {'raw': 'yes'}),
    ('[1]', {'raw': '[1]'}),
])
def test_parse_record(value, record):
    assert k8s_nodes.parse_record(value) == record


def test_fence_record():
    assert fence_plan.fence_record('T', 'bmc', 'room_a', 'operator') == dict(
        at='T', method='bmc', by='twinroom.ha.fence', room='room_a')
    assert fence_plan.fence_record('T', 'confirmed-down', 'room_b', 'witness') == dict(
        at='T', method='confirmed-down', by='twinroom.ha.fence', room='room_b', confirmed_by='witness')


def test_utc_now_is_iso8601_utc():
    value = rooms.utc_now()
    assert value.endswith('Z') and 'T' in value and len(value) == 20


@pytest.mark.parametrize('address, port, text', [
    ('127.77.1.10', 8443, '127.77.1.10:8443'),
    ('fd00::1', 443, '[fd00::1]:443'),
    ('bmc-a1.example', 443, 'bmc-a1.example:443'),
])
def test_endpoint(address, port, text):
    assert bmc.endpoint(address, port) == text


# --- the fence agent's options: stdin, never argv ----------------------------------------------------

BMC = dict(address='127.77.1.12', port=8443, systems_uri='/redfish/v1/Systems/abc', username='admin',
           password='s3cret pass=word', validate_certs=False, lanplus=True)


def parse_stdin(text):
    return dict(line.split('=', 1) for line in text.splitlines())


def test_redfish_options_on_stdin():
    text = bmc.agent_options('redfish', BMC, 'off', power_timeout=60, login_timeout=10)
    assert text.endswith('\n')
    assert parse_stdin(text) == dict(ip='127.77.1.12', ipport='8443', username='admin', password='s3cret pass=word',
                                     ssl_insecure='1', systems_uri='/redfish/v1/Systems/abc', power_timeout='60',
                                     login_timeout='10', action='off')


def test_redfish_validates_certificates_unless_told():
    options = parse_stdin(bmc.agent_options('redfish', dict(BMC, validate_certs=True), 'status'))
    assert options['ssl_secure'] == '1' and 'ssl_insecure' not in options


def test_ipmi_options_lanplus_and_onoff():
    options = parse_stdin(bmc.agent_options('ipmi', dict(BMC, port=623), 'status'))
    assert options == dict(ip='127.77.1.12', ipport='623', username='admin', password='s3cret pass=word',
                           lanplus='1', method='onoff', action='status')


def test_line_break_in_an_option_is_refused():
    with pytest.raises(bmc.BmcError) as caught:
        bmc.agent_options('redfish', dict(BMC, password='a\naction=on'), 'off')
    assert caught.value.msg == ('the BMC option password of 127.77.1.12:8443 holds a line break, which the fence '
                                'agent cannot read.')


class FakeBMCs(object):
    """Plays fence_redfish for several BMCs: power state per address, and every call it got."""

    def __init__(self, power, answers_off=True, password='s3cret pass=word'):
        self.power = dict(power)
        self.answers_off = answers_off
        self.password = password
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, argv, stdin, timeout):
        options = parse_stdin(stdin)
        with self.lock:
            self.calls.append(dict(argv=list(argv), stdin=stdin, options=options, timeout=timeout))
        address = options['ip']
        if options.get('password') != self.password:
            return 1, '', 'Failed: Unable to get PowerState: https://%s:%s%s\n' % (
                address, options['ipport'], options['systems_uri'])
        if options['action'] == 'status':
            state = self.power[address]
            return (0, 'Status: ON\n', '') if state == 'on' else (2, 'Status: OFF\n', '')
        if options['action'] == 'off':
            if self.answers_off:
                self.power[address] = 'off'
                return 0, 'Success: Powered OFF\n', ''
            return 1, '', 'Failed: Timed out waiting to power OFF\n'
        if options['action'] == 'on':
            self.power[address] = 'on'
            return 0, 'Success: Powered ON\n', ''
        raise AssertionError(options)

    def actions(self, address=None):
        return [c['options']['action'] for c in self.calls if address is None or c['options']['ip'] == address]


def always_answers(address, port, timeout):
    return True, None


def test_agent_gets_no_option_on_its_command_line():
    bmcs = FakeBMCs({'127.77.1.12': 'on'})
    agent = bmc.FenceAgent('redfish', BMC, executor=bmcs, probe=always_answers, agent_path='/usr/sbin/fence_redfish')
    assert agent.status() == dict(reachable=True, power_state='on', error=None)
    assert agent.power('off', 30) == (True, 'Success: Powered OFF')
    assert agent.status()['power_state'] == 'off'
    for call in bmcs.calls:
        assert call['argv'] == ['/usr/sbin/fence_redfish']
        assert BMC['password'] not in ' '.join(call['argv'])
        assert 'password=%s\n' % BMC['password'] in call['stdin']
    assert bmcs.calls[1]['options']['power_timeout'] == '30'
    assert all(call['timeout'] for call in bmcs.calls), 'every agent run is bounded'


def test_status_when_bmc_does_not_answer_does_not_run_the_agent():
    bmcs = FakeBMCs({})
    agent = bmc.FenceAgent('redfish', BMC, executor=bmcs,
                           probe=lambda a, p, t: (False, '[Errno 111] Connection refused'), agent_path='x')
    assert agent.status() == dict(reachable=False, power_state='unknown', error='[Errno 111] Connection refused')
    assert bmcs.calls == []


def test_status_wrong_password_is_unreadable_not_dark():
    bmcs = FakeBMCs({'127.77.1.12': 'on'}, password='other')
    agent = bmc.FenceAgent('redfish', BMC, executor=bmcs, probe=always_answers, agent_path='x')
    status = agent.status()
    assert (status['reachable'], status['power_state']) == (True, 'unknown')
    assert status['error'].startswith('Failed: Unable to get PowerState')


def test_status_agent_hanging_counts_as_not_answering():
    agent = bmc.FenceAgent('redfish', BMC, executor=lambda argv, stdin, timeout: (None, '', ''),
                           probe=always_answers, agent_path='x', bmc_timeout=2)
    assert agent.status() == dict(reachable=False, power_state='unknown', error='no answer within 11s')


def test_agent_message_skips_python_warnings():
    err = "/usr/sbin/fence_ipmilan:5: DeprecationWarning: 'pipes' is deprecated\n  from pipes import quote\n"
    assert bmc.agent_message('Status: ON\n', err) == 'Status: ON'


def test_missing_agent_is_named(monkeypatch):
    monkeypatch.setattr(bmc.FenceAgent, '_agent', FIND_AGENT)
    monkeypatch.setattr(bmc.shutil, 'which', lambda name: None)
    monkeypatch.setattr(bmc.os, 'access', lambda path, mode: False)
    agent = bmc.FenceAgent('ipmi', BMC, executor=FakeBMCs({}), probe=always_answers)
    with pytest.raises(bmc.BmcError) as caught:
        agent.status()
    assert caught.value.msg.startswith('fence_ipmilan is not installed on ')
    assert caught.value.msg.endswith(': install the fence agents (Debian package fence-agents) where this module runs.')


def test_run_process_passes_stdin_and_is_bounded():
    rc, out, _err = bmc.run_process([sys.executable, '-c', 'import sys; print(sys.stdin.read().upper())'],
                                    'password=x\n', 10)
    assert (rc, out) == (0, 'PASSWORD=X\n\n')
    rc, _out, _err = bmc.run_process([sys.executable, '-c', 'import time; time.sleep(5)'], '', 0.5)
    assert rc is None


def test_tcp_probe_on_loopback():
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        assert bmc.tcp_answers('127.0.0.1', server.getsockname()[1], 2) == (True, None)
        port = server.getsockname()[1]
    answers, error = bmc.tcp_answers('127.0.0.1', port, 2)
    assert not answers and error


def test_rmcp_ping_on_loopback():
    pong = bytes(bytearray([0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x40, 0x54, 0x00, 0x10] + [0] * 16))
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(('127.0.0.1', 0))
    server.settimeout(5)
    port = server.getsockname()[1]

    def answer():
        data, peer = server.recvfrom(512)
        assert data[8] == 0x80  # presence ping
        server.sendto(pong, peer)

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert bmc.rmcp_answers('127.0.0.1', port, 2) == (True, None)
    finally:
        thread.join()
        server.close()
    answers, _error = bmc.rmcp_answers('127.0.0.1', port, 0.3)
    assert not answers


# --- BMC settings from the module's options ---------------------------------------------------------

def test_bmc_settings_node_values_win_over_module_defaults():
    params = dict(fence_method='redfish', bmc_username='admin', bmc_password='room', bmc_port=8443,
                  validate_certs=True, ipmi_lanplus=True)
    node = dict(name='a-w1', bmc_address='127.77.1.11', bmc_systems_uri='/redfish/v1/Systems/x',
                bmc_password='node', bmc_validate_certs=False)
    assert bmc.bmc_settings(params, node) == dict(
        address='127.77.1.11', port=8443, systems_uri='/redfish/v1/Systems/x', username='admin', password='node',
        validate_certs=False, lanplus=True)


def test_bmc_settings_default_ports():
    node = dict(name='a-w1', bmc_address='10.0.0.1')
    assert bmc.bmc_settings(dict(fence_method='redfish'), node)['port'] == 443
    assert bmc.bmc_settings(dict(fence_method='ipmi'), node)['port'] == 623


def test_missing_bmc_settings_are_named():
    params = dict(fence_method='redfish', nodes=[dict(name='a-w1', bmc_address='x'), dict(name='a-w2')])
    with pytest.raises(fence.FenceError) as caught:
        fence_plan.check_bmc_settings(params)
    assert caught.value.msg == (
        'BMC settings missing for a-w1 (bmc_systems_uri, inventory twinroom_bmc_systems_uri), a-w2 (bmc_address, '
        'inventory twinroom_bmc_address) and a-w2 (bmc_systems_uri, inventory twinroom_bmc_systems_uri): every node '
        'to fence needs them.')


# --- the runner, with fake BMCs and a fake API ------------------------------------------------------

class FakeRecorder(object):
    """Plays NodeRecorder: Nodes as dicts, and a log of every write (shared with the BMC log for order)."""

    where = 'the API server of context room-b'

    def __init__(self, nodes, log):
        self.nodes = copy.deepcopy(nodes)
        self.log = log
        self.events = []

    def observe(self, name):
        node = self.nodes.get(name)
        if node is None:
            return dict(exists=False, tainted=False, record=None, ready=None, taints=[])
        return dict(exists=True, tainted=any(k8s_nodes.is_fence_taint(t) for t in node['taints']),
                    record=copy.deepcopy(node.get('record')), ready=False, taints=list(node['taints']), uid='u-' + name,
                    pods=len(node.get('pods', ())))

    def release(self, name):
        self.log.append(('release', name))
        released, self.nodes[name]['pods'] = list(self.nodes[name].get('pods', ())), []
        return released

    def taint(self, name, at):
        self.log.append(('taint', name))
        self.nodes[name]['taints'] = k8s_nodes.with_fence_taint(self.nodes[name]['taints'], at)

    def untaint(self, name):
        self.log.append(('untaint', name))
        self.nodes[name]['taints'] = k8s_nodes.without_fence_taint(self.nodes[name]['taints'])

    def annotate(self, name, record):
        self.log.append(('annotate', name))
        self.nodes[name]['record'] = record

    def unannotate(self, name):
        self.log.append(('unannotate', name))
        self.nodes[name]['record'] = None

    def event(self, name, reason, message, uid=None, event_type='Warning'):
        self.log.append(('event', name))
        self.events.append(dict(node=name, reason=reason, message=message, uid=uid, type=event_type))


ROOM_A = {'a-cp1': '127.77.1.10', 'a-w1': '127.77.1.11', 'a-w2': '127.77.1.12'}


def params_for(names, **extra):
    params = dict(
        nodes=[dict(name=n, bmc_address=ROOM_A[n], bmc_port=8443, bmc_systems_uri='/redfish/v1/Systems/' + n,
                    bmc_username=None, bmc_password=None, bmc_validate_certs=None) for n in names],
        fence_method='redfish', bmc_username='admin', bmc_password='s3cret pass=word', bmc_port=None,
        validate_certs=False, ipmi_lanplus=True, bmc_timeout=2, kubeconfig=None, context='room-b',
        state='fenced', room='room_a', confirm_room_down=False, timeout=5)
    params.update(extra)
    return params


class LoggingBMCs(FakeBMCs):
    def __init__(self, power, log, **kwargs):
        super(LoggingBMCs, self).__init__(power, **kwargs)
        self.log = log

    def __call__(self, argv, stdin, timeout):
        rc, out, err = super(LoggingBMCs, self).__call__(argv, stdin, timeout)
        options = parse_stdin(stdin)
        if options['action'] != 'status':
            self.log.append((options['action'], options['ip']))
        return rc, out, err


@pytest.fixture
def lab():
    log = []
    nodes = dict((n, dict(taints=[dict(key='node-role.kubernetes.io/control-plane', effect='NoSchedule')]
                          if n == 'a-cp1' else [], record=None)) for n in ROOM_A)
    recorder = FakeRecorder(nodes, log)
    bmcs = LoggingBMCs(dict((a, 'on') for a in ROOM_A.values()), log)
    return dict(log=log, recorder=recorder, bmcs=bmcs)


@pytest.fixture(autouse=True)
def agent_path(monkeypatch):
    monkeypatch.setattr(bmc.FenceAgent, '_agent', lambda self: '/usr/sbin/fence_' + self.method)


def run(lab, params, check_mode=False, diff=False, probe=always_answers):
    return fence.run_fence(params, check_mode=check_mode, diff=diff, recorder=lab['recorder'], executor=lab['bmcs'],
                           probe=probe, sleep=lambda s: None)


def test_fence_powers_off_before_it_taints_and_second_run_changes_nothing(lab):
    result = run(lab, params_for(['a-w2']))
    assert result['changed'] is True
    node = result['nodes']['a-w2']
    assert (node['fenced'], node['method'], node['power_state'], node['changed']) == (True, 'bmc', 'off', True)
    assert node['plan'] == ['power_off', 'verify_off', 'taint', 'annotate', 'event']
    assert node['fenced_at'].endswith('Z') and node['seconds'] is not None
    assert lab['log'] == [('off', '127.77.1.12'), ('taint', 'a-w2'), ('annotate', 'a-w2'), ('event', 'a-w2')]
    assert lab['recorder'].nodes['a-w2']['record'] == dict(at=node['fenced_at'], method='bmc', by='twinroom.ha.fence',
                                                           room='room_a')
    event = lab['recorder'].events[0]
    assert (event['reason'], event['uid'], event['type']) == ('Fenced', 'u-a-w2', 'Warning')
    assert event['message'] == ('Fenced at %s by twinroom.ha.fence: powered off through its BMC, verified off. '
                                'Out-of-service taint set.' % node['fenced_at'])
    # Only a-w2 was touched.
    assert lab['bmcs'].power == {'127.77.1.10': 'on', '127.77.1.11': 'on', '127.77.1.12': 'off'}

    again = run(lab, params_for(['a-w2']))
    assert again['changed'] is False
    assert again['nodes']['a-w2']['fenced_at'] == node['fenced_at']
    assert again['nodes']['a-w2']['plan'] == []
    assert len(lab['log']) == 4


def test_pods_are_released_after_every_node_is_off_and_tainted_in_rounds(lab):
    lab['recorder'].nodes['a-w1']['pods'] = ['shop/web-1', 'shop/db-0']
    rebound = {'count': 0}
    release = lab['recorder'].release

    def release_and_rebind(name):
        # A scheduler that has not seen the taint yet binds the StatefulSet's replacement to a-w2 once.
        pods = release(name)
        if name == 'a-w1' and pods and not rebound['count']:
            rebound['count'] += 1
            lab['recorder'].nodes['a-w2']['pods'] = ['shop/db-0']
        return pods

    lab['recorder'].release = release_and_rebind
    ticks = iter(range(100))
    result = fence.run_fence(params_for(['a-w1', 'a-w2']), recorder=lab['recorder'], executor=lab['bmcs'],
                             probe=always_answers, sleep=lambda s: None, clock=lambda: next(ticks))
    assert result['nodes']['a-w1']['released'] == ['shop/web-1', 'shop/db-0']
    assert result['nodes']['a-w2']['released'] == ['shop/db-0']
    writes = [entry for entry in lab['log'] if entry[0] in ('taint', 'release')]
    first_release = writes.index(next(entry for entry in writes if entry[0] == 'release'))
    assert [entry[0] for entry in writes[:first_release]] == ['taint', 'taint']  # both tainted before any release
    again = run(lab, params_for(['a-w1', 'a-w2']))
    assert again['changed'] is False
    assert (again['nodes']['a-w1']['released'], again['nodes']['a-w2']['released']) == ([], [])


def test_check_mode_releases_nothing(lab):
    lab['recorder'].nodes['a-w1']['pods'] = ['shop/web-1']
    result = run(lab, params_for(['a-w1']), check_mode=True)
    assert result['nodes']['a-w1']['plan'] == ['power_off', 'verify_off', 'taint', 'release', 'annotate', 'event']
    assert lab['log'] == [] and lab['recorder'].nodes['a-w1']['pods'] == ['shop/web-1']


def test_existing_taints_are_kept(lab):
    run(lab, params_for(['a-cp1']))
    taints = lab['recorder'].nodes['a-cp1']['taints']
    assert [t['key'] for t in taints] == ['node-role.kubernetes.io/control-plane', rooms.OUT_OF_SERVICE_TAINT_KEY]


def test_check_mode_reads_only(lab):
    result = run(lab, params_for(['a-cp1', 'a-w1']), check_mode=True, diff=True)
    assert result['changed'] is True
    assert lab['log'] == []
    assert set(lab['bmcs'].actions()) == {'status'}
    assert result['nodes']['a-w1']['plan'] == ['power_off', 'verify_off', 'taint', 'annotate', 'event']
    assert result['nodes']['a-w1']['fenced_at'] is None
    assert result['diff']['before']['a-w1'] == dict(power_state='on', tainted=False, record=None)
    assert result['diff']['after']['a-w1']['tainted'] is True
    assert result['diff']['after']['a-w1']['power_state'] == 'off'


def test_still_on_after_timeout_fails_and_is_not_tainted(lab):
    lab['bmcs'].answers_off = False
    with pytest.raises(fence.FenceError) as caught:
        run(lab, params_for(['a-w1'], timeout=1))
    assert caught.value.msg == (
        'power-off of node a-w1 was sent to BMC 127.77.1.11:8443 (agent said: Failed: Timed out waiting to power OFF) '
        'but it still reports power ON after 1s: not tainted. Check the node and its BMC.')
    assert caught.value.details['nodes']['a-w1']['fenced'] is False
    assert [entry for entry in lab['log'] if entry[0] != 'off'] == []


def test_refusal_touches_nothing(lab):
    dark = {'127.77.1.10', '127.77.1.11', '127.77.1.12'}

    def probe(address, port, timeout):
        return (False, '[Errno 111] Connection refused') if address in dark else (True, None)

    with pytest.raises(fence.FenceError) as caught:
        run(lab, params_for(['a-cp1', 'a-w1', 'a-w2']), probe=probe)
    assert caught.value.msg == (
        'BMC 127.77.1.10:8443 of node a-cp1, BMC 127.77.1.11:8443 of node a-w1 and BMC 127.77.1.12:8443 of node a-w2 '
        'do not answer: refusing to fence room_a without confirm_room_down: true.')
    assert caught.value.details['nodes']['a-w1']['bmc_error'] == '[Errno 111] Connection refused'
    assert lab['log'] == [] and lab['bmcs'].calls == []

    confirmed = run(lab, params_for(['a-cp1', 'a-w1', 'a-w2'], confirm_room_down=True), probe=probe)
    assert dict((n, (v['fenced'], v['method'], v['power_state'])) for n, v in confirmed['nodes'].items()) == dict(
        (n, (True, 'confirmed-down', 'unknown')) for n in ROOM_A)
    assert lab['recorder'].nodes['a-w1']['record']['confirmed_by'] == 'operator'
    assert 'the room is confirmed down (by the operator)' in lab['recorder'].events[0]['message']
    assert lab['bmcs'].calls == []


def test_dark_bmcs_confirmed_by_the_isolation_decision_are_recorded_as_such(lab):
    dark = {'127.77.1.10', '127.77.1.11', '127.77.1.12'}

    def probe(address, port, timeout):
        return (False, '[Errno 113] No route to host') if address in dark else (True, None)

    confirmed = run(lab, params_for(['a-cp1', 'a-w1', 'a-w2'], confirm_room_down=True, room_down_by='isolation'),
                    probe=probe)
    assert dict((n, (v['fenced'], v['method'])) for n, v in confirmed['nodes'].items()) == dict(
        (n, (True, 'confirmed-down')) for n in ROOM_A)
    assert lab['recorder'].nodes['a-w1']['record']['confirmed_by'] == 'isolation'
    assert ("the room is confirmed down (by the room watch's isolation decision: its nodes have powered themselves "
            "off)") in lab['recorder'].events[0]['message']
    assert lab['bmcs'].calls == []


def test_room_down_by_alone_confirms_nothing():
    assert fence_plan.confirmed_by(dict(confirm_room_down=False, room_down_by='isolation')) is None
    assert fence_plan.confirmed_by(dict(confirm_room_down=True)) == 'operator'
    assert fence_plan.confirmed_by(dict(confirm_room_down=True, room_down_by='isolation')) == 'isolation'


def test_unfence_removes_taint_and_record_with_an_event(lab):
    run(lab, params_for(['a-cp1']))
    del lab['log'][:]
    result = run(lab, params_for(['a-cp1'], state='unfenced', nodes=[dict(name='a-cp1')]))
    assert result['nodes']['a-cp1']['plan'] == ['untaint', 'unannotate', 'event']
    assert result['nodes']['a-cp1']['fenced'] is False
    assert lab['log'] == [('untaint', 'a-cp1'), ('unannotate', 'a-cp1'), ('event', 'a-cp1')]
    assert (lab['recorder'].events[-1]['reason'], lab['recorder'].events[-1]['type']) == ('Unfenced', 'Normal')
    assert [t['key'] for t in lab['recorder'].nodes['a-cp1']['taints']] == ['node-role.kubernetes.io/control-plane']
    assert run(lab, params_for(['a-cp1'], state='unfenced'))['changed'] is False
    # Unfencing never asks the BMC or powers anything.
    assert set(lab['bmcs'].actions()) <= {'status', 'off'}
    assert lab['bmcs'].power['127.77.1.10'] == 'off'


def test_duplicate_node_names_are_refused(lab):
    with pytest.raises(fence.FenceError) as caught:
        run(lab, params_for(['a-w1', 'a-w1']))
    assert caught.value.msg == 'nodes names a-w1 more than once.'


def test_info_reports_without_changing(lab):
    run(lab, params_for(['a-w2']))
    before = list(lab['log'])
    info = fence.run_fence_info(params_for(['a-w1', 'a-w2']), recorder=lab['recorder'], executor=lab['bmcs'],
                                probe=always_answers)
    assert lab['log'] == before
    assert info['changed'] is False
    assert info['nodes']['a-w2']['fenced'] is True and info['nodes']['a-w2']['power_state'] == 'off'
    assert info['nodes']['a-w2']['record']['method'] == 'bmc'
    assert info['nodes']['a-w1'] == dict(bmc='127.77.1.11:8443', bmc_reachable=True, power_state='on', bmc_error=None,
                                         exists=True, ready=False, tainted=False, record=None, fenced=False)


class BrokenAPI(FakeRecorder):
    """Reads fail (the room's API server is gone), or writes time out (synchronous replication waits)."""

    def __init__(self, nodes, log, reads=True):
        super(BrokenAPI, self).__init__(nodes, log)
        self.reads = reads

    def observe(self, name):
        if not self.reads:
            raise fence.FenceError('cannot read Node %s from %s: connection refused' % (name, self.where))
        return super(BrokenAPI, self).observe(name)

    def taint(self, name, at):
        self.log.append(('taint-timeout', name))
        raise fence.FenceError('cannot update Node %s on %s: read timed out' % (name, self.where))


def test_dark_bmc_refusal_wins_over_an_unreadable_api(lab):
    lab['recorder'] = BrokenAPI(lab['recorder'].nodes, lab['log'], reads=False)
    with pytest.raises(fence.FenceError) as caught:
        run(lab, params_for(['a-w1']), probe=lambda a, p, t: (False, 'refused'))
    assert caught.value.msg.startswith('BMC 127.77.1.11:8443 of node a-w1 does not answer: refusing to fence room_a')
    assert caught.value.details['api_error'] == (
        'cannot read Node a-w1 from the API server of context room-b: connection refused')
    assert lab['log'] == []


def test_unreadable_api_touches_nothing(lab):
    lab['recorder'] = BrokenAPI(lab['recorder'].nodes, lab['log'], reads=False)
    with pytest.raises(fence.FenceError) as caught:
        run(lab, params_for(['a-w1']))
    assert caught.value.msg == 'cannot read Node a-w1 from the API server of context room-b: connection refused'
    assert lab['log'] == []


def test_api_write_failure_after_power_off_says_what_to_do(lab):
    lab['recorder'] = BrokenAPI(lab['recorder'].nodes, lab['log'])
    with pytest.raises(fence.FenceError) as caught:
        run(lab, params_for(['a-w1', 'a-w2']))
    assert caught.value.msg == (
        'cannot update Node a-w1 on the API server of context room-b: read timed out. Node a-w1 is powered off '
        '(verified through its BMC) but not marked out of service. Run again once the API server accepts writes (with '
        'synchronous replication, after the datastore takeover), or fence with out_of_service: false first. '
        'Node a-w2 was not marked out of service either.')
    # Both powered off in parallel; one write tried, not one per node.
    assert sorted(lab['log']) == [('off', '127.77.1.11'), ('off', '127.77.1.12'), ('taint-timeout', 'a-w1')]
    assert caught.value.details['nodes']['a-w2']['power_state'] == 'off'


def test_power_only_never_asks_the_api(lab):
    class NoAPI(object):
        def __getattr__(self, name):
            raise AssertionError('the API was used: %s' % name)

    lab['recorder'] = NoAPI()
    result = run(lab, params_for(['a-w1'], out_of_service=False))
    assert result['nodes']['a-w1']['plan'] == ['power_off', 'verify_off']
    assert result['nodes']['a-w1']['fenced_at'] is not None
    assert lab['log'] == [('off', '127.77.1.11')]
    again = run(lab, params_for(['a-w1'], out_of_service=False))
    assert again['changed'] is False


# --- the node's lease: a node that renews it runs, whatever its BMC says ------------------------------

class LeaseRecorder(FakeRecorder):
    """FakeRecorder whose nodes have Leases: ``ages`` {node: [lease age at each read, ...]} (the last one repeats)."""

    def __init__(self, nodes, log, ages):
        super(LeaseRecorder, self).__init__(nodes, log)
        self.ages = dict((name, list(values)) for name, values in ages.items())

    def lease(self, name):
        if name not in self.ages:
            return dict(lease_age=None, lease_fresh=None, lease_error=None)
        self.log.append(('lease', name))
        values = self.ages[name]
        age = values.pop(0) if len(values) > 1 else values[0]
        return dict(lease_age=age, lease_fresh=age < 10, lease_error=None)

    def observe(self, name):
        view = super(LeaseRecorder, self).observe(name)
        if view['exists']:
            view.update(self.lease(name))
        return view


def run_with_leases(lab, params, ages, check_mode=False):
    lab['recorder'] = LeaseRecorder(lab['recorder'].nodes, lab['log'], ages)
    clock = FakeClock()
    return fence.run_fence(params, check_mode=check_mode, recorder=lab['recorder'], executor=lab['bmcs'],
                           probe=always_answers, clock=clock, sleep=clock.sleep)


def test_a_running_node_is_tainted_only_once_its_lease_went_stale_after_the_power_off(lab):
    # Read when observed (fresh), then after the verified power-off until the lease is stale.
    result = run_with_leases(lab, params_for(['a-w2']), {'a-w2': [1.0, 4.0, 7.0, 10.2]})
    node = result['nodes']['a-w2']
    assert node['plan'] == ['power_off', 'verify_off', 'verify_lease_stale', 'taint', 'annotate', 'event']
    assert (node['fenced'], node['power_state']) == (True, 'off')
    assert lab['log'] == [('lease', 'a-w2'), ('off', '127.77.1.12'), ('lease', 'a-w2'), ('lease', 'a-w2'),
                          ('lease', 'a-w2'), ('taint', 'a-w2'), ('annotate', 'a-w2'), ('event', 'a-w2')]


def test_check_mode_plans_the_lease_check_and_does_not_wait(lab):
    result = run_with_leases(lab, params_for(['a-w2']), {'a-w2': [1.0]}, check_mode=True)
    assert result['nodes']['a-w2']['plan'] == [
        'power_off', 'verify_off', 'verify_lease_stale', 'taint', 'annotate', 'event']
    assert lab['log'] == [('lease', 'a-w2')]


def test_a_node_still_renewing_after_its_bmc_powered_off_is_not_tainted(lab):
    """The BMC powered off another machine: this node keeps renewing its lease. A node whose lease was stale
    already is fenced in the same run."""
    params = params_for(['a-w1', 'a-w2'])
    with pytest.raises(fence.FenceError) as caught:
        run_with_leases(lab, params, {'a-w1': [2.0], 'a-w2': [30.0]})
    assert caught.value.msg == (
        'Node a-w1 renewed its lease 2.0 s ago, 20.0 s after its BMC 127.77.1.11:8443 reported its power OFF: not '
        'tainted. A node that renews its lease is running - that BMC powered off another machine (power it back on), '
        'or it reports wrongly. Check the BMC address of a-w1 (twinroom_bmc_address).')
    nodes = caught.value.details['nodes']
    assert (nodes['a-w1']['fenced'], nodes['a-w2']['fenced']) == (False, True)
    assert nodes['a-w1']['plan'] == ['power_off', 'verify_off', 'verify_lease_stale', 'taint', 'annotate', 'event']
    assert ('taint', 'a-w1') not in lab['log'] and ('taint', 'a-w2') in lab['log']
    # Watched every second for twice lease_stale_after (10 s): 21 reads after the one when it was observed.
    assert lab['log'].count(('lease', 'a-w1')) == 22


def test_a_node_reported_off_whose_lease_goes_stale_while_watched_is_fenced(lab):
    """The room lost its power a moment ago: the BMC reports off, the last renewal is 3 s old."""
    lab['bmcs'].power['127.77.1.11'] = 'off'
    result = run_with_leases(lab, params_for(['a-w1']), {'a-w1': [3.0, 6.0, 9.0, 12.0]})
    node = result['nodes']['a-w1']
    assert node['plan'] == ['taint', 'annotate', 'event']
    assert (node['fenced'], node['method']) == (True, 'bmc')
    assert lab['log'].count(('lease', 'a-w1')) == 4
    assert 'off' not in lab['bmcs'].actions()


def test_a_node_reported_off_that_keeps_renewing_its_lease_is_refused_before_anything(lab):
    lab['bmcs'].power['127.77.1.11'] = 'off'
    with pytest.raises(fence.FenceError) as caught:
        run_with_leases(lab, params_for(['a-w1', 'a-w2']), {'a-w1': [3.0, 6.0, 0.4], 'a-w2': [1.0]})
    assert caught.value.msg == (
        "Node a-w1 renewed its lease 0.4 s ago (watched 20.0 s for it to go stale), yet its BMC 127.77.1.11:8443 "
        "reports its power OFF: a node that renews its lease is running, and is never marked out of service or "
        "counted as fenced. Refusing to fence room_a. Check the BMC address of a-w1 (twinroom_bmc_address): it may "
        "name another machine's BMC.")
    assert caught.value.details['nodes']['a-w1']['lease_age'] == 0.4
    assert [entry for entry in lab['log'] if entry[0] != 'lease'] == []
    assert set(lab['bmcs'].actions()) == {'status'}


def test_confirmed_down_is_refused_for_a_node_that_renews_its_lease(lab):
    clock = FakeClock()
    with pytest.raises(fence.FenceError) as caught:
        fence.run_fence(params_for(['a-w1'], confirm_room_down=True),
                        recorder=LeaseRecorder(lab['recorder'].nodes, lab['log'], {'a-w1': [1.0]}),
                        executor=lab['bmcs'], probe=lambda a, p, t: (False, 'refused'),
                        clock=clock, sleep=clock.sleep)
    assert caught.value.msg.startswith('Node a-w1 renewed its lease 1.0 s ago (watched 20.0 s for it to go stale), '
                                       'yet its BMC 127.77.1.11:8443 does not answer: ')
    assert [entry for entry in lab['log'] if entry[0] != 'lease'] == []


class FakeLeaseApi(object):
    """Plays CoordinationV1Api.read_namespaced_lease."""

    def __init__(self, leases=None, error=None):
        self.leases = leases or {}
        self.error = error
        self.asked = []

    def read_namespaced_lease(self, name, namespace, _request_timeout=None):
        self.asked.append((namespace, name))
        if self.error is not None:
            raise self.error
        if name not in self.leases:
            raise k8s_nodes.ApiException(status=404, reason='Not Found')
        return SimpleNamespace(spec=SimpleNamespace(renew_time=self.leases[name]))


RENEWED = datetime.datetime(2026, 11, 21, 17, 0, 0, 250000, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize('now, age, fresh', [(0.0, 0.0, True), (9.94, 9.9, True), (10.0, 10.0, False), (60.0, 60.0, False)])
def test_recorder_reads_the_lease_age_against_lease_stale_after(now, age, fresh):
    epoch = k8s_nodes.epoch_seconds(RENEWED)
    recorder = k8s_nodes.NodeRecorder(api=object(), leases=FakeLeaseApi({'a-w1': RENEWED}), stale_after=10,
                                      now=lambda: epoch + now)
    assert recorder.lease('a-w1') == dict(lease_age=age, lease_fresh=fresh, lease_error=None)
    assert recorder.leases.asked == [('kube-node-lease', 'a-w1')]


def test_recorder_without_a_lease_keeps_the_bmc_rules():
    unknown = dict(lease_age=None, lease_fresh=None, lease_error=None)
    assert k8s_nodes.NodeRecorder(api=object()).lease('a-w1') == unknown  # no Lease API given
    assert k8s_nodes.NodeRecorder(api=object(), leases=FakeLeaseApi()).lease('a-w1') == unknown  # no Lease
    forbidden = k8s_nodes.ApiException(status=403, reason='Forbidden')
    assert k8s_nodes.NodeRecorder(api=object(), leases=FakeLeaseApi(error=forbidden)).lease('a-w1') == dict(
        unknown, lease_error='403 Forbidden')
    assert k8s_nodes.NodeRecorder(api=object(), leases=FakeLeaseApi(error=TimeoutError('read timed out'))).lease(
        'a-w1') == dict(unknown, lease_error='read timed out')


def test_epoch_seconds_of_a_naive_time_is_utc():
    assert k8s_nodes.epoch_seconds(RENEWED.replace(tzinfo=None)) == k8s_nodes.epoch_seconds(RENEWED) == 1795280400.25


def test_an_unreadable_lease_is_warned_about_and_the_bmc_decides(lab):
    class ForbiddenLeases(FakeRecorder):
        def observe(self, name):
            return dict(super(ForbiddenLeases, self).observe(name), lease_age=None, lease_fresh=None,
                        lease_error='403 leases.coordination.k8s.io "%s" is forbidden' % name)

    lab['recorder'] = ForbiddenLeases(lab['recorder'].nodes, lab['log'])
    result = run(lab, params_for(['a-w2']))
    assert result['nodes']['a-w2']['plan'] == ['power_off', 'verify_off', 'taint', 'annotate', 'event']
    assert result['warnings'] == [
        'the Lease of Node a-w2 could not be read from the API server of context room-b (403 '
        'leases.coordination.k8s.io "a-w2" is forbidden): it was judged by its BMC alone']


# --- BMC bindings: a BMC reporting another machine is never used ---------------------------------------------------

BOUND = "4c4c4544-0042-3510-8057-b2c04f4e3232"
OTHER_MACHINE = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def bound_node(name, reported, power="on"):
    return dict(name=name, bmc="127.77.1.11:8443", bmc_reachable=True, power_state=power, exists=True,
                machine_id=BOUND, bmc_identity=reported)


def test_a_bmc_of_another_machine_is_refused_before_anything():
    with pytest.raises(fence.FenceError) as caught:
        fence_plan.decide([bound_node("a-w1", {"uuid": OTHER_MACHINE})], dict(state="fenced", room="room_a"))
    assert caught.value.msg == (
        "The BMC 127.77.1.11:8443 of node a-w1 reports machine %s, but a-w1 is machine %s (bound by site.yml): it is "
        "another machine's BMC. Check twinroom_bmc_address of a-w1: refusing to fence room_a, nothing was powered off."
        % (OTHER_MACHINE, BOUND))


def test_a_bmc_reporting_off_for_another_machine_does_not_count_as_fenced():
    with pytest.raises(fence.FenceError) as caught:
        fence_plan.decide([bound_node("a-w1", {"uuid": OTHER_MACHINE}, power="off")], dict(state="fenced", room="room_a"))
    assert "reports machine %s, but a-w1 is machine %s" % (OTHER_MACHINE, BOUND) in caught.value.msg


def test_a_bmc_that_cannot_say_which_machine_it_is_is_refused():
    with pytest.raises(fence.FenceError) as caught:
        fence_plan.decide([bound_node("a-w1", {"error": "GET /redfish/v1/Systems/1 failed: HTTP Error 404"})],
                          dict(state="fenced", room="room_a"))
    assert caught.value.msg.startswith("The BMC 127.77.1.11:8443 of node a-w1 does not say which machine it controls "
                                       "(GET /redfish/v1/Systems/1 failed: HTTP Error 404)")


def test_a_bmc_of_the_bound_machine_is_used():
    plans = fence_plan.decide([bound_node("a-w1", {"uuid": BOUND.upper()})], dict(state="fenced", room="room_a"))
    assert plans[0]["steps"][:2] == ["power_off", "verify_off"]


@pytest.mark.parametrize("extra, message", [
    (dict(bmc_timeout=0), "bmc_timeout is 0; it must be 1-300 seconds. Nothing was done."),
    (dict(api_timeout=-1, timeout=0), "api_timeout is -1; it must be 1-600 seconds; timeout is 0; it must be 1-3600 "
                                      "seconds. Nothing was done."),
    (dict(lease_stale_after=1), "lease_stale_after is 1; it must be 2-600 seconds. Nothing was done."),
])
def test_unbounded_timeouts_are_refused(extra, message):
    params = dict(nodes=[dict(name="a-w1", bmc_address="127.77.1.11", bmc_systems_uri="/redfish/v1/Systems/1")],
                  fence_method="redfish", **extra)
    with pytest.raises(fence.FenceError) as caught:
        fence_plan.check_bmc_settings(params)
    assert caught.value.msg == message


def test_a_bmc_refusing_the_credentials_is_refused_for_them_not_for_its_machine():
    node = bound_node("a-w1", {"error": "GET /redfish/v1/Systems/1 failed: HTTP Error 401: UNAUTHORIZED"},
                      power="unknown")
    node["bmc_error"] = "Failed: Unable to connect/login to fencing device"
    with pytest.raises(fence.FenceError) as caught:
        fence_plan.decide([node], dict(state="fenced", room="room_a"))
    assert caught.value.msg == (
        "BMC 127.77.1.11:8443 of node a-w1 answers but its power state cannot be read (Failed: Unable to "
        "connect/login to fencing device): refusing to fence room_a, since a node is tainted only once its BMC "
        "reports its power off. Check the BMC credentials and systems URI.")


def test_unfence_waits_for_a_node_just_powered_on_to_renew_its_lease(lab):
    run(lab, params_for(['a-w2']))
    del lab['log'][:]
    # Stale at the first two reads (it is still booting), then renewed.
    result = run_with_leases(lab, params_for(['a-w2'], state='unfenced'), {'a-w2': [40.0, 42.0, 1.0]})
    assert result['nodes']['a-w2']['plan'] == ['untaint', 'unannotate', 'event']
    assert ('untaint', 'a-w2') in lab['log']


def test_unfence_refuses_a_node_that_stays_stale_and_changes_nothing(lab):
    run(lab, params_for(['a-w2']))
    del lab['log'][:]
    with pytest.raises(fence.FenceError) as caught:
        run_with_leases(lab, params_for(['a-w2'], state='unfenced'), {'a-w2': [130.0]})
    assert caught.value.msg.startswith('refusing to clear the out-of-service taint of a-w2 (lease last renewed ')
    assert [entry for entry in lab['log'] if entry[0] != 'lease'] == []


# --- state: on - power fenced nodes on again (recover.yml's first step); the API is never asked --------------------

class NoAPI(object):
    """A recorder that fails the test if state: on asks the API server anything."""

    def __getattr__(self, name):
        raise AssertionError('state on asked the API: %s' % name)


def power_on(lab, names, check_mode=False, diff=False, probe=always_answers, **extra):
    return fence.run_fence(params_for(names, state='on', **extra), check_mode=check_mode, diff=diff, recorder=NoAPI(),
                           executor=lab['bmcs'], probe=probe, sleep=lambda s: None)


def test_power_on_powers_on_what_is_off_and_a_second_run_changes_nothing(lab):
    lab['bmcs'].power['127.77.1.12'] = 'off'
    result = power_on(lab, ['a-w1', 'a-w2'], diff=True)
    assert result['changed'] is True
    assert result['nodes']['a-w1'] == dict(fenced=None, method=None, power_state='on', changed=False, plan=[],
                                           fenced_at=None, seconds=None, released=[])
    node = result['nodes']['a-w2']
    assert (node['power_state'], node['changed'], node['plan']) == ('on', True, ['power_on', 'verify_on'])
    assert node['seconds'] is not None
    assert lab['log'] == [('on', '127.77.1.12')]
    assert result['diff'] == dict(before={'a-w1': dict(power_state='on'), 'a-w2': dict(power_state='off')},
                                  after={'a-w1': dict(power_state='on'), 'a-w2': dict(power_state='on')})
    again = power_on(lab, ['a-w1', 'a-w2'])
    assert again['changed'] is False
    assert len(lab['log']) == 1


def test_power_on_in_check_mode_reads_only(lab):
    lab['bmcs'].power['127.77.1.11'] = 'off'
    result = power_on(lab, ['a-w1'], check_mode=True, diff=True)
    assert result['changed'] is True
    assert result['nodes']['a-w1']['plan'] == ['power_on', 'verify_on']
    assert result['nodes']['a-w1']['power_state'] == 'on'  # predicted
    assert set(lab['bmcs'].actions()) == {'status'}
    assert lab['bmcs'].power['127.77.1.11'] == 'off'
    assert result['diff']['before']['a-w1'] == dict(power_state='off')


def test_power_on_refuses_a_dark_bmc_and_powers_nothing_on(lab):
    lab['bmcs'].power.update({'127.77.1.11': 'off', '127.77.1.12': 'off'})

    def dark_a_w2(address, port, timeout):
        return (False, 'timed out') if address == '127.77.1.12' else (True, None)

    with pytest.raises(fence.FenceError) as caught:
        power_on(lab, ['a-w1', 'a-w2'], probe=dark_a_w2)
    assert caught.value.msg == ('BMC 127.77.1.12:8443 of node a-w2 does not answer: cannot power on room_a. Check that '
                                'the BMC has power and network. Nothing was powered on.')
    assert caught.value.details['nodes']['a-w2']['bmc_error'] == 'timed out'
    assert set(lab['bmcs'].actions()) == {'status'}


def test_power_on_refuses_an_unknown_power_state(lab):
    lab['bmcs'].password = 'another password'
    with pytest.raises(fence.FenceError) as caught:
        power_on(lab, ['a-w1'])
    assert caught.value.msg.startswith('BMC 127.77.1.11:8443 of node a-w1 answers but its power state cannot be read '
                                       '(Failed: Unable to get PowerState')
    assert caught.value.msg.endswith('refusing to power on room_a. Check the BMC credentials and systems URI. Nothing '
                                     'was powered on.')
    assert set(lab['bmcs'].actions()) == {'status'}


def test_power_on_that_does_not_take_fails_naming_the_node(lab, monkeypatch):
    lab['bmcs'].power['127.77.1.11'] = 'off'
    bmcs = lab['bmcs']

    def stays_off(argv, stdin, timeout):
        if parse_stdin(stdin)['action'] == 'on':
            return 1, '', 'Failed: Timed out waiting to power ON\n'
        return bmcs(argv, stdin, timeout)

    with pytest.raises(fence.FenceError) as caught:
        fence.run_fence(params_for(['a-w1'], state='on', timeout=1), recorder=NoAPI(), executor=stays_off,
                        probe=always_answers, sleep=lambda s: None)
    assert caught.value.msg == (
        'power-on of node a-w1 was sent to BMC 127.77.1.11:8443 (agent said: Failed: Timed out waiting to power ON) '
        'but it still reports power OFF after 1s. Check the node and its BMC.')
    assert caught.value.details['nodes']['a-w1']['power_state'] == 'off'
    assert caught.value.details['changed'] is True


def test_power_on_needs_the_bmc_settings(lab):
    params = params_for(['a-w1'], state='on')
    params['nodes'][0]['bmc_systems_uri'] = None
    with pytest.raises(fence.FenceError) as caught:
        fence.run_fence(params, recorder=NoAPI(), executor=lab['bmcs'], probe=always_answers)
    assert caught.value.msg == ('BMC settings missing for a-w1 (bmc_systems_uri, inventory twinroom_bmc_systems_uri): '
                                'every node to fence needs them.')
