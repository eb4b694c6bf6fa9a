# -*- coding: utf-8 -*-
"""The Piraeus modules and the storage_layer role against a real kube-apiserver (the ``api`` fixture) with
the real CRDs of the Piraeus operator v2.4.0, fetched from its Go module at test time
(lab/build/piraeus/fetch-crds.sh; nothing vendored).

Every object the modules write passes the API server's validation (CRD schemas, StorageClass rules); a
second run changes nothing; check mode writes nothing (server-side dry run); --diff shows what changes;
refusals carry the exact message. No Piraeus operator runs here (nor on the lab): nothing acts on the
objects, which is all these tests need.

Cluster-scoped names start with ``pt-`` so they do not meet other tests' objects on the shared API server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from apiserver import CACHE
from playbook import REPO, output, play_recap, run_playbook

pytestmark = pytest.mark.apiserver

PIRAEUS_VERSION = os.environ.get('PIRAEUS_VERSION', 'v2.4.0')
CRDS = CACHE / 'bin' / ('piraeus-%s' % PIRAEUS_VERSION) / 'crds' / 'piraeus-crds.yaml'
ZONE = 'topology.kubernetes.io/zone'
ZONES = ['pt-room-a', 'pt-room-b']
SC = dict(name='pt-vm', storage_pool='vmdata', zones=ZONES)


@pytest.fixture(scope='module')
def piraeus(api):
    """The api fixture with the Piraeus CRDs installed; fetched first when the cache does not have them."""
    if not (CRDS.parent.parent / '.complete').exists():
        fetch = subprocess.run([str(REPO / 'lab' / 'build' / 'piraeus' / 'fetch-crds.sh')], capture_output=True,
                               text=True, timeout=300, check=False,
                               env=dict(os.environ, PIRAEUS_VERSION=PIRAEUS_VERSION))
        assert fetch.returncode == 0, fetch.stdout + fetch.stderr
    api.install_crds(CRDS)
    return api


def run_module(api, module, args, check=False, diff=False):
    """`ansible localhost -m twinroom.ha.<module>` with the json callback -> (returncode, task result)."""
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='json')
    command = ['ansible', 'localhost', '-m', 'twinroom.ha.' + module,
               '-a', json.dumps(dict(args, kubeconfig=str(api.kubeconfig)))]
    command += ['--check'] if check else []
    command += ['--diff'] if diff else []
    result = subprocess.run(command, cwd=str(REPO), capture_output=True, text=True, env=env, timeout=180, check=False)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise AssertionError('no JSON from ansible: %s' % (result.stdout + result.stderr))
    return result.returncode, report['plays'][0]['tasks'][0]['hosts']['localhost']


def get(api, kind, name):
    result = api.kubectl('get', kind, name, '-o', 'json', check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def resource_version(api, kind, name):
    obj = get(api, kind, name)
    return obj and obj['metadata']['resourceVersion']


# One case per module: arguments, the kind the API server stores, and what its spec must hold afterwards.
OBJECTS = [
    pytest.param('piraeus_cluster', dict(name='pt-cluster', node_selector={'pt.twinroom.io/storage': 'true'},
                                         properties={'DrbdOptions/Net/rr-conflict': 'retry-connect'}),
                 'linstorcluster',
                 {'spec': {'nodeSelector': {'pt.twinroom.io/storage': 'true'},
                           'properties': [{'name': 'DrbdOptions/Net/rr-conflict', 'value': 'retry-connect'}]}},
                 id='piraeus_cluster'),
    pytest.param('piraeus_satellite_configuration',
                 dict(name='pt-room-a', zone='pt-room-a', storage_pools=[
                     {'name': 'vmdata', 'type': 'lvm_thin', 'devices': ['/dev/vdb', '/dev/vdc']},
                     {'name': 'scratch', 'type': 'file_thin', 'directory': '/var/lib/linstor-pools/scratch'}]),
                 'linstorsatelliteconfiguration',
                 {'spec': {'nodeSelector': {ZONE: 'pt-room-a'}, 'storagePools': [
                     {'name': 'vmdata', 'lvmThinPool': {}, 'source': {'hostDevices': ['/dev/vdb', '/dev/vdc']}},
                     {'name': 'scratch', 'fileThinPool': {'directory': '/var/lib/linstor-pools/scratch'}}]}},
                 id='piraeus_satellite_configuration'),
    pytest.param('piraeus_node_connection', dict(name='pt-cross-room', interface='link0'),
                 'linstornodeconnection',
                 {'spec': {'selector': [{'matchLabels': [{'key': ZONE, 'op': 'NotSame'}]}],
                           'paths': [{'name': 'replication', 'interface': 'link0'}],
                           'properties': [{'name': 'DrbdOptions/Net/protocol', 'value': 'C'}]}},
                 id='piraeus_node_connection'),
    pytest.param('vm_storage_class', SC, 'storageclass',
                 {'provisioner': 'linstor.csi.linbit.com', 'volumeBindingMode': 'WaitForFirstConsumer',
                  'allowVolumeExpansion': True, 'reclaimPolicy': 'Delete',
                  'parameters': {'linstor.csi.linbit.com/storagePool': 'vmdata',
                                 'linstor.csi.linbit.com/placementCount': '2',
                                 'linstor.csi.linbit.com/replicasOnDifferent': ZONE,
                                 'linstor.csi.linbit.com/allowRemoteVolumeAccess': '- fromSame:\n  - %s\n' % ZONE,
                                 'DrbdOptions/Resource/quorum': 'majority',
                                 'DrbdOptions/Resource/on-no-quorum': 'suspend-io'}},
                 id='vm_storage_class'),
]


@pytest.mark.parametrize('module,args,kind,expect', OBJECTS)
def test_check_mode_then_create_then_unchanged(piraeus, module, args, kind, expect):
    name = args['name']
    assert get(piraeus, kind, name) is None

    rc, result = run_module(piraeus, module, args, check=True, diff=True)
    assert rc == 0, result
    assert result['changed'] is True
    assert result['diff']['before'] == {}
    assert get(piraeus, kind, name) is None, 'check mode wrote the object'

    rc, result = run_module(piraeus, module, args)
    assert rc == 0, result
    assert result['changed'] is True
    stored = get(piraeus, kind, name)
    for key, value in expect.items():
        assert stored[key] == value
    version = stored['metadata']['resourceVersion']

    rc, result = run_module(piraeus, module, args)
    assert rc == 0, result
    assert result['changed'] is False
    rc, result = run_module(piraeus, module, args, check=True)
    assert rc == 0 and result['changed'] is False, result
    assert resource_version(piraeus, kind, name) == version


def test_diff_shows_the_change_and_check_mode_keeps_the_old_value(piraeus):
    args = dict(name='pt-diff-conn', properties={'DrbdOptions/Net/timeout': '60'})
    assert run_module(piraeus, 'piraeus_node_connection', args)[0] == 0
    version = resource_version(piraeus, 'linstornodeconnection', 'pt-diff-conn')
    changed = dict(args, properties={'DrbdOptions/Net/timeout': '90'})

    rc, result = run_module(piraeus, 'piraeus_node_connection', changed, check=True, diff=True)
    assert rc == 0 and result['changed'] is True, result
    assert {'name': 'DrbdOptions/Net/timeout', 'value': '60'} in result['diff']['before']['spec']['properties']
    assert {'name': 'DrbdOptions/Net/timeout', 'value': '90'} in result['diff']['after']['spec']['properties']
    assert 'managedFields' not in result['diff']['after'].get('metadata', {})
    assert resource_version(piraeus, 'linstornodeconnection', 'pt-diff-conn') == version

    rc, result = run_module(piraeus, 'piraeus_node_connection', changed, diff=True)
    assert rc == 0 and result['changed'] is True, result
    stored = get(piraeus, 'linstornodeconnection', 'pt-diff-conn')
    assert {'name': 'DrbdOptions/Net/timeout', 'value': '90'} in stored['spec']['properties']

    # A property left out is removed: server-side apply drops what this field manager no longer sets.
    rc, result = run_module(piraeus, 'piraeus_node_connection', dict(args, properties={}), diff=True)
    assert rc == 0 and result['changed'] is True, result
    stored = get(piraeus, 'linstornodeconnection', 'pt-diff-conn')
    assert stored['spec']['properties'] == [{'name': 'DrbdOptions/Net/protocol', 'value': 'C'}]


def test_one_replica_in_two_rooms_is_refused(piraeus):
    rc, result = run_module(piraeus, 'vm_storage_class', dict(SC, name='pt-vm-single', placement_count=1))
    assert rc != 0
    assert result['msg'] == (
        'StorageClass pt-vm-single: placement_count 1 keeps a single copy of each volume, but this is a two-room '
        'cluster (zones pt-room-a, pt-room-b): losing the room that holds the copy loses the volume. Set '
        'placement_count: 2 (one replica per room).')
    assert get(piraeus, 'storageclass', 'pt-vm-single') is None


def test_changed_parameters_are_refused_then_recreated_on_request(piraeus):
    args = dict(SC, name='pt-vm-quorum')
    assert run_module(piraeus, 'vm_storage_class', args)[0] == 0
    uid = get(piraeus, 'storageclass', 'pt-vm-quorum')['metadata']['uid']
    changed = dict(args, on_no_quorum='io-error')

    rc, result = run_module(piraeus, 'vm_storage_class', changed)
    assert rc != 0
    assert result['msg'] == (
        "StorageClass pt-vm-quorum exists and differs in what the API server cannot change in place: "
        "parameters[DrbdOptions/Resource/on-no-quorum] 'suspend-io' -> 'io-error'. Set recreate: true to delete it "
        "and create it again (volumes already provisioned keep the settings they were created with).")

    rc, result = run_module(piraeus, 'vm_storage_class', dict(changed, recreate=True), check=True, diff=True)
    assert rc == 0 and result['changed'] is True, result
    assert result['diff']['before']['parameters']['DrbdOptions/Resource/on-no-quorum'] == 'suspend-io'
    assert result['diff']['after']['parameters']['DrbdOptions/Resource/on-no-quorum'] == 'io-error'
    assert get(piraeus, 'storageclass', 'pt-vm-quorum')['metadata']['uid'] == uid

    rc, result = run_module(piraeus, 'vm_storage_class', dict(changed, recreate=True))
    assert rc == 0 and result['changed'] is True and result['method'] == 'recreate', result
    stored = get(piraeus, 'storageclass', 'pt-vm-quorum')
    assert stored['metadata']['uid'] != uid
    assert stored['parameters']['DrbdOptions/Resource/on-no-quorum'] == 'io-error'
    assert run_module(piraeus, 'vm_storage_class', dict(changed, recreate=True))[1]['changed'] is False

    # allowVolumeExpansion is mutable: applied in place, no recreate needed.
    rc, result = run_module(piraeus, 'vm_storage_class', dict(changed, allow_volume_expansion=False))
    assert rc == 0 and result['changed'] is True and result['method'] == 'apply', result
    assert get(piraeus, 'storageclass', 'pt-vm-quorum')['metadata']['uid'] == stored['metadata']['uid']


def test_field_the_crds_do_not_know_is_refused(piraeus):
    args = dict(name='pt-zfs', zone='pt-room-b',
                storage_pools=[{'name': 'vmdata', 'type': 'zfs_thin', 'zpool': 'tank'}])
    for check in (True, False):
        rc, result = run_module(piraeus, 'piraeus_satellite_configuration', args, check=check)
        assert rc != 0
        assert result['msg'] == (
            "LinstorSatelliteConfiguration pt-zfs: the API server's piraeus.io/v1 CRDs do not know "
            ".spec.storagePools[0].zfsThinPool. Install the CRDs of the Piraeus operator release you run, or leave "
            "the option out.")
    assert get(piraeus, 'linstorsatelliteconfiguration', 'pt-zfs') is None


def test_webhook_rules_are_checked_before_the_api(piraeus):
    args = dict(name='pt-bad-pool', storage_pools=[{'name': 'vm', 'type': 'lvm_thin'}])
    rc, result = run_module(piraeus, 'piraeus_satellite_configuration', args)
    assert rc != 0
    assert result['msg'] == ('storage pool name \'vm\' is not valid for LINSTOR: 3 to 48 letters, digits, "_" or '
                             '"-", starting and ending with a letter or digit')


def test_absent_deletes_and_info_reads(piraeus):
    args = dict(name='pt-gone', zone='pt-room-b')
    assert run_module(piraeus, 'piraeus_satellite_configuration', args)[0] == 0
    rc, result = run_module(piraeus, 'piraeus_satellite_configuration_info', dict(name='pt-gone'))
    assert rc == 0 and result['changed'] is False
    assert [r['spec'] for r in result['resources']] == [{'nodeSelector': {ZONE: 'pt-room-b'}}]

    rc, result = run_module(piraeus, 'piraeus_satellite_configuration', dict(args, state='absent'), check=True,
                            diff=True)
    assert rc == 0 and result['changed'] is True, result
    assert result['diff']['before']['metadata']['name'] == 'pt-gone' and result['diff']['after'] == {}
    assert get(piraeus, 'linstorsatelliteconfiguration', 'pt-gone') is not None

    rc, result = run_module(piraeus, 'piraeus_satellite_configuration', dict(args, state='absent'))
    assert rc == 0 and result['changed'] is True, result
    assert get(piraeus, 'linstorsatelliteconfiguration', 'pt-gone') is None
    rc, result = run_module(piraeus, 'piraeus_satellite_configuration', dict(args, state='absent'))
    assert rc == 0 and result['changed'] is False, result
    rc, result = run_module(piraeus, 'piraeus_satellite_configuration_info', dict(name='pt-gone'))
    assert rc == 0 and result['resources'] == []


@pytest.mark.parametrize('module,kind', [
    ('piraeus_cluster_info', 'LinstorCluster'),
    ('piraeus_node_connection_info', 'LinstorNodeConnection'),
    ('vm_storage_class_info', 'StorageClass'),
])
def test_info_lists_what_the_api_server_has(piraeus, module, kind):
    rc, result = run_module(piraeus, module, {})
    assert rc == 0 and result['changed'] is False, result
    listed = sorted(r['metadata']['name'] for r in result['resources'])
    assert all(r['kind'] == kind for r in result['resources'])
    stored = json.loads(piraeus.kubectl('get', kind.lower(), '-o', 'json').stdout)['items']
    assert listed == sorted(o['metadata']['name'] for o in stored)


def test_storage_layer_role_applies_the_inventory_and_is_idempotent(piraeus):
    extra = dict(kubeconfig=str(piraeus.kubeconfig), ansible_python_interpreter=sys.executable)
    inventory = 'tests/integration/fixtures/piraeus/inventory.yml'
    playbook = 'tests/integration/fixtures/piraeus/storage_layer.yml'

    result = run_playbook(playbook, inventory, extra, check=True, diff=True)
    assert result.returncode == 0, output(result)
    assert get(piraeus, 'storageclass', 'pt-role-vm') is None, 'check mode wrote the StorageClass'
    assert get(piraeus, 'linstorcluster', 'pt-role-cluster') is None

    result = run_playbook(playbook, inventory, extra)
    assert result.returncode == 0, output(result)
    # Changed tasks: the CRDs (installed by the fixture with kubectl; twinroom.ha takes them over), the cluster,
    # the rooms (one loop), the connection and the class.
    assert play_recap(output(result))['localhost']['changed'] == 5
    room_a = get(piraeus, 'linstorsatelliteconfiguration', 'twinroom-room-a')
    room_b = get(piraeus, 'linstorsatelliteconfiguration', 'twinroom-room-b')
    assert room_a['spec']['nodeSelector'] == {ZONE: 'pt-room-a'}
    assert room_a['spec']['storagePools'] == [{'name': 'vmdata', 'lvmThinPool': {},
                                               'source': {'hostDevices': ['/dev/vdb']}}]
    assert room_b['spec']['storagePools'] == [{'name': 'vmdata',
                                               'lvmThinPool': {'volumeGroup': 'vg_vm', 'thinPool': 'thin'}}]
    sc = get(piraeus, 'storageclass', 'pt-role-vm')
    assert sc['parameters']['linstor.csi.linbit.com/placementCount'] == '2'
    assert get(piraeus, 'linstornodeconnection', 'pt-role-cross-room')['spec']['selector'] == [
        {'matchLabels': [{'key': ZONE, 'op': 'NotSame'}]}]

    result = run_playbook(playbook, inventory, extra)
    assert result.returncode == 0, output(result)
    assert play_recap(output(result))['localhost']['changed'] == 0


def test_storage_layer_role_refuses_a_room_without_the_class_pool(piraeus):
    extra = dict(kubeconfig=str(piraeus.kubeconfig), ansible_python_interpreter=sys.executable,
                 storage_layer_storage_pool='fastdata')
    result = run_playbook('tests/integration/fixtures/piraeus/storage_layer.yml',
                          'tests/integration/fixtures/piraeus/inventory.yml', extra)
    assert result.returncode != 0
    assert ('storage_layer: room room_a, room_b has no storage pool fastdata, the pool of the StorageClass '
            'pt-role-vm: set twinroom_storage_pools in its group_vars.') in output(result)
