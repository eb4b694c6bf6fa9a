# -*- coding: utf-8 -*-
"""The operation lock: the decisions (parametrized, exact messages), the process identity (a fake /proc and
this test's own processes) and the lock file in tmp_path (take, refusal, idempotence, stale take-over,
release, check mode, the O_EXCL race)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import operation_lock as lock, operation_lock_plan
    from ansible_collections.twinroom.ha.plugins.module_utils import processes as proc_access
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import operation_lock as lock, operation_lock_plan
    from ansible_collections.twinroom.ha.plugins.module_utils import processes as proc_access

from ansible_collections.twinroom.ha.plugins.module_utils.module_run import TwinroomError

PATH = '/var/lib/twinroom/operation.lock'
NOW = '2026-12-03T07:05:00Z'
SINCE = '2026-12-03T07:00:00Z'
HERE = dict(host='ctl', boot_id='boot-1', pid_namespace='pid:[4026531836]')


def holder(**changes):
    """This run: holder_id run-b, ansible-playbook pid 5151 on ctl."""
    return dict(dict(holder_id='run-b', user='root', pid=5151, process='ansible-playbook', process_start=500,
                     job_id=None, **HERE), **changes)


def record(**changes):
    """Another run's lock: a failover of room_a by run-a, ansible-playbook pid 4242 on ctl."""
    return dict(dict(operation='failover', room='room_a', holder_id='run-a', user='root', pid=4242,
                     process='ansible-playbook', process_start=400, job_id=None, started=SINCE, **HERE), **changes)


def ours(**changes):
    return record(**dict(dict(holder_id='run-b', pid=5151, process_start=500), **changes))


def taken(**changes):
    """The record this run writes."""
    return dict(dict(operation='failover', room='room_b', started=NOW), **holder(**changes))


REFUSED = 'refusing to start failover of room_b: '
LIVE = ('a failover of room_a holds the lock since 2026-12-03T07:00:00Z (root@ctl, pid 4242), and that process '
        'still runs on this controller. Wait for it to end; if it hangs, stop pid 4242 and run again (the lock of '
        'an ended process is taken over; break_lock: true does not take it from a running one).')
ELSEWHERE = ('a failover of room_a holds the lock since 2026-12-03T07:00:00Z (root@%s, pid 4242) %s, so this run '
             'cannot check whether it still runs. Wait for it to end, or if that process is gone, remove '
             '/var/lib/twinroom/operation.lock (or run again with break_lock: true).')

PRESENT_CASES = [
    # (id, existing, request changes, live pids, expected action, lock afterwards, broken, warnings)
    ('free', None, {}, [], 'take', taken(), None, []),
    ('own lock, running', ours(), {}, [5151], 'keep', ours(), None, []),
    ('own lock, other operation asked: kept as it is', ours(), dict(operation='recover'), [5151], 'keep', ours(),
     None, []),
    ('own holder_id, no playbook process: the parent of an earlier task is recorded', ours(pid=777, process='sh'),
     dict(holder=holder(pid=778, process='sh')), [], 'keep', ours(pid=777, process='sh'), None, []),
    ('own holder_id, its ended process recorded (a fixed holder_id)', ours(pid=777), {}, [], 'take_over', taken(),
     ours(pid=777),
     ['took over the operation lock /var/lib/twinroom/operation.lock: a failover of room_a held it since '
      '2026-12-03T07:00:00Z (root@ctl, pid 777), and that process has ended.']),
    ('same ansible-playbook process, another holder_id (a lazily evaluated id)', record(pid=5151, process_start=500),
     {}, [5151], 'keep', record(pid=5151, process_start=500), None, []),
    ('stale lock of this controller', record(), {}, [], 'take_over', taken(), record(),
     ['took over the operation lock /var/lib/twinroom/operation.lock: a failover of room_a held it since '
      '2026-12-03T07:00:00Z (root@ctl, pid 4242), and that process has ended.']),
    ('another controller, break_lock', record(host='ctl2'), dict(break_lock=True), [4242], 'take_over', taken(),
     record(host='ctl2'),
     ['broke the operation lock /var/lib/twinroom/operation.lock (break_lock: true): a failover of room_a held '
      'it since 2026-12-03T07:00:00Z (root@ctl2, pid 4242) on another controller.']),
    ('not a lock record, break_lock', dict(unreadable='not JSON: Expecting value: line 1 column 1 (char 0)'),
     dict(break_lock=True), [], 'take_over', taken(),
     dict(unreadable='not JSON: Expecting value: line 1 column 1 (char 0)'),
     ['replaced the operation lock /var/lib/twinroom/operation.lock, which was not a lock record (not JSON: '
      'Expecting value: line 1 column 1 (char 0)) (break_lock: true).']),
    ('room and job recorded', None, dict(room=None, operation='site', holder=holder(job_id='17')), [], 'take',
     taken(room=None, operation='site', job_id='17'), None, []),
]


def request(**changes):
    return dict(dict(state='present', path=PATH, operation='failover', room='room_b', break_lock=False,
                     holder=holder()), **changes)


def alive(live):
    return lambda pid: pid in live


@pytest.mark.parametrize('existing, changes, live, action, after, broken, warnings',
                         [pytest.param(*case[1:], id=case[0]) for case in PRESENT_CASES])
def test_take_decision(existing, changes, live, action, after, broken, warnings):
    decision = lock.decide(existing, request(**changes), NOW, alive(live))
    assert decision['action'] == action
    assert decision['changed'] == (action in ('take', 'take_over'))
    assert decision['held'] is True
    assert decision['lock'] == after
    assert decision['broken'] == broken
    assert decision['warnings'] == warnings


REFUSAL_CASES = [
    ('another run holds it and runs', record(), {}, [4242], REFUSED + LIVE),
    ('break_lock does not take it from a running process', record(), dict(break_lock=True), [4242],
     REFUSED + LIVE),
    ('pid reused: same pid, another start, another holder_id', record(pid=5151), {}, [5151],
     REFUSED + LIVE.replace('pid 4242', 'pid 5151')),
    ('AWX job named', record(job_id='17'), {}, [4242],
     REFUSED + LIVE.replace('(root@ctl, pid 4242)', '(root@ctl, pid 4242, AWX job 17)')),
    ('recovery against a failover', record(room='room_b'), dict(operation='recover', room='room_a'), [4242],
     'refusing to start recovery of room_a: ' + LIVE.replace('failover of room_a', 'failover of room_b')),
    ('no room', record(operation='drill', room=None), dict(operation='site', room=None), [4242],
     'refusing to start site run: ' + LIVE.replace('a failover of room_a', 'a drill')),
    ('another controller', record(host='ctl2'), {}, [4242], REFUSED + ELSEWHERE % ('ctl2', 'on another controller')),
    ('another controller, even if the pid runs here', record(host='ctl2'), {}, [4242, 5151],
     REFUSED + ELSEWHERE % ('ctl2', 'on another controller')),
    ('another boot', record(boot_id='boot-0'), {}, [],
     REFUSED + ELSEWHERE % ('ctl', 'in another boot of this controller')),
    ('another PID namespace', record(pid_namespace='pid:[4026532000]'), {}, [],
     REFUSED + ELSEWHERE % ('ctl', 'in another PID namespace (container)')),
    ('no /proc here', record(boot_id=None), dict(holder=holder(boot_id=None)), [],
     REFUSED + ELSEWHERE % ('ctl', 'and this system has no /proc to look it up')),
    ('own holder_id, but another live process (a fixed holder_id)', record(holder_id='run-b'), {}, [4242],
     REFUSED + "the lock at /var/lib/twinroom/operation.lock carries this run's holder_id run-b, but a failover of "
     'room_a holds it since 2026-12-03T07:00:00Z (root@ctl, pid 4242), and that process still runs. Generate '
     'holder_id once per playbook run (set_fact), never as a fixed value.'),
    ('not a lock record', dict(unreadable='no holder_id, pid'), {}, [],
     REFUSED + 'the operation lock /var/lib/twinroom/operation.lock exists but is not a lock record (no holder_id, '
     'pid). Look at it; if no operation runs, remove it (or run again with break_lock: true).'),
]


@pytest.mark.parametrize('existing, changes, live, message',
                         [pytest.param(*case[1:], id=case[0]) for case in REFUSAL_CASES])
def test_refusal_decision(existing, changes, live, message):
    with pytest.raises(lock.OperationLockError) as caught:
        lock.decide(existing, request(**changes), NOW, alive(live))
    assert caught.value.msg == message
    assert isinstance(caught.value, TwinroomError)


def test_the_refusal_of_the_brief():
    """The message the playbooks show, word for word."""
    with pytest.raises(lock.OperationLockError) as caught:
        lock.decide(record(host='ctl2'), request(), NOW, alive([]))
    assert caught.value.msg == (
        'refusing to start failover of room_b: a failover of room_a holds the lock since 2026-12-03T07:00:00Z '
        '(root@ctl2, pid 4242) on another controller, so this run cannot check whether it still runs. Wait for it '
        'to end, or if that process is gone, remove /var/lib/twinroom/operation.lock (or run again with '
        'break_lock: true).')
    assert caught.value.details == dict(lock=record(host='ctl2'))


LEFT = 'left the operation lock /var/lib/twinroom/operation.lock in place: '
RELEASE_CASES = [
    # (id, existing, request changes, live pids, action, lock afterwards, broken, warnings)
    ('no lock', None, {}, [], 'none', None, None, []),
    ('own lock', ours(), {}, [5151], 'release', None, None, []),
    ('own lock, recorded pid ended', ours(pid=777, process='sh'), {}, [], 'release', None, None, []),
    ('same ansible-playbook process, another holder_id', record(pid=5151, process_start=500), {}, [5151],
     'release', None, None, []),
    ('another run, running', record(), {}, [4242], 'leave', record(), None,
     [LEFT + 'a failover of room_a holds it since 2026-12-03T07:00:00Z (root@ctl, pid 4242), not this run, and '
      'that process still runs on this controller.']),
    ('another run, running, break_lock', record(), dict(break_lock=True), [4242], 'leave', record(), None,
     [LEFT + 'a failover of room_a holds it since 2026-12-03T07:00:00Z (root@ctl, pid 4242), not this run, and '
      'that process still runs on this controller (break_lock: true does not remove the lock of a running '
      'process).']),
    ('another run, ended', record(), {}, [], 'leave', record(), None,
     [LEFT + 'a failover of room_a holds it since 2026-12-03T07:00:00Z (root@ctl, pid 4242), not this run; that '
      'process has ended, so the next run takes the lock over.']),
    ('another controller', record(host='ctl2'), {}, [], 'leave', record(host='ctl2'), None,
     [LEFT + 'a failover of room_a holds it since 2026-12-03T07:00:00Z (root@ctl2, pid 4242), not this run on '
      'another controller.']),
    ('another controller, break_lock', record(host='ctl2'), dict(break_lock=True), [], 'release', None,
     record(host='ctl2'),
     ['removed the operation lock /var/lib/twinroom/operation.lock (break_lock: true): a failover of room_a held '
      'it since 2026-12-03T07:00:00Z (root@ctl2, pid 4242).']),
    ('another run, ended, break_lock', record(), dict(break_lock=True), [], 'release', None, record(),
     ['removed the operation lock /var/lib/twinroom/operation.lock (break_lock: true): a failover of room_a held '
      'it since 2026-12-03T07:00:00Z (root@ctl, pid 4242).']),
    ('not a lock record', dict(unreadable='not a JSON object'), {}, [], 'leave', None, None,
     [LEFT + 'it is not a lock record (not a JSON object).']),
    ('not a lock record, break_lock', dict(unreadable='not a JSON object'), dict(break_lock=True), [], 'release',
     None, dict(unreadable='not a JSON object'),
     ['removed the operation lock /var/lib/twinroom/operation.lock, which was not a lock record (not a JSON '
      'object) (break_lock: true).']),
]


@pytest.mark.parametrize('existing, changes, live, action, after, broken, warnings',
                         [pytest.param(*case[1:], id=case[0]) for case in RELEASE_CASES])
def test_release_decision(existing, changes, live, action, after, broken, warnings):
    decision = lock.decide(existing, request(state='absent', operation=None, room=None, **changes), NOW, alive(live))
    assert decision['action'] == action
    assert decision['changed'] == (action == 'release')
    assert decision['held'] is False
    assert decision['lock'] == after
    assert decision['broken'] == broken
    assert decision['warnings'] == warnings


@pytest.mark.parametrize('existing, live, state', [
    (None, [], 'free'),
    (record(), [4242], 'held'),
    (record(), [], 'stale'),
    (record(host='ctl2'), [4242], 'unknown'),
    (dict(unreadable='not a JSON object'), [], 'unreadable'),
])
def test_assess_decision(existing, live, state):
    assert lock.assess(existing, HERE, alive(live)) == state


# ---------------------------------------------------------------------------------------------
# Process identity: a fake /proc, then this test's own processes
# ---------------------------------------------------------------------------------------------

def fake_proc(root, processes):
    """processes: {pid: (ppid, argv, start[, state])}."""
    for pid, entry in processes.items():
        ppid, argv, start = entry[:3]
        state = entry[3] if len(entry) > 3 else 'S'
        directory = root / str(pid)
        directory.mkdir()
        (directory / 'cmdline').write_bytes(b'\0'.join(arg.encode() for arg in argv) + b'\0')
        fields = [state, str(ppid)] + ['0'] * 17 + [str(start)] + ['0'] * 20
        (directory / 'stat').write_text('%d (%s) %s\n' % (pid, os.path.basename(argv[0])[:15], ' '.join(fields)))
    return str(root)


PLAYBOOK = ['/usr/bin/python3', '/usr/bin/ansible-playbook', '-i', 'inventories/lab', 'playbooks/failover.yml']


@pytest.mark.parametrize('processes, found', [
    pytest.param({
        40: (30, ['/usr/bin/python3', '/root/.ansible/tmp/AnsiballZ_operation_lock.py'], 7),
        30: (20, ['/bin/sh', '-c', 'python3 AnsiballZ_operation_lock.py'], 6),
        20: (10, PLAYBOOK, 5),  # the worker: forked per task, same command line
        10: (2, PLAYBOOK, 4),   # the run's main process
        2: (1, ['-bash'], 3),
        1: (0, ['/sbin/init'], 1),
    }, (10, 'ansible-playbook', 4), id='outermost of the forked ansible-playbook processes'),
    pytest.param({
        40: (20, ['/usr/bin/python3', 'AnsiballZ_operation_lock.py'], 7),
        20: (10, PLAYBOOK, 5),
        10: (1, ['/usr/bin/python3', '/usr/local/bin/ansible-runner', 'worker'], 4),
        1: (0, ['dumb-init'], 1),
    }, (20, 'ansible-playbook', 5), id='ansible-playbook under ansible-runner'),
    pytest.param({
        40: (20, ['/usr/bin/python3', 'AnsiballZ_operation_lock.py'], 7),
        20: (10, ['/usr/bin/python3', '/usr/local/bin/ansible-runner', 'run', '/runner'], 5),
        10: (0, ['dumb-init'], 1),
    }, (20, 'ansible-runner', 5), id='ansible-runner alone'),
    pytest.param({
        40: (20, ['/usr/bin/python3', 'AnsiballZ_operation_lock.py'], 7),
        20: (10, ['/usr/bin/python3', '/usr/bin/ansible', 'localhost', '-m', 'twinroom.ha.operation_lock'], 5),
        10: (0, ['/sbin/init'], 1),
    }, None, id='ad hoc: none'),
    pytest.param({
        40: (20, ['/usr/bin/python3', 'AnsiballZ_operation_lock.py'], 7),
        20: (10, ['sshd: root@notty'], 5),
        10: (5, ['sshd'], 4),
    }, None, id='ancestors cut off (pid 5 is not there)'),
])
def test_playbook_process(tmp_path, processes, found):
    proc = fake_proc(tmp_path, processes)
    assert proc_access.playbook_process(start_pid=40, proc=proc) == found


def test_playbook_process_bounded(tmp_path):
    processes = dict((pid, (pid + 1, ['/bin/sh'], pid)) for pid in range(100, 130))
    processes[130] = (0, PLAYBOOK, 1)
    assert proc_access.playbook_process(start_pid=100, proc=fake_proc(tmp_path, processes)) is None
    assert proc_access.playbook_process(start_pid=111, proc=str(tmp_path)) == (130, 'ansible-playbook', 1)


def test_process_alive(tmp_path):
    proc = fake_proc(tmp_path, {10: (1, PLAYBOOK, 4), 11: (1, PLAYBOOK, 4, 'Z')})
    assert proc_access.process_alive(10, 'ansible-playbook', 4, proc)
    assert not proc_access.process_alive(10, 'ansible-playbook', 5, proc), 'pid reused by a later process'
    assert not proc_access.process_alive(10, 'ansible-runner', 4, proc), 'pid reused by another program'
    assert not proc_access.process_alive(11, 'ansible-playbook', 4, proc), 'a zombie has ended'
    assert not proc_access.process_alive(12, 'ansible-playbook', 4, proc)


def test_make_holder_of_a_real_process():
    me = lock.make_holder('run-a', pid=os.getpid(), environ=dict(AWX_JOB_ID='17'))
    assert me['pid'] == os.getpid()
    assert me['process'] == os.path.basename(proc_access.read_process(os.getpid())['argv'][0])
    assert proc_access.process_alive(me['pid'], me['process'], me['process_start'])
    assert not proc_access.process_alive(me['pid'], me['process'], me['process_start'] + 1)
    assert me['job_id'] == '17'
    assert lock.make_holder('run-a', environ=dict(JOB_ID='9', AWX_JOB_ID='17'))['job_id'] == '9'
    assert lock.make_holder('run-a', environ={})['job_id'] is None
    assert me['host'] and me['boot_id'] and me['pid_namespace'].startswith('pid:')


# ---------------------------------------------------------------------------------------------
# The lock file
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def lock_path(tmp_path):
    return str(tmp_path / 'state' / 'operation.lock')


def params(path, **changes):
    return dict(dict(state='present', path=path, operation='failover', room='room_a', holder_id=None,
                     break_lock=False), **changes)


def this_process(holder_id):
    return lock.make_holder(holder_id, pid=os.getpid())


def read(path):
    with open(path) as stream:
        return json.load(stream)


def live_refusal(path, holder, operation='failover of room_b'):
    """The refusal a run on this controller gets while ``holder`` (this test's process) holds the lock."""
    return ('refusing to start %s: a failover of room_a holds the lock since %s (%s@%s, pid %d), and that process '
            'still runs on this controller. Wait for it to end; if it hangs, stop pid %d and run again (the lock of '
            'an ended process is taken over; break_lock: true does not take it from a running one).'
            % (operation, read(path)['started'], holder['user'], holder['host'], holder['pid'], holder['pid']))


def test_take_writes_the_record(lock_path):
    holder_a = this_process('run-a')
    result = lock.run_operation_lock(params(lock_path), holder=holder_a, now=SINCE)
    assert result['changed'] and result['held'] and result['action'] == 'take'
    assert result['broken'] is None
    assert read(lock_path) == result['lock'] == dict(holder_a, operation='failover', room='room_a', started=SINCE)
    assert stat.S_IMODE(os.stat(lock_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(lock_path)).st_mode) == 0o700
    assert os.listdir(os.path.dirname(lock_path)) == ['operation.lock'], 'no temporary file left'
    assert result['warnings'] == [
        'no ansible-playbook or ansible-runner process runs above this module (is it delegated to the controller?): '
        'the lock records pid %d (%s), which may end before the run does, and another run would then take the lock '
        'over. Away from the controller, take it on a lease (lease_seconds).' % (os.getpid(), holder_a['process'])]


def test_take_refused_for_another_holder(lock_path):
    holder_a, holder_b = this_process('run-a'), this_process('run-b')
    lock.run_operation_lock(params(lock_path), holder=holder_a)
    before = read(lock_path)
    with pytest.raises(lock.OperationLockError) as caught:
        lock.run_operation_lock(params(lock_path, room='room_b', holder_id='run-b'), holder=holder_b)
    assert caught.value.msg == live_refusal(lock_path, holder_a)
    assert caught.value.details == dict(lock=before)
    assert read(lock_path) == before


def test_same_holder_is_idempotent(lock_path):
    holder_a = this_process('run-a')
    lock.run_operation_lock(params(lock_path), holder=holder_a)
    with open(lock_path, 'rb') as stream:
        before = stream.read()
    result = lock.run_operation_lock(params(lock_path), holder=holder_a, diff=True)
    assert not result['changed'] and result['held'] and result['action'] == 'keep'
    assert result['warnings'] == []
    assert result['diff']['before'] == result['diff']['after'] == json.loads(before)
    with open(lock_path, 'rb') as stream:
        assert stream.read() == before


def test_stale_lock_is_taken_over(lock_path):
    sleeper = subprocess.Popen(['sleep', '60'])
    try:
        holder_a = lock.make_holder('run-a', pid=sleeper.pid)
        lock.run_operation_lock(params(lock_path), holder=holder_a, now=SINCE)
        with pytest.raises(lock.OperationLockError):
            lock.run_operation_lock(params(lock_path), holder=this_process('run-b'))
    finally:
        sleeper.kill()
        sleeper.wait()
    stale = read(lock_path)
    holder_b = this_process('run-b')
    result = lock.run_operation_lock(params(lock_path, operation='recover'), holder=holder_b, now=NOW, diff=True)
    assert result['changed'] and result['action'] == 'take_over'
    assert result['broken'] == stale
    assert read(lock_path) == result['lock'] == dict(holder_b, operation='recover', room='room_a', started=NOW)
    assert result['diff'] == dict(before=stale, after=result['lock'])
    assert result['warnings'][0] == (
        'took over the operation lock %s: a failover of room_a held it since %s (%s@%s, pid %d), and that process '
        'has ended.' % (lock_path, SINCE, holder_a['user'], holder_a['host'], sleeper.pid))


def test_release_own_lock(lock_path):
    holder_a = this_process('run-a')
    lock.run_operation_lock(params(lock_path), holder=holder_a)
    result = lock.run_operation_lock(params(lock_path, state='absent', operation=None), holder=holder_a)
    assert result['changed'] and result['action'] == 'release' and not result['held']
    assert result['lock'] is None and result['warnings'] == []
    assert os.listdir(os.path.dirname(lock_path)) == []
    again = lock.run_operation_lock(params(lock_path, state='absent', operation=None), holder=holder_a)
    assert not again['changed'] and again['action'] == 'none'


def test_release_leaves_another_holders_lock(lock_path):
    holder_a, holder_b = this_process('run-a'), this_process('run-b')
    lock.run_operation_lock(params(lock_path), holder=holder_a, now=SINCE)
    before = read(lock_path)
    result = lock.run_operation_lock(params(lock_path, state='absent', operation=None), holder=holder_b)
    assert not result['changed'] and result['action'] == 'leave' and not result['held']
    assert result['lock'] == before == read(lock_path)
    assert result['warnings'] == [
        'left the operation lock %s in place: a failover of room_a holds it since %s (%s@%s, pid %d), not this run, '
        'and that process still runs on this controller.'
        % (lock_path, SINCE, holder_a['user'], holder_a['host'], os.getpid())]


def test_check_mode_writes_nothing(lock_path):
    holder_a = this_process('run-a')
    result = lock.run_operation_lock(params(lock_path), holder=holder_a, check_mode=True, diff=True, now=SINCE)
    assert result['changed'] and result['action'] == 'take'
    assert result['diff'] == dict(before={}, after=dict(holder_a, operation='failover', room='room_a', started=SINCE))
    assert not os.path.exists(os.path.dirname(lock_path)), 'not even the directory'

    lock.run_operation_lock(params(lock_path), holder=holder_a)
    with open(lock_path, 'rb') as stream:
        before = stream.read()
    release = lock.run_operation_lock(params(lock_path, state='absent', operation=None), holder=holder_a,
                                      check_mode=True)
    assert release['changed'] and release['action'] == 'release'
    stale = dict(json.loads(before), process_start=json.loads(before)['process_start'] - 1)  # its process "ended"
    with open(lock_path, 'w') as stream:
        json.dump(stale, stream)
    take_over = lock.run_operation_lock(params(lock_path), holder=this_process('run-b'), check_mode=True)
    assert take_over['changed'] and take_over['action'] == 'take_over' and take_over['broken'] == stale
    assert take_over['warnings'][0].startswith('check mode, nothing changed: took over the operation lock ')
    assert read(lock_path) == stale
    assert os.listdir(os.path.dirname(lock_path)) == ['operation.lock']


def test_race_the_loser_is_refused(lock_path, monkeypatch):
    """Run B reads no lock, then run A takes it before B writes: B's exclusive create fails, B reads again
    and gets the refusal."""
    holder_a, holder_b = this_process('run-a'), this_process('run-b')
    read_record = lock.read_record
    reads = []

    def read_then_lose(path):
        reads.append(path)
        found = read_record(path)
        if len(reads) == 1:
            assert found == (None, None)
            lock.run_operation_lock(params(lock_path), holder=holder_a, now=SINCE)
        return found

    monkeypatch.setattr(lock, 'read_record', read_then_lose)
    with pytest.raises(lock.OperationLockError) as caught:
        lock.run_operation_lock(params(lock_path, room='room_b'), holder=holder_b, now=NOW)
    assert len(reads) == 3, 'B read, A read inside, B read again after losing'
    monkeypatch.setattr(lock, 'read_record', read_record)
    assert read(lock_path)['holder_id'] == 'run-a'
    assert caught.value.msg == live_refusal(lock_path, holder_a)


def test_race_on_a_stale_lock(lock_path, monkeypatch):
    """Both runs find the same stale lock; A takes it over first. B must not remove A's fresh lock."""
    holder_a, holder_b = this_process('run-a'), this_process('run-b')
    gone = dict(this_process('run-0'), process_start=1, operation='drill', room=None, started=SINCE)
    os.makedirs(os.path.dirname(lock_path))
    with open(lock_path, 'w') as stream:
        json.dump(gone, stream)
    read_record = lock.read_record
    reads = []

    def read_then_lose(path):
        reads.append(path)
        found = read_record(path)
        if len(reads) == 1:
            assert found[0] == gone
            assert lock.run_operation_lock(params(lock_path), holder=holder_a, now=SINCE)['action'] == 'take_over'
        return found

    monkeypatch.setattr(lock, 'read_record', read_then_lose)
    with pytest.raises(lock.OperationLockError) as caught:
        lock.run_operation_lock(params(lock_path, room='room_b'), holder=holder_b, now=NOW)
    monkeypatch.setattr(lock, 'read_record', read_record)
    assert read(lock_path)['holder_id'] == 'run-a'
    assert caught.value.msg == live_refusal(lock_path, holder_a)
    assert os.listdir(os.path.dirname(lock_path)) == ['operation.lock']


def test_threads_race_exactly_one_wins(lock_path):
    results, errors = {}, {}
    start = threading.Barrier(8)

    def take(index):
        start.wait()
        try:
            results[index] = lock.run_operation_lock(params(lock_path), holder=this_process('run-%d' % index))
        except lock.OperationLockError as exc:
            errors[index] = exc.msg

    threads = [threading.Thread(target=take, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 1 and len(errors) == 7
    winner = next(iter(results))
    assert read(lock_path)['holder_id'] == 'run-%d' % winner
    assert all(message.startswith('refusing to start failover of room_a: a failover of room_a holds the lock')
               for message in errors.values())


def test_unreadable_lock(lock_path):
    os.makedirs(os.path.dirname(lock_path))
    with open(lock_path, 'w') as stream:
        stream.write('')
    with pytest.raises(lock.OperationLockError) as caught:
        lock.run_operation_lock(params(lock_path), holder=this_process('run-a'))
    assert caught.value.msg == (
        'refusing to start failover of room_a: the operation lock %s exists but is not a lock record (not JSON: '
        'Expecting value: line 1 column 1 (char 0)). Look at it; if no operation runs, remove it (or run again with '
        'break_lock: true).' % lock_path)
    result = lock.run_operation_lock(params(lock_path, break_lock=True), holder=this_process('run-a'), diff=True)
    assert result['action'] == 'take_over' and read(lock_path)['holder_id'] == 'run-a'
    assert result['diff']['before'] == {}


def test_relative_path_refused():
    with pytest.raises(lock.OperationLockError) as caught:
        lock.run_operation_lock(params('state/operation.lock'), holder=this_process('run-a'))
    assert caught.value.msg == "path must be an absolute path to the lock file, not 'state/operation.lock'."


def test_holder_found_by_the_runner(lock_path):
    """Without an injected holder the runner records this process tree's: no ansible-playbook above pytest,
    so the module's parent, with the warning."""
    result = lock.run_operation_lock(params(lock_path, holder_id='run-a'), now=SINCE)
    assert result['lock']['pid'] == os.getppid()
    assert result['lock']['holder_id'] == 'run-a'
    assert len(result['warnings']) == 1
    assert lock.run_operation_lock(params(lock_path, holder_id='run-a'))['action'] == 'keep'


def test_info(lock_path, tmp_path):
    assert lock.run_operation_lock_info(dict(path=lock_path)) == dict(
        changed=False, lock_file=lock_path, exists=False, state='free', lock=None, alive=None, expires=None,
        error=None)
    lock.run_operation_lock(params(lock_path), holder=this_process('run-a'))
    taken_lock = read(lock_path)
    info = lock.run_operation_lock_info(dict(path=lock_path))
    assert info == dict(changed=False, lock_file=lock_path, exists=True, state='held', lock=taken_lock, alive=True,
                        expires=None, error=None)
    elsewhere = dict(lock.this_place(), host='ctl2')
    assert lock.run_operation_lock_info(dict(path=lock_path), place=elsewhere)['state'] == 'unknown'
    assert lock.run_operation_lock_info(dict(path=lock_path), place=elsewhere)['alive'] is None
    assert lock.run_operation_lock_info(dict(path=lock_path), proc=str(tmp_path / 'empty'))['alive'] is False
    with open(lock_path, 'w') as stream:
        stream.write('[]')
    assert lock.run_operation_lock_info(dict(path=lock_path)) == dict(
        changed=False, lock_file=lock_path, exists=True, state='unreadable', lock=None, alive=None, expires=None,
        error='not a JSON object')
    assert read(lock_path) == [], 'info changes nothing'


@pytest.mark.parametrize('raw, record', [
    (b'{"holder_id": "run-a", "pid": 7, "host": "ctl", "started": "now"}',
     dict(holder_id='run-a', pid=7, host='ctl', started='now')),
    (b'not json', None),
    (b'[]', dict(unreadable='not a JSON object')),
    (b'{"holder_id": "run-a", "pid": 7}', dict(unreadable='no host, started')),
    (b'{"holder_id": "run-a", "pid": true, "host": "ctl", "started": "now"}',
     dict(unreadable='pid True is not a number')),
    (b'{"holder_id": "run-a", "pid": 7, "host": "ctl", "started": "now", "expires": "soon"}',
     dict(unreadable="expires 'soon' is not a time")),
], ids=['record', 'not JSON', 'not an object', 'fields missing', 'pid not a number', 'expires not a time'])
def test_parse_record(raw, record):
    parsed = operation_lock_plan.parse_record(raw)
    if record is None:
        assert parsed['unreadable'].startswith('not JSON: ')
    else:
        assert parsed == record
    if 'unreadable' not in parsed:
        assert operation_lock_plan.parse_record(operation_lock_plan.serialize(parsed)) == parsed


# ---------------------------------------------------------------------------------------------
# A lock on a lease: kept on another host (the witness), where the module's parent ends with each task
# ---------------------------------------------------------------------------------------------

LEASE = 600
UNTIL = '2026-12-03T07:10:00Z'      # SINCE + LEASE
NOW_UNTIL = '2026-12-03T07:15:00Z'  # NOW + LEASE
AFTER = '2026-12-03T07:10:00Z'      # the lease of a lock taken at SINCE has just expired
WITNESS = dict(host='witness1', boot_id='boot-w', pid_namespace='pid:[4026531836]')


def delegated(**changes):
    """This run's holder as the module sees it on the witness: the parent of the delegated module (python3)."""
    return holder(**dict(dict(pid=6161, process='python3', process_start=600, **WITNESS), **changes))


def leased_record(**changes):
    """Another run's lock on the witness: run-a, on a lease until UNTIL, its module's parent long gone."""
    return record(**dict(dict(pid=4343, process='python3', process_start=430, lease_seconds=LEASE, expires=UNTIL,
                              **WITNESS), **changes))


def taken_on_lease(**changes):
    """The record this run writes from the witness, on a lease."""
    return dict(taken(), **dict(dict(pid=6161, process='python3', process_start=600, lease_seconds=LEASE, **WITNESS),
                                **changes))


def lease_request(**changes):
    return request(**dict(dict(holder=delegated(), lease_seconds=LEASE), **changes))


LEASED_BY = 'a failover of room_a holds the lock since 2026-12-03T07:00:00Z (root@witness1, pid 4343)'
HOLDS_IT = LEASED_BY.replace('holds the lock', 'holds it')
HELD_BY = LEASED_BY.replace('holds the lock', 'held it')
LEASE_CASES = [
    # (id, existing, request changes, now, live pids, action, lock afterwards, broken, warnings)
    ('free: taken on a lease', None, {}, NOW, [], 'take',
     taken_on_lease(expires=NOW_UNTIL), None, []),
    ('own lease, from the next task (another parent): renewed', leased_record(holder_id='run-b'), {}, NOW, [],
     'renew', leased_record(holder_id='run-b', expires=NOW_UNTIL, renewed=NOW), None, []),
    ('own lease, expired but not taken: renewed', leased_record(holder_id='run-b'), {}, '2026-12-03T07:12:00Z', [],
     'renew', leased_record(holder_id='run-b', expires='2026-12-03T07:22:00Z', renewed='2026-12-03T07:12:00Z'),
     None, []),
    ("another run's lease, expired", leased_record(), {}, AFTER, [], 'take_over',
     taken_on_lease(started=AFTER, expires='2026-12-03T07:20:00Z'),
     leased_record(),
     ['took over the operation lock /var/lib/twinroom/operation.lock: a failover of room_a held it since '
      '2026-12-03T07:00:00Z (root@witness1, pid 4343), and its lease expired at 2026-12-03T07:10:00Z without '
      'being renewed.']),
    ("another run's lease, break_lock", leased_record(), dict(break_lock=True), NOW, [], 'take_over',
     taken_on_lease(expires=NOW_UNTIL), leased_record(),
     ['broke the operation lock /var/lib/twinroom/operation.lock (break_lock: true): ' + HELD_BY
      + ' on a lease until 2026-12-03T07:10:00Z.']),
    ('a lease taken under ansible-playbook here, its process ended: stale before its expiry',
     record(lease_seconds=LEASE, expires=UNTIL), dict(holder=holder()), NOW, [], 'take_over',
     dict(taken(), lease_seconds=LEASE, expires=NOW_UNTIL), record(lease_seconds=LEASE, expires=UNTIL),
     ['took over the operation lock /var/lib/twinroom/operation.lock: a failover of room_a held it since '
      '2026-12-03T07:00:00Z (root@ctl, pid 4242), and that process has ended.']),
    ('no lease asked, own lock kept as before', ours(), dict(holder=holder(), lease_seconds=None), NOW, [5151],
     'keep', ours(), None, []),
]


@pytest.mark.parametrize('existing, changes, now, live, action, after, broken, warnings',
                         [pytest.param(*case[1:], id=case[0]) for case in LEASE_CASES])
def test_lease_decision(existing, changes, now, live, action, after, broken, warnings):
    decision = lock.decide(existing, lease_request(**changes), now, alive(live))
    assert (decision['action'], decision['lock'], decision['broken'], decision['warnings']) == (
        action, after, broken, warnings)
    assert decision['held'] is True
    assert decision['changed'] == (action != 'keep')


LEASE_REFUSALS = [
    ("another run's lease, its module's parent gone: still held (without the lease it would be stale)",
     leased_record(), {}, NOW, [],
     REFUSED + LEASED_BY + ' on a lease until 2026-12-03T07:10:00Z, which that run renews while it works. Wait for '
     'it to end; if it has ended without releasing the lock, the next run after 2026-12-03T07:10:00Z takes it '
     'over (or run again with break_lock: true).'),
    ('a lease taken under ansible-playbook here, its process still runs: held after its expiry',
     record(lease_seconds=LEASE, expires=UNTIL), dict(holder=holder()), '2026-12-03T08:00:00Z', [4242],
     REFUSED + LIVE),
    ('lease too short', None, dict(lease_seconds=59), NOW, [],
     'lease_seconds must be a whole number of seconds, at least 60 (the longest step of a run between two '
     'renewals), not 59.'),
    ('lease not a number', None, dict(lease_seconds=True), NOW, [],
     'lease_seconds must be a whole number of seconds, at least 60 (the longest step of a run between two '
     'renewals), not True.'),
]


@pytest.mark.parametrize('existing, changes, now, live, message',
                         [pytest.param(*case[1:], id=case[0]) for case in LEASE_REFUSALS])
def test_lease_refusal(existing, changes, now, live, message):
    with pytest.raises(lock.OperationLockError) as caught:
        lock.decide(existing, lease_request(**changes), now, alive(live))
    assert caught.value.msg == message


LEASE_RELEASES = [
    ('own lease', leased_record(holder_id='run-b'), {}, NOW, 'release', None, None, []),
    ("another run's lease", leased_record(), {}, NOW, 'leave', leased_record(), None,
     [LEFT + HOLDS_IT + ', not this run, on a lease until 2026-12-03T07:10:00Z.']),
    ("another run's lease, expired", leased_record(), {}, AFTER, 'leave', leased_record(), None,
     [LEFT + HOLDS_IT + ', not this run; its lease expired at 2026-12-03T07:10:00Z, so the next run takes the '
      'lock over.']),
    ("another run's lease, break_lock", leased_record(), dict(break_lock=True), NOW, 'release', None,
     leased_record(),
     ['removed the operation lock /var/lib/twinroom/operation.lock (break_lock: true): ' + HELD_BY + '.']),
]


@pytest.mark.parametrize('existing, changes, now, action, after, broken, warnings',
                         [pytest.param(*case[1:], id=case[0]) for case in LEASE_RELEASES])
def test_lease_release(existing, changes, now, action, after, broken, warnings):
    decision = lock.decide(existing, lease_request(state='absent', operation=None, room=None, **changes), now,
                           alive([]))
    assert (decision['action'], decision['lock'], decision['broken'], decision['warnings']) == (
        action, after, broken, warnings)


@pytest.mark.parametrize('existing, place, now, state', [
    (leased_record(), WITNESS, NOW, 'leased'),
    (leased_record(), WITNESS, AFTER, 'expired'),
    (leased_record(), HERE, NOW, 'leased'),
    (leased_record(), WITNESS, None, 'unknown'),
    (record(lease_seconds=LEASE, expires=UNTIL), HERE, AFTER, 'held'),
])
def test_assess_lease(existing, place, now, state):
    assert lock.assess(existing, place, alive([4242]), now) == state


def test_lease_on_file_survives_its_process(lock_path):
    """On the witness: the run that took the lock on a lease is gone from /proc after its task (a short-lived
    parent), and another run is still refused; the holder renews and releases it by holder_id from a new
    process; once expired, another run takes it over."""
    ended = subprocess.Popen(['true'])
    ended.wait()
    holder_a = lock.make_holder('run-a', pid=ended.pid)
    taken_lock = lock.run_operation_lock(params(lock_path, lease_seconds=LEASE), holder=holder_a, now=SINCE)['lock']
    assert taken_lock['expires'] == UNTIL
    holder_b = this_process('run-b')
    with pytest.raises(lock.OperationLockError) as caught:
        lock.run_operation_lock(params(lock_path, room='room_b', holder_id='run-b', lease_seconds=LEASE),
                                holder=holder_b, now=NOW)
    assert 'on a lease until 2026-12-03T07:10:00Z' in caught.value.msg
    assert read(lock_path) == taken_lock
    info = lock.run_operation_lock_info(dict(path=lock_path), now=NOW)
    assert (info['state'], info['expires']) == ('leased', UNTIL)

    renewed = lock.run_operation_lock(params(lock_path, lease_seconds=LEASE), holder=this_process('run-a'), now=NOW,
                                      diff=True)
    assert renewed['action'] == 'renew' and renewed['changed'] and renewed['warnings'] == []
    assert read(lock_path) == dict(taken_lock, expires=NOW_UNTIL, renewed=NOW) == renewed['diff']['after']
    assert renewed['diff']['before'] == taken_lock

    result = lock.run_operation_lock(params(lock_path, room='room_b', holder_id='run-b', lease_seconds=LEASE),
                                     holder=holder_b, now='2026-12-03T07:15:00Z')
    assert result['action'] == 'take_over' and result['broken']['holder_id'] == 'run-a'
    assert read(lock_path)['holder_id'] == 'run-b'
    released = lock.run_operation_lock(params(lock_path, state='absent', operation=None, holder_id='run-b'),
                                       holder=this_process('run-b'))
    assert released['action'] == 'release' and not os.path.exists(lock_path)


def test_lease_check_mode_writes_nothing(lock_path):
    holder_a = this_process('run-a')
    lock.run_operation_lock(params(lock_path, lease_seconds=LEASE), holder=holder_a, now=SINCE)
    before = read(lock_path)
    result = lock.run_operation_lock(params(lock_path, lease_seconds=LEASE), holder=holder_a, now=NOW,
                                     check_mode=True)
    assert result['action'] == 'renew' and result['changed']
    assert read(lock_path) == before
