# -*- coding: utf-8 -*-
"""The isolation guard (plugins/module_utils/isolation_guard.py): its configuration's checks (exact messages, nothing
probed), scripted runs with a fake clock, fake probes and a fake command runner and the real room_vote plan deciding
(one poweroff and never two, contact regained in time, the preferred room, no witness and no preferred room, the
witness keeping a node up, a wall clock that jumps, a failed action and the restart that carries on), the state
file, sd_notify on a real unix datagram socket, the probes on loopback, and the four files roles/isolation_guard
copies: imported alone, they need nothing else of the collection, and the entry script runs from them."""

from __future__ import annotations

import ast
import http.server
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import jinja2
import pytest
import yaml

from fakeclock import FakeClock

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import isolation_guard as guard_mod
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import isolation_guard as guard_mod

REPO = pathlib.Path(__file__).resolve().parents[2]
MODULE_UTILS = REPO / 'plugins' / 'module_utils'
ROLE = REPO / 'roles' / 'isolation_guard'
START = 1800000000  # the wall clock at start: 2027-01-15T08:00:00Z
BOOT = 1000.0  # CLOCK_BOOTTIME at start
POWEROFF = ['systemctl', 'poweroff', '--force', '--force']
ROOM_A_NODES = [{'address': '192.0.2.11', 'port': 22}, {'address': '192.0.2.12', 'port': 22}]
WITNESS_URL = 'http://203.0.113.250:8450/rooms/room_b'


def settings(**changes):
    base = {'isolation_seconds': 30, 'detect_seconds': 10, 'margin_seconds': 10, 'preferred_room': 'room_a',
            'witness': False}
    base.update(changes)
    return base


def raw_config(tmp_path, **changes):
    config = {'own_room': 'room_b', 'targets': ROOM_A_NODES, 'settings': settings(),
              'state_file': str(tmp_path / 'run' / 'isolation-guard.json')}
    config.update(changes)
    return config


def write(tmp_path, value, name='isolation-guard.json'):
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


# --- configuration -------------------------------------------------------------------------------------------------

def test_a_good_configuration_gets_its_defaults(tmp_path):
    config = guard_mod.load_config(write(tmp_path, raw_config(tmp_path, settings={'preferred_room': 'room_a'})))
    assert config == {'own_room': 'room_b', 'targets': ROOM_A_NODES, 'witness_url': None, 'action': 'poweroff',
                      'interval': 1, 'state_file': str(tmp_path / 'run' / 'isolation-guard.json'),
                      'settings': settings()}


@pytest.mark.parametrize('change, problems', [
    ({'own_room': 'room_c'}, ["own_room is 'room_c'; it must be room_a or room_b: the room this node is in."]),
    ({'own_room': None}, ['own_room is None; it must be room_a or room_b: the room this node is in.']),
    ({'targets': []}, ["targets is []; it must be a non-empty list of {address, port}: the other room's nodes this "
                       "node connects to."]),
    ({'targets': [{'address': '192.0.2.11', 'port': 22}, {'address': '', 'port': 22}, {'address': 'a', 'port': 0},
                  {'address': 'a', 'port': '22'}, {'address': 'a', 'port': 22, 'via': 'x'}, 'a:22']},
     ["targets[%d] is %s; it needs address (a host name or IP address) and port (1 to 65535), nothing else." % case
      for case in [(1, "{'address': '', 'port': 22}"), (2, "{'address': 'a', 'port': 0}"),
                   (3, "{'address': 'a', 'port': '22'}"), (4, "{'address': 'a', 'port': 22, 'via': 'x'}"),
                   (5, "'a:22'")]]),
    ({'settings': settings(witness=True)},
     ['witness_url is missing but settings.witness is true: give the URL where the witness answers this room '
      '(http://<witness>:<port>/rooms/<own room>).']),
    ({'witness_url': WITNESS_URL},
     ['witness_url is set but settings.witness is not true: the vote counts no witness, so the guard must not ask '
      'one. Remove witness_url or set witness: true.']),
    ({'witness_url': 'ftp://203.0.113.250/rooms/room_b', 'settings': settings(witness=True)},
     ["witness_url is 'ftp://203.0.113.250/rooms/room_b'; it must be an http:// or https:// URL with a host "
      "(http://<witness>:<port>/rooms/<own room>)."]),
    ({'witness_url': 'http://203.0.113.250:port/', 'settings': settings(witness=True)},
     ["witness_url is 'http://203.0.113.250:port/'; it must be an http:// or https:// URL with a host "
      "(http://<witness>:<port>/rooms/<own room>)."]),
    ({'settings': settings(isolation_seconds=10)},
     ['twinroom_isolation_seconds (10) must be greater than twinroom_detect_seconds (10): a room must isolate itself '
      'only after the other side could have declared it lost, or an interruption too short to fail anything over '
      'powers a room off. Raise twinroom_isolation_seconds above 10.']),
    ({'action': 'halt'}, ["action is 'halt'; it must be poweroff or reboot."]),
    ({'interval': 0}, ['interval is 0; it must be a number of seconds greater than 0 and at most 5: the guard probes '
                       'several times within twinroom_isolation_seconds and tells the watchdog it is alive.']),
    ({'interval': True}, ['interval is True; it must be a number of seconds greater than 0 and at most 5: the guard '
                          'probes several times within twinroom_isolation_seconds and tells the watchdog it is '
                          'alive.']),
    ({'state_file': 'isolation-guard.json'}, ["state_file is 'isolation-guard.json'; it must be an absolute path."]),
    ({'probe_port': 22, 'witness': 'w1'}, ['Unknown keys probe_port and witness: the keys are own_room, targets, '
                                           'witness_url, settings, action, interval and state_file.']),
], ids=['own-room', 'own-room-null', 'targets-empty', 'target-entries', 'witness-url-missing', 'witness-url-unwanted',
        'witness-url-scheme', 'witness-url-port', 'settings', 'action', 'interval', 'interval-bool', 'state-file',
        'unknown-keys'])
def test_config_problems(tmp_path, change, problems):
    assert guard_mod.config_problems(raw_config(tmp_path, **change)) == problems


def test_missing_keys_and_a_file_that_is_no_object():
    assert guard_mod.config_problems({'settings': settings()}) == [
        'own_room is missing; it must be room_a or room_b: the room this node is in.',
        "targets is missing; it must be a non-empty list of {address, port}: the other room's nodes this node "
        "connects to."]
    assert guard_mod.config_problems([]) == [
        'It holds []; it must be a JSON object with own_room, targets and settings.']


def test_load_config_says_every_problem_and_what_to_do(tmp_path):
    path = write(tmp_path, raw_config(tmp_path, action='halt', interval=9))
    with pytest.raises(guard_mod.IsolationGuardError) as error:
        guard_mod.load_config(path)
    assert error.value.msg == (
        "The isolation guard configuration %s is not valid: action is 'halt'; it must be poweroff or reboot. interval "
        "is 9; it must be a number of seconds greater than 0 and at most 5: the guard probes several times within "
        "twinroom_isolation_seconds and tells the watchdog it is alive. Run site.yml again to write it from the "
        "inventory." % path)


@pytest.mark.parametrize('content, reason', [
    (None, "[Errno 2] No such file or directory: '%s'"),
    ('{"own_room": ', 'Expecting value: line 1 column 14 (char 13)'),
], ids=['missing', 'not-json'])
def test_load_config_that_cannot_be_read(tmp_path, content, reason):
    path = str(tmp_path / 'isolation-guard.json') if content is None else write(tmp_path, content)
    with pytest.raises(guard_mod.IsolationGuardError) as error:
        guard_mod.load_config(path)
    assert error.value.msg == ('Cannot read the isolation guard configuration %s (%s): run site.yml with '
                               'twinroom_automatic_failover: true to write it.' % (path, reason.replace('%s', path)))


def test_a_bad_configuration_exits_2_before_probing_anything(tmp_path, monkeypatch, capsys):
    def no_probe(*args, **kwargs):
        raise AssertionError('probed %r' % (args,))
    monkeypatch.setattr(socket, 'create_connection', no_probe)
    monkeypatch.setattr(guard_mod.http.client, 'HTTPConnection', no_probe)
    path = write(tmp_path, raw_config(tmp_path, own_room='room_c'))
    assert guard_mod.main([path]) == 2
    assert capsys.readouterr().err == (
        "twinroom-isolation-guard: The isolation guard configuration %s is not valid: own_room is 'room_c'; it must be "
        "room_a or room_b: the room this node is in. Run site.yml again to write it from the inventory.\n" % path)
    assert guard_mod.main([write(tmp_path, raw_config(tmp_path)), '--check']) == 0


# --- scripted runs -------------------------------------------------------------------------------------------------

class World(object):
    """The other room's nodes and the witness as the fake probes see them, a fake clock, the commands run."""

    def __init__(self, tmp_path, code=0, boot_id='boot-1', **changes):
        self.config = guard_mod.load_config(write(tmp_path, raw_config(tmp_path, **changes)))
        self.clock = FakeClock(BOOT)
        self.up = set(node['address'] for node in ROOM_A_NODES)  # the other room's nodes that answer
        self.witness_up = True
        self.commands, self.lines, self.messages, self.asked = [], [], [], []
        self.code, self.boot_id = code, boot_id
        self.wall_reads, self.wall_jump = 0, 0
        self.guard = self.start()

    def wall(self):
        self.wall_reads += 1
        return START + (self.clock.now - BOOT) + self.wall_jump

    def tcp(self, address, port):
        self.asked.append((address, port))
        return address in self.up

    def witness(self, url):
        assert url == WITNESS_URL
        return self.witness_up

    def command(self, argv):
        self.commands.append((self.clock.now - BOOT, argv))
        return self.code, '' if self.code == 0 else 'System has not been booted with systemd.'

    def start(self):
        notifier = guard_mod.Notifier(environ={}, send=lambda message, environ: self.messages.append(message))
        return guard_mod.Guard(self.config, steady=self.clock, wall=self.wall, tcp=self.tcp, witness=self.witness,
                               command=self.command, notifier=notifier, log_=self.lines.append,
                               boot_id=lambda: self.boot_id)

    def run(self, seconds):
        """One round a second for ``seconds`` seconds; the state after the last."""
        state = None
        for _second in range(seconds):
            state = self.guard.step()
            self.clock.sleep(1)
        return state


def test_the_other_room_gone_for_isolation_seconds_powers_the_node_off_once(tmp_path):
    world = World(tmp_path)
    world.run(5)  # rounds at 0..4 s see room_a
    world.up = set()
    world.run(29)  # 5..33 s: nothing yet
    assert world.commands == []
    world.run(200)
    assert world.commands == [(34, POWEROFF)]  # last seen at 4 s + 30 s, never again


@pytest.mark.parametrize('jump', [3600, -3600], ids=['forward', 'back'])
def test_a_wall_clock_that_jumps_neither_isolates_nor_delays(tmp_path, jump):
    world = World(tmp_path)
    world.run(5)
    world.wall_jump = jump  # an NTP step, a hand-set date: the guard read the wall clock once, at start
    state = world.run(10)
    assert (world.commands, state['status'], state['updated_at']) == ([], 'contact', '2027-01-15T08:00:14Z')
    world.up = set()
    world.run(40)
    assert world.commands == [(44, POWEROFF)] and world.wall_reads == 1


def test_any_node_of_the_other_room_answering_is_enough(tmp_path):
    world = World(tmp_path)
    world.up = {'192.0.2.12'}
    world.run(100)
    assert world.commands == []
    assert sorted(set(world.asked)) == [('192.0.2.11', 22), ('192.0.2.12', 22)]


def test_contact_regained_before_the_time_takes_no_action(tmp_path):
    world = World(tmp_path)
    world.run(1)
    world.up = set()
    world.run(30)  # 1..30 s: last seen at 0 s, isolates at 30 s, the round at 30 s...
    assert world.commands == [(30, POWEROFF)]
    world = World(tmp_path, boot_id='boot-2')
    world.run(1)
    world.up = set()
    world.run(29)  # 1..29 s
    world.up = {'192.0.2.11'}
    world.run(1)  # ...seen again at 30 s
    world.up = set()
    world.run(59)
    assert world.commands == [(60, POWEROFF)]  # counted from 30 s again


@pytest.mark.parametrize('own_room, preferred_room, status, reason', [
    ('room_a', 'room_a', 'never', 'room_a is the preferred room (twinroom_preferred_room) and there is no witness: its '
                                  'nodes never isolate themselves.'),
    ('room_b', None, 'never', 'No witness and no twinroom_preferred_room: a node never isolates itself; only BMCs '
                              'reporting a room off make its failover automatic.'),
], ids=['preferred-room', 'no-witness-no-preferred-room'])
def test_nodes_that_never_isolate(tmp_path, own_room, preferred_room, status, reason):
    targets = [{'address': '198.51.100.11', 'port': 22}] if own_room == 'room_a' else ROOM_A_NODES
    world = World(tmp_path, own_room=own_room, targets=targets, settings=settings(preferred_room=preferred_room))
    world.up = {'198.51.100.11', '192.0.2.11'}
    world.run(3)
    world.up = set()
    state = world.run(300)
    assert world.commands == []
    assert (state['status'], state['isolate'], state['isolates_at'], state['reason']) == (status, False, None, reason)


def test_a_node_that_never_saw_anyone_stays_unarmed(tmp_path):
    world = World(tmp_path)
    world.up = set()
    state = world.run(300)
    assert world.commands == []
    assert (state['status'], state['reason']) == ('unarmed', 'This node of room_b has not seen room_a, the preferred '
                                                  'room, since its guard started: the guard arms only once it has '
                                                  'seen room_a, the preferred room.')


def test_the_witness_keeps_a_node_up_while_the_other_room_is_gone(tmp_path):
    world = World(tmp_path, witness_url=WITNESS_URL, settings=settings(witness=True, preferred_room=None))
    world.run(2)
    world.up = set()
    world.run(300)
    assert world.commands == []
    world.witness_up = False  # the witness withdraws its answer (a cut link): the node isolates 30 s after
    world.run(40)
    assert world.commands == [(331, POWEROFF)]


def test_the_action_reboot(tmp_path):
    world = World(tmp_path, action='reboot')
    world.run(1)
    world.up = set()
    world.run(40)
    assert world.commands == [(30, ['systemctl', 'reboot', '--force', '--force'])]


def test_one_log_line_per_change_of_decision(tmp_path):
    world = World(tmp_path)
    world.run(3)
    world.up = set()
    world.run(35)
    assert world.lines == [
        'contact - room_a answers. This node of room_b last saw room_a, the preferred room, at 2027-01-15T08:00:00Z: '
        'it isolates itself at 2027-01-15T08:00:30Z unless it hears from room_a again.',
        'no-contact - room_a does not answer. This node of room_b last saw room_a, the preferred room, at '
        '2027-01-15T08:00:02Z: it isolates itself at 2027-01-15T08:00:32Z unless it hears from room_a again.',
        'isolate - room_a does not answer. This node of room_b has not seen room_a, the preferred room, since '
        '2027-01-15T08:00:02Z, for twinroom_isolation_seconds (30 s): isolating it - stop its workloads, power it off '
        'or reboot it.',
        'Isolating this node of room_b: systemctl poweroff --force --force']
    assert world.messages == ['STATUS=' + line for line in world.lines[:3]]  # no watchdog: only the status


def test_the_state_file(tmp_path):
    world = World(tmp_path, witness_url=WITNESS_URL, settings=settings(witness=True, preferred_room=None))
    world.run(3)
    world.up = {'192.0.2.12'}
    world.witness_up = False
    world.run(2)
    path = pathlib.Path(world.config['state_file'])
    state = json.loads(path.read_text())
    assert state.pop('pid') == os.getpid()
    assert state == {
        'own_room': 'room_b', 'status': 'contact', 'isolate': False,
        'reason': 'This node of room_b last saw room_a or the witness at 2027-01-15T08:00:04Z: it isolates itself at '
                  '2027-01-15T08:00:34Z unless it hears from them again.',
        'since': '2027-01-15T08:00:03Z', 'isolates_at': '2027-01-15T08:00:34Z', 'updated_at': '2027-01-15T08:00:04Z',
        'seen_now': {'room_a': True, 'witness': False},
        'last_seen': {'room_a': '2027-01-15T08:00:04Z', 'witness': '2027-01-15T08:00:02Z'},
        'targets': [{'address': '192.0.2.11', 'port': 22, 'answered': False},
                    {'address': '192.0.2.12', 'port': 22, 'answered': True}],
        'witness_url': WITNESS_URL, 'action': 'poweroff', 'action_run_at': None, 'action_exit_code': None,
        'action_output': None, 'boot_id': 'boot-1', 'readings': {'other_room': 1004.0, 'witness': 1002.0}}
    assert sorted(os.listdir(path.parent)) == ['isolation-guard.json']  # written by rename, nothing left behind


def test_a_state_file_that_cannot_be_written_does_not_stop_the_guard(tmp_path):
    (tmp_path / 'run').write_text('a file where the directory should be')
    world = World(tmp_path)
    world.run(1)
    world.up = set()
    world.run(40)
    assert world.commands == [(30, POWEROFF)]
    problems = [line for line in world.lines if line.startswith('Cannot write')]
    assert len(problems) == 1 and problems[0].startswith(
        'Cannot write the state file %s (' % world.config['state_file'])


def test_a_failed_action_ends_the_guard_and_its_restart_tries_again(tmp_path):
    world = World(tmp_path, code=1)
    world.run(1)
    world.up = set()
    with pytest.raises(guard_mod.IsolationActionError) as error:
        world.run(40)
    assert error.value.msg == (
        'The isolation action systemctl poweroff --force --force failed (exit code 1: System has not been booted with '
        'systemd.): this node of room_b is still up although it must isolate itself. The guard exits and systemd '
        'starts it again, which tries again; power the node off through its BMC.')
    state = json.loads(pathlib.Path(world.config['state_file']).read_text())
    assert (state['status'], state['action_run_at'], state['action_exit_code']) == (
        'isolate', '2027-01-15T08:00:30Z', 1)
    # systemd starts it again a second later, in the same boot: it carries on from what it saw, and acts at once.
    world.clock.sleep(1)
    world.code, world.commands = 0, []
    world.guard = world.start()
    assert world.lines[-1] == ('Carrying on from the guard before it in this boot: it last saw room_a at '
                               '2027-01-15T08:00:00Z.')
    world.run(1)
    assert world.commands == [(31, POWEROFF)]


def test_after_a_reboot_the_guard_starts_unarmed(tmp_path):
    world = World(tmp_path)
    world.run(3)
    world.up = set()
    world.boot_id = 'boot-2'  # a state file from another boot (or another room) is not carried over
    world.guard = world.start()
    state = world.run(100)
    assert world.commands == [] and state['status'] == 'unarmed'


# --- systemd: sd_notify on a real socket ---------------------------------------------------------------------------

@pytest.fixture
def notify_socket():
    directory = tempfile.mkdtemp(prefix='tr-notify-')  # short: a unix socket path has at most 107 bytes
    path = os.path.join(directory, 'notify')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(1)
    yield path, sock
    sock.close()
    shutil.rmtree(directory)


def received(sock):
    messages = []
    sock.setblocking(False)
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_ready_status_and_the_watchdog_on_systemd_s_socket(tmp_path, notify_socket):
    path, sock = notify_socket
    world = World(tmp_path)
    world.guard.notifier = guard_mod.Notifier(environ={'NOTIFY_SOCKET': path, 'WATCHDOG_USEC': '10000000'})
    world.guard.run(sleep=world.clock.sleep, rounds=3)
    assert received(sock) == [
        'READY=1\nSTATUS=guarding this node of room_b',
        'STATUS=' + world.lines[1], 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']
    assert world.lines[0] == ('Guarding this node of room_b: room_a through 192.0.2.11:22 and 192.0.2.12:22, every 1 '
                              's; action poweroff.')


@pytest.mark.parametrize('environ, watchdog', [
    ({}, None),
    ({'WATCHDOG_USEC': '10000000'}, None),  # no socket to send it to
    ({'NOTIFY_SOCKET': 'set', 'WATCHDOG_USEC': '10000000', 'WATCHDOG_PID': '1'}, None),  # another process's
    ({'NOTIFY_SOCKET': 'set', 'WATCHDOG_USEC': '10000000', 'WATCHDOG_PID': str(os.getpid())}, 10000000),
], ids=['nothing', 'no-socket', 'other-pid', 'this-pid'])
def test_the_watchdog_only_when_systemd_asks_this_process(environ, watchdog):
    assert guard_mod.Notifier(environ=environ).watchdog_usec == watchdog


def test_sd_notify_abstract_socket_and_no_socket():
    name = 'twinroom-test-%d' % os.getpid()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind('\0' + name)
        assert guard_mod.sd_notify('READY=1', {'NOTIFY_SOCKET': '@' + name})
        assert sock.recv(100) == b'READY=1'
    assert not guard_mod.sd_notify('READY=1', {})
    assert not guard_mod.sd_notify('READY=1', {'NOTIFY_SOCKET': '/nonexistent/notify'})


# --- the probes ----------------------------------------------------------------------------------------------------

def test_probes_run_at_once_and_a_hung_one_is_not_started_again():
    both = threading.Barrier(2, timeout=5)  # passes only when both probes wait at the same time

    def meet():
        return both.wait() is not None
    assert guard_mod.ParallelProbes().run({'a': meet, 'b': meet}) == {'a': True, 'b': True}
    release, calls = threading.Event(), []

    def hung():
        calls.append(1)
        return release.wait(5)
    probes = guard_mod.ParallelProbes(timeout=1.0)
    assert probes.run({'hung': hung, 'ok': lambda: True}) == {'hung': False, 'ok': True}
    assert probes.run({'hung': hung, 'ok': lambda: True}) == {'hung': False, 'ok': True}
    assert len(calls) == 1  # still running: not started a second time
    release.set()
    probes.running['hung'].join(5)
    assert probes.run({'hung': hung}) == {'hung': True} and len(calls) == 2


def test_tcp_probe_on_loopback():
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert guard_mod.tcp_answers('127.0.0.1', port)
    assert not guard_mod.tcp_answers('127.0.0.1', port)  # refused: no answer


def test_witness_probe_on_loopback():
    class Witness(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # pylint: disable=invalid-name
            self.send_response({'/rooms/room_b': 200, '/rooms/room_a': 403}.get(self.path, 302))
            self.send_header('Location', '/rooms/room_b')
            self.end_headers()

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Witness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = 'http://127.0.0.1:%d' % server.server_address[1]
    try:
        assert guard_mod.witness_answers(base + '/rooms/room_b')
        assert not guard_mod.witness_answers(base + '/rooms/room_a')  # withdrawn
        assert not guard_mod.witness_answers(base + '/elsewhere')  # a redirect is not followed
    finally:
        server.shutdown()
        server.server_close()
    assert not guard_mod.witness_answers(base + '/rooms/room_b')  # nobody listens


# --- the four files the role copies --------------------------------------------------------------------------------

ROLE_VARS = yaml.safe_load((ROLE / 'vars' / 'main.yml').read_text())


def module_utils_imports(name):
    """The module_utils files ``name`` imports, directly or through others."""
    found, todo = set(), [name]
    while todo:
        source = (MODULE_UTILS / todo.pop()).read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(guard_mod.__package__):
                names = [node.module[len(guard_mod.__package__):].lstrip('.')] + [alias.name for alias in node.names]
                for candidate in names:
                    if candidate and (MODULE_UTILS / (candidate + '.py')).is_file() and candidate + '.py' not in found:
                        found.add(candidate + '.py')
                        todo.append(candidate + '.py')
    return found


def test_the_role_copies_exactly_what_the_guard_imports():
    assert module_utils_imports('isolation_guard.py') | {'isolation_guard.py'} == \
        set(ROLE_VARS['isolation_guard_module_utils'])


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """The guard's tree as roles/isolation_guard installs it, and the entry script, under a temporary directory."""
    lib = tmp_path_factory.mktemp('lib')
    for package in ROLE_VARS['isolation_guard_packages']:
        (lib / package).mkdir(parents=True, exist_ok=True)
        (lib / package / '__init__.py').write_text('')
    for name in ROLE_VARS['isolation_guard_module_utils']:
        shutil.copy(MODULE_UTILS / name, lib / ROLE_VARS['isolation_guard_packages'][-1] / name)
    environment = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined)
    environment.filters['to_json'] = json.dumps
    template = environment.from_string((ROLE / 'templates' / 'twinroom-isolation-guard.j2').read_text())
    script = lib / 'twinroom-isolation-guard'
    script.write_text(template.render(isolation_guard_python='/usr/bin/python3', isolation_guard_lib_dir=str(lib),
                                      isolation_guard_config_file='/etc/twinroom/isolation-guard.json',
                                      ansible_managed='Ansible managed'))
    return lib, script


def test_the_copied_files_import_nothing_else(installed):
    lib, _script = installed
    program = ('import sys; sys.path.insert(0, %r)\n'
               'from ansible_collections.twinroom.ha.plugins.module_utils import isolation_guard\n'
               'print("\\n".join(sorted("%%s %%s" %% (name, getattr(module, "__file__", None))\n'
               '                        for name, module in sys.modules.items() if name.startswith("ansible"))))\n'
               % str(lib))
    # -I: no environment, no user site; the project's venv, with its own ansible_collections, stays on the path.
    out = subprocess.run([sys.executable, '-I', '-c', program], check=True, capture_output=True, text=True).stdout
    package = ROLE_VARS['isolation_guard_packages'][-1]
    expected = ['%s %s' % (path.replace('/', '.'), lib / path / '__init__.py')
                for path in ROLE_VARS['isolation_guard_packages']]
    expected += ['%s.%s %s' % (package.replace('/', '.'), name[:-3], lib / package / name)
                 for name in ROLE_VARS['isolation_guard_module_utils']]
    assert out.split('\n')[:-1] == sorted(expected)


def test_the_entry_script_runs_the_guard(installed, tmp_path):
    lib, script = installed
    assert script.read_text().startswith('#!/usr/bin/python3 -I\n# Ansible managed\n')
    good = write(tmp_path, raw_config(tmp_path), 'good.json')
    done = subprocess.run([sys.executable, '-I', '-S', str(script), '--check', good], capture_output=True, text=True,
                          check=False, cwd=str(lib))  # -S: the standard library and the copied tree, nothing else
    assert (done.returncode, done.stdout, done.stderr) == (
        0, 'The isolation guard configuration %s is valid.\n' % good, '')
    bad = write(tmp_path, raw_config(tmp_path, action='halt'), 'bad.json')
    done = subprocess.run([sys.executable, '-I', '-S', str(script), bad], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (2, "twinroom-isolation-guard: The isolation guard configuration %s is "
                                                 "not valid: action is 'halt'; it must be poweroff or reboot. Run "
                                                 "site.yml again to write it from the inventory.\n" % bad)
