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
  - With O(nodes), also asks those nodes' BMCs for their power state (the fence agent's C(status), as
    M(twinroom.ha.fence_info) does), at the same time as the API server. An API server whose datastore
    primary was in the lost room does not answer until its O(api_timeout); the BMCs' answer is then in the
    failure's result, so a failover does not wait for the API before asking them.
  - With O(lost_room), also decides whether failing that room over is justified, and fails with the reason
    when it is not. Unless O(force=true) - the other room is healthy (its nodes Ready); no node of the lost
    room has a stale lease while its BMC reports it on (with O(nodes); the room would be running behind a cut
    link, or its kubelets stopped); and every node of the lost room is down - its lease stale, or its BMC
    reporting it off - so a partly failed room is not failed over. Nodes whose BMC was not asked are judged by
    their leases alone. The failover playbook runs this before it fences anything.
  - Lease ages are computed on the API server's clock, read from its HTTP C(Date) header; a controller whose
    clock differs from it by more than O(max_clock_skew), or a node renewing its lease from a clock that far
    ahead, is refused, since lease ages then say nothing.
  - When the API cannot be read, the failure says how (C(api_state)). With O(lost_room), an API server that
    does not answer at all is refused whatever O(force) says, since the surviving room serves the cluster through
    it after the takeover, and fencing the other room would leave no cluster at all.
  - With O(wait_ready), first waits up to O(wait_timeout) seconds until every node of those rooms is Ready (its
    Ready condition True), and on timeout fails naming the nodes that are not Ready and why (result C(wait)).
  - Never changes anything.
extends_documentation_fragment:
  - twinroom.ha.fence_bmc
  - twinroom.ha.kubeconfig
  - twinroom.ha.room_nodes
options:
  nodes:
    description:
      - Nodes whose BMCs to ask for their power state - usually the room that may be lost. Without it no BMC
        is asked.
      - Every suboption also accepts the inventory variable's name as an alias, as for M(twinroom.ha.fence).
    required: false
  lost_room:
    description: Check that failing this room over is justified.
    type: str
  force:
    description:
      - Accept a failover of a room that is healthy, partly failed, or powered on behind stale leases, or onto a
        degraded room.
    type: bool
    default: false
  stale_after:
    description:
      - A node whose lease was not renewed for this many seconds counts as down, even while its Ready
        condition still says True (the controller-manager flips it only after its grace period).
      - Kubelets (and the lab's kwok) renew every quarter of the lease duration; the default suits leases of 20 to 40 s.
    type: int
    default: 10
  api_timeout:
    description: Seconds each API request may take.
    type: int
    default: 10
    aliases: [timeout]
  max_clock_skew:
    description:
      - Seconds by which the controller's clock, or a node's, may differ from the API server's before lease ages
        are not trusted. Keep it below O(stale_after).
    type: int
    default: 5
  wait_ready:
    description:
      - Rooms (keys of O(rooms)) whose nodes must all be Ready before the rooms are read; the nodes are read
        again every 2 s. An API server that does not answer yet is asked again; one that refuses fails at once.
      - Without it nothing is waited for.
    type: list
    elements: str
    default: []
  wait_timeout:
    description: Seconds to wait for O(wait_ready). On timeout the module fails with the partial state.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Show both rooms
  twinroom.ha.room_info:
    kubeconfig: /etc/twinroom/admin.kubeconfig
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

- name: Wait until every node of room_a is Ready (after power-on), for up to 4 minutes
  twinroom.ha.room_info:
    context: room-a
    rooms: {room_a: "{{ groups['room_a'] }}", room_b: "{{ groups['room_b'] }}"}
    wait_ready: [room_a]
    wait_timeout: 240

- name: Also ask room_a's BMCs for their power state, while the API is read
  twinroom.ha.room_info:
    context: room-b
    rooms: {room_a: "{{ groups['room_a'] }}", room_b: "{{ groups['room_b'] }}"}
    nodes: >-
      {{ groups['room_a'] | map('extract', hostvars) | list
         | community.general.keep_keys(target=['inventory_hostname', 'twinroom_bmc_address', 'twinroom_bmc_systems_uri']) }}
    bmc_username: "{{ twinroom_bmc_username }}"
    bmc_password: "{{ twinroom_bmc_password }}"
  register: rooms
"""

RETURN = r"""
rooms:
  description:
    - Per room - nodes (name, zone, ready, alive, lease_age in seconds, out_of_service, fenced), ready (alive) and
      total counts, state (healthy, degraded, down) and workloads (pods on its nodes).
      With O(nodes), each asked node also has its BMC C(power_state) and its room a C(power) count per state
      (null in a room none of whose nodes were asked).
  returned: always
  type: dict
bmc:
  description:
    - Per asked node - C(power_state) (V(on), V(off), V(unknown)), C(bmc_reachable) and C(bmc_error). Also in
      the result when the API server could not be read.
  returned: when nodes is given
  type: dict
  sample: {a-w1: {power_state: 'off', bmc_reachable: true, bmc_error: null}}
table:
  description: The same as a short table, one line per room.
  returned: always
  type: list
  elements: str
survivor:
  description: The room that takes over, when O(lost_room) was given and the failover is justified.
  returned: when lost_room is given
  type: str
api_state:
  description:
    - V(answers); or how reading the API failed - V(down) (no connection could be made), V(no_datastore) (it
      timed out or answered 5xx, so its datastore primary is unreachable) or V(error) (it refused the request).
  returned: always
  type: str
wait:
  description:
    - With O(wait_ready) - the nodes that are Ready (C(ready)), those that are not with why (C(not_ready), empty
      once all are Ready) and how long it waited (C(waited_s)). On timeout it is in the failure's result, with
      C(api_state) and C(api_error) when the API server did not answer at the last try.
  returned: when wait_ready is given
  type: dict
  sample: {ready: [a-cp1], not_ready: {a-w1: 'Ready is Unknown (NodeStatusUnknown - Kubelet stopped posting node status.)'},
           waited_s: 120.1}
clock_skew:
  description:
    - The API server's clock minus the controller's, in seconds (C(offset_s)), and how far that figure may be off
      (C(uncertainty_s), from the whole seconds of the header and half the round trip).
  returned: when the API answered with a Date header
  type: dict
  sample: {offset_s: 0.12, uncertainty_s: 0.51}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils import bmc, module_run, room_info_runner

try:
    import kubernetes  # noqa: F401  pylint: disable=unused-import
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False


def main():
    argument_spec = bmc.fence_argument_spec(
        rooms=dict(type='dict', required=True),
        lost_room=dict(type='str'),
        force=dict(type='bool', default=False),
        stale_after=dict(type='int', default=10),
        api_timeout=dict(type='int', default=10, aliases=['timeout']),
        max_clock_skew=dict(type='int', default=5),
        wait_ready=dict(type='list', elements='str', default=[]),
        wait_timeout=dict(type='int', default=120),
    )
    argument_spec['nodes']['required'] = False
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    module_run.finish(module, room_info_runner.run_room_info, room_info_runner.ERRORS, module.params)


if __name__ == '__main__':
    main()
