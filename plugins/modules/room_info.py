#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: room_info
short_description: Status of both rooms - node readiness, lease age, fencing, workloads
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads the Nodes, their Leases and the Pods from one room's API server and reports, per room, each
    node's readiness, the age of its lease, whether it carries the out-of-service taint or a fencing
    record, and how many pods run on it; and a short table for an operator.
  - With O(lost_room), also decides whether failing that room over is justified - the room is not
    healthy (or O(force=true)) and the other room is healthy - and fails with the reason when it is not.
    The failover playbook runs this before it fences anything.
  - Never changes anything.
extends_documentation_fragment:
  - twinroom.ha.kubeconfig
options:
  rooms:
    description:
      - The nodes of each room, room name to a list of node names - for example the inventory's groups
        C(room_a) and C(room_b).
    type: dict
    required: true
  lost_room:
    description: Check that failing this room over is justified.
    type: str
  force:
    description: Accept a failover of a healthy room, or onto a degraded one.
    type: bool
    default: false
  stale_after:
    description:
      - A node whose lease was not renewed for this many seconds counts as down, even while its Ready
        condition still says True (the controller-manager flips it only after its grace period).
      - Kubelets (and the lab's kwok) renew every quarter of the lease duration; the default suits leases of 20 to 40 s.
    type: int
    default: 10
  timeout:
    description: Seconds each API request may take.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Show both rooms
  twinroom.ha.room_info:
    kubeconfig: /var/lib/twinroom-lab/admin.kubeconfig
    context: room-b
    rooms:
      room_a: "{{ groups['room_a'] }}"
      room_b: "{{ groups['room_b'] }}"
  register: rooms

- name: Print the table
  ansible.builtin.debug:
    msg: "{{ rooms.table }}"

- name: Refuse unless room_a is really down and room_b healthy
  twinroom.ha.room_info:
    context: room-b
    rooms: {room_a: "{{ groups['room_a'] }}", room_b: "{{ groups['room_b'] }}"}
    lost_room: room_a
"""

RETURN = r"""
rooms:
  description:
    - Per room - nodes (name, zone, ready, alive, lease_age in seconds, out_of_service, fenced), ready (alive) and
      total counts, state (healthy, degraded, down) and workloads (pods on its nodes).
  returned: always
  type: dict
table:
  description: The same as a short table, one line per room.
  returned: always
  type: list
  elements: str
survivor:
  description: The room that takes over, when O(lost_room) was given and the failover is justified.
  returned: when lost_room is given
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils import room_status

try:
    import kubernetes  # noqa: F401  pylint: disable=unused-import
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type='path'),
            context=dict(type='str'),
            rooms=dict(type='dict', required=True),
            lost_room=dict(type='str'),
            force=dict(type='bool', default=False),
            stale_after=dict(type='int', default=10),
            timeout=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    params = module.params
    try:
        nodes, pods_by_node = room_status.read_cluster(params['kubeconfig'], params['context'], params['timeout'])
    except Exception as exc:  # pylint: disable=broad-except  # any API failure is reported the same way
        module.fail_json(msg='cannot read the cluster through context %s: %s' % (params['context'], exc))
    now = time.time()
    summaries = dict((n['metadata']['name'], room_status.node_summary(n, now, params['stale_after'])) for n in nodes)
    status = room_status.rooms_status(params['rooms'], summaries, pods_by_node)
    result = dict(changed=False, rooms=status, table=room_status.status_table(status))
    if params['lost_room'] is not None:
        try:
            result['survivor'] = room_status.check_failover(params['lost_room'], status, params['force'])
        except room_status.RoomStatusError as exc:
            module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
