#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: fence
short_description: Fence nodes through their BMCs and mark them out of service, unfence them, or power them on
version_added: 0.1.0
description:
  - Fences the nodes of a room (or any list of nodes) the way a two-room cluster needs before the other room takes
    over - power off through the BMC, verify it is off, then tell Kubernetes, in that order.
  - O(state=fenced) first reads every node - its power state through the fence agent (C(fence_redfish) or
    C(fence_ipmilan), options on standard input) and its Node object through the API server - and decides.
    A node whose BMC reports it on is powered off, and its BMC is asked again until it reports off (at most
    O(timeout) seconds). Only then is the Node tainted C(node.kubernetes.io/out-of-service=nodeshutdown:NoExecute)
    (existing taints are kept), annotated C(twinroom.io/fenced) with a JSON record
    C({"at", "method", "by", "room"}) and a C(Fenced) Warning Event is recorded. The taint lets the
    controller-manager force-delete the node's pods and detach their volumes.
  - A node found off through its BMC is tainted without a new power-off. Nodes are powered off in parallel.
  - When a BMC does not answer, nothing proves that its node is off. Without O(confirm_room_down=true) the whole
    request is refused before anything is touched, naming every BMC that does not answer. With it, those nodes
    are tainted with method C(confirmed-down) instead of C(bmc). A BMC that answers but cannot report the power state (wrong credentials, wrong systems URI) is
    always refused.
  - A node whose power-off was sent but whose BMC still reports it on after O(timeout) is not tainted and the
    module fails; nodes verified off in the same run are tainted.
  - A node that still renews its Lease (namespace C(kube-node-lease)) runs, whatever its BMC says - it is never
    tainted or counted as fenced. When its BMC reports it off or does not answer while its lease is fresh, its
    lease is watched for up to twice O(lease_stale_after) seconds (it may have lost power just now); if it keeps
    being renewed the whole request is refused before anything is touched, naming the node, the age of its
    lease and what its BMC said - that BMC address (C(twinroom_bmc_address)) is another machine's, or the BMC is
    wrong. A node whose lease was fresh and that this module powers off is tainted only once its lease has gone
    stale too (step C(verify_lease_stale)); if it is still renewed after twice O(lease_stale_after) seconds, it is
    not tainted and the module fails. When the Lease cannot be read, the node is judged by its BMC alone.
  - Idempotent - a node that carries the taint and the record and is still off (or its BMC is dark) is left
    alone, so a second run reports no change.
  - O(state=unfenced) removes the taint and the record and records an C(Unfenced) Event (type Normal). It does not ask the
    BMC and does not power anything on; power the node on (O(state=on)) and check it is Ready first
    (M(twinroom.ha.fence_info) reports both).
  - O(state=on) powers fenced nodes on again through their BMCs - the first step of C(playbooks/recover.yml).
    It reads every node's power state first; a node its BMC reports on is left alone (a second run reports no
    change), one it reports off is powered on and its BMC is asked again until it reports on (at most O(timeout)
    seconds). A BMC that does not answer, that answers but cannot report the power state, or that reports another
    machine than the one C(twinroom.ha.bmc_binding) bound to the node refuses the whole request before anything
    is powered on. The API server is neither read nor written - the out-of-service taint and the record stay
    until O(state=unfenced), which C(recover.yml) runs only once the datastore and the storage are whole again.
    YAML reads a bare C(on) as a boolean; the module takes it back as V(on), but quoting it reads better.
options:
  state:
    description:
      - V(fenced) - powered off (verified through the BMC, or confirmed down) and marked out of service.
      - V(unfenced) - the out-of-service taint and the C(twinroom.io/fenced) record removed.
      - V(on) - powered on through the BMC and verified on; nothing in the API is changed.
    type: str
    choices: [fenced, unfenced, 'on']
    default: fenced
  room:
    description:
      - The room being fenced (for example V(room_a)); recorded in the annotation and named in messages.
    type: str
  confirm_room_down:
    description:
      - The operator confirms that the room is down (no power). Lets nodes whose BMC does not answer be marked
        out of service with method C(confirmed-down). Do not set it while the nodes could still run - their
        pods would run twice.
    type: bool
    default: false
  room_down_by:
    description:
      - Who confirms the room down with O(confirm_room_down=true), recorded as C(confirmed_by) in the
        C(twinroom.io/fenced) annotation.
      - V(operator) - a person who checked the room.
      - V(isolation) - the room watch's isolation decision - the room's nodes have powered themselves off (their
        isolation guards do so after C(twinroom_isolation_seconds) without contact) and its time has passed.
        C(failover.yml) sets it only after checking that decision (section Isolation of
        C(docs/automatic-failover.md)). A node whose lease is still renewed is refused either way.
    type: str
    choices: [operator, isolation]
    default: operator
  out_of_service:
    description:
      - Mark fenced nodes out of service in the API (taint, record, Event), O(state=fenced) only.
      - V(false) powers off and verifies only, and does not use the API at all. With synchronous datastore
        replication the surviving room's API server accepts no write while the lost room's PostgreSQL is
        gone, until the datastore takeover; so a failover fences with V(false), takes over, and fences again
        with V(true), which then finds the nodes off and marks them. The BMC rules (refusal without
        confirmation) are the same.
    type: bool
    default: true
  release_pods:
    description:
      - Once a node is off (verified through its BMC, or confirmed down) and marked out of service, delete the
        pods still bound to it at once (grace period 0, UID precondition), so their controllers recreate them in
        the surviving room without delay.
      - This is what kube-controller-manager does for an out-of-service node anyway (the taint manager marks
        the pods terminating, the pod garbage collector force-deletes them on its next 20-second cycle); doing it
        here takes that wait out of the failover. It is never done to a node that may still be running.
      - V(false) leaves the pods to kube-controller-manager.
    type: bool
    default: true
  timeout:
    description:
      - Seconds each node has, after the power-off command, until its BMC reports it off (with O(state=on), after
        the power-on command, until it reports it on).
    type: int
    default: 60
  lease_stale_after:
    description:
      - A node whose Lease was renewed less than this many seconds ago counts as running (as O(twinroom.ha.room_info#module:stale_after) of
        M(twinroom.ha.room_info)); the default suits kubelet leases of 20 to 40 s, renewed every quarter of that.
    type: int
    default: 10
extends_documentation_fragment:
  - twinroom.ha.fence_bmc
  - twinroom.ha.kubeconfig
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the BMCs and (except with O(state=on)) the Nodes and returns the plan per node in RV(nodes) with
      C(changed) set, without doing it.
  diff_mode:
    support: full
    details: Before and after of power state, taint and record per node (power state only with O(state=on)).
  platform:
    platforms: posix
notes:
  - Run it where the BMCs and the surviving room's API server can be reached, usually the controller
    (C(delegate_to) V(localhost), C(run_once)).
  - The taint is not removed by Kubernetes. Unfence with O(state=unfenced) once the node is back.
  - Each API request is bounded (20 seconds). A write that timed out because the datastore waited for its
    synchronous standby may still be applied once the standby returns; M(twinroom.ha.fence_info) shows what
    the Node carries.
seealso:
  - module: twinroom.ha.fence_info
  - name: Non-graceful node shutdown (out-of-service taint)
    description: How Kubernetes handles a node tainted out of service.
    link: https://kubernetes.io/docs/concepts/cluster-administration/node-shutdown/#non-graceful-node-shutdown
author:
  - twinroom developers (@twinroom)
'''

EXAMPLES = r'''
- name: Fence room A from room B (BMC settings straight from the inventory)
  twinroom.ha.fence:
    room: room_a
    nodes: >-
      {{ groups['room_a'] | map('extract', hostvars) | list
         | community.general.keep_keys(target='^(inventory_hostname|twinroom_bmc_.*)$', matching_parameter='regex') }}
    fence_method: "{{ twinroom_fence_method }}"
    kubeconfig: /etc/twinroom/admin.kubeconfig
    context: room-b
  delegate_to: localhost
  run_once: true
  register: fenced

- name: Fence one node, credentials given once for all nodes
  twinroom.ha.fence:
    nodes:
      - name: a-w2
        bmc_address: 10.0.1.12
        bmc_systems_uri: /redfish/v1/Systems/1
    bmc_username: "{{ vault_bmc_username }}"
    bmc_password: "{{ vault_bmc_password }}"
    context: room-a

- name: Room B is dark, BMCs too; the operator confirmed the power loss
  twinroom.ha.fence:
    room: room_b
    nodes: "{{ room_b_nodes }}"
    confirm_room_down: true
    context: room-a

- name: Failover - power room A off first; the API accepts writes only after the datastore takeover
  twinroom.ha.fence:
    room: room_a
    nodes: "{{ room_a_nodes }}"
    out_of_service: false

- name: What would fencing do? (reads only)
  twinroom.ha.fence:
    room: room_a
    nodes: "{{ room_a_nodes }}"
    context: room-b
  check_mode: true
  diff: true

- name: Power room A's nodes on again (recover.yml); the out-of-service taints stay
  twinroom.ha.fence:
    state: "on"
    room: room_a
    nodes: "{{ room_a_nodes }}"
    bmc_username: "{{ vault_bmc_username }}"
    bmc_password: "{{ vault_bmc_password }}"
  register: powered

- name: Node a-w2 is back and Ready; lift the out-of-service taint
  twinroom.ha.fence:
    state: unfenced
    nodes:
      - name: a-w2
    context: room-a
'''

RETURN = r'''
nodes:
  description:
    - Per node (keyed by name), the outcome; predicted in check mode.
  returned: always
  type: dict
  contains:
    fenced:
      description: The node is off (verified, or confirmed down) and, unless O(out_of_service=false), marked out of
        service; always false with O(state=unfenced), null with O(state=on) (the API is not asked).
      type: bool
    method:
      description: V(bmc) (the BMC reported it off) or V(confirmed-down) (its BMC did not answer and the room was
        confirmed down); null with O(state=unfenced) and O(state=on).
      type: str
    power_state:
      description: V(on), V(off) or V(unknown) as the BMC reported it last (predicted in check mode); null with
        O(state=unfenced).
      type: str
    fenced_at:
      description: UTC time of the fencing (ISO 8601), from the record when nothing was changed; null in check
        mode for a node not fenced yet.
      type: str
    changed:
      description: Something was (or in check mode would be) done to this node.
      type: bool
    plan:
      description: Steps decided, in order - C(power_off), C(verify_off), C(verify_lease_stale), C(taint),
        C(release), C(annotate), C(event), C(untaint), C(unannotate), C(power_on), C(verify_on).
      type: list
      elements: str
    released:
      description: Pods (C(namespace/name)) deleted from the node by the C(release) step.
      type: list
      elements: str
    seconds:
      description: Seconds from the power-off (power-on) command to the BMC reporting off (on); null when nothing
        was powered.
      type: float
  sample:
    a-w2: {fenced: true, method: bmc, power_state: 'off', fenced_at: '2026-11-21T17:10:04Z', changed: true,
           plan: [power_off, verify_off, taint, release, annotate, event], seconds: 6.8,
           released: [shop/web-7c9f-x2vq, shop/db-0]}
room:
  description: The value of O(room).
  returned: always
  type: str
  sample: room_a
elapsed:
  description: Seconds the module took.
  returned: always
  type: float
  sample: 8.2
diff:
  description: Per node, power state, taint and record before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {before: {a-w2: {power_state: 'on', tainted: false, record: null}},
           after: {a-w2: {power_state: 'off', tainted: true,
                          record: {at: '2026-11-21T17:10:04Z', method: bmc, by: twinroom.ha.fence, room: room_a}}}}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.bmc import fence_argument_spec
from ansible_collections.twinroom.ha.plugins.module_utils.fence import ERRORS, HAS_KUBERNETES, run_fence
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=fence_argument_spec(
            state=dict(type='str', default='fenced', choices=['fenced', 'unfenced', 'on']),
            room=dict(type='str'),
            confirm_room_down=dict(type='bool', default=False),
            room_down_by=dict(type='str', default='operator', choices=['operator', 'isolation']),
            out_of_service=dict(type='bool', default=True),
            release_pods=dict(type='bool', default=True),
            timeout=dict(type='int', default=60),
            lease_stale_after=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    if module.params['state'] != 'on' and not HAS_KUBERNETES:  # state on asks the BMCs only
        module.fail_json(msg=missing_required_lib('kubernetes'))
    finish(module, run_fence, ERRORS, module.params, check_mode=module.check_mode, diff=module._diff)


if __name__ == '__main__':
    main()
