# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operation lock: one file on the controller, so that two failovers (or a failover and a recovery)
never run at once. The runner: read the lock (lock_file.py), ask whether its holder still runs (processes.py),
decide (operation_lock_plan.py), and write or remove it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.twinroom.ha.plugins.module_utils.lock_file import (
    LockFileError, place_file, read_bytes, remove_if_unchanged)
from ansible_collections.twinroom.ha.plugins.module_utils.operation_lock_plan import (  # noqa: F401 (OPERATIONS) pylint: disable=unused-import
    OPERATIONS, OperationLockError, assess, decide, parse_record, serialize)
from ansible_collections.twinroom.ha.plugins.module_utils.processes import (
    PLAYBOOK_PROGRAMS, PROC, alive_for, make_holder, this_place)
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import utc_now

TRIES = 3                      # reads and decisions per run when another run changes the lock in between
# What a refusal or failure of these runners raises (module_run.finish catches them).
ERRORS = (OperationLockError, LockFileError)


def read_record(path):
    """(record, raw bytes) of the lock at ``path``; (None, None) when there is none. A file that is not a
    lock record reads as ``{'unreadable': why}``."""
    raw = read_bytes(path)
    return (None, None) if raw is None else (parse_record(raw), raw)


def apply_decision(path, decision, raw):
    """Carry out a changing decision; False when another run changed the lock since it was read."""
    if decision['action'] in ('take_over', 'release', 'renew') and not remove_if_unchanged(path, raw):
        return False
    if decision['action'] in ('take', 'take_over', 'renew'):
        return place_file(path, serialize(decision['lock']))
    return True


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
                   room=params.get('room'), break_lock=bool(params.get('break_lock')), holder=holder,
                   lease_seconds=params.get('lease_seconds'))
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
    if (decision['action'] in ('take', 'take_over') and holder.get('process') not in PLAYBOOK_PROGRAMS
            and not request['lease_seconds']):
        warnings.append(
            'no ansible-playbook or ansible-runner process runs above this module (is it delegated to the '
            'controller?): the lock records pid %s (%s), which may end before the run does, and another run '
            'would then take the lock over. Away from the controller, take it on a lease (lease_seconds).'
            % (holder.get('pid'), holder.get('process') or 'unknown program'))
    result = dict(changed=decision['changed'], lock_file=path, action=decision['action'], held=decision['held'],
                  lock=decision['lock'], broken=decision['broken'], warnings=warnings)
    if diff:
        before = existing if existing and 'unreadable' not in existing else {}
        result['diff'] = dict(before=before, after=decision['lock'] or {})
    return result


def run_operation_lock_info(params, proc=PROC, place=None, now=None):
    """Read the lock and say whether its holder still runs (or its lease has expired). Changes nothing."""
    path = checked_path(params['path'])
    existing, _raw = read_record(path)
    status = assess(existing, place or this_place(), alive_for(existing, proc), now or utc_now())
    readable = existing is not None and 'unreadable' not in existing
    return dict(changed=False, lock_file=path, exists=existing is not None, state=status,
                lock=existing if readable else None, alive=dict(held=True, stale=False).get(status),
                expires=existing.get('expires') if readable else None,
                error=existing['unreadable'] if existing is not None and not readable else None)
