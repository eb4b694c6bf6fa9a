#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm
short_description: KubeVirt VirtualMachines with two-room defaults - home room, anti-affinity, replicated RWX disk
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Creates, updates, starts, stops and deletes a KubeVirt C(VirtualMachine) with the defaults a two-room
    cluster needs. A new VM gets C(runStrategy Always) (it comes back after a room loss),
    C(evictionStrategy LiveMigrate) (a drained node's VMs move instead of stopping), a root disk as a CDI
    DataVolume on the replicated StorageClass with C(ReadWriteMany) and C(volumeMode Block) (what live
    migration needs, with a copy in each room), and a masquerade interface on the pod network (the binding
    live migration supports).
  - O(home_room) adds a B(preferred) node affinity on the C(topology.kubernetes.io/zone) of that room -
    the VM runs there while it can, and starts in the other room when its own is lost.
  - O(anti_affinity_group) adds a B(preferred) pod anti-affinity on the zone between the VMs that share the
    group (label C(twinroom.io/anti-affinity-group) on the VM's pods), so the two VMs of a pair run in
    different rooms while both rooms are up, and both still run when one room is down. A VM's own pods
    are left out of the selector, so a live migration's target is not pushed out of its room.
  - Reads the VM first, in check mode too. A new VM is created whole. For an existing VM only what the
    options set is sent (JSON merge patch), so a VM is never reset to defaults by a task that names only
    some options; O(disk_size), O(storage_class), O(source) and O(cloud_init_user_data) apply only when
    the VM is created (a warning names them when they differ from the VM).
  - Builds on kubernetes.core - its client, and C(runner.perform_action) for the write (server-side dry
    run in check mode) - without copying or patching it.
options:
  name:
    description: Name of the VirtualMachine.
    type: str
    required: true
  namespace:
    description: Namespace of the VirtualMachine.
    type: str
    required: true
  state:
    description:
      - V(present) - the VM exists with what the options set. Its C(runStrategy) is O(run_strategy) when
        given, else it keeps its own; a new VM gets V(Always).
      - V(started) - as V(present), and KubeVirt keeps the VM running (C(runStrategy) V(Always) or
        V(RerunOnFailure)). A VM that already has one of them is left as it is, not restarted.
      - V(stopped) - as V(present), with C(runStrategy Halted); KubeVirt shuts the VM down. A missing VM is
        created stopped.
      - V(absent) - the VM is deleted (its DataVolumes from templates go with it).
    type: str
    choices: [present, absent, started, stopped]
    default: present
  run_strategy:
    description:
      - C(spec.runStrategy) to set. Only V(Always) and V(RerunOnFailure) go with O(state=started), only
        V(Halted) with O(state=stopped).
    type: str
    choices: [Always, RerunOnFailure, Manual, Halted, Once]
  cpu_cores:
    description: Guest CPU cores (C(domain.cpu.cores)). A new VM gets V(1).
    type: int
  memory:
    description: Guest memory (C(domain.memory.guest)), a Kubernetes quantity. A new VM gets V(1Gi).
    type: str
  eviction_strategy:
    description: C(evictionStrategy) of the VM. A new VM gets V(LiveMigrate).
    type: str
    choices: [LiveMigrate, LiveMigrateIfPossible, External, None]
  home_room:
    description:
      - The room the VM prefers to run in, as the value of the C(topology.kubernetes.io/zone) label of that
        room's nodes (the inventory's C(twinroom_zone), for example V(room-a) for C(room_a)).
      - Must be one of the known rooms (O(rooms), or the cluster's Nodes); an unknown room fails before
        anything is written, naming the known ones.
      - Also sets the label C(twinroom.io/home-room) on the VM, which M(twinroom.ha.vm_info) reads.
    type: str
  rooms:
    description:
      - The known rooms, as zone label values. Default - the distinct C(topology.kubernetes.io/zone) labels
        of the cluster's Nodes, read when O(home_room) is given.
      - Give it when the module may not list Nodes, or before the nodes are registered.
    type: list
    elements: str
  anti_affinity_group:
    description:
      - VMs with the same group prefer different rooms (pod anti-affinity on the zone, label
        C(twinroom.io/anti-affinity-group) on the VM's pods). Give both VMs of a redundant pair the same group.
    type: str
  anti_affinity_required:
    description:
      - Make the anti-affinity B(required) instead of preferred. With two rooms, a required anti-affinity
        keeps the second VM of a pair from starting at all while one room is down, and forbids a live
        migration within the room; leave it V(false) unless two VMs of a group in one room is worse than one VM.
    type: bool
    default: false
  labels:
    description: Labels for the VM and its pods. Added to (merged with) the labels a VM has.
    type: dict
    default: {}
  annotations:
    description: Annotations for the VM. Added to (merged with) the annotations a VM has.
    type: dict
    default: {}
  disk_size:
    description: Size of the root disk (DataVolume C(<name>-rootdisk)); on creation only. A new VM gets V(10Gi).
    type: str
  storage_class:
    description:
      - StorageClass of the root disk, requested C(ReadWriteMany) and C(Block); on creation only.
      - A new VM gets V(twinroom-vm-replicated), the class with a replica in each room.
    type: str
  source:
    description: What the root disk starts with (the CDI DataVolume source); on creation only. A new VM gets an empty disk.
    type: dict
    suboptions:
      type:
        description: V(blank) (empty), V(http) (an image URL), V(registry) (a container disk image), V(pvc) (a clone).
        type: str
        choices: [blank, http, registry, pvc]
        default: blank
      url:
        description: Image URL, for V(http) (C(https://...)) and V(registry) (C(docker://...)).
        type: str
      name:
        description: PVC to clone, for V(pvc).
        type: str
      namespace:
        description: Namespace of the PVC to clone, for V(pvc); defaults to O(namespace).
        type: str
  cloud_init_user_data:
    description: cloud-init user data (NoCloud disk); on creation only. Keep secrets out of it, or use a Secret.
    type: str
  wait:
    description:
      - Wait until the VM is Ready (running strategies), has no VMI (V(Halted)), or is gone (V(absent)).
      - Not in check mode.
    type: bool
    default: false
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.kubevirt_vm
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the VM and sends the write as a server-side dry run, so the API server validates it and returns the result.
  diff_mode:
    support: full
    details: Before and after of what changes (status and API bookkeeping left out).
  platform:
    platforms: posix
notes:
  - Changing the template of a running VM (memory, CPU, affinity) is applied by KubeVirt as its
    C(vmRolloutStrategy) says - live with V(LiveUpdate) (the C(twinroom.ha.kubevirt) role's default) for
    what can be hot-plugged, else at the next restart (C(RestartRequired) condition).
  - Labels and annotations are merged; removing one from the options does not remove it from the VM.
seealso:
  - module: twinroom.ha.vm_info
  - module: kubevirt.core.kubevirt_vm
  - name: KubeVirt run strategies
    description: What Always, RerunOnFailure, Manual, Halted and Once do.
    link: https://kubevirt.io/user-guide/compute/run_strategies/
requirements:
  - kubernetes >= 24.2.0 (Python)
'''

EXAMPLES = r'''
- name: A pair of VMs, one at home in each room, on replicated disks imported from an image; the group keeps them apart
  twinroom.ha.vm:
    name: "{{ item.name }}"
    namespace: prod
    home_room: "{{ item.home_room }}"
    anti_affinity_group: db
    cpu_cores: 2
    memory: 4Gi
    disk_size: 40Gi
    source:
      type: http
      url: https://images.example.com/debian-12.qcow2
    kubeconfig: /etc/twinroom/admin.kubeconfig
  loop:
    - {name: db-1, home_room: room-a}
    - {name: db-2, home_room: room-b}

- name: Stop a VM (runStrategy Halted); its spec is left as it is
  twinroom.ha.vm:
    name: db-2
    namespace: prod
    state: stopped

- name: Start it again and wait until it is Ready
  twinroom.ha.vm:
    name: db-2
    namespace: prod
    state: started
    wait: true
    wait_timeout: 300

- name: Known rooms given, for a controller that may not list Nodes
  twinroom.ha.vm:
    name: web-1
    namespace: prod
    home_room: "{{ hostvars[groups['room_a'][0]].twinroom_zone }}"
    rooms: "{{ (groups['room_a'][:1] + groups['room_b'][:1]) | map('extract', hostvars, 'twinroom_zone') | list }}"

- name: Remove a VM
  twinroom.ha.vm:
    name: web-1
    namespace: prod
    state: absent
'''

RETURN = r'''
result:
  description: The VirtualMachine as the API server returned it after the write (the dry-run result in check mode); empty after a delete.
  returned: always
  type: dict
method:
  description: What kubernetes.core's runner did - V(create), V(update) (a merge patch) or V(delete).
  returned: always
  type: str
  sample: update
run_strategy:
  description: The VM's C(runStrategy) after the task; null for O(state=absent).
  returned: always
  type: str
  sample: Always
home_room:
  description: The VM's home room after the task (its C(twinroom.io/home-room) label or zone affinity).
  returned: always
  type: str
  sample: room-a
duration:
  description: Seconds waited, with O(wait=true).
  returned: when waited
  type: int
diff:
  description: The parts that differ, before and after.
  returned: when diff mode is on
  type: dict
  sample: {before: {spec: {template: {spec: {domain: {memory: {guest: 1Gi}}}}}},
           after: {spec: {template: {spec: {domain: {memory: {guest: 2Gi}}}}}}}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.vm_runner import (
    HAS_KUBERNETES_CORE,
    VmError,
    run_vm,
    vm_argument_spec,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
except ImportError:  # pragma: no cover - reported below
    AUTH_ARG_SPEC = {}
    AnsibleK8SModule = None


def main():
    if AnsibleK8SModule is None or not HAS_KUBERNETES_CORE:
        AnsibleModule(argument_spec={}, bypass_checks=True).fail_json(msg=missing_required_lib('kubernetes.core collection'))
    module = AnsibleK8SModule(
        module_class=AnsibleModule,
        argument_spec=vm_argument_spec(AUTH_ARG_SPEC),
        supports_check_mode=True,
    )
    finish(module, run_vm, VmError, module)


if __name__ == '__main__':
    main()
