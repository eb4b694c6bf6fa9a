#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: operation_lock
short_description: Take or release the controller's lock that keeps two failovers (or recoveries) apart
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - A lock file on the controller, so that two operations on the rooms - two failovers, or a failover and a
    recovery - never run at once. Playbooks take it as their first task after validation and release it at
    the end, in an C(always) section.
  - The lock belongs to one playbook run, named by O(holder_id), which the playbook generates once per run.
    The record (JSON, mode C(0600), in a directory created C(0700) when missing) also names the operation,
    the room, the user, the controller, the time it was taken, the AWX job (environment variable C(JOB_ID)
    or C(AWX_JOB_ID)) and the process whose life is the run's - the outermost C(ansible-playbook) process
    above the module (else C(ansible-runner)), with its start time, so that a reused pid is not mistaken
    for it.
  - O(state=present) takes a free lock. Of two runs that take a free lock at the same time exactly one wins
    (the file is created with C(O_CREAT|O_EXCL) semantics, by hard-linking a finished temporary file); the
    other is refused as below. A lock this run holds already is left as it is (no change).
  - A lock held by another run is refused with a message that names its operation, room, user, controller,
    pid and since when. A lock whose process was on this controller and has ended is stale - it is taken
    over, with a warning, and returned in RV(broken).
  - A lock taken on another controller (or in another boot or PID namespace of this one, or where C(/proc)
    is missing) cannot be checked - it is refused unless O(break_lock=true). O(break_lock) never takes the
    lock from a process that still runs on this controller; end that process, and its lock is then stale.
  - O(state=absent) removes this run's lock. Another run's lock is left, with a warning (not an error);
    no lock is no change. With O(break_lock=true) it removes another run's lock unless that process still
    runs on this controller.
  - A lock is replaced or removed only if it is still the one that was read.
options:
  state:
    description:
      - V(present) - this run holds the lock.
      - V(absent) - this run does not hold the lock (its own lock is removed; another's is left).
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - Absolute path of the lock file, usually C({{ twinroom_state_dir }}/operation.lock).
    type: path
    required: true
  operation:
    description:
      - What this run does while it holds the lock; recorded and named in messages. Required with
        O(state=present).
    type: str
    choices: [failover, recover, site, drill]
  room:
    description:
      - The room the operation is about (for example V(room_a)); recorded and named in messages.
    type: str
  holder_id:
    description:
      - Names this playbook run. Generate it once per run and keep it in a fact (C(set_fact)), so that the
        take and the release carry the same value; a value in C(vars) with a lookup is evaluated anew each
        time. Never a fixed value - two runs with the same holder_id would both count as the holder.
    type: str
    required: true
  lease_seconds:
    description:
      - Hold the lock on a lease of this many seconds (at least 60) - for a lock kept on another host than the
        controller, such as the witness, which the room watch there and an operator's controller both reach.
      - The record gets C(expires). Each O(state=present) of this run renews it (RV(action=renew)); run it
        again between steps that take long. A leased lock of another run is refused until it expires, then
        taken over with a warning; O(break_lock=true) takes it at once.
      - Where the module runs delegated, no C(ansible-playbook) process runs above it, and its parent ends with
        each task - without a lease the next task of another run would take the lock over. With a lease, this
        run's lock is recognised by O(holder_id) alone.
      - Omitted, the lock is held while its C(ansible-playbook) process runs, as described above.
    type: int
  break_lock:
    description:
      - Take over (O(state=present)) or remove (O(state=absent)) a lock whose holder cannot be checked from here
        (taken on another controller), or a file that is not a lock record. Set it only once you know that
        operation has ended.
      - Does not take a lock whose process still runs on this controller.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the lock and the holding process and returns what it would do in RV(action), writing nothing.
  diff_mode:
    support: full
    details: The lock record before and after.
  platform:
    platforms: posix
notes:
  - Run it on the controller (C(delegate_to) V(localhost), C(run_once)); whether a holder still runs is read
    from C(/proc) (Linux).
  - Two controllers that share the state directory see each other's locks, but cannot check each other's
    processes - a lock left by a controller that died needs O(break_lock=true).
seealso:
  - module: twinroom.ha.operation_lock_info
'''

EXAMPLES = r'''
- name: One id for this playbook run
  ansible.builtin.set_fact:
    twinroom_holder_id: >-
      {{ lookup('ansible.builtin.password', '/dev/null', chars=['ascii_lowercase', 'digits'], length=16) }}
  run_once: true

- name: Failover of room A, never two at once
  block:
    - name: Take the operation lock
      twinroom.ha.operation_lock:
        path: "{{ twinroom_state_dir }}/operation.lock"
        operation: failover
        room: room_a
        holder_id: "{{ twinroom_holder_id }}"
      delegate_to: localhost
      run_once: true

    - name: The failover itself
      ansible.builtin.debug:
        msg: fence, take over, move the workloads
  always:
    - name: Release the operation lock (another run's lock is left in place)
      twinroom.ha.operation_lock:
        state: absent
        path: "{{ twinroom_state_dir }}/operation.lock"
        holder_id: "{{ twinroom_holder_id }}"
      delegate_to: localhost
      run_once: true

- name: Keep the lock on the witness, where the room watch and every controller see it
  twinroom.ha.operation_lock:
    path: /var/lib/twinroom/operation.lock
    operation: failover
    room: room_a
    holder_id: "{{ twinroom_holder_id }}"
    lease_seconds: 600
  delegate_to: "{{ groups['witness'][0] }}"
  run_once: true

- name: The controller that held the lock is gone; take it over
  twinroom.ha.operation_lock:
    path: /var/lib/twinroom/operation.lock
    operation: recover
    room: room_a
    holder_id: "{{ twinroom_holder_id }}"
    break_lock: true
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
lock_file:
  description: The lock file.
  returned: always
  type: str
  sample: /var/lib/twinroom/operation.lock
action:
  description:
    - What was done (in check mode, what would be done) - V(take) (the lock was free), V(keep) (this run holds
      it already), V(renew) (this run holds it on a lease, now extended by O(lease_seconds)), V(take_over) (its
      holder has ended, or O(break_lock)), V(release) (removed), V(leave)
      (another run's lock, left in place) or V(none) (no lock to release).
  returned: always
  type: str
  sample: take
held:
  description: This run holds the lock afterwards.
  returned: always
  type: bool
  sample: true
lock:
  description: The lock record afterwards; null when there is none (or the file is not a lock record).
  returned: always
  type: dict
  contains:
    operation:
      description: The operation of the run that holds the lock.
      type: str
    room:
      description: Its room.
      type: str
    holder_id:
      description: Its O(holder_id).
      type: str
    user:
      description: The user it runs as on the controller.
      type: str
    host:
      description: The controller's host name.
      type: str
    pid:
      description: The process whose life is the run's (the outermost C(ansible-playbook) process).
      type: int
    process:
      description: The program of that process, V(ansible-playbook) or V(ansible-runner) (else what the
        module's parent runs).
      type: str
    process_start:
      description: Its start time, in clock ticks after boot (C(/proc/<pid>/stat)).
      type: int
    boot_id:
      description: The controller's boot id; a lock from another boot cannot be checked.
      type: str
    pid_namespace:
      description: The PID namespace of the process; a lock from another namespace cannot be checked.
      type: str
    job_id:
      description: The AWX job (C(JOB_ID) or C(AWX_JOB_ID)), or null.
      type: str
    started:
      description: When the lock was taken (ISO 8601, UTC).
      type: str
    lease_seconds:
      description: The lease, with O(lease_seconds).
      type: int
    expires:
      description: When the lease ends unless renewed (ISO 8601, UTC), with O(lease_seconds).
      type: str
    renewed:
      description: When the lease was last renewed (ISO 8601, UTC), once it has been.
      type: str
  sample: {operation: failover, room: room_a, holder_id: k3v9q0m2x7a1c4d8, user: root, host: ctl, pid: 4242,
           process: ansible-playbook, process_start: 1234567, boot_id: 0f6c57b1-d1b4-4b8f-9f0e-3b2a6e1d9c41,
           pid_namespace: 'pid:[4026531836]', job_id: null, started: '2026-12-03T07:00:00Z'}
broken:
  description: The record of another run that was taken over or removed (its process had ended, or
    O(break_lock)); null otherwise. Its fields are those of RV(lock).
  returned: always
  type: dict
diff:
  description: The lock record before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {before: {}, after: {operation: failover, room: room_a, holder_id: k3v9q0m2x7a1c4d8, pid: 4242}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish
from ansible_collections.twinroom.ha.plugins.module_utils.operation_lock import (
    ERRORS,
    OPERATIONS,
    run_operation_lock,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent']),
            path=dict(type='path', required=True),
            operation=dict(type='str', choices=list(OPERATIONS)),
            room=dict(type='str'),
            holder_id=dict(type='str', required=True),
            break_lock=dict(type='bool', default=False),
            lease_seconds=dict(type='int'),
        ),
        required_if=[('state', 'present', ('operation',))],
        supports_check_mode=True,
    )
    finish(module, run_operation_lock, ERRORS, module.params, check_mode=module.check_mode,
           diff=module._diff)


if __name__ == '__main__':
    main()
