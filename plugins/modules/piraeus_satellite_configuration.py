#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: piraeus_satellite_configuration
short_description: A room's LINSTOR satellites and storage pools (Piraeus LinstorSatelliteConfiguration)
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Creates, updates or deletes a cluster-scoped C(piraeus.io/v1) C(LinstorSatelliteConfiguration). One per
    room - its node selector is the room's C(topology.kubernetes.io/zone) value - with the storage pools the
    room's nodes offer LINSTOR.
  - Storage pools are LVM thin pools, ZFS thin pools or directories of sparse files, optionally made by the
    operator from listed raw host devices.
  - Checks what the operator's admission webhook would (pool names, device paths, one device per pool), since
    the webhook is not part of the CRDs.
  - Reads the object first and writes by server-side apply (field manager C(twinroom.ha)); check mode is a
    server-side dry run and C(--diff) shows the object before and after. A second run changes nothing. Fails,
    without writing, when the API server would drop an option because its Piraeus CRDs are older than the
    option.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.piraeus_k8s
options:
  name:
    description: Name of the LinstorSatelliteConfiguration, for example C(twinroom-room-a).
    type: str
    required: true
  zone:
    description:
      - The room's value of O(zone_label). The configuration applies to the nodes with that label value only.
      - Without it (and without O(node_selector)) the configuration applies to every satellite.
    type: str
  zone_label:
    description: The node label that names a node's room.
    type: str
    default: topology.kubernetes.io/zone
  node_selector:
    description: More node labels the nodes must carry (C(spec.nodeSelector), together with the zone).
    type: dict
  storage_pools:
    description: The storage pools of the selected nodes (C(spec.storagePools)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - LINSTOR storage pool name, 3 to 48 letters, digits, C(_) or C(-). The VM StorageClass names it;
            give the pools of both rooms the same name.
        type: str
        required: true
      type:
        description:
          - V(lvm_thin) - an LVM thin pool (C(lvmThinPool)); V(zfs_thin) - sparse zvols on a zpool
            (C(zfsThinPool)); V(file_thin) - sparse files in a directory (C(fileThinPool)), for test beds.
          - V(zfs_thin) needs the CRDs of a Piraeus operator release newer than v2.4.0 (the one the lab
            installs); on older CRDs the module fails and says so.
        type: str
        choices: [lvm_thin, zfs_thin, file_thin]
        required: true
      devices:
        description:
          - Raw block devices (C(/dev/...)) the operator prepares as the pool when it does not exist yet
            (C(source.hostDevices)). Not for V(file_thin). Leave out to use a pool that already exists.
        type: list
        elements: str
      volume_group:
        description: V(lvm_thin) - the volume group. The operator's default is C(linstor_<thin_pool>).
        type: str
      thin_pool:
        description:
          - V(lvm_thin) - the thin pool logical volume, without the VG.
          - The operator's default is O(storage_pools[].name).
        type: str
      zpool:
        description: V(zfs_thin) - the zpool. The operator's default is O(storage_pools[].name).
        type: str
      directory:
        description:
          - V(file_thin) - absolute path of the directory.
          - The operator's default is C(/var/lib/linstor-pools/<name>).
        type: str
      properties:
        description: LINSTOR properties of the storage pool, name to value.
        type: dict
  properties:
    description: LINSTOR properties of the selected satellites (nodes), name to value (C(spec.properties)).
    type: dict
  tolerations:
    description:
      - Tolerations of the selected nodes' satellite pods (C(spec.podTemplate.spec.tolerations), a patch the
        operator applies to the pods it makes).
      - The storage_layer role tolerates the C(node.kubernetes.io/out-of-service) taint. After a failover, the
        returning room's satellites must run while its nodes still carry it, so that their DRBD replicas resync
        before recover.yml clears it.
    type: list
    elements: dict
    suboptions:
      key:
        description: The taint key.
        type: str
      operator:
        description: V(Exists) or V(Equal).
        type: str
        choices: [Exists, Equal]
      value:
        description: The taint value, with V(Equal).
        type: str
      effect:
        description: The taint effect; all effects when left out.
        type: str
        choices: [NoSchedule, PreferNoSchedule, NoExecute]
      toleration_seconds:
        description: With V(NoExecute), how long the pod stays once tainted; forever when left out.
        type: int
requirements:
  - The Piraeus operator's CRDs installed on the API server
seealso:
  - module: twinroom.ha.piraeus_satellite_configuration_info
  - module: twinroom.ha.vm_storage_class
"""

EXAMPLES = r"""
- name: Room A offers an LVM thin pool built from two NVMe disks
  twinroom.ha.piraeus_satellite_configuration:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    name: twinroom-room-a
    zone: room-a
    storage_pools:
      - name: vmdata
        type: lvm_thin
        devices: [/dev/nvme1n1, /dev/nvme2n1]

- name: Room B uses the thin pool vg_vm/thin it already has
  twinroom.ha.piraeus_satellite_configuration:
    name: twinroom-room-b
    zone: room-b
    storage_pools:
      - name: vmdata
        type: lvm_thin
        volume_group: vg_vm
        thin_pool: thin

- name: A test bed - sparse files
  twinroom.ha.piraeus_satellite_configuration:
    name: twinroom-lab
    storage_pools:
      - name: vmdata
        type: file_thin
        directory: /var/lib/linstor-pools/vmdata
"""

RETURN = r"""
result:
  description: The LinstorSatelliteConfiguration as the API server returned it (as it would be, in check mode).
  returned: success
  type: dict
method:
  description: What was done - C(apply) or C(delete).
  returned: success
  type: str
diff:
  description: The object before and after, when run with C(--diff).
  returned: when diff mode is on and something changes
  type: dict
"""

from ansible_collections.twinroom.ha.plugins.module_utils import piraeus, piraeus_k8s
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def build(params):
    return piraeus.satellite_configuration(
        params['name'], zone=params['zone'], storage_pools=params['storage_pools'], zone_label=params['zone_label'],
        node_selector=params['node_selector'], properties=params['properties'], labels=params['labels'],
        tolerations=params['tolerations'])


def main():
    module = piraeus_k8s.make_module(piraeus_k8s.argument_spec(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        zone=dict(type='str'),
        zone_label=dict(type='str', default=piraeus.ZONE_LABEL),
        node_selector=dict(type='dict'),
        storage_pools=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            type=dict(type='str', required=True, choices=list(piraeus.POOL_TYPES)),
            devices=dict(type='list', elements='str'),
            volume_group=dict(type='str'),
            thin_pool=dict(type='str'),
            zpool=dict(type='str'),
            directory=dict(type='str'),
            properties=dict(type='dict'),
        )),
        properties=dict(type='dict'),
        labels=dict(type='dict'),
        tolerations=dict(type='list', elements='dict', options=dict(
            key=dict(type='str', no_log=False),
            operator=dict(type='str', choices=['Exists', 'Equal']),
            value=dict(type='str'),
            effect=dict(type='str', choices=['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
            toleration_seconds=dict(type='int'),
        )),
    ))
    finish(module, piraeus_k8s.run, piraeus.PiraeusError, module, build)


if __name__ == '__main__':
    main()
