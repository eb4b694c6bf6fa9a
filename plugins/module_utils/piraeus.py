# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage layer's objects, as pure functions of the module options: the Piraeus operator v2
resources (piraeus.io/v1 LinstorCluster, LinstorSatelliteConfiguration, LinstorNodeConnection) and the
StorageClass KubeVirt's disks are provisioned from.

Every builder validates what the API server cannot (the operator's admission webhook is not part of the
CRDs, and a StorageClass asking for one replica is valid Kubernetes but wrong for two rooms) and raises
PiraeusError with the text the module fails with. No I/O here: plugins/module_utils/piraeus_k8s.py reads
and writes through kubernetes.core.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ZONE_LABEL, TwinroomError

API_VERSION = 'piraeus.io/v1'
PROVISIONER = 'linstor.csi.linbit.com'
# linstor-csi reads its own parameters under this prefix; DrbdOptions/... keys pass through to the
# LINSTOR resource group as properties.
CSI = 'linstor.csi.linbit.com/'
QUORUM = 'DrbdOptions/Resource/quorum'
ON_NO_QUORUM = 'DrbdOptions/Resource/on-no-quorum'
PROTOCOL = 'DrbdOptions/Net/protocol'

# The operator's webhook rules (api/v1/storagepool.go), which do not run without the operator.
POOL_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{1,46}[A-Za-z0-9]$')
VG_NAME = re.compile(r'^[A-Za-z0-9.+_-]+$')

# type option -> (CRD key, which other options it takes, whether source.hostDevices is allowed)
POOL_TYPES = {
    'lvm_thin': ('lvmThinPool', ('volume_group', 'thin_pool'), True),
    'zfs_thin': ('zfsThinPool', ('zpool',), True),
    'file_thin': ('fileThinPool', ('directory',), False),
}
POOL_FIELDS = {'volume_group': 'volumeGroup', 'thin_pool': 'thinPool', 'zpool': 'zPool', 'directory': 'directory'}

REMOTE_ACCESS = ('same_zone', 'anywhere', 'local_only')
QUORUM_CHOICES = ('majority', 'off')
ON_NO_QUORUM_CHOICES = ('suspend-io', 'io-error')
# Fields of a StorageClass the API server refuses to change (storage validation: ValidateStorageClassUpdate).
STORAGE_CLASS_IMMUTABLE = ('provisioner', 'parameters', 'reclaimPolicy', 'volumeBindingMode')

_NUMBER_WORDS = {1: 'one', 2: 'two', 3: 'three', 4: 'four'}


class PiraeusError(TwinroomError):
    pass


def _words(number):
    return _NUMBER_WORDS.get(number, str(number))


def property_list(properties, what):
    """{name: value} -> the operator's [{name, value}] list (a map list keyed by name), sorted by name so the
    object does not change with the order of a dict. Values become strings: LINSTOR properties are strings."""
    result = []
    for name in sorted(properties or {}):
        if not name:
            raise PiraeusError('%s: a property needs a name' % what)
        value = properties[name]
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        if value is None:
            raise PiraeusError('%s: property %s has no value' % (what, name))
        result.append({'name': name, 'value': str(value)})
    return result


def _string_map(mapping, what):
    result = {}
    for key, value in (mapping or {}).items():
        if value is None:
            raise PiraeusError('%s: %s has no value' % (what, key))
        result[str(key)] = ('true' if value else 'false') if isinstance(value, bool) else str(value)
    return result


def _metadata(name, labels=None, annotations=None):
    if not name:
        raise PiraeusError('name must not be empty')
    metadata = {'name': name}
    if labels:
        metadata['labels'] = _string_map(labels, 'labels')
    if annotations:
        metadata['annotations'] = _string_map(annotations, 'annotations')
    return metadata


def linstor_cluster(name, node_selector=None, properties=None, repository=None, external_controller_url=None,
                    labels=None):
    """LinstorCluster: the LINSTOR controller, the CSI driver and which nodes run satellites."""
    spec = {}
    if node_selector:
        spec['nodeSelector'] = _string_map(node_selector, 'LinstorCluster %s nodeSelector' % name)
    if properties:
        spec['properties'] = property_list(properties, 'LinstorCluster %s' % name)
    if repository:
        spec['repository'] = repository
    if external_controller_url:
        if len(external_controller_url) < 3:
            raise PiraeusError('LinstorCluster %s: external_controller_url %r is not a URL'
                               % (name, external_controller_url))
        spec['externalController'] = {'url': external_controller_url}
    return {'apiVersion': API_VERSION, 'kind': 'LinstorCluster', 'metadata': _metadata(name, labels), 'spec': spec}


def storage_pool(pool, seen_devices=None):
    """One entry of spec.storagePools from {name, type, devices, volume_group, thin_pool, zpool, directory,
    properties}. seen_devices (a set) catches a device listed by two pools of the same configuration."""
    name = pool.get('name') or ''
    if not POOL_NAME.match(name):
        raise PiraeusError('storage pool name %r is not valid for LINSTOR: 3 to 48 letters, digits, "_" or "-", '
                           'starting and ending with a letter or digit' % name)
    kind = pool.get('type')
    if kind not in POOL_TYPES:
        raise PiraeusError('storage pool %s: type must be one of %s, got %s' % (name, ', '.join(POOL_TYPES), kind))
    key, options, takes_devices = POOL_TYPES[kind]
    for option in POOL_FIELDS:
        if pool.get(option) and option not in options:
            raise PiraeusError('storage pool %s: %s does not apply to type %s (it takes %s)'
                               % (name, option, kind, ', '.join(options)))
    body = {}
    for option in options:
        value = pool.get(option)
        if value:
            if option in ('volume_group', 'thin_pool') and not VG_NAME.match(value):
                raise PiraeusError('storage pool %s: %s %r is not a valid LVM name' % (name, option, value))
            if option == 'directory' and (not value.startswith('/') or _clean_path(value) != value):
                raise PiraeusError('storage pool %s: directory %r must be an absolute path without "..", '
                                   '"." or a trailing "/"' % (name, value))
            body[POOL_FIELDS[option]] = value
    result = {'name': name, key: body}
    devices = pool.get('devices') or []
    if devices and not takes_devices:
        raise PiraeusError('storage pool %s: type %s keeps its volumes as files in a directory; it takes no devices'
                           % (name, kind))
    if devices:
        seen = seen_devices if seen_devices is not None else set()
        for device in devices:
            if not device.startswith('/dev/') or _clean_path(device) != device:
                raise PiraeusError('storage pool %s: device %r is not a device path under /dev/' % (name, device))
            if device in seen:
                raise PiraeusError('storage pool %s: device %s is already used by another storage pool'
                                   % (name, device))
            seen.add(device)
        result['source'] = {'hostDevices': list(devices)}
    if pool.get('properties'):
        result['properties'] = property_list(pool['properties'], 'storage pool %s' % name)
    return result


def _clean_path(path):
    parts = []
    for part in path.split('/'):
        if part in ('', '.'):
            continue
        if part == '..':
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return '/' + '/'.join(parts)


def satellite_configuration(name, zone=None, storage_pools=None, zone_label=ZONE_LABEL, node_selector=None,
                            properties=None, labels=None, tolerations=None):
    """LinstorSatelliteConfiguration for the nodes of one room: nodeSelector on the room's zone label, the
    room's storage pools, and tolerations for the satellite pods (``spec.podTemplate``, a patch the operator
    applies to its own pod): a returning room's satellites must run under the out-of-service taint, or its DRBD
    replicas cannot resync before recover.yml clears the taint."""
    selector = _string_map(node_selector, 'LinstorSatelliteConfiguration %s node_selector' % name)
    if zone:
        if selector.get(zone_label, zone) != zone:
            raise PiraeusError('LinstorSatelliteConfiguration %s: node_selector sets %s=%s but zone is %s'
                               % (name, zone_label, selector[zone_label], zone))
        selector[zone_label] = zone
    spec = {}
    if selector:
        spec['nodeSelector'] = selector
    pools = []
    names = set()
    devices = set()
    for pool in storage_pools or []:
        built = storage_pool(pool, devices)
        if built['name'] in names:
            raise PiraeusError('LinstorSatelliteConfiguration %s: storage pool %s is listed twice'
                               % (name, built['name']))
        names.add(built['name'])
        pools.append(built)
    if pools:
        spec['storagePools'] = pools
    if properties:
        spec['properties'] = property_list(properties, 'LinstorSatelliteConfiguration %s' % name)
    if tolerations:
        spec['podTemplate'] = {'spec': {'tolerations': [_toleration(t, name) for t in tolerations]}}
    return {'apiVersion': API_VERSION, 'kind': 'LinstorSatelliteConfiguration', 'metadata': _metadata(name, labels),
            'spec': spec}


TOLERATION_FIELDS = ('key', 'operator', 'value', 'effect', 'tolerationSeconds')


def _toleration(item, name):
    """One toleration as the API writes it: only its set fields, in the API's names."""
    unknown = sorted(set(item) - set(TOLERATION_FIELDS) - {'toleration_seconds'})
    if unknown:
        raise PiraeusError('LinstorSatelliteConfiguration %s: unknown toleration field %s; use %s'
                           % (name, ', '.join(unknown), ', '.join(TOLERATION_FIELDS)))
    item = dict(item)
    if 'toleration_seconds' in item:
        item['tolerationSeconds'] = item.pop('toleration_seconds')
    return dict((key, item[key]) for key in TOLERATION_FIELDS if item.get(key) is not None)


def node_connection(name, zone_label=ZONE_LABEL, protocol='C', interface=None, path_name='replication',
                    properties=None, labels=None):
    """LinstorNodeConnection for every pair of nodes in different rooms (op NotSame on the zone label):
    DRBD protocol for the cross-room links and, optionally, a path over a dedicated interface."""
    props = dict(properties or {})
    if protocol:
        if protocol not in ('A', 'B', 'C'):
            raise PiraeusError('LinstorNodeConnection %s: protocol must be A, B or C, got %s' % (name, protocol))
        if props.get(PROTOCOL, protocol) != protocol:
            raise PiraeusError('LinstorNodeConnection %s: properties set %s=%s but protocol is %s'
                               % (name, PROTOCOL, props[PROTOCOL], protocol))
        props[PROTOCOL] = protocol
    spec = {'selector': [{'matchLabels': [{'key': zone_label, 'op': 'NotSame'}]}]}
    if interface:
        if not path_name:
            raise PiraeusError('LinstorNodeConnection %s: a path over interface %s needs a path_name'
                               % (name, interface))
        spec['paths'] = [{'name': path_name, 'interface': interface}]
    if props:
        spec['properties'] = property_list(props, 'LinstorNodeConnection %s' % name)
    return {'apiVersion': API_VERSION, 'kind': 'LinstorNodeConnection', 'metadata': _metadata(name, labels),
            'spec': spec}


def remote_access_value(policy, zone_label=ZONE_LABEL):
    """linstor-csi's allowRemoteVolumeAccess: 'true', 'false', or a YAML list of fromSame rules."""
    if policy == 'anywhere':
        return 'true'
    if policy == 'local_only':
        return 'false'
    if policy == 'same_zone':
        return '- fromSame:\n  - %s\n' % zone_label
    raise PiraeusError('allow_remote_volume_access must be one of %s, got %s' % (', '.join(REMOTE_ACCESS), policy))


def check_placement(name, placement_count, zones, zone_label=ZONE_LABEL):
    """Replicas per volume against the rooms: one replica loses the volume with its room; more replicas than
    rooms cannot be placed with replicasOnDifferent on the zone."""
    distinct = []
    for zone in zones or []:
        if zone and zone not in distinct:
            distinct.append(zone)
    if len(distinct) < 2:
        raise PiraeusError('StorageClass %s: zones must list the %s value of each room (at least two rooms), got %s'
                           % (name, zone_label, ', '.join(distinct) or 'none'))
    rooms = '%s-room cluster (zones %s)' % (_words(len(distinct)), ', '.join(distinct))
    if placement_count < 2:
        raise PiraeusError(
            'StorageClass %s: placement_count %d keeps a single copy of each volume, but this is a %s: losing the '
            'room that holds the copy loses the volume. Set placement_count: 2 (one replica per room).'
            % (name, placement_count, rooms))
    if placement_count > len(distinct):
        raise PiraeusError(
            'StorageClass %s: placement_count %d needs %d rooms, since replicas go to different %s values, and this '
            'is a %s.' % (name, placement_count, placement_count, zone_label, rooms))
    return distinct


def storage_class(name, storage_pool_name, zones, placement_count=2, zone_label=ZONE_LABEL,
                  allow_remote_volume_access='same_zone', quorum='majority', on_no_quorum='suspend-io',
                  reclaim_policy='Delete', volume_binding_mode='WaitForFirstConsumer', allow_volume_expansion=True,
                  default_class=False, parameters=None, labels=None):
    """The StorageClass KubeVirt's disks come from: linstor-csi, one replica per room, DRBD quorum settings."""
    check_placement(name, placement_count, zones, zone_label)
    if not storage_pool_name:
        raise PiraeusError('StorageClass %s: storage_pool must name the LINSTOR storage pool of both rooms' % name)
    if quorum not in QUORUM_CHOICES:
        raise PiraeusError('StorageClass %s: quorum must be one of %s, got %s'
                           % (name, ', '.join(QUORUM_CHOICES), quorum))
    if on_no_quorum not in ON_NO_QUORUM_CHOICES:
        raise PiraeusError('StorageClass %s: on_no_quorum must be one of %s, got %s'
                           % (name, ', '.join(ON_NO_QUORUM_CHOICES), on_no_quorum))
    params = {
        CSI + 'storagePool': storage_pool_name,
        CSI + 'placementCount': str(placement_count),
        CSI + 'replicasOnDifferent': zone_label,
        CSI + 'allowRemoteVolumeAccess': remote_access_value(allow_remote_volume_access, zone_label),
        QUORUM: quorum,
    }
    if quorum != 'off':
        params[ON_NO_QUORUM] = on_no_quorum
    extra = _string_map(parameters, 'StorageClass %s parameters' % name)
    clash = sorted(k for k in extra if k in params and extra[k] != params[k])
    if clash:
        raise PiraeusError('StorageClass %s: parameters %s are set by the module options; change the options instead'
                           % (name, ', '.join(clash)))
    params.update(extra)
    annotations = {'storageclass.kubernetes.io/is-default-class': 'true'} if default_class else None
    return {
        'apiVersion': 'storage.k8s.io/v1',
        'kind': 'StorageClass',
        'metadata': _metadata(name, labels, annotations),
        'provisioner': PROVISIONER,
        'parameters': params,
        'reclaimPolicy': reclaim_policy,
        'volumeBindingMode': volume_binding_mode,
        'allowVolumeExpansion': bool(allow_volume_expansion),
    }


def immutable_changes(existing, desired):
    """What a StorageClass update would change that the API server refuses to change in place, as
    'field: before -> after' strings (for parameters, one per changed key). Empty when an update can apply."""
    changes = []
    for field in STORAGE_CLASS_IMMUTABLE:
        before = existing.get(field)
        after = desired.get(field)
        if field == 'parameters':
            before, after = before or {}, after or {}
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    changes.append('parameters[%s] %s -> %s' % (key, _show(before.get(key)), _show(after.get(key))))
        elif field == 'reclaimPolicy' and before is None:
            continue  # defaulted by the API server; an object always has it
        elif before != after:
            changes.append('%s %s -> %s' % (field, _show(before), _show(after)))
    return changes


def _show(value):
    return '(unset)' if value is None else repr(value)


def immutable_refusal(name, changes):
    return ('StorageClass %s exists and differs in what the API server cannot change in place: %s. Set recreate: '
            'true to delete it and create it again (volumes already provisioned keep the settings they were '
            'created with).' % (name, '; '.join(changes)))


_UNDECLARED = re.compile(r'(\.[A-Za-z0-9_.\[\]-]+): field not declared in schema')


def schema_refusal(definition, api_message):
    """The API server's refusal of a field its CRD does not declare, in words that say what to do; None for
    other errors. Server-side apply refuses such a field (e.g. zfsThinPool in CRDs older than the operator
    release that added it) instead of dropping it."""
    fields = _UNDECLARED.findall(api_message or '')
    if not fields:
        return None
    return ("%s %s: the API server's %s CRDs do not know %s. Install the CRDs of the Piraeus operator release "
            "you run, or leave the option out."
            % (definition['kind'], definition['metadata']['name'], definition['apiVersion'], ', '.join(fields)))
