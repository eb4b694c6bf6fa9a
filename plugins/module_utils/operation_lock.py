# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operation lock: one file on the controller, so that two failovers (or a failover and a recovery)
never run at once.

* **Pure decisions** (:func:`assess`, :func:`decide`): the record found (or None), the request and whether
  the holding process still runs give what to do - take, keep, take over, release, leave - or raise
  :class:`OperationLockError` with the refusal. No I/O.
* **Process identity**: the holder of a lock is one playbook run, named by the ``holder_id`` the playbook
  generates once per run. Whether it still runs is asked of the ansible-playbook (else ansible-runner)
  process above the module: pid, program and start time (so a reused pid is not mistaken for it), read from
  ``/proc``. It can only be asked on the controller that wrote the lock (same host name, boot and PID
  namespace); a lock from anywhere else is refused unless ``break_lock``.
* **I/O**: the record is JSON, mode 0600, in a directory created 0700. It is taken by hard-linking a
  finished temporary file to the path (``O_CREAT|O_EXCL`` where links are not supported), so of two runs
  racing for a free lock exactly one wins and the other reads the winner's record. A lock is replaced or
  removed only if it is still the one that was read (compare-and-remove through a rename aside).

Safety rule, in words: a lock is never taken from a process seen running on this controller, not even with
``break_lock``; ending that process is the way out, and its lock is then taken over as stale.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import json
import os
import pwd
import socket
import tempfile
import uuid

from ansible_collections.twinroom.ha.plugins.module_utils.module_run import TwinroomError

OPERATIONS = ('failover', 'recover', 'site', 'drill')
# How messages name an operation ("a recovery of room_a", not "a recover of room_a").
OPERATION_WORDS = dict(failover='failover', recover='recovery', site='site run', drill='drill')
# Outermost first choice: ansible-playbook lives as long as the run; ansible-runner (AWX, ansible-navigator)
# when no ansible-playbook process is found above the module.
PLAYBOOK_PROGRAMS = ('ansible-playbook', 'ansible-runner')
MAX_ANCESTORS = 20
TRIES = 3                      # reads and decisions per run when another run changes the lock in between
JOB_ID_VARIABLES = ('JOB_ID', 'AWX_JOB_ID')
PROC = '/proc'
BOOT_ID = '/proc/sys/kernel/random/boot_id'
PLACE_FIELDS = ('host', 'boot_id', 'pid_namespace')
HOLDER_FIELDS = ('holder_id', 'user', 'host', 'pid', 'process', 'process_start', 'boot_id', 'pid_namespace',
                 'job_id')
REQUIRED_FIELDS = ('holder_id', 'pid', 'host', 'started')
ACTIONS_CHANGING = ('take', 'take_over', 'release')
ACTIONS_HOLDING = ('take', 'keep', 'take_over')


class OperationLockError(TwinroomError):
    """The lock is held by another run, or the lock file cannot be read or written."""


# ---------------------------------------------------------------------------------------------
# Pure decisions
# ---------------------------------------------------------------------------------------------

def _what(operation, room):
    word = OPERATION_WORDS.get(operation, operation or 'operation')
    return '%s of %s' % (word, room) if room else word


def _who(record):
    who = '%s@%s, pid %s' % (record.get('user'), record.get('host'), record.get('pid'))
    if record.get('job_id'):
        who += ', AWX job %s' % record['job_id']
    return who


def _held_by(record):
    """The pieces messages name a lock by: ('a failover of room_a', its start, 'root@ctl, pid 4242')."""
    return 'a %s' % _what(record.get('operation'), record.get('room')), record.get('started'), _who(record)


def same_place(record, place):
    """The record was written on this controller, in this boot and PID namespace: its pid can be looked up
    here. Never true where /proc is missing (no boot id), since nothing could be looked up."""
    return place.get('boot_id') is not None and all(record.get(key) == place.get(key) for key in PLACE_FIELDS)


def _elsewhere(record, place):
    """Why the holder of a record cannot be looked up from ``place``."""
    if place.get('boot_id') is None:
        return 'and this system has no /proc to look it up'
    if record.get('host') != place.get('host'):
        return 'on another controller'
    if record.get('boot_id') != place.get('boot_id'):
        return 'in another boot of this controller'
    return 'in another PID namespace (container)'


def assess(existing, place, alive):
    """What the lock is, seen from ``place``: ``free`` (no lock), ``unreadable`` (a file that is no lock
    record), ``unknown`` (held from elsewhere: whether its holder runs cannot be checked), ``held`` (its
    holder runs on this controller) or ``stale`` (its holder was on this controller and has ended)."""
    if existing is None:
        return 'free'
    if 'unreadable' in existing:
        return 'unreadable'
    if not same_place(existing, place):
        return 'unknown'
    return 'held' if alive(existing['pid']) else 'stale'


def same_run(record, holder):
    """The lock is this playbook run's: the same holder_id, or the very same ansible-playbook process (pid and
    start time), on the same controller."""
    if not same_place(record, holder):
        return False
    if record.get('holder_id') == holder.get('holder_id'):
        return True
    return (record.get('process') in PLAYBOOK_PROGRAMS and holder.get('process') == record.get('process')
            and record.get('pid') == holder.get('pid') and record.get('process_start') == holder.get('process_start'))


def new_record(request, now):
    """The lock record this request writes."""
    holder = request['holder']
    record = dict(operation=request.get('operation'), room=request.get('room'), started=now)
    for key in HOLDER_FIELDS:
        record[key] = holder.get(key)
    return record


def _decision(action, lock, broken=None, warning=None):
    return dict(action=action, changed=action in ACTIONS_CHANGING, held=action in ACTIONS_HOLDING, lock=lock,
                broken=broken, warnings=[warning] if warning else [])


def decide(existing, request, now, alive):
    """What to do with the lock, or OperationLockError (the refusal) before anything is written.

    existing: the parsed record, ``{'unreadable': why}`` for a file that is not one, or None.
    request: ``state`` (present/absent), ``path``, ``operation``, ``room``, ``break_lock`` and ``holder``
    (holder_id, user, host, pid, process, process_start, boot_id, pid_namespace, job_id).
    now: ISO 8601 UTC time, recorded as ``started`` when the lock is taken.
    alive(pid): whether the holding process of ``existing`` still runs on this controller.

    Returns ``action`` (take, keep, take_over, release, leave, none), ``changed``, ``held`` (this run holds
    the lock afterwards), ``lock`` (the record afterwards, or None), ``broken`` (the record taken over or
    removed from another holder) and ``warnings``.
    """
    holder = request['holder']
    path = request['path']
    status = assess(existing, holder, alive)
    ours = status in ('held', 'stale') and same_run(existing, holder)
    if request.get('state', 'present') == 'absent':
        return _decide_release(existing, request, status, ours)

    refusing = 'refusing to start %s: ' % _what(request.get('operation'), request.get('room'))
    if status == 'free':
        return _decision('take', new_record(request, now))
    if ours and existing.get('pid') != holder.get('pid'):
        if status == 'held':
            raise OperationLockError(
                refusing + 'the lock at %s carries this run\'s holder_id %s, but %s holds it since %s (%s), and that '
                'process still runs. Generate holder_id once per playbook run (set_fact), never as a fixed value.'
                % ((path, holder.get('holder_id')) + _held_by(existing)), lock=existing)
        # Another, ended process took it with this holder_id. Where this run's own ansible-playbook process is
        # known, the lock is taken over like any stale one, so that it names a process that runs; where it is
        # not (the recorded pid is that of an earlier task's parent), it is kept.
        ours = holder.get('process') not in PLAYBOOK_PROGRAMS
    if ours:
        return _decision('keep', existing)
    if status == 'held':
        raise OperationLockError(
            refusing + '%s holds the lock since %s (%s), and that process still runs on this controller. Wait for '
            'it to end; if it hangs, stop pid %s and run again (the lock of an ended process is taken over; '
            'break_lock: true does not take it from a running one).' % (_held_by(existing) + (existing['pid'],)),
            lock=existing)
    if status == 'stale':
        return _decision('take_over', new_record(request, now), broken=existing, warning=(
            'took over the operation lock %s: %s held it since %s (%s), and that process has ended.'
            % ((path,) + _held_by(existing))))
    if not request.get('break_lock'):
        if status == 'unreadable':
            raise OperationLockError(
                refusing + 'the operation lock %s exists but is not a lock record (%s). Look at it; if no operation '
                'runs, remove it (or run again with break_lock: true).' % (path, existing['unreadable']),
                lock=None)
        raise OperationLockError(
            refusing + '%s holds the lock since %s (%s) %s, so this run cannot check whether it still runs. Wait '
            'for it to end, or if that process is gone, remove %s (or run again with break_lock: true).'
            % (_held_by(existing) + (_elsewhere(existing, holder), path)), lock=existing)
    if status == 'unreadable':
        warning = 'replaced the operation lock %s, which was not a lock record (%s) (break_lock: true).' % (
            path, existing['unreadable'])
    else:
        warning = 'broke the operation lock %s (break_lock: true): %s held it since %s (%s) %s.' % (
            (path,) + _held_by(existing) + (_elsewhere(existing, holder),))
    return _decision('take_over', new_record(request, now), broken=existing, warning=warning)


def _decide_release(existing, request, status, ours):
    path = request['path']
    if status == 'free':
        return _decision('none', None)
    if ours:
        return _decision('release', None)
    if status == 'unreadable':
        if request.get('break_lock'):
            return _decision('release', None, broken=existing, warning=(
                'removed the operation lock %s, which was not a lock record (%s) (break_lock: true).'
                % (path, existing['unreadable'])))
        return _decision('leave', None, warning=(
            'left the operation lock %s in place: it is not a lock record (%s).' % (path, existing['unreadable'])))
    if request.get('break_lock') and status != 'held':
        return _decision('release', None, broken=existing, warning=(
            'removed the operation lock %s (break_lock: true): %s held it since %s (%s).'
            % ((path,) + _held_by(existing))))
    why = dict(
        held=', and that process still runs on this controller',
        stale='; that process has ended, so the next run takes the lock over',
        unknown=' %s' % _elsewhere(existing, request['holder']),
    )[status]
    if request.get('break_lock'):
        why += ' (break_lock: true does not remove the lock of a running process)'
    return _decision('leave', existing, warning=(
        'left the operation lock %s in place: %s holds it since %s (%s), not this run%s.'
        % ((path,) + _held_by(existing) + (why,))))


# ---------------------------------------------------------------------------------------------
# Processes and the controller
# ---------------------------------------------------------------------------------------------

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace('+00:00', 'Z')


def read_process(pid, proc=PROC):
    """``argv``, ``ppid`` and ``start`` (clock ticks after boot) of a running process, or None when there is
    no such process (or only its zombie)."""
    base = os.path.join(proc, str(pid))
    try:
        with open(os.path.join(base, 'cmdline'), 'rb') as stream:
            cmdline = stream.read()
        with open(os.path.join(base, 'stat'), 'rb') as stream:
            stat = stream.read().decode('utf-8', 'replace')
        # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
        fields = stat[stat.rindex(')') + 2:].split()
        if fields[0] in ('Z', 'X'):
            return None
        return dict(argv=[arg.decode('utf-8', 'replace') for arg in cmdline.split(b'\0') if arg],
                    ppid=int(fields[1]), start=int(fields[19]))
    except (OSError, ValueError, IndexError):
        return None


def _runs(argv, program):
    return any(os.path.basename(arg) == program for arg in argv)


def playbook_process(start_pid=None, proc=PROC, depth=MAX_ANCESTORS):
    """(pid, program, start) of the process whose life is the playbook run's, or None.

    Walks up from the module's parent (at most ``depth`` levels). ansible-playbook forks a worker per task
    with the same command line, and that worker ends with the task; so of consecutive ansible-playbook
    processes the outermost is taken, the run's main process. ansible-runner counts only when no
    ansible-playbook process is found."""
    chain = []
    pid = os.getppid() if start_pid is None else start_pid
    while pid > 0 and len(chain) < depth:
        info = read_process(pid, proc)
        if info is None:
            break
        chain.append((pid, info))
        pid = info['ppid']
    for program in PLAYBOOK_PROGRAMS:
        matching = [_runs(info['argv'], program) for _pid, info in chain]
        if True in matching:
            index = matching.index(True)
            while index + 1 < len(chain) and matching[index + 1]:
                index += 1
            return chain[index][0], program, chain[index][1]['start']
    return None


def process_alive(pid, program=None, start=None, proc=PROC):
    """The process recorded as pid/program/start still runs: /proc/<pid> exists, is not a zombie, its command
    line still runs ``program`` and it started at ``start`` (a pid reused since is another process)."""
    info = read_process(pid, proc)
    if info is None:
        return False
    if start is not None and info['start'] != start:
        return False
    return not program or _runs(info['argv'], program)


def _read_text(path):
    try:
        with open(path) as stream:
            return stream.read().strip() or None
    except (OSError, ValueError):
        return None


def this_place():
    """Where this module runs: host name, boot id and PID namespace (None where /proc lacks them)."""
    try:
        namespace = os.readlink('/proc/self/ns/pid')
    except OSError:
        namespace = None
    return dict(host=socket.gethostname(), boot_id=_read_text(BOOT_ID), pid_namespace=namespace)


def _user():
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def make_holder(holder_id, pid=None, proc=PROC, environ=None):
    """The holder of a lock taken now: this run's holder_id, user, controller, job id and holding process.

    Without ``pid`` the holding process is found above the module (:func:`playbook_process`); if there is
    none, the module's parent is recorded and ``process`` names whatever it runs."""
    environ = os.environ if environ is None else environ
    found = None if pid is not None else playbook_process(proc=proc)
    if found:
        pid, program, start = found
    else:
        pid = os.getppid() if pid is None else pid
        info = read_process(pid, proc)
        argv = info['argv'] if info else []
        program = next((name for name in PLAYBOOK_PROGRAMS if _runs(argv, name)),
                       os.path.basename(argv[0]) if argv else None)
        start = info['start'] if info else None
    holder = dict(holder_id=holder_id, user=_user(), pid=pid, process=program, process_start=start,
                  job_id=next((environ[name] for name in JOB_ID_VARIABLES if environ.get(name)), None))
    holder.update(this_place())
    return holder


def alive_for(record, proc=PROC):
    """``alive(pid)`` for :func:`decide`, bound to the program and start time the record names."""
    record = record or {}
    return lambda pid: process_alive(pid, record.get('process'), record.get('process_start'), proc)


# ---------------------------------------------------------------------------------------------
# The lock file
# ---------------------------------------------------------------------------------------------

def read_record(path):
    """(record, raw bytes) of the lock at ``path``; (None, None) when there is none. A file that is not a
    lock record reads as ``{'unreadable': why}``."""
    try:
        with open(path, 'rb') as stream:
            raw = stream.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        raise OperationLockError('cannot read the operation lock %s: %s' % (path, exc.strerror or exc),
                                 lock_file=path)
    try:
        record = json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        return dict(unreadable='not JSON: %s' % exc), raw
    if not isinstance(record, dict):
        return dict(unreadable='not a JSON object'), raw
    missing = [key for key in REQUIRED_FIELDS if key not in record]
    if missing:
        return dict(unreadable='no %s' % ', '.join(missing)), raw
    if not isinstance(record['pid'], int) or isinstance(record['pid'], bool):
        return dict(unreadable='pid %r is not a number' % (record['pid'],)), raw
    return record, raw


def serialize(record):
    return (json.dumps(record, indent=2, sort_keys=True) + '\n').encode('utf-8')


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_exclusive(path, data):
    """Create ``path`` holding ``data`` unless it exists (O_CREAT|O_EXCL): for file systems without hard links.
    A reader may see the file before its content; it then reads as unreadable and refuses."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    with os.fdopen(fd, 'wb') as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    return True


def place_file(path, data):
    """Create ``path`` holding ``data`` (mode 0600) unless a file is there: True if created, False if another
    run's file was there first. The content is complete before the name appears (a finished temporary file is
    hard-linked to it)."""
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700, exist_ok=True)  # exist_ok: a racing run may create it first
        fd, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
        try:
            with os.fdopen(fd, 'wb') as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            try:
                os.link(temporary, path)
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    return False
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                    raise
                if not _write_exclusive(path, data):
                    return False
        finally:
            try:
                os.unlink(temporary)
            except OSError:
                pass
    except OSError as exc:
        raise OperationLockError('cannot write the operation lock %s: %s' % (path, exc.strerror or exc),
                                 lock_file=path)
    _fsync_directory(directory)
    return True


def remove_if_unchanged(path, raw):
    """Remove the lock at ``path`` if it still holds ``raw`` (what was read and decided on): True if removed,
    False if it is gone or another run replaced it meanwhile (then it is left as that run wrote it).

    The lock is renamed aside first, which only one run can do, and compared there; a lock that turns out
    to be another run's is linked back under its name."""
    aside = '%s.%s.removing' % (path, uuid.uuid4().hex)
    try:
        os.rename(path, aside)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise OperationLockError('cannot remove the operation lock %s: %s' % (path, exc.strerror or exc),
                                 lock_file=path)
    try:
        with open(aside, 'rb') as stream:
            found = stream.read()
        if found == raw:
            os.unlink(aside)
            _fsync_directory(os.path.dirname(path))
            return True
    except OSError as exc:
        raise OperationLockError('cannot remove the operation lock %s (moved aside to %s): %s'
                                 % (path, aside, exc.strerror or exc), lock_file=path)
    if not place_file(path, found):
        raise OperationLockError(
            'the operation lock %s changed while this run replaced it: another run\'s lock is left at %s and yet '
            'another lock took its place. Look at both and remove the one whose process has ended.' % (path, aside),
            lock_file=path)
    os.unlink(aside)
    return False


def apply_decision(path, decision, raw):
    """Carry out a changing decision; False when another run changed the lock since it was read."""
    if decision['action'] in ('take_over', 'release') and not remove_if_unchanged(path, raw):
        return False
    if decision['action'] in ('take', 'take_over'):
        return place_file(path, serialize(decision['lock']))
    return True


# ---------------------------------------------------------------------------------------------
# Runners
# ---------------------------------------------------------------------------------------------

def checked_path(path):
    if not path or not os.path.isabs(path):
        raise OperationLockError('path must be an absolute path to the lock file, not %r.' % (path,),
                                 lock_file=path)
    return path


def run_operation_lock(params, check_mode=False, diff=False, holder=None, now=None, proc=PROC):
    """Read the lock, decide, and (unless ``check_mode``) write or remove it. Returns the module result.

    The result names the file ``lock_file``, not ``path``: AnsibleModule would add the file's stat fields to a
    result with ``path`` (and overwrite ``state``).

    ``holder`` and ``now`` are looked up (:func:`make_holder`, :func:`utc_now`) unless given."""
    path = checked_path(params['path'])
    if holder is None:
        holder = make_holder(params['holder_id'], proc=proc)
    request = dict(state=params.get('state') or 'present', path=path, operation=params.get('operation'),
                   room=params.get('room'), break_lock=bool(params.get('break_lock')), holder=holder)
    for _attempt in range(TRIES):
        existing, raw = read_record(path)
        decision = decide(existing, request, now or utc_now(), alive_for(existing, proc))
        if check_mode or not decision['changed'] or apply_decision(path, decision, raw):
            break
    else:
        raise OperationLockError(
            'the operation lock %s kept changing while this run tried to %s it (%d tries): look at it and run again.'
            % (path, 'take' if request['state'] == 'present' else 'release', TRIES), lock_file=path)
    warnings = list(decision['warnings'])
    if check_mode and decision['changed']:
        warnings = ['check mode, nothing changed: ' + warning for warning in warnings]
    if decision['action'] in ('take', 'take_over') and holder.get('process') not in PLAYBOOK_PROGRAMS:
        warnings.append(
            'no ansible-playbook or ansible-runner process runs above this module (is it delegated to the '
            'controller?): the lock records pid %s (%s), which may end before the run does, and another run '
            'would then take the lock over.' % (holder.get('pid'), holder.get('process') or 'unknown program'))
    result = dict(changed=decision['changed'], lock_file=path, action=decision['action'], held=decision['held'],
                  lock=decision['lock'], broken=decision['broken'], warnings=warnings)
    if diff:
        before = existing if existing and 'unreadable' not in existing else {}
        result['diff'] = dict(before=before, after=decision['lock'] or {})
    return result


def run_operation_lock_info(params, proc=PROC, place=None):
    """Read the lock and say whether its holder still runs. Changes nothing."""
    path = checked_path(params['path'])
    existing, _raw = read_record(path)
    status = assess(existing, place or this_place(), alive_for(existing, proc))
    readable = existing is not None and 'unreadable' not in existing
    return dict(changed=False, lock_file=path, exists=existing is not None, state=status,
                lock=existing if readable else None, alive=dict(held=True, stale=False).get(status),
                error=existing['unreadable'] if existing is not None and not readable else None)
