# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a storage host may put its LINSTOR pool on a device, and whether its kernel can serve LINSTOR.

Pure decisions over what was read from the host (``lsblk --json``, ``wipefs --no-act --json``,
``pvs --reportformat json``, ``/proc/drbd``, ``modinfo``); the reading is in ``read_host`` and the module
``twinroom.ha.storage_device_info``. ``pvcreate -f`` (what community.general.lvg runs) and ``zpool create
-f`` erase whatever signature they find, so this check is the only thing between a listed device and its data.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import stat

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError

POOL_TYPES = ('lvm_thin', 'zfs_thin', 'file_thin')
DRBD_CHECKS = ('required', 'warn', 'skip')

# Device states, in the order they are decided.
MISSING = 'missing'
OWN = 'own'
MOUNTED = 'mounted'
IN_USE = 'in_use'
PARTITION_TABLE = 'partition_table'
LVM = 'lvm'
FILESYSTEM = 'filesystem'
FREE = 'free'
WIPEABLE = (PARTITION_TABLE, LVM, FILESYSTEM)

# What libblkid (wipefs, blkid) reports for partition tables; everything else that is not LVM is a
# filesystem-like signature (filesystems, swap, RAID and LUKS members, ZFS members).
PARTITION_TABLE_TYPES = frozenset(('gpt', 'PMBR', 'dos', 'atari', 'bsd', 'mac', 'sgi', 'sun', 'solaris',
                                   'unixware', 'minix', 'aix', 'ultrix'))
LVM_TYPES = frozenset(('LVM2_member', 'LVM1_member'))

_WIPE_HINT = ('No device was changed. Make sure it holds nothing you need, then wipe it yourself (wipefs --all {device}) '
              'or list it in storage_host_allow_wipe_devices.')


class StorageDeviceError(TwinroomError):
    pass


def _tree_paths(node):
    """The block device node and all its descendants (lsblk ``children``), parents first."""
    nodes = [node]
    index = 0
    while index < len(nodes):
        nodes.extend(nodes[index].get('children') or [])
        index += 1
    return nodes


def _mountpoints(node):
    points = []
    for item in _tree_paths(node):
        for key in ('mountpoint', 'mountpoints'):
            value = item.get(key)
            values = value if isinstance(value, list) else [value]
            points.extend(point for point in values if point and point not in points)
    return points


def _signature_types(signatures):
    types = []
    for sig in signatures or []:
        if sig.get('type') and sig['type'] not in types:
            types.append(sig['type'])
    return types


def _pv_vg(pvs, path, resolved):
    """(is a PV, its VG name or '') from a ``pvs --reportformat json`` report (None when pvs was not run)."""
    for report in (pvs or {}).get('report', []):
        for pv in report.get('pv', []):
            if pv.get('pv_name') in (path, resolved):
                return True, pv.get('vg_name') or ''
    return False, ''


def classify_device(device, observed, pool_type, pool_name):
    """Decide what ``device`` (as listed by the operator) holds.

    observed: ``{'resolved': '/dev/sdb' or None when absent, 'block': bool, 'lsblk': the device's entry in
    ``lsblk --json`` (with children) or None, 'signatures': {path: [wipefs signatures]} for the device and each
    of its partitions, 'holders': [names from /sys/block/*/holders]}``, plus the host-wide ``pvs`` report.
    Returns a dict: state, found (what was found, for messages), signatures, children, mountpoints, vg.
    """
    resolved = observed.get('resolved')
    result = dict(device=device, path=resolved, state=FREE, found='', signatures=[], children=[], mountpoints=[],
                  vg=None)
    if not resolved or not observed.get('block') or observed.get('lsblk') is None:
        result.update(state=MISSING, found='no such block device')
        return result
    node = observed['lsblk']
    children = [item.get('path') for item in _tree_paths(node)[1:] if item.get('path')]
    signatures = observed.get('signatures') or {}
    own_types = _signature_types(signatures.get(resolved))
    result.update(children=children, signatures=own_types, mountpoints=_mountpoints(node))
    is_pv, vg = _pv_vg(observed.get('pvs'), device, resolved)
    if is_pv or any(t in LVM_TYPES for t in own_types):
        result['vg'] = vg

    # The pool's own device: a PV of the pool's VG, or a ZFS member (the disk or, as zpool partitions whole
    # disks, one of its partitions) labelled with the pool's name. Ours, so never refused.
    if pool_type == 'lvm_thin' and is_pv and vg == pool_name:
        result.update(state=OWN, found='physical volume of volume group %s' % vg)
        return result
    if pool_type == 'zfs_thin':
        for path in [resolved] + children:
            for sig in signatures.get(path) or []:
                if sig.get('type') == 'zfs_member' and sig.get('label') == pool_name:
                    result.update(state=OWN, found='member of ZFS pool %s' % pool_name)
                    return result

    if result['mountpoints']:
        result.update(state=MOUNTED, found='mounted at %s' % ', '.join(result['mountpoints']))
        return result
    holders = observed.get('holders') or []
    if holders:
        result.update(state=IN_USE, found='held by %s' % ', '.join(holders))
        return result

    tables = [t for t in own_types if t in PARTITION_TABLE_TYPES]
    if tables or children:
        found = 'a partition table (%s)' % ', '.join(t for t in tables if t != 'PMBR') if tables else 'partitions'
        if children:
            found += ' with partitions %s' % ', '.join(children)
        result.update(state=PARTITION_TABLE, found=found)
        return result
    if is_pv or any(t in LVM_TYPES for t in own_types):
        if observed.get('pvs') is None:
            owner = 'physical volume; volume group unknown, pvs is not installed'
        elif vg:
            owner = 'physical volume of volume group %s' % vg
        else:
            owner = 'physical volume in no volume group'
        result.update(state=LVM, found='LVM metadata (%s)' % owner)
        return result
    if own_types:
        labels = [sig.get('label') for sig in signatures.get(resolved) or [] if sig.get('label')]
        found = 'a filesystem signature (%s)' % ', '.join(own_types)
        if labels:
            found += ' labelled %s' % ', '.join(labels)
        result.update(state=FILESYSTEM, found=found)
        return result
    return result


def device_refusal(host, entry, allowed):
    """The exact refusal for one classified device, or None when it may be used (free, own, or wipe allowed)."""
    device = entry['device']
    state = entry['state']
    if state in (FREE, OWN):
        return None
    if state == MISSING:
        return ('storage_host: host %s: refusing to use %s: no such block device. Check storage_host_devices for '
                'this host (a /dev/disk/by-id/ path stays right across reboots).' % (host, device))
    if state == MOUNTED:
        return ('storage_host: host %s: refusing to use %s: it is %s. A mounted device is never wiped; unmount it '
                'and remove it from /etc/fstab first.' % (host, device, entry['found']))
    if state == IN_USE:
        return ('storage_host: host %s: refusing to use %s: it is %s (device-mapper, RAID or another user). '
                'Release it first.' % (host, device, entry['found']))
    if device in allowed or entry.get('path') in allowed:
        return None
    return ('storage_host: host %s: refusing to use %s: it has %s. ' % (host, device, entry['found'])
            + _WIPE_HINT.format(device=device))


def wipe_paths(entry, allowed):
    """Paths to erase (wipefs --all), partitions first, for an allowed device that holds signatures."""
    if entry['state'] not in WIPEABLE:
        return []
    if entry['device'] not in allowed and entry.get('path') not in allowed:
        return []
    return list(reversed(entry['children'])) + [entry['path']]


_VERSION = re.compile(r'(\d+)\.(\d+)(?:\.(\d+))?')


def parse_version(text):
    """'9.2.12' -> (9, 2, 12); the first version number in text, or None."""
    match = _VERSION.search(text or '')
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def _text(version):
    return '.'.join(str(part) for part in version) if version else None


def drbd_status(proc_drbd, sys_version, modinfo_version, modinfo_found):
    """DRBD kernel module state from /proc/drbd (its first line), /sys/module/drbd/version and
    ``modinfo -F version drbd``. modinfo_found: False when modinfo itself is not installed."""
    loaded = parse_version(sys_version) or parse_version((proc_drbd or '').partition('\n')[0])
    available = parse_version(modinfo_version)
    status = dict(loaded=_text(loaded), available=_text(available), ok=False, problem=None)
    seen = '/proc/drbd: %s, modinfo drbd: %s' % (
        'version %s' % _text(loaded) if loaded else 'absent',
        ('version %s' % _text(available) if available else 'not found') if modinfo_found
        else 'modinfo not installed (package kmod)')
    if loaded and loaded[0] >= 9:
        status['ok'] = True
    elif loaded:
        status['problem'] = ('the loaded DRBD kernel module is %s (%s); LINSTOR needs DRBD 9. %s' % (
            _text(loaded), seen,
            'DRBD %s is installed: unload the old module (rmmod drbd) and modprobe drbd, or reboot.' % _text(available)
            if available and available[0] >= 9 else _DRBD_INSTALL))
    elif available and available[0] >= 9:
        status['ok'] = True
    elif available:
        status['problem'] = ('the DRBD kernel module is %s, the kernel\'s in-tree DRBD 8.4 (%s); LINSTOR needs '
                             'DRBD 9. %s' % (_text(available), seen, _DRBD_INSTALL))
    else:
        status['problem'] = 'no DRBD kernel module (%s); LINSTOR needs DRBD 9. %s' % (seen, _DRBD_INSTALL)
    return status


_DRBD_INSTALL = ("Install LINBIT's drbd-dkms (with linux-headers for the running kernel) or your vendor's DRBD 9 "
                 "module package, then modprobe drbd.")


def drbd_message(host, status, mode):
    """The refusal (mode required) or warning (mode warn) for a DRBD status that is not ok, else None."""
    if status['ok'] or mode == 'skip':
        return None
    if mode == 'required':
        return ('storage_host: host %s: %s Or set storage_host_drbd_check: warn to go on without DRBD '
                '(nothing is replicated).' % (host, status['problem']))
    return 'storage_host: host %s: %s Going on without DRBD (storage_host_drbd_check: warn).' % (
        host, status['problem'])


def kernel_refusal(host, pool_type, kernel):
    """Refusal when the kernel cannot hold the chosen pool type (checked before any device changes)."""
    if pool_type == 'lvm_thin' and not kernel.get('dm_thin_pool'):
        return ('storage_host: host %s: cannot make an LVM thin pool: the kernel has no device-mapper thin-pool '
                'target (device-mapper: %s, dm-thin-pool: %s). Use a kernel with device-mapper thin provisioning '
                '(CONFIG_DM_THIN_PROVISIONING), or another storage_host_pool_type (zfs_thin, file_thin).' % (
                    host, 'present' if kernel.get('device_mapper') else 'absent',
                    'not loaded and no module found'))
    if pool_type == 'zfs_thin' and not kernel.get('zfs'):
        return ('storage_host: host %s: cannot make a ZFS pool: no zfs kernel module is loaded or installed. '
                'Install zfs-dkms and zfsutils-linux (Debian contrib) or your vendor\'s ZFS, then modprobe zfs; '
                'or use another storage_host_pool_type (lvm_thin, file_thin).' % host)
    return None


def decide(host, pool_type, pool_name, devices, observed, kernel, drbd_check, allow_wipe_devices):
    """The whole decision: per device state, refusals (any refusal means nothing may change), warnings,
    and the paths to wipe once nothing is refused."""
    allowed = set(allow_wipe_devices or [])
    entries = {}
    refusals = []
    warnings = []
    for device in devices:
        entry = classify_device(device, dict(observed.get(device) or {}, pvs=observed.get('__pvs__')),
                                pool_type, pool_name)
        entry['refusal'] = device_refusal(host, entry, allowed)
        entry['wipe'] = wipe_paths(entry, allowed) if entry['refusal'] is None else []
        entries[device] = entry
        if entry['refusal']:
            refusals.append(entry['refusal'])
    refusal = kernel_refusal(host, pool_type, kernel)
    if refusal:
        refusals.append(refusal)
    drbd = kernel.get('drbd') or drbd_status(None, None, None, True)
    message = drbd_message(host, drbd, drbd_check)
    if message and drbd_check == 'required':
        refusals.append(message)
    elif message:
        warnings.append(message)
    if refusals:
        for entry in entries.values():
            entry['wipe'] = []
    return dict(devices=entries, refusals=refusals, warnings=warnings)


# --- reading the host (thin I/O) ---

LSBLK_COLUMNS = 'PATH,NAME,TYPE,SIZE,RO,FSTYPE,LABEL,PTTYPE,MOUNTPOINT'


def _run_json(module, argv):
    rc, out, err = module.run_command(argv)
    if rc != 0:
        return None, (err or out).strip()
    if not out.strip():
        return {}, None
    try:
        return json.loads(out), None
    except ValueError as exc:
        return None, 'unreadable output of %s: %s' % (argv[0], exc)


def read_devices(module, devices):
    """What the host shows about each listed device; reads only."""
    observed = {}
    lsblk = module.get_bin_path('lsblk', required=True)
    wipefs = module.get_bin_path('wipefs', required=True)
    pvs = module.get_bin_path('pvs', opt_dirs=['/sbin', '/usr/sbin'])
    if pvs:
        report, error = _run_json(module, [pvs, '--reportformat', 'json', '-o', 'pv_name,vg_name'])
        if report is None:
            raise StorageDeviceError('storage_host: pvs failed: %s' % error)
        observed['__pvs__'] = report
    for device in devices:
        resolved = os.path.realpath(device) if os.path.exists(device) else None
        item = dict(resolved=resolved, block=False, lsblk=None, signatures={}, holders=[])
        observed[device] = item
        if not resolved:
            continue
        item['block'] = stat.S_ISBLK(os.stat(resolved).st_mode)
        if not item['block']:
            continue
        tree, error = _run_json(module, [lsblk, '--json', '--bytes', '--output', LSBLK_COLUMNS, resolved])
        if tree is None:
            raise StorageDeviceError('storage_host: lsblk %s failed: %s' % (resolved, error))
        nodes = tree.get('blockdevices') or []
        item['lsblk'] = nodes[0] if nodes else None
        for node in _tree_paths(item['lsblk'] or {}):
            path = node.get('path')
            if not path:
                continue
            found, error = _run_json(module, [wipefs, '--no-act', '--json', path])
            if found is None:
                raise StorageDeviceError('storage_host: wipefs --no-act %s failed: %s' % (path, error))
            item['signatures'][path] = found.get('signatures') or []
        holders_dir = '/sys/class/block/%s/holders' % os.path.basename(resolved)
        if os.path.isdir(holders_dir):
            item['holders'] = sorted(os.listdir(holders_dir))
    return observed


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _modinfo(module, modinfo, name):
    if not modinfo:
        return None
    rc, out, dummy = module.run_command([modinfo, '-F', 'version', name])
    if rc != 0:
        return None
    return out.strip() or 'unknown'


def read_kernel(module):
    """DRBD, device-mapper thin-pool and ZFS support of the running kernel; reads only."""
    modinfo = module.get_bin_path('modinfo', opt_dirs=['/sbin', '/usr/sbin'])
    misc = _read('/proc/misc') or ''
    thin_loaded = os.path.isdir('/sys/module/dm_thin_pool')
    dmsetup = module.get_bin_path('dmsetup', opt_dirs=['/sbin', '/usr/sbin'])
    if not thin_loaded and dmsetup and 'device-mapper' in misc:
        rc, out, dummy = module.run_command([dmsetup, 'targets'])
        thin_loaded = rc == 0 and bool(re.search(r'^thin-pool\s', out, re.M))
    device_mapper = 'device-mapper' in misc or os.path.isdir('/sys/module/dm_mod') or bool(
        _modinfo(module, modinfo, 'dm_mod'))
    dm_thin = device_mapper and (thin_loaded or bool(_modinfo(module, modinfo, 'dm_thin_pool')))
    zfs = os.path.isdir('/sys/module/zfs') or bool(_modinfo(module, modinfo, 'zfs'))
    drbd = drbd_status(_read('/proc/drbd'), _read('/sys/module/drbd/version'), _modinfo(module, modinfo, 'drbd'),
                       bool(modinfo))
    return dict(drbd=drbd, device_mapper=device_mapper, dm_thin_pool=dm_thin, zfs=zfs)


def run_storage_device_info(module, params):
    devices = params['devices'] or []
    observed = read_devices(module, devices)
    kernel = read_kernel(module)
    result = decide(params['host'], params['pool_type'], params['pool_name'], devices, observed, kernel,
                    params['drbd_check'], params['allow_wipe_devices'])
    result.update(changed=False, kernel=kernel)
    return result
