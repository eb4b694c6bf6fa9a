#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm_info
short_description: KubeVirt VirtualMachines with their room - where each runs, and whether that is its home room
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads VirtualMachines, each one's VirtualMachineInstance and the Node it runs on, and reports per VM its
    run strategy, status, VMI phase, node, room (the node's C(topology.kubernetes.io/zone)), home room
    (set by M(twinroom.ha.vm)) and whether it runs in its home room - after a failover, the VMs that
    did not move back yet.
  - Takes the same selection options as M(kubevirt.core.kubevirt_vm_info) (its C(INFO_ARG_SPEC)) and finds
    VMs with the same kubernetes.core call.
  - Never changes anything.
options:
  api_version:
    description: API version of KubeVirt.
    type: str
    default: kubevirt.io/v1
  name:
    description: Name of the VirtualMachine; all VMs (of O(namespace)) when left out.
    type: str
  namespace:
    description: Namespace of the VirtualMachines; all namespaces when left out.
    type: str
  label_selectors:
    description: Label selectors the VMs must match, for example V(twinroom.io/home-room=room-a).
    type: list
    elements: str
    default: []
  field_selectors:
    description: Field selectors the VMs must match.
    type: list
    elements: str
    default: []
  wait:
    description: Wait until each VM found is Ready.
    type: bool
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.kubevirt_vm
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
seealso:
  - module: twinroom.ha.vm
  - module: kubevirt.core.kubevirt_vm_info
requirements:
  - kubernetes >= 24.2.0 (Python)
'''

EXAMPLES = r'''
- name: Where does each VM of prod run?
  twinroom.ha.vm_info:
    namespace: prod
  register: prod_vms

- name: VMs that run away from their home room (for example after a failover)
  ansible.builtin.debug:
    msg: "{{ prod_vms.vms | selectattr('in_home_room', 'false') | map(attribute='name') | list }}"

- name: The VMs at home in room A
  twinroom.ha.vm_info:
    label_selectors:
      - twinroom.io/home-room=room-a
'''

RETURN = r'''
vms:
  description: One entry per VirtualMachine found.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: VM name.
      type: str
    namespace:
      description: VM namespace.
      type: str
    run_strategy:
      description: C(spec.runStrategy) (or what the deprecated C(spec.running) means).
      type: str
    status:
      description: KubeVirt's C(printableStatus), for example V(Running), V(Stopped), V(Migrating).
      type: str
    ready:
      description: The VM's Ready condition is true.
      type: bool
    vmi_phase:
      description: Phase of its VirtualMachineInstance; null when there is none.
      type: str
    node:
      description: Node the VMI runs on; null when not scheduled.
      type: str
    room:
      description: The zone label of that node; null when not running or the node is unknown.
      type: str
    home_room:
      description: The VM's home room; null when it has none.
      type: str
    in_home_room:
      description: It runs in its home room; null when it does not run or has no home room.
      type: bool
    anti_affinity_group:
      description: Its anti-affinity group; null when none.
      type: str
    eviction_strategy:
      description: Its C(evictionStrategy).
      type: str
    migration:
      description: The VMI's C(migrationState) (last or current live migration); null when never migrated.
      type: dict
  sample:
    - {name: db-1, namespace: prod, run_strategy: Always, status: Running, ready: true, vmi_phase: Running,
       node: a-w1, room: room-a, home_room: room-a, in_home_room: true, anti_affinity_group: db,
       eviction_strategy: LiveMigrate, migration: null}
api_found:
  description: The VirtualMachine API exists on the cluster.
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.vm_runner import HAS_KUBERNETES_CORE, VmError, run_vm_info
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish

try:
    import copy

    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    from ansible_collections.kubevirt.core.plugins.module_utils.info import INFO_ARG_SPEC
except ImportError:  # pragma: no cover - reported below
    AnsibleK8SModule = None


def main():
    if AnsibleK8SModule is None or not HAS_KUBERNETES_CORE:
        AnsibleModule(argument_spec={}, bypass_checks=True).fail_json(
            msg=missing_required_lib('kubernetes.core and kubevirt.core collections'))
    spec = copy.deepcopy(INFO_ARG_SPEC)
    spec.update(copy.deepcopy(AUTH_ARG_SPEC))
    module = AnsibleK8SModule(module_class=AnsibleModule, argument_spec=spec, supports_check_mode=True)
    finish(module, run_vm_info, VmError, module)


if __name__ == '__main__':
    main()
