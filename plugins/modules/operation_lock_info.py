#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: operation_lock_info
short_description: Report who holds the controller's operation lock and whether that run still goes on
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads the lock file written by M(twinroom.ha.operation_lock) and says who holds it (operation, room, user,
    controller, pid, since when) and whether the holding process still runs.
  - Whether it runs can only be checked on the controller that took the lock (same host name, boot and PID
    namespace), from C(/proc). A lock on a lease (M(twinroom.ha.operation_lock) O(twinroom.ha.operation_lock#module:lease_seconds))
    is judged by its expiry wherever it is read, unless its C(ansible-playbook) process can be checked here.
  - Changes nothing.
options:
  path:
    description:
      - Absolute path of the lock file, usually C({{ twinroom_state_dir }}/operation.lock).
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
seealso:
  - module: twinroom.ha.operation_lock
'''

EXAMPLES = r'''
- name: Who holds the operation lock?
  twinroom.ha.operation_lock_info:
    path: "{{ twinroom_state_dir }}/operation.lock"
  delegate_to: localhost
  run_once: true
  register: operation_lock

- name: Say so
  ansible.builtin.debug:
    msg: >-
      {{ operation_lock.lock.operation }} of {{ operation_lock.lock.room }} by
      {{ operation_lock.lock.user }} on {{ operation_lock.lock.host }} since {{ operation_lock.lock.started }}
  when: operation_lock.state in ['held', 'unknown', 'leased']
'''

RETURN = r'''
lock_file:
  description: The lock file.
  returned: always
  type: str
  sample: /var/lib/twinroom/operation.lock
exists:
  description: The lock file exists.
  returned: always
  type: bool
  sample: true
state:
  description:
    - V(free) - there is no lock.
    - V(held) - its process still runs on this controller.
    - V(stale) - its process was on this controller and has ended; the next run takes the lock over.
    - V(unknown) - taken on another controller (or in another boot or PID namespace of this one), so whether it
      still runs cannot be checked from here.
    - V(leased) - held on a lease that has not expired (see RV(expires)).
    - V(expired) - held on a lease its run did not renew in time; the next run takes the lock over.
    - V(unreadable) - the file is not a lock record (see RV(error)).
  returned: always
  type: str
  sample: held
expires:
  description: When the lock's lease ends unless renewed (ISO 8601, UTC); null for a lock without a lease.
  returned: always
  type: str
  sample: '2026-12-03T07:10:00Z'
alive:
  description: The holding process still runs; null when there is no lock or it cannot be checked.
  returned: always
  type: bool
  sample: true
lock:
  description:
    - The lock record (C(operation), C(room), C(holder_id), C(user), C(host), C(pid), C(process),
      C(process_start), C(boot_id), C(pid_namespace), C(job_id), C(started)), as documented for
      M(twinroom.ha.operation_lock); null when there is none or the file is not a record.
  returned: always
  type: dict
  sample: {operation: failover, room: room_a, holder_id: k3v9q0m2x7a1c4d8, user: root, host: ctl, pid: 4242,
           process: ansible-playbook, process_start: 1234567, boot_id: 0f6c57b1-d1b4-4b8f-9f0e-3b2a6e1d9c41,
           pid_namespace: 'pid:[4026531836]', job_id: null, started: '2026-12-03T07:00:00Z'}
error:
  description: Why the file is not a lock record; null otherwise.
  returned: always
  type: str
  sample: 'not JSON: Expecting value: line 1 column 1 (char 0)'
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish
from ansible_collections.twinroom.ha.plugins.module_utils.operation_lock import (
    ERRORS,
    run_operation_lock_info,
)


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type='path', required=True)), supports_check_mode=True)
    finish(module, run_operation_lock_info, ERRORS, module.params)


if __name__ == '__main__':
    main()
