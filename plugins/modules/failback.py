#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: failback
short_description: Move workloads back to their home room, a few at a time
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - After a room has been failed over and recovered, its workloads still run in the other room. This moves
    every workload whose pods carry the home-room label O(home_label) with value O(room), and that runs in
    another room, back home.
  - A pod of a ReplicaSet or StatefulSet is deleted gracefully and its controller recreates it; the scheduler
    places the new pod by the workload's preferred affinity for its home room. A VM (a virt-launcher pod owned
    by a VirtualMachineInstance) is live-migrated with a VirtualMachineInstanceMigration; KubeVirt places the
    target by the same affinity. A VM is back once its migration has succeeded and its VMI runs in O(room);
    a migration that fails (for example the link between the rooms cut mid-way) leaves the VM running where it
    was, and the module stops there and fails with KubeVirt's reason.
  - O(batch) workloads at a time. The next batch starts only once the previous one runs again (or its
    O(timeout) ends, which stops the failback with an error), so the rate is bounded by how fast workloads
    really come back. O(pause) adds a wait between batches.
  - Pods without a controller are never touched. Check mode lists the moves and changes nothing. A run that
    finds everything home changes nothing.
extends_documentation_fragment:
  - twinroom.ha.kubeconfig
  - twinroom.ha.room_nodes
options:
  room:
    description: The room to move workloads back to (the recovered room).
    type: str
    required: true
  home_label:
    description: The pod label that names a workload's home room.
    type: str
    default: twinroom.io/home-room
  home_values:
    description:
      - The values of O(home_label) that mean O(room). Defaults to O(room) alone.
      - VMs made by M(twinroom.ha.vm) carry the room's zone (for example V(room-a)); give both, as
        C(playbooks/recover.yml) does.
    type: list
    elements: str
  batch:
    description: How many workloads are moved at once.
    type: int
    default: 2
  pause:
    description: Seconds to wait between batches, on top of waiting for each batch to run again.
    type: int
    default: 0
  timeout:
    description:
      - Seconds each batch has to run again after being moved; for a VM, for its live migration to end.
      - A VM whose migration is still under way then keeps running where it was while the migration ends on its
        own; the module fails and names the migration. Raise this for VMs with many GiB of memory
        (C(playbooks/recover.yml) passes C(failback_timeout)).
    type: int
    default: 180
"""

EXAMPLES = r"""
- name: Move room A's workloads home, two at a time
  twinroom.ha.failback:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    context: room-a
    room: room_a
    rooms:
      room_a: "{{ groups['room_a'] }}"
      room_b: "{{ groups['room_b'] }}"
    batch: 2
  register: failback

- name: What would move (changes nothing)
  twinroom.ha.failback:
    room: room_a
    rooms: {room_a: [a-w1, a-w2], room_b: [b-w1, b-w2]}
  check_mode: true
"""

RETURN = r"""
moves:
  description: The workloads away from home when the module started, in the order they are moved.
  returned: always
  type: list
  elements: dict
  sample: [{kind: pod, namespace: shop, name: db-0, node: b-w1, owner: StatefulSet/db}]
batches:
  description: How many batches the moves make.
  returned: always
  type: int
moved:
  description:
    - Moves that run in the home room again, each with C(seconds) since the module started.
    - A live-migrated VM also has C(migration) (the VirtualMachineInstanceMigration's name), C(now_on) (its node)
      and C(migration_seconds) (from the migration's start to its end, as the nodes recorded them).
  returned: always
  type: list
  elements: dict
  sample: [{kind: vm, namespace: vms, name: db-1, node: b-w2, migration: failback-db-1-x7k2q, now_on: a-w2,
            migration_seconds: 6.0, seconds: 9.4}]
failed_migrations:
  description: VM moves whose live migration failed, each with C(reason) (KubeVirt's) and C(now_on), where the VM
    still runs (the module then fails).
  returned: always
  type: list
  elements: dict
still_away:
  description: Moves whose replacement runs, but outside the home room (a warning names them).
  returned: always
  type: list
  elements: dict
not_running:
  description: Moves that did not run again within O(timeout) (the module then fails).
  returned: always
  type: list
  elements: dict
room:
  description: The value of O(room).
  returned: always
  type: str
elapsed:
  description: Seconds the module took.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.failback import (
    HAS_KUBERNETES,
    FailbackError,
    run_failback,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import HOME_ROOM_LABEL


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type='path'),
            context=dict(type='str'),
            room=dict(type='str', required=True),
            rooms=dict(type='dict', required=True),
            home_label=dict(type='str', default=HOME_ROOM_LABEL),
            home_values=dict(type='list', elements='str'),
            batch=dict(type='int', default=2),
            pause=dict(type='int', default=0),
            timeout=dict(type='int', default=180),
        ),
        supports_check_mode=True,
    )
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    finish(module, run_failback, FailbackError, module.params, check_mode=module.check_mode)


if __name__ == '__main__':
    main()
