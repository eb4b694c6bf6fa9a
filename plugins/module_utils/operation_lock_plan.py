# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operation lock's plan: the lock record and the decision what to do with it (take, keep, take over, release,
leave) or the refusal, from the record found, the request and whether the holding process still runs. No I/O:
plugins/module_utils/operation_lock.py reads and writes the file (lock_file.py) and asks about processes
(processes.py).

Safety rule, in words: a lock is never taken from a process seen running on this controller, not even with
``break_lock``; ending that process is the way out, and its lock is then taken over as stale.

A lock on a lease (``lease_seconds``) is held until its ``expires`` unless its holder renews or releases it. That is
what a lock kept on another host needs - on the witness, where the room watch and an operator's controller both
see it: there the module runs under a short-lived process of its own (no ansible-playbook above it), whose end says
nothing about the run. A leased record is judged by its expiry unless its ansible-playbook process can be looked up
here, which still wins both ways (running: held; ended: stale).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import (
    LOCK_LEASE_MIN_SECONDS, PLAYBOOK_PROGRAMS, TwinroomError, epoch_seconds)

OPERATIONS = ('failover', 'recover', 'site', 'drill')
# How messages name an operation ("a recovery of room_a", not "a recover of room_a").
OPERATION_WORDS = dict(failover='failover', recover='recovery', site='site run', drill='drill')
PLACE_FIELDS = ('host', 'boot_id', 'pid_namespace')
HOLDER_FIELDS = ('holder_id', 'user', 'host', 'pid', 'process', 'process_start', 'boot_id', 'pid_namespace',
                 'job_id')
REQUIRED_FIELDS = ('holder_id', 'pid', 'host', 'started')
ACTIONS_CHANGING = ('take', 'take_over', 'release', 'renew')
ACTIONS_HOLDING = ('take', 'keep', 'take_over', 'renew')


class OperationLockError(TwinroomError):
    """The lock is held by another run, or the lock file cannot be read or written."""


# ---------------------------------------------------------------------------------------------
# The record
# ---------------------------------------------------------------------------------------------

def parse_record(raw):
    """The lock record in ``raw`` (the file's bytes), or ``{'unreadable': why}`` for a file that is not one."""
    try:
        record = json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        return dict(unreadable='not JSON: %s' % exc)
    if not isinstance(record, dict):
        return dict(unreadable='not a JSON object')
    missing = [key for key in REQUIRED_FIELDS if key not in record]
    if missing:
        return dict(unreadable='no %s' % ', '.join(missing))
    if not isinstance(record['pid'], int) or isinstance(record['pid'], bool):
        return dict(unreadable='pid %r is not a number' % (record['pid'],))
    if 'expires' in record and epoch_seconds(record['expires']) is None:
        return dict(unreadable='expires %r is not a time' % (record['expires'],))
    return record


def serialize(record):
    return (json.dumps(record, indent=2, sort_keys=True) + '\n').encode('utf-8')


# ---------------------------------------------------------------------------------------------
# Decisions
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


def leased(record):
    """The record is held on a lease (it has ``expires``)."""
    return bool(record) and 'unreadable' not in record and record.get('expires') is not None


def checked_lease(lease_seconds):
    """``lease_seconds`` as an int (None: no lease), or OperationLockError naming what is wrong."""
    if lease_seconds is None:
        return None
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int) or lease_seconds < LOCK_LEASE_MIN_SECONDS:
        raise OperationLockError(
            'lease_seconds must be a whole number of seconds, at least %d (the longest step of a run between two '
            'renewals), not %r.' % (LOCK_LEASE_MIN_SECONDS, lease_seconds), lock=None)
    return lease_seconds


def expiry(now, lease_seconds):
    """ISO 8601 UTC time ``lease_seconds`` after ``now`` (also ISO 8601 UTC)."""
    stamp = datetime.datetime.fromtimestamp(epoch_seconds(now) + lease_seconds, tz=datetime.timezone.utc)
    return stamp.strftime('%Y-%m-%dT%H:%M:%SZ')


def _expired(record, now):
    return epoch_seconds(now) >= epoch_seconds(record['expires'])


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


def _process_known(record, place):
    """Whether the record's holder is judged by its process here: it was written here, and (for a lock on a
    lease) by an ansible-playbook process - the parent of a delegated module ends with each task."""
    if not same_place(record, place):
        return False
    return not leased(record) or record.get('process') in PLAYBOOK_PROGRAMS


def assess(existing, place, alive, now=None):
    """What the lock is, seen from ``place`` at ``now``: ``free`` (no lock), ``unreadable`` (a file that is no
    lock record), ``unknown`` (held from elsewhere: whether its holder runs cannot be checked), ``held`` (its
    holder runs on this controller), ``stale`` (its holder was on this controller and has ended), ``leased``
    (on a lease that has not expired) or ``expired`` (on a lease its holder did not renew in time)."""
    if existing is None:
        return 'free'
    if 'unreadable' in existing:
        return 'unreadable'
    if not _process_known(existing, place):
        if leased(existing) and now is not None:
            return 'expired' if _expired(existing, now) else 'leased'
        return 'unknown'
    return 'held' if alive(existing['pid']) else 'stale'


def same_run(record, holder):
    """The lock is this playbook run's: the same holder_id, or the very same ansible-playbook process (pid and
    start time), on the same controller. A lock on a lease is this run's by its holder_id alone, from wherever
    the run renews it."""
    if leased(record) and record.get('holder_id') == holder.get('holder_id'):
        return True
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
    if request.get('lease_seconds'):
        record.update(lease_seconds=request['lease_seconds'], expires=expiry(now, request['lease_seconds']))
    return record


def renewed(record, request, now):
    """``record`` (this run's) with its lease renewed from ``now``."""
    return dict(record, lease_seconds=request['lease_seconds'], expires=expiry(now, request['lease_seconds']),
                renewed=now)


def _decision(action, lock, broken=None, warning=None):
    return dict(action=action, changed=action in ACTIONS_CHANGING, held=action in ACTIONS_HOLDING, lock=lock,
                broken=broken, warnings=[warning] if warning else [])


def decide(existing, request, now, alive):
    """What to do with the lock, or OperationLockError (the refusal) before anything is written.

    existing: the parsed record, ``{'unreadable': why}`` for a file that is not one, or None.
    request: ``state`` (present/absent), ``path``, ``operation``, ``room``, ``break_lock``, ``lease_seconds``
    (None: no lease) and ``holder`` (holder_id, user, host, pid, process, process_start, boot_id, pid_namespace,
    job_id).
    now: ISO 8601 UTC time, recorded as ``started`` when the lock is taken; a lease runs from it.
    alive(pid): whether the holding process of ``existing`` still runs on this controller.

    Returns ``action`` (take, keep, renew, take_over, release, leave, none), ``changed``, ``held`` (this run holds
    the lock afterwards), ``lock`` (the record afterwards, or None), ``broken`` (the record taken over or
    removed from another holder) and ``warnings``.
    """
    holder = request['holder']
    path = request['path']
    checked_lease(request.get('lease_seconds'))
    status = assess(existing, holder, alive, now)
    ours = status in ('held', 'stale', 'leased', 'expired') and same_run(existing, holder)
    if request.get('state', 'present') == 'absent':
        return _decide_release(existing, request, status, ours)

    refusing = 'refusing to start %s: ' % _what(request.get('operation'), request.get('room'))
    if status == 'free':
        return _decision('take', new_record(request, now))
    if ours and _process_known(existing, holder) and existing.get('pid') != holder.get('pid'):
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
        if request.get('lease_seconds'):
            return _decision('renew', renewed(existing, request, now))
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
    if status == 'expired':
        return _decision('take_over', new_record(request, now), broken=existing, warning=(
            'took over the operation lock %s: %s held it since %s (%s), and its lease expired at %s without '
            'being renewed.' % ((path,) + _held_by(existing) + (existing['expires'],))))
    if status == 'leased' and not request.get('break_lock'):
        raise OperationLockError(
            refusing + '%s holds the lock since %s (%s) on a lease until %s, which that run renews while it works. '
            'Wait for it to end; if it has ended without releasing the lock, the next run after %s takes it over '
            '(or run again with break_lock: true).'
            % (_held_by(existing) + (existing['expires'], existing['expires'])), lock=existing)
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
    elif status == 'leased':
        warning = 'broke the operation lock %s (break_lock: true): %s held it since %s (%s) on a lease until %s.' % (
            (path,) + _held_by(existing) + (existing['expires'],))
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
        leased=', on a lease until %s' % existing.get('expires'),
        expired='; its lease expired at %s, so the next run takes the lock over' % existing.get('expires'),
    )[status]
    if request.get('break_lock'):
        why += ' (break_lock: true does not remove the lock of a running process)'
    return _decision('leave', existing, warning=(
        'left the operation lock %s in place: %s holds it since %s (%s), not this run%s.'
        % ((path,) + _held_by(existing) + (why,))))
