# -*- coding: utf-8 -*-
"""roles/storage_host on this machine, on loop devices this test makes (marker ``loopdev``).

Each device is a loop device over a sparse file under pytest's tmp_path. Every command that writes to a
device first checks, through ``losetup --list --json``, that the device is backed by a file of this test;
the machine's real disks are never named. A finalizer removes the test's volume groups and detaches the
loop devices, whatever happened.

This machine's kernel has no device-mapper (and no DRBD, no ZFS): an LVM thin pool cannot be made here, so
the tests check that the role refuses it before touching the device; the thin pool test runs only where
the kernel has the device-mapper thin-pool target.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import uuid

import pytest

from playbook import run_playbook

pytestmark = pytest.mark.loopdev

PLAYBOOK = 'tests/integration/storage_host/storage_host.yml'
INVENTORY = 'tests/integration/storage_host/localhost.yml'
HOST = 'localhost'
TOOLS = ('losetup', 'wipefs', 'lsblk', 'mkfs.ext4', 'sgdisk', 'pvcreate', 'vgcreate', 'vgremove', 'pvs')


def _missing_tools():
    return [tool for tool in TOOLS if not shutil.which(tool)]


if os.geteuid() != 0 or not os.path.exists('/dev/loop-control') or _missing_tools():
    pytest.skip('needs root, /dev/loop-control and %s (missing: %s)' % (', '.join(TOOLS), ', '.join(_missing_tools())),
                allow_module_level=True)


def _dm_thin_available():
    """The same facts storage_device_info reads, enough to know whether a thin pool can be made here."""
    misc = pathlib.Path('/proc/misc').read_text()
    return 'device-mapper' in misc and (
        os.path.isdir('/sys/module/dm_thin_pool')
        or subprocess.run(['modinfo', 'dm_thin_pool'], capture_output=True, check=False).returncode == 0)


def _drbd_module_present():
    return os.path.exists('/proc/drbd') or subprocess.run(
        ['modinfo', 'drbd'], capture_output=True, check=False).returncode == 0


def _run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout


class LoopDevices:
    """Loop devices over sparse files in one directory, and the VGs the test made on them."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.files = {}
        self.vgs = []

    def make(self, name, size_mb=64):
        backing = self.directory / ('%s.img' % name)
        with open(backing, 'wb') as handle:
            handle.truncate(size_mb * 1024 * 1024)
        device = _run('losetup', '--find', '--show', str(backing)).strip()
        self.files[device] = backing
        self.check(device)
        return device

    def check(self, device):
        """Refuse to go on unless device is a loop device backed by this test's file."""
        listed = json.loads(_run('losetup', '--list', '--json', '--output', 'NAME,BACK-FILE', device))
        entries = listed.get('loopdevices') or []
        assert device.startswith('/dev/loop') and device in self.files, device
        assert len(entries) == 1 and entries[0]['back-file'] == str(self.files[device]), (device, entries)

    def write(self, device, *argv):
        self.check(device)
        return _run(*argv)

    def cleanup(self):
        for vg in self.vgs:
            subprocess.run(['vgremove', '--force', '--yes', vg], capture_output=True, check=False)
        for device, backing in self.files.items():
            listed = subprocess.run(['losetup', '--list', '--json', '--output', 'NAME,BACK-FILE', device],
                                    capture_output=True, text=True, check=False)
            if listed.returncode == 0 and str(backing) in listed.stdout:
                subprocess.run(['losetup', '--detach', device], capture_output=True, check=False)


@pytest.fixture
def loops(tmp_path):
    devices = LoopDevices(tmp_path)
    try:
        yield devices
    finally:
        devices.cleanup()


def _role(tmp_path, monkeypatch, check=False, **variables):
    """Run the role; returns (per task name: localhost result, stats of localhost)."""
    monkeypatch.setenv('ANSIBLE_STDOUT_CALLBACK', 'ansible.posix.json')
    monkeypatch.setenv('ANSIBLE_CALLBACK_RESULT_FORMAT', 'json')
    extra = dict(storage_host_install_packages=False,
                 storage_host_file_thin_dir=str(tmp_path / 'pools' / 'thin'))
    extra.update(variables)
    result = run_playbook(PLAYBOOK, INVENTORY, extra_vars=extra, check=check)
    report = json.loads(result.stdout[result.stdout.index('{'):])
    tasks = {}
    for play in report['plays']:
        for task in play['tasks']:
            tasks[task['task']['name'].split(' : ', 1)[-1]] = task['hosts'].get(HOST, {})
    return tasks, report['stats'][HOST]


READ = "Read the pool's devices and the kernel's DRBD, device-mapper and ZFS support"
REFUSE = 'Refuse the devices or kernel that cannot hold the pool'
WIPE = 'Wipe the devices listed in storage_host_allow_wipe_devices that hold signatures'
DM_REFUSAL = ('storage_host: host localhost: cannot make an LVM thin pool: the kernel has no device-mapper '
              'thin-pool target (device-mapper: absent, dm-thin-pool: not loaded and no module found). Use a '
              'kernel with device-mapper thin provisioning (CONFIG_DM_THIN_PROVISIONING), or another '
              'storage_host_pool_type (zfs_thin, file_thin).')


def _wipe_hint(device):
    return ('No device was changed. Make sure it holds nothing you need, then wipe it yourself (wipefs --all %s) '
            'or list it in storage_host_allow_wipe_devices.' % device)


def _signatures(device):
    out = _run('wipefs', '--no-act', '--json', device).strip()
    return [sig['type'] for sig in (json.loads(out)['signatures'] if out else [])]


def _assert_refused(tasks, stats, expected):
    """The role stopped at the refusal with exactly these device messages (+ the kernel one here)."""
    refusals = tasks[READ]['refusals']
    if not _dm_thin_available():
        expected = expected + [DM_REFUSAL]
    assert refusals == expected
    assert tasks[REFUSE]['failed'] is True
    assert tasks[REFUSE]['msg'] == ' '.join(expected)
    assert WIPE not in tasks
    assert stats['failures'] == 1 and stats['changed'] == 0


def test_refuses_a_device_with_a_filesystem(loops, tmp_path, monkeypatch):
    device = loops.make('ext4')
    loops.write(device, 'mkfs.ext4', '-q', device)
    tasks, stats = _role(tmp_path, monkeypatch, storage_host_devices=[device],
                         storage_host_pool_name='sh_test_%s' % uuid.uuid4().hex[:6], storage_host_drbd_check='skip')
    _assert_refused(tasks, stats, [
        'storage_host: host localhost: refusing to use %s: it has a filesystem signature (ext4). %s'
        % (device, _wipe_hint(device))])
    assert tasks[READ]['devices'][device]['state'] == 'filesystem'
    assert _signatures(device) == ['ext4']


def test_refuses_a_device_with_a_partition_table(loops, tmp_path, monkeypatch):
    device = loops.make('gpt')
    loops.write(device, 'sgdisk', '--clear', device)
    tasks, stats = _role(tmp_path, monkeypatch, storage_host_devices=[device], storage_host_drbd_check='skip')
    _assert_refused(tasks, stats, [
        'storage_host: host localhost: refusing to use %s: it has a partition table (gpt). %s'
        % (device, _wipe_hint(device))])
    assert sorted(_signatures(device)) == ['PMBR', 'gpt', 'gpt']


def test_refuses_lvm_metadata_naming_the_volume_group(loops, tmp_path, monkeypatch):
    orphan = loops.make('pv')
    member = loops.make('vgmember')
    other_vg = 'sh_other_%s' % uuid.uuid4().hex[:6]
    loops.write(orphan, 'pvcreate', '--quiet', orphan)
    loops.vgs.append(other_vg)
    loops.write(member, 'vgcreate', '--quiet', other_vg, member)
    tasks, stats = _role(tmp_path, monkeypatch, storage_host_devices=[orphan, member],
                         storage_host_drbd_check='skip')
    _assert_refused(tasks, stats, [
        'storage_host: host localhost: refusing to use %s: it has LVM metadata (physical volume in no volume '
        'group). %s' % (orphan, _wipe_hint(orphan)),
        'storage_host: host localhost: refusing to use %s: it has LVM metadata (physical volume of volume group '
        '%s). %s' % (member, other_vg, _wipe_hint(member))])
    assert tasks[READ]['devices'][member]['vg'] == other_vg


def test_refuses_a_mounted_device_even_when_wiping_is_allowed(loops, tmp_path, monkeypatch):
    device = loops.make('mounted')
    loops.write(device, 'mkfs.ext4', '-q', device)
    mountpoint = tmp_path / 'mnt'
    mountpoint.mkdir()
    loops.write(device, 'mount', device, str(mountpoint))
    try:
        tasks, stats = _role(tmp_path, monkeypatch, storage_host_devices=[device],
                             storage_host_allow_wipe_devices=[device], storage_host_drbd_check='skip')
    finally:
        subprocess.run(['umount', str(mountpoint)], check=True)
    _assert_refused(tasks, stats, [
        'storage_host: host localhost: refusing to use %s: it is mounted at %s. A mounted device is never wiped; '
        'unmount it and remove it from /etc/fstab first.' % (device, mountpoint)])
    assert _signatures(device) == ['ext4']


def test_refuses_a_missing_device(tmp_path, monkeypatch):
    device = '/dev/twinroom-test-no-such-device'
    tasks, stats = _role(tmp_path, monkeypatch, storage_host_devices=[device], storage_host_drbd_check='skip')
    _assert_refused(tasks, stats, [
        'storage_host: host localhost: refusing to use %s: no such block device. Check storage_host_devices for '
        'this host (a /dev/disk/by-id/ path stays right across reboots).' % device])


def test_allowed_wipe_waits_for_every_check(loops, tmp_path, monkeypatch):
    """An allowed device is not wiped in check mode, nor while anything else is refused."""
    allowed = loops.make('allowed')
    refused = loops.make('refused')
    loops.write(allowed, 'mkfs.ext4', '-q', allowed)
    loops.write(refused, 'mkfs.ext4', '-q', refused)
    variables = dict(storage_host_devices=[allowed, refused], storage_host_allow_wipe_devices=[allowed],
                     storage_host_drbd_check='skip')
    tasks, stats = _role(tmp_path, monkeypatch, **variables)
    _assert_refused(tasks, stats, [
        'storage_host: host localhost: refusing to use %s: it has a filesystem signature (ext4). %s'
        % (refused, _wipe_hint(refused))])
    assert tasks[READ]['devices'][allowed]['refusal'] is None
    assert tasks[READ]['devices'][allowed]['wipe'] == []
    assert _signatures(allowed) == ['ext4'] and _signatures(refused) == ['ext4']


def test_lvm_thin_on_a_clean_device_where_the_kernel_cannot(loops, tmp_path, monkeypatch):
    if _dm_thin_available():
        pytest.skip('this kernel has the device-mapper thin-pool target; test_lvm_thin_pool covers it')
    device = loops.make('clean')
    vg = 'sh_test_%s' % uuid.uuid4().hex[:6]
    loops.vgs.append(vg)
    for check in (True, False):
        tasks, stats = _role(tmp_path, monkeypatch, check=check, storage_host_devices=[device],
                             storage_host_pool_name=vg, storage_host_drbd_check='skip')
        assert tasks[READ]['devices'][device]['state'] == 'free'
        _assert_refused(tasks, stats, [])
    assert _signatures(device) == []
    assert vg not in _run('vgs', '--noheadings', '-o', 'vg_name')


NO_DM_THIN = 'the kernel has no device-mapper thin-pool target (/proc/misc has no device-mapper, no dm_thin_pool module)'


@pytest.mark.skipif(not _dm_thin_available(), reason=NO_DM_THIN)
def test_lvm_thin_pool(loops, tmp_path, monkeypatch):
    clean = loops.make('clean', size_mb=256)
    wiped = loops.make('wiped', size_mb=256)
    loops.write(wiped, 'mkfs.ext4', '-q', wiped)
    vg = 'sh_test_%s' % uuid.uuid4().hex[:6]
    loops.vgs.append(vg)
    variables = dict(storage_host_devices=[clean, wiped], storage_host_allow_wipe_devices=[wiped],
                     storage_host_pool_name=vg, storage_host_drbd_check='skip')

    tasks, stats = _role(tmp_path, monkeypatch, check=True, **variables)
    assert stats['failures'] == 0 and stats['changed'] > 0
    assert _signatures(wiped) == ['ext4'] and _signatures(clean) == []
    assert vg not in _run('vgs', '--noheadings', '-o', 'vg_name')

    tasks, stats = _role(tmp_path, monkeypatch, **variables)
    assert stats['failures'] == 0 and stats['changed'] > 0
    lvs = json.loads(_run('lvs', '--reportformat', 'json', '-o', 'lv_name,lv_attr', vg))['report'][0]['lv']
    assert [lv['lv_attr'][0] for lv in lvs if lv['lv_name'] == 'thinpool'] == ['t']
    assert tasks['Record the pool as a LINSTOR satellite storage pool source']['ansible_facts'] == {
        'storage_host_linstor_pool': {'lvmThinPool': {'volumeGroup': vg, 'thinPool': 'thinpool'}}}

    tasks, stats = _role(tmp_path, monkeypatch, **variables)
    assert stats['failures'] == 0 and stats['changed'] == 0
    assert {entry['state'] for entry in tasks[READ]['devices'].values()} == {'own'}


def test_file_thin_pool(tmp_path, monkeypatch):
    directory = tmp_path / 'pools' / 'thin'
    variables = dict(storage_host_pool_type='file_thin', storage_host_drbd_check='warn')

    tasks, stats = _role(tmp_path, monkeypatch, check=True, **variables)
    assert stats['failures'] == 0 and stats['changed'] == 1
    assert not directory.exists()

    tasks, stats = _role(tmp_path, monkeypatch, **variables)
    assert stats['failures'] == 0 and stats['changed'] == 1
    assert directory.is_dir() and (directory.stat().st_mode & 0o7777) == 0o700
    assert tasks['Record the pool as a LINSTOR satellite storage pool source']['ansible_facts'] == {
        'storage_host_linstor_pool': {'fileThinPool': {'directory': str(directory)}}}
    if not _drbd_module_present():
        assert tasks[READ]['warnings'] == [
            "storage_host: host localhost: no DRBD kernel module (/proc/drbd: absent, modinfo drbd: not found); "
            "LINSTOR needs DRBD 9. Install LINBIT's drbd-dkms (with linux-headers for the running kernel) or your "
            "vendor's DRBD 9 module package, then modprobe drbd. Going on without DRBD (storage_host_drbd_check: "
            "warn)."]

    tasks, stats = _role(tmp_path, monkeypatch, **variables)
    assert stats['failures'] == 0 and stats['changed'] == 0


@pytest.mark.skipif(_drbd_module_present(), reason='this host has a DRBD module')
def test_drbd_required_without_drbd(tmp_path, monkeypatch):
    tasks, stats = _role(tmp_path, monkeypatch, storage_host_pool_type='file_thin')
    message = ("storage_host: host localhost: no DRBD kernel module (/proc/drbd: absent, modinfo drbd: not found); "
               "LINSTOR needs DRBD 9. Install LINBIT's drbd-dkms (with linux-headers for the running kernel) or "
               "your vendor's DRBD 9 module package, then modprobe drbd. Or set storage_host_drbd_check: warn to "
               "go on without DRBD (nothing is replicated).")
    assert tasks[REFUSE]['msg'] == message
    assert stats['failures'] == 1 and stats['changed'] == 0
    assert not (tmp_path / 'pools').exists()
