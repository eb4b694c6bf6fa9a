# -*- coding: utf-8 -*-
"""The storage layer's objects as pure functions: Piraeus LinstorCluster, per-room
LinstorSatelliteConfiguration, the cross-room LinstorNodeConnection and the VM StorageClass, plus the
decisions about an existing StorageClass and the API server's schema refusals.

Storage pools and StorageClasses are YAML cases (tests/unit/fixtures/piraeus/); each expects the object
or the exact error. That the API server accepts these objects is tested against the real CRDs in
tests/integration/test_piraeus_modules.py.
"""

from __future__ import annotations

import copy
import os
import pathlib
import sys

import pytest
import yaml

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import piraeus
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import piraeus

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'piraeus'


def load(name):
    with open(FIXTURES / name) as stream:
        content = yaml.safe_load(stream)
    defaults = content.get('defaults') or {}
    cases = []
    for case in content['cases']:
        case = copy.deepcopy(case)
        if 'options' in case:
            case['options'] = dict(defaults.get('options') or {}, **case['options'])
        cases.append(pytest.param(case, id=case['id']))
    return cases


def contains(whole, part):
    """Every key of part is in whole with the same value (recursively for dicts)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and contains(whole[k], v) for k, v in part.items())
    return whole == part


@pytest.mark.parametrize('case', load('storage_pools.yml'))
def test_storage_pool(case):
    if 'error' in case:
        with pytest.raises(piraeus.PiraeusError) as caught:
            piraeus.storage_pool(case['pool'])
        assert caught.value.msg == case['error']
    else:
        assert piraeus.storage_pool(case['pool']) == case['expect']


@pytest.mark.parametrize('case', load('storage_classes.yml'))
def test_storage_class(case):
    options = case['options']
    name, pool, zones = options.pop('name'), options.pop('storage_pool_name'), options.pop('zones')
    if 'error' in case:
        with pytest.raises(piraeus.PiraeusError) as caught:
            piraeus.storage_class(name, pool, zones, **options)
        assert caught.value.msg == case['error']
        return
    sc = piraeus.storage_class(name, pool, zones, **options)
    assert sc['apiVersion'] == 'storage.k8s.io/v1' and sc['kind'] == 'StorageClass'
    if 'parameters' in case:
        assert sc['parameters'] == case['parameters']
    assert contains(sc, case.get('fields') or {}), sc
    # Every value is a string: the API server's StorageClass.parameters is map[string]string.
    assert all(isinstance(v, str) for v in sc['parameters'].values())


def test_same_zone_remote_access_parses_as_linstor_csi_expects():
    """linstor-csi unmarshals allowRemoteVolumeAccess as a YAML list of {fromSame: [labels]}."""
    value = piraeus.remote_access_value('same_zone', 'topology.kubernetes.io/zone')
    assert yaml.safe_load(value) == [{'fromSame': ['topology.kubernetes.io/zone']}]


def test_linstor_cluster():
    cluster = piraeus.linstor_cluster('linstorcluster', node_selector={'twinroom.io/storage': True},
                                      properties={'b': 2, 'a': 'x'}, repository='registry.example/piraeus',
                                      external_controller_url='http://linstor.example:3370')
    assert cluster == {
        'apiVersion': 'piraeus.io/v1', 'kind': 'LinstorCluster', 'metadata': {'name': 'linstorcluster'},
        'spec': {
            'nodeSelector': {'twinroom.io/storage': 'true'},
            'properties': [{'name': 'a', 'value': 'x'}, {'name': 'b', 'value': '2'}],
            'repository': 'registry.example/piraeus',
            'externalController': {'url': 'http://linstor.example:3370'},
        },
    }


def test_linstor_cluster_empty_spec():
    assert piraeus.linstor_cluster('linstorcluster')['spec'] == {}


@pytest.mark.parametrize('zone,selector,expect', [
    ('room-a', None, {'topology.kubernetes.io/zone': 'room-a'}),
    ('room-a', {'twinroom.io/storage': 'true'},
     {'topology.kubernetes.io/zone': 'room-a', 'twinroom.io/storage': 'true'}),
    (None, {'twinroom.io/storage': 'true'}, {'twinroom.io/storage': 'true'}),
])
def test_satellite_configuration_selects_the_room(zone, selector, expect):
    config = piraeus.satellite_configuration('twinroom-room-a', zone=zone, node_selector=selector,
                                             storage_pools=[{'name': 'vmdata', 'type': 'lvm_thin'}])
    assert config['kind'] == 'LinstorSatelliteConfiguration'
    assert config['spec']['nodeSelector'] == expect
    assert config['spec']['storagePools'] == [{'name': 'vmdata', 'lvmThinPool': {}}]


def test_satellite_configuration_without_selector_applies_everywhere():
    config = piraeus.satellite_configuration('all', properties={'PrefNic': 'default-ipv4'})
    assert config['spec'] == {'properties': [{'name': 'PrefNic', 'value': 'default-ipv4'}]}


def test_satellite_tolerations_go_into_the_pod_template():
    # As the module passes them: every suboption present, unset ones None.
    config = piraeus.satellite_configuration('all', tolerations=[
        dict(key='node.kubernetes.io/out-of-service', operator='Exists', value=None, effect=None,
             toleration_seconds=None),
        dict(key='maintenance', operator='Equal', value='yes', effect='NoExecute', toleration_seconds=60)])
    assert config['spec'] == {'podTemplate': {'spec': {'tolerations': [
        {'key': 'node.kubernetes.io/out-of-service', 'operator': 'Exists'},
        {'key': 'maintenance', 'operator': 'Equal', 'value': 'yes', 'effect': 'NoExecute', 'tolerationSeconds': 60}]}}}


@pytest.mark.parametrize('kwargs,error', [
    (dict(tolerations=[{'key': 'x', 'operatr': 'Exists'}]),
     'LinstorSatelliteConfiguration cfg: unknown toleration field operatr; use key, operator, value, effect, '
     'tolerationSeconds'),
    (dict(zone='room-a', node_selector={'topology.kubernetes.io/zone': 'room-b'}),
     'LinstorSatelliteConfiguration cfg: node_selector sets topology.kubernetes.io/zone=room-b but zone is room-a'),
    (dict(storage_pools=[{'name': 'vmdata', 'type': 'lvm_thin'}, {'name': 'vmdata', 'type': 'file_thin'}]),
     'LinstorSatelliteConfiguration cfg: storage pool vmdata is listed twice'),
    (dict(storage_pools=[{'name': 'pool1', 'type': 'lvm_thin', 'devices': ['/dev/sdb']},
                         {'name': 'pool2', 'type': 'zfs_thin', 'devices': ['/dev/sdb']}]),
     'storage pool pool2: device /dev/sdb is already used by another storage pool'),
    (dict(properties={'PrefNic': None}), 'LinstorSatelliteConfiguration cfg: property PrefNic has no value'),
])
def test_satellite_configuration_refusals(kwargs, error):
    with pytest.raises(piraeus.PiraeusError) as caught:
        piraeus.satellite_configuration('cfg', **kwargs)
    assert caught.value.msg == error


def test_node_connection_selects_pairs_in_different_rooms():
    conn = piraeus.node_connection('twinroom-cross-room')
    assert conn == {
        'apiVersion': 'piraeus.io/v1', 'kind': 'LinstorNodeConnection', 'metadata': {'name': 'twinroom-cross-room'},
        'spec': {
            'selector': [{'matchLabels': [{'key': 'topology.kubernetes.io/zone', 'op': 'NotSame'}]}],
            'properties': [{'name': 'DrbdOptions/Net/protocol', 'value': 'C'}],
        },
    }


def test_node_connection_path_over_dedicated_interface():
    conn = piraeus.node_connection('c', zone_label='example.com/room', interface='link0', path_name='link',
                                   properties={'DrbdOptions/Net/timeout': 90})
    assert conn['spec']['selector'] == [{'matchLabels': [{'key': 'example.com/room', 'op': 'NotSame'}]}]
    assert conn['spec']['paths'] == [{'name': 'link', 'interface': 'link0'}]
    assert conn['spec']['properties'] == [{'name': 'DrbdOptions/Net/protocol', 'value': 'C'},
                                          {'name': 'DrbdOptions/Net/timeout', 'value': '90'}]


@pytest.mark.parametrize('kwargs,error', [
    (dict(protocol='D'), 'LinstorNodeConnection c: protocol must be A, B or C, got D'),
    (dict(properties={'DrbdOptions/Net/protocol': 'A'}),
     'LinstorNodeConnection c: properties set DrbdOptions/Net/protocol=A but protocol is C'),
    (dict(interface='link0', path_name=''), 'LinstorNodeConnection c: a path over interface link0 needs a path_name'),
])
def test_node_connection_refusals(kwargs, error):
    with pytest.raises(piraeus.PiraeusError) as caught:
        piraeus.node_connection('c', **kwargs)
    assert caught.value.msg == error


def _existing(desired, **changes):
    """desired as the API server would return it, with some fields changed."""
    obj = copy.deepcopy(desired)
    obj['metadata'].update(uid='u', resourceVersion='7', managedFields=[{}])
    for key, value in changes.items():
        if key == 'parameters':
            obj['parameters'] = dict(obj['parameters'], **value)
            obj['parameters'] = dict((k, v) for k, v in obj['parameters'].items() if v is not None)
        else:
            obj[key] = value
    return obj


DESIRED = piraeus.storage_class('twinroom-vm', 'vmdata', ['room-a', 'room-b'])


@pytest.mark.parametrize('changes,expect', [
    ({}, []),
    ({'allowVolumeExpansion': False}, []),  # mutable: an apply changes it in place
    ({'parameters': {'DrbdOptions/Resource/on-no-quorum': 'io-error'}},
     ["parameters[DrbdOptions/Resource/on-no-quorum] 'io-error' -> 'suspend-io'"]),
    ({'parameters': {'linstor.csi.linbit.com/placementCount': None, 'autoPlace': '1'}},
     ["parameters[autoPlace] '1' -> (unset)", "parameters[linstor.csi.linbit.com/placementCount] (unset) -> '2'"]),
    ({'volumeBindingMode': 'Immediate', 'reclaimPolicy': 'Retain'},
     ["reclaimPolicy 'Retain' -> 'Delete'", "volumeBindingMode 'Immediate' -> 'WaitForFirstConsumer'"]),
    ({'provisioner': 'rancher.io/local-path'}, ["provisioner 'rancher.io/local-path' -> 'linstor.csi.linbit.com'"]),
])
def test_immutable_changes(changes, expect):
    assert piraeus.immutable_changes(_existing(DESIRED, **changes), DESIRED) == expect


def test_immutable_refusal_text():
    changes = ["parameters[a] '1' -> '2'", "reclaimPolicy 'Retain' -> 'Delete'"]
    assert piraeus.immutable_refusal('twinroom-vm', changes) == (
        "StorageClass twinroom-vm exists and differs in what the API server cannot change in place: "
        "parameters[a] '1' -> '2'; reclaimPolicy 'Retain' -> 'Delete'. Set recreate: true to delete it and create "
        "it again (volumes already provisioned keep the settings they were created with).")


@pytest.mark.parametrize('message,expect', [
    ('Failed to apply object: {"kind":"Status","message":"failed to create typed patch object (/twinroom-room-b; '
     'piraeus.io/v1, Kind=LinstorSatelliteConfiguration): .spec.storagePools[0].zfsThinPool: field not declared '
     'in schema","code":500}',
     "LinstorSatelliteConfiguration cfg: the API server's piraeus.io/v1 CRDs do not know "
     ".spec.storagePools[0].zfsThinPool. Install the CRDs of the Piraeus operator release you run, or leave the "
     "option out."),
    ('Failed to apply object: Unauthorized', None),
])
def test_schema_refusal(message, expect):
    definition = piraeus.satellite_configuration('cfg')
    assert piraeus.schema_refusal(definition, message) == expect


def test_property_values_are_strings_and_sorted():
    assert piraeus.property_list({'z': True, 'a': 3, 'm': False}, 'x') == [
        {'name': 'a', 'value': '3'}, {'name': 'm', 'value': 'false'}, {'name': 'z', 'value': 'true'}]


def test_missing_crd_says_what_to_install():
    from ansible_collections.twinroom.ha.plugins.module_utils import piraeus_k8s
    assert piraeus_k8s.missing_crd('LinstorCluster', 'piraeus.io/v1') == (
        'the API server has no piraeus.io/v1 LinstorCluster: install the Piraeus operator (or, on the lab, its CRDs: '
        'lab/build/piraeus/fetch-crds.sh) first')
    assert piraeus_k8s.missing_crd('StorageClass', 'storage.k8s.io/v1') == (
        'the API server has no storage.k8s.io/v1 StorageClass')
