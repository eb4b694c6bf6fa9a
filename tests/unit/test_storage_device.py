# -*- coding: utf-8 -*-
"""Which devices a storage host may put its pool on, and whether its kernel can serve LINSTOR: the pure
decisions of plugins/module_utils/storage_device.py over lsblk / wipefs / pvs output (fixtures captured from
loop devices; see tests/unit/fixtures/storage_device/devices.yml)."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils import storage_device as sd

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'storage_device'
CASES = yaml.safe_load((FIXTURES / 'devices.yml').read_text())
HOST = 's-a1'
KERNEL_OK = dict(device_mapper=True, dm_thin_pool=True, zfs=True,
                 drbd=dict(loaded='9.2.12', available='9.2.12', ok=True, problem=None))


def _observed(case):
    path = case['lsblk']['path']
    return dict(resolved=path, block=True, lsblk=case['lsblk'], signatures=case['signatures'],
                holders=case.get('holders', []))


def _decide(case, allow=()):
    device = case['lsblk']['path']
    observed = {device: _observed(case), '__pvs__': case.get('pvs')}
    return sd.decide(HOST, case.get('pool_type', 'lvm_thin'), 'linstor_thin', [device], observed, KERNEL_OK,
                     'required', list(allow)), device


@pytest.mark.parametrize('name', sorted(CASES))
def test_classify(name):
    case = CASES[name]
    device = case['lsblk']['path']
    observed = dict(_observed(case), pvs=case.get('pvs'))
    entry = sd.classify_device(device, observed, case.get('pool_type', 'lvm_thin'), 'linstor_thin')
    assert entry['state'] == case['expect']['state']
    assert entry['found'] == case['expect']['found']
    if 'vg' in case['expect']:
        assert entry['vg'] == case['expect']['vg']


@pytest.mark.parametrize('name,message', [
    ('ext4', 'storage_host: host s-a1: refusing to use /dev/loop0: it has a filesystem signature (ext4). No device was '
             'changed. Make sure it holds nothing you need, then wipe it yourself (wipefs --all /dev/loop0) or list it '
             'in storage_host_allow_wipe_devices.'),
    ('gpt', 'storage_host: host s-a1: refusing to use /dev/loop1: it has a partition table (gpt). No device was '
            'changed. Make sure it holds nothing you need, then wipe it yourself (wipefs --all /dev/loop1) or list it '
            'in storage_host_allow_wipe_devices.'),
    ('lvm_other_vg', 'storage_host: host s-a1: refusing to use /dev/loop2: it has LVM metadata (physical volume of '
                     'volume group shprobe). No device was changed. Make sure it holds nothing you need, then wipe it '
                     'yourself (wipefs --all /dev/loop2) or list it in storage_host_allow_wipe_devices.'),
    ('ext4_mounted', 'storage_host: host s-a1: refusing to use /dev/loop0: it is mounted at /tmp/sh-probe/mnt. A '
                     'mounted device is never wiped; unmount it and remove it from /etc/fstab first.'),
    ('held_by_device_mapper', 'storage_host: host s-a1: refusing to use /dev/sdf: it is held by dm-3 (device-mapper, '
                              'RAID or another user). Release it first.'),
])
def test_refusal_is_exact(name, message):
    result, device = _decide(CASES[name])
    assert result['refusals'] == [message]
    assert result['devices'][device]['refusal'] == message
    assert result['devices'][device]['wipe'] == []


@pytest.mark.parametrize('name', ['clean', 'lvm_own_pool_with_active_lvs', 'zfs_own_pool'])
def test_free_and_own_devices_pass_untouched(name):
    result, device = _decide(CASES[name])
    assert result['refusals'] == []
    assert result['devices'][device]['wipe'] == []


@pytest.mark.parametrize('name', ['ext4', 'gpt', 'gpt_with_partitions', 'lvm_orphan', 'lvm_other_vg', 'zfs_other_pool'])
def test_allowed_device_is_wiped_partitions_first(name):
    case = CASES[name]
    result, device = _decide(case, allow=[case['lsblk']['path']])
    assert result['refusals'] == []
    assert result['devices'][device]['wipe'] == case['expect'].get('wipe', [device])


@pytest.mark.parametrize('name', ['ext4_mounted', 'partition_mounted', 'held_by_device_mapper'])
def test_allow_never_covers_mounted_or_held(name):
    case = CASES[name]
    result, device = _decide(case, allow=[case['lsblk']['path']])
    assert len(result['refusals']) == 1
    assert result['devices'][device]['wipe'] == []


def test_allowed_by_the_listed_name_of_a_symlink():
    case = CASES['ext4']
    listed = '/dev/disk/by-id/virtio-data1'
    observed = {listed: _observed(case), '__pvs__': None}
    result = sd.decide(HOST, 'lvm_thin', 'linstor_thin', [listed], observed, KERNEL_OK, 'required', [listed])
    assert result['refusals'] == []
    assert result['devices'][listed]['wipe'] == ['/dev/loop0']


def test_any_refusal_cancels_every_wipe():
    allowed, refused = CASES['ext4'], CASES['gpt']
    observed = {'/dev/loop0': _observed(allowed), '/dev/loop1': _observed(refused), '__pvs__': None}
    result = sd.decide(HOST, 'lvm_thin', 'linstor_thin', ['/dev/loop0', '/dev/loop1'], observed, KERNEL_OK,
                       'required', ['/dev/loop0'])
    assert len(result['refusals']) == 1
    assert result['devices']['/dev/loop0']['refusal'] is None
    assert result['devices']['/dev/loop0']['wipe'] == []


def test_missing_device():
    result = sd.decide(HOST, 'lvm_thin', 'linstor_thin', ['/dev/disk/by-id/gone'],
                       {'/dev/disk/by-id/gone': dict(resolved=None, block=False, lsblk=None)}, KERNEL_OK, 'required',
                       ['/dev/disk/by-id/gone'])
    assert result['refusals'] == [
        'storage_host: host s-a1: refusing to use /dev/disk/by-id/gone: no such block device. Check '
        'storage_host_devices for this host (a /dev/disk/by-id/ path stays right across reboots).']


@pytest.mark.parametrize('proc,sys_version,modinfo,modinfo_found,ok,loaded,available,problem', [
    ('version: 9.2.12 (api:2/proto:86-122)\nGIT-hash: 0123 build by root\n', '9.2.12\n', '9.2.12', True, True,
     '9.2.12', '9.2.12', None),
    (None, None, '9.2.8', True, True, None, '9.2.8', None),
    (None, None, '8.4.11', True, False, None, '8.4.11',
     "the DRBD kernel module is 8.4.11, the kernel's in-tree DRBD 8.4 (/proc/drbd: absent, modinfo drbd: version "
     "8.4.11); LINSTOR needs DRBD 9. Install LINBIT's drbd-dkms (with linux-headers for the running kernel) or your "
     "vendor's DRBD 9 module package, then modprobe drbd."),
    ('version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 1234\n', None, '9.2.12', True, False, '8.4.11', '9.2.12',
     'the loaded DRBD kernel module is 8.4.11 (/proc/drbd: version 8.4.11, modinfo drbd: version 9.2.12); LINSTOR '
     'needs DRBD 9. DRBD 9.2.12 is installed: unload the old module (rmmod drbd) and modprobe drbd, or reboot.'),
    (None, None, None, True, False, None, None,
     "no DRBD kernel module (/proc/drbd: absent, modinfo drbd: not found); LINSTOR needs DRBD 9. Install LINBIT's "
     "drbd-dkms (with linux-headers for the running kernel) or your vendor's DRBD 9 module package, then modprobe "
     "drbd."),
    (None, None, None, False, False, None, None,
     "no DRBD kernel module (/proc/drbd: absent, modinfo drbd: modinfo not installed (package kmod)); LINSTOR needs "
     "DRBD 9. Install LINBIT's drbd-dkms (with linux-headers for the running kernel) or your vendor's DRBD 9 module "
     "package, then modprobe drbd."),
])
def test_drbd_status(proc, sys_version, modinfo, modinfo_found, ok, loaded, available, problem):
    status = sd.drbd_status(proc, sys_version, modinfo, modinfo_found)
    assert status == dict(ok=ok, loaded=loaded, available=available, problem=problem)


@pytest.mark.parametrize('mode,refused,warned', [('required', True, False), ('warn', False, True),
                                                 ('skip', False, False)])
def test_drbd_check_modes(mode, refused, warned):
    kernel = dict(KERNEL_OK, drbd=sd.drbd_status(None, None, '8.4.11', True))
    result = sd.decide(HOST, 'file_thin', 'linstor_thin', [], {}, kernel, mode, [])
    assert bool(result['refusals']) is refused
    assert bool(result['warnings']) is warned
    if refused:
        assert result['refusals'][0].endswith(
            'Or set storage_host_drbd_check: warn to go on without DRBD (nothing is replicated).')
    if warned:
        assert result['warnings'][0].endswith('Going on without DRBD (storage_host_drbd_check: warn).')


@pytest.mark.parametrize('pool_type,kernel,message', [
    ('lvm_thin', dict(device_mapper=True, dm_thin_pool=False),
     'storage_host: host s-a1: cannot make an LVM thin pool: the kernel has no device-mapper thin-pool target '
     '(device-mapper: present, dm-thin-pool: not loaded and no module found). Use a kernel with device-mapper thin '
     'provisioning (CONFIG_DM_THIN_PROVISIONING), or another storage_host_pool_type (zfs_thin, file_thin).'),
    ('zfs_thin', dict(zfs=False),
     "storage_host: host s-a1: cannot make a ZFS pool: no zfs kernel module is loaded or installed. Install zfs-dkms "
     "and zfsutils-linux (Debian contrib) or your vendor's ZFS, then modprobe zfs; or use another "
     "storage_host_pool_type (lvm_thin, file_thin)."),
    ('file_thin', dict(device_mapper=False, dm_thin_pool=False, zfs=False), None),
])
def test_kernel_support_for_the_pool_type(pool_type, kernel, message):
    assert sd.kernel_refusal(HOST, pool_type, kernel) == message
