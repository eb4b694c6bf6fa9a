#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: room_capacity_info
short_description: Could each room take over the other's VMs and pods? Requests against allocatable, per node
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads the Nodes, Pods, KubeVirt VirtualMachines and VirtualMachineInstances from one API server and answers,
    for each room, whether the other room could run every workload now in it - room A onto room B, and room B
    onto room A.
  - What moves from the lost room - every active pod on its nodes except DaemonSet pods and static pods (they
    belong to their node), and every running VM, named as the VM and not as its launcher pod. A VM's size is its
    launcher pod's requests; when the launcher pod does not exist or is not bound to a node yet, it is estimated
    from the VM's domain (CPU request, else 100m per vCPU; memory request, else guest memory; plus 1/512 of the
    guest memory and O(vm_memory_overhead)).
  - A pod's size is what the scheduler reserves - the larger of its containers' sum and its init phase (init
    containers run one by one; sidecars keep running), plus the pod overhead.
  - What the surviving room has - per node, allocatable minus the requests of the pods already there (its own
    DaemonSet pods included). Cordoned nodes take nothing; a tainted node (NoSchedule, NoExecute) takes only
    workloads that tolerate its taints.
  - The moving workloads are placed first-fit-decreasing (largest memory first) onto those nodes, one node at a
    time - a 16 GiB VM does not fit into two nodes with 8 GiB free each, though the room's sum would say so.
  - VMs that should run (runStrategy V(Always), V(RerunOnFailure)) but have no VMI on a node are listed in
    RV(unplaced) with their estimate; they are in no room, so they are not counted.
  - Node affinity, node selectors, topology spread and pod-count limits are not modelled - a workload is assumed
    to be allowed on any node of the other room whose taints it tolerates.
  - Never changes anything. With O(fail_on_shortfall=true) it fails, naming the room and the workloads that
    would not fit.
extends_documentation_fragment:
  - twinroom.ha.kubeconfig
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
attributes:
  check_mode:
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
options:
  rooms:
    description:
      - The nodes of each room, C(room_a) and C(room_b) to a list of Node names - the inventory's groups, as for
        M(twinroom.ha.room_info).
    type: dict
    required: true
  fail_on_shortfall:
    description:
      - Fail when either room could not take over all of the other's workloads. The message names the room and
        every workload that would not fit.
    type: bool
    default: false
  vm_memory_overhead:
    description:
      - Memory added to the estimate of a VM whose launcher pod does not exist yet, for the launcher's own
        processes (virt-launcher, virtqemud, virtlogd, QEMU). A Kubernetes quantity.
      - KubeVirt 1.6 computes about 220-250 MiB for a VM with one or two vCPUs, more with more vCPUs or with
        passthrough devices. Launcher pods that exist are read as they are.
    type: str
    default: 256Mi
notes:
  - Needs read access to Nodes and Pods in all namespaces, and to C(virtualmachines) and
    C(virtualmachineinstances) of C(kubevirt.io); without KubeVirt's CRDs only pods are checked.
  - Requests, not usage - the scheduler places by requests, so a workload without requests always
    "fits". Give VMs and important pods requests.
seealso:
  - module: twinroom.ha.room_info
'''

EXAMPLES = r'''
- name: Could either room take over the other?
  twinroom.ha.room_capacity_info:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    rooms:
      room_a: "{{ groups['room_a'] }}"
      room_b: "{{ groups['room_b'] }}"
  register: capacity

- name: Print the table
  ansible.builtin.debug:
    msg: "{{ capacity.table }}"

- name: The VMs of room A that room B could not run
  ansible.builtin.debug:
    msg: "{{ capacity.rooms.room_a.not_fitting | selectattr('kind', 'equalto', 'VirtualMachine') | map(attribute='name') }}"

- name: Refuse to go on when a room could not be failed over
  twinroom.ha.room_capacity_info:
    context: room-a
    rooms: {room_a: "{{ groups['room_a'] }}", room_b: "{{ groups['room_b'] }}"}
    fail_on_shortfall: true
    vm_memory_overhead: 320Mi
'''

RETURN = r'''
fits:
  description: Both rooms could take over the other's workloads.
  returned: always
  type: bool
  sample: false
rooms:
  description:
    - Keyed by the room that would be lost. Quantities are Kubernetes quantities (C(2500m), C(16Gi)).
  returned: always
  type: dict
  contains:
    lost_room:
      description: The room that would be lost.
      type: str
    survivor:
      description: The room that would take over.
      type: str
    fits:
      description: Every moving workload found a node in the survivor.
      type: bool
    moving:
      description: How many workloads would move.
      type: int
    needs:
      description: Sum of the moving workloads' requests, C(cpu) and C(memory).
      type: dict
    free:
      description: Sum of what the survivor's untainted, schedulable nodes have free now.
      type: dict
    headroom:
      description: What those nodes would have left after taking the workloads that fit.
      type: dict
    shortfall:
      description: Sum of the requests of the workloads that would not fit.
      type: dict
    not_fitting:
      description: The workloads that would not fit - kind (C(VirtualMachine), C(VirtualMachineInstance), C(Pod)),
        namespace, name, node (where it runs now), requests, source (C(launcher), C(estimate), C(pod)).
      type: list
      elements: dict
    placement:
      description: Survivor node to the workloads (C(Kind namespace/name)) it would take.
      type: dict
    nodes:
      description: Per survivor node - allocatable, requested, free, after (free after the placement), taints.
      type: dict
  sample:
    room_a:
      lost_room: room_a
      survivor: room_b
      fits: false
      moving: 6
      needs: {cpu: 15500m, memory: 63Gi}
      free: {cpu: '30', memory: 40Gi}
      headroom: {cpu: 20500m, memory: 5Gi}
      shortfall: {cpu: '6', memory: 28Gi}
      not_fitting:
        - {kind: VirtualMachine, namespace: erp, name: db3, node: a-w1, requests: {cpu: '4', memory: 16Gi},
           source: launcher}
      placement: {b-w1: [VirtualMachine erp/db1, VirtualMachine erp/small, Pod shop/web-a1],
                  b-w2: [VirtualMachine erp/db2]}
unplaced:
  description: VMs that should run but have no VMI on a node - kind, namespace, name, estimated requests.
  returned: always
  type: list
  elements: dict
table:
  description: A short table for an operator - one line per lost room, then one per workload that would not fit.
  returned: always
  type: list
  elements: str
  sample:
    - "LOST    TO       FITS MOVING NEEDS cpu/mem    FREE cpu/mem     HEADROOM cpu/mem SHORTFALL cpu/mem"
    - "room_a  room_b   no   6      15500m/63Gi      30/40Gi          20500m/5Gi       6/28Gi"
    - "room_b  room_a   yes  2      2/8Gi            16500m/65Gi      14500m/57Gi      0/0"
    - "room_a -> room_b: does not fit: VirtualMachine erp/db3 (4/16Gi, on a-w1)"
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.room_capacity import (
    DEFAULT_VM_MEMORY_OVERHEAD,
    HAS_KUBERNETES,
    CapacityError,
    run_capacity_info,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type='path'),
            context=dict(type='str'),
            rooms=dict(type='dict', required=True),
            fail_on_shortfall=dict(type='bool', default=False),
            vm_memory_overhead=dict(type='str', default=DEFAULT_VM_MEMORY_OVERHEAD),
        ),
        supports_check_mode=True,
    )
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    finish(module, run_capacity_info, CapacityError, module.params)


if __name__ == '__main__':
    main()
