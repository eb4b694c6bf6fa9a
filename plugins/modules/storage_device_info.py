#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: storage_device_info
short_description: Read what the devices meant for a LINSTOR storage pool hold, and what the kernel supports
version_added: 0.1.0
description:
  - Reads each listed device and decides whether a storage pool may be put on it. Reads only; never changes
    anything, also outside check mode.
  - Reads the device tree with C(lsblk --json) (partitions, mount points, swap), every signature on the device and
    its partitions with C(wipefs --no-act --json) (libblkid's low-level probe - partition tables, filesystems,
    swap, RAID, LUKS, LVM and ZFS members), the volume group of each LVM physical volume with
    C(pvs --reportformat json), and C(/sys/class/block/*/holders).
  - "Per device, the first that applies: V(missing) (no such block device); V(own) (a physical volume of the
    O(pool_name) volume group with O(pool_type=lvm_thin), or a member of the O(pool_name) ZFS pool with
    O(pool_type=zfs_thin) - so a second run goes on); V(mounted) (the device or a partition is mounted or is
    active swap); V(in_use) (held by device-mapper, RAID, ...); V(partition_table); V(lvm) (LVM metadata, with
    its volume group); V(filesystem) (any other signature, with its type); V(free)."
  - Each device that is not V(free) or V(own) gives an exact refusal in RV(refusals) naming O(host), the device
    and what was found - unless it is V(partition_table), V(lvm) or V(filesystem) and listed in
    O(allow_wipe_devices); then RV(devices) lists in C(wipe) the paths to erase. V(missing), V(mounted) and
    V(in_use) are always refused.
  - Reads the kernel's DRBD module (C(/proc/drbd), C(/sys/module/drbd/version), C(modinfo drbd)), its
    device-mapper thin-pool target and its ZFS module. A pool type the kernel cannot hold is refused. DRBD older
    than 9 or missing is refused with O(drbd_check=required), reported as a warning with V(warn).
options:
  devices:
    description:
      - Block devices for the pool, as the operator lists them (C(/dev/disk/by-id/...) paths are resolved).
    type: list
    elements: path
    default: []
  pool_type:
    description:
      - The storage pool the devices are for - V(lvm_thin) (a volume group with a thin LV), V(zfs_thin) (a zpool)
        or V(file_thin) (a directory; no devices). Decides which devices count as the pool's own and which kernel
        support is needed.
    type: str
    choices: [lvm_thin, zfs_thin, file_thin]
    required: true
  pool_name:
    description:
      - Name of the volume group (V(lvm_thin)) or zpool (V(zfs_thin)) whose devices are the pool's own.
    type: str
    required: true
  allow_wipe_devices:
    description:
      - Devices (as listed in O(devices), or their resolved path) that may be wiped when they hold a partition
        table, LVM metadata or a filesystem signature. Explicit, per device.
    type: list
    elements: path
    default: []
  drbd_check:
    description:
      - V(required) - a missing or pre-9 DRBD module is a refusal. V(warn) - it is a warning. V(skip) - not
        judged (still read and returned).
    type: str
    choices: [required, warn, skip]
    default: required
  host:
    description:
      - Name used in messages, usually C(inventory_hostname).
    type: str
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
attributes:
  check_mode:
    details: Reads only; the same in check mode.
requirements:
  - util-linux (C(lsblk), C(wipefs)); C(pvs) (lvm2) and C(modinfo) (kmod) are used when installed.
notes:
  - C(pvcreate -f), which M(community.general.lvg) runs, and C(zpool create -f) erase the signatures they find
    without asking; run this first and stop on RV(refusals).
seealso:
  - module: community.general.lvg
  - module: community.general.lvol
  - module: community.general.zpool
author:
  - twinroom developers (@twinroom)
'''

EXAMPLES = r'''
- name: Read the devices and the kernel before making the pool
  twinroom.ha.storage_device_info:
    devices:
      - /dev/disk/by-id/nvme-SAMSUNG_MZQL2960HCJR-00A07_S64FNE0R123456
    pool_type: lvm_thin
    pool_name: linstor_thin
    allow_wipe_devices: []
    drbd_check: required
    host: "{{ inventory_hostname }}"
  register: storage

- name: Stop on any refusal, before any device changes
  ansible.builtin.fail:
    msg: "{{ storage.refusals | join(' ') }}"
  when: storage.refusals | length > 0
'''

RETURN = r'''
devices:
  description: Per listed device (keyed as listed), what was found and decided.
  returned: always
  type: dict
  contains:
    path:
      description: The resolved device path; null when it does not exist.
      type: str
    state:
      description: V(free), V(own), V(partition_table), V(lvm), V(filesystem), V(mounted), V(in_use) or V(missing).
      type: str
    found:
      description: What was found, as the refusal says it (for example C(a filesystem signature (ext4))).
      type: str
    signatures:
      description: Signature types wipefs found on the device itself.
      type: list
      elements: str
    children:
      description: Paths of its partitions (and other devices stacked on it).
      type: list
      elements: str
    mountpoints:
      description: Where the device or its partitions are mounted (C([SWAP]) for active swap).
      type: list
      elements: str
    vg:
      description: Volume group of the physical volume (empty for a PV in no VG); null when not a PV.
      type: str
    refusal:
      description: The exact refusal for this device, or null.
      type: str
    wipe:
      description: Paths to erase with C(wipefs --all), partitions first; empty unless allowed and needed and
        nothing at all was refused.
      type: list
      elements: str
  sample:
    /dev/loop0: {path: /dev/loop0, state: filesystem, found: a filesystem signature (ext4), signatures: [ext4],
                 children: [], mountpoints: [], vg: null, wipe: [],
                 refusal: "storage_host: host s-a1: refusing to use /dev/loop0: it has a filesystem signature (ext4).
                   No device was changed. Make sure it holds nothing you need, then wipe it yourself
                   (wipefs --all /dev/loop0) or list it in storage_host_allow_wipe_devices."}
refusals:
  description: Every refusal (devices, kernel support for the pool type, DRBD with O(drbd_check=required)); empty
    when the pool may be made.
  returned: always
  type: list
  elements: str
kernel:
  description: What the running kernel supports.
  returned: always
  type: dict
  contains:
    drbd:
      description: C(loaded) and C(available) DRBD module versions (null when none), C(ok) (DRBD 9 or newer) and
        C(problem) (what is wrong and what to install).
      type: dict
    device_mapper:
      description: The device-mapper driver is present or loadable.
      type: bool
    dm_thin_pool:
      description: The device-mapper thin-pool target is loaded or loadable (needed by V(lvm_thin)).
      type: bool
    zfs:
      description: The zfs module is loaded or installed (needed by V(zfs_thin)).
      type: bool
  sample: {drbd: {loaded: null, available: '9.2.12', ok: true, problem: null}, device_mapper: true, dm_thin_pool: true,
           zfs: false}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish
from ansible_collections.twinroom.ha.plugins.module_utils.storage_device import (
    DRBD_CHECKS,
    POOL_TYPES,
    StorageDeviceError,
    run_storage_device_info,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type='list', elements='path', default=[]),
            pool_type=dict(type='str', required=True, choices=list(POOL_TYPES)),
            pool_name=dict(type='str', required=True),
            allow_wipe_devices=dict(type='list', elements='path', default=[]),
            drbd_check=dict(type='str', default='required', choices=list(DRBD_CHECKS)),
            host=dict(type='str', required=True),
        ),
        supports_check_mode=True,
    )
    finish(module, run_storage_device_info, StorageDeviceError, module, module.params)


if __name__ == '__main__':
    main()
