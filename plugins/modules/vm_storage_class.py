#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_storage_class
short_description: The StorageClass for KubeVirt disks - two DRBD replicas, one in each room
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Creates, updates or deletes a StorageClass of the LINSTOR CSI driver (C(linstor.csi.linbit.com)) that
    places each volume's replicas in different rooms (C(replicasOnDifferent) on the zone label), two by default,
    with DRBD quorum settings for two rooms and a tiebreaker, C(WaitForFirstConsumer) binding and volume
    expansion.
  - Volumes of this class can be used as C(ReadWriteMany) with C(volumeMode=Block), which is what KubeVirt
    needs to live-migrate a VM; access mode and volume mode are properties of the PVC (or DataVolume), not of
    the class.
  - Refuses a single replica in a cluster of two rooms, and more replicas than rooms.
  - A StorageClass's provisioner, parameters, reclaim policy and binding mode cannot change once it exists.
    When they differ, the module fails and names the differences, unless O(recreate=true), which deletes the
    class and creates it again. Volumes already provisioned keep the settings they were created with.
  - Reads the object first and writes by server-side apply (field manager C(twinroom.ha)); check mode is a
    server-side dry run and C(--diff) shows the object before and after. A second run changes nothing.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.piraeus_k8s
options:
  name:
    description: Name of the StorageClass.
    type: str
    required: true
  storage_pool:
    description: The LINSTOR storage pool the replicas are allocated from; both rooms must offer a pool of this name.
    type: str
  zones:
    description:
      - The O(zone_label) value of every room, for example C([room-a, room-b]). At least two.
      - Required with O(state=present).
    type: list
    elements: str
  zone_label:
    description: The node label that names a node's room (C(replicasOnDifferent)).
    type: str
    default: topology.kubernetes.io/zone
  placement_count:
    description:
      - Diskful replicas per volume (C(placementCount)), each in a different room. At least 2 and at most the
        number of O(zones).
    type: int
    default: 2
  allow_remote_volume_access:
    description:
      - Where a volume may be attached without a local replica (diskless, over the network;
        C(allowRemoteVolumeAccess)).
      - V(same_zone) - on any node of a room that holds a replica. With a replica in each room that is every
        node of both rooms; a site that holds no replica (a witness) gets no diskless attachment.
      - V(anywhere) - on any node. V(local_only) - only where a replica is; a VM can then only run, and
        live-migrate, on the nodes that hold its replicas.
    type: str
    choices: [same_zone, anywhere, local_only]
    default: same_zone
  quorum:
    description:
      - DRBD quorum (C(DrbdOptions/Resource/quorum)). V(majority) - a replica keeps doing I/O only while it sees
        a majority of the resource's nodes (the other room's replica or the tiebreaker), which rules out a
        split brain between the rooms. V(off) allows a split brain; the module warns.
    type: str
    choices: [majority, 'off']
    default: majority
  on_no_quorum:
    description:
      - What a replica does when it loses quorum (C(DrbdOptions/Resource/on-no-quorum)). V(suspend-io) - I/O
        blocks until quorum returns (or an operator overrides it after fencing the other room); the VM pauses,
        no error reaches the guest. V(io-error) - I/O fails at once; guest filesystems go read-only.
      - Not set when O(quorum=off).
    type: str
    choices: [suspend-io, io-error]
    default: suspend-io
  reclaim_policy:
    description: What happens to a volume when its claim is deleted.
    type: str
    choices: [Delete, Retain]
    default: Delete
  volume_binding_mode:
    description:
      - V(WaitForFirstConsumer) provisions when the first pod (the VM's launcher) is scheduled, so a replica can
        be placed on its node.
    type: str
    choices: [WaitForFirstConsumer, Immediate]
    default: WaitForFirstConsumer
  allow_volume_expansion:
    description: Volumes of the class can be grown.
    type: bool
    default: true
  default_class:
    description: Mark the class as the cluster's default StorageClass.
    type: bool
    default: false
  parameters:
    description:
      - More StorageClass parameters, for example C(property.linstor.csi.linbit.com/DrbdOptions/Net/max-buffers).
        They may not contradict the options above.
    type: dict
  recreate:
    description:
      - When the class exists with another provisioner, other parameters, reclaim policy or binding mode, delete it
        and create it again. Without it the module fails and names the differences.
    type: bool
    default: false
seealso:
  - module: twinroom.ha.vm_storage_class_info
  - module: twinroom.ha.piraeus_satellite_configuration
  - module: twinroom.ha.piraeus_node_connection
"""

EXAMPLES = r"""
- name: VM disks - one replica in each room, I/O suspended without quorum
  twinroom.ha.vm_storage_class:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    name: twinroom-vm
    storage_pool: vmdata
    zones: [room-a, room-b]

- name: Change the quorum policy of an existing class (delete and create it again)
  twinroom.ha.vm_storage_class:
    name: twinroom-vm
    storage_pool: vmdata
    zones: [room-a, room-b]
    on_no_quorum: io-error
    recreate: true

# A PVC for a VM that can live-migrate: ReadWriteMany and a raw block device.
- name: Disk of VM web1
  kubernetes.core.k8s:
    definition:
      apiVersion: v1
      kind: PersistentVolumeClaim
      metadata: {name: web1-disk, namespace: vms}
      spec:
        storageClassName: twinroom-vm
        accessModes: [ReadWriteMany]
        volumeMode: Block
        resources: {requests: {storage: 20Gi}}
"""

RETURN = r"""
result:
  description: The StorageClass as the API server returned it (as it would be, in check mode).
  returned: success
  type: dict
method:
  description: What was done - C(apply), C(recreate) or C(delete).
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
    if params['state'] == 'absent':
        return {'apiVersion': 'storage.k8s.io/v1', 'kind': 'StorageClass', 'metadata': {'name': params['name']}}
    return piraeus.storage_class(
        params['name'], params['storage_pool'], params['zones'], placement_count=params['placement_count'],
        zone_label=params['zone_label'], allow_remote_volume_access=params['allow_remote_volume_access'],
        quorum=params['quorum'], on_no_quorum=params['on_no_quorum'], reclaim_policy=params['reclaim_policy'],
        volume_binding_mode=params['volume_binding_mode'], allow_volume_expansion=params['allow_volume_expansion'],
        default_class=params['default_class'], parameters=params['parameters'], labels=params['labels'])


def refusal(existing, definition):
    changes = piraeus.immutable_changes(existing, definition)
    return piraeus.immutable_refusal(definition['metadata']['name'], changes) if changes else None


def main():
    module = piraeus_k8s.make_module(piraeus_k8s.argument_spec(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        storage_pool=dict(type='str'),
        zones=dict(type='list', elements='str'),
        zone_label=dict(type='str', default=piraeus.ZONE_LABEL),
        placement_count=dict(type='int', default=2),
        allow_remote_volume_access=dict(type='str', choices=list(piraeus.REMOTE_ACCESS), default='same_zone'),
        quorum=dict(type='str', choices=list(piraeus.QUORUM_CHOICES), default='majority'),
        on_no_quorum=dict(type='str', choices=list(piraeus.ON_NO_QUORUM_CHOICES), default='suspend-io'),
        reclaim_policy=dict(type='str', choices=['Delete', 'Retain'], default='Delete'),
        volume_binding_mode=dict(type='str', choices=['WaitForFirstConsumer', 'Immediate'],
                                 default='WaitForFirstConsumer'),
        allow_volume_expansion=dict(type='bool', default=True),
        default_class=dict(type='bool', default=False),
        parameters=dict(type='dict'),
        labels=dict(type='dict'),
        recreate=dict(type='bool', default=False),
    ), required_if=[('state', 'present', ('storage_pool', 'zones'))])
    if module.params['state'] == 'present' and module.params['quorum'] == 'off':
        module.warn('quorum: off lets both rooms write to their replica while the link between them is down '
                    '(a DRBD split brain); use quorum: majority for two rooms.')
    finish(module, piraeus_k8s.run, piraeus.PiraeusError, module, build, refusal)


if __name__ == '__main__':
    main()
