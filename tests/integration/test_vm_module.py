# -*- coding: utf-8 -*-
"""twinroom.ha.vm / vm_info and the kubevirt role against a real kube-apiserver with the real
KubeVirt and CDI CRDs (the `api` fixture): every object the modules write passes the API server's
validation; second runs change nothing; check mode writes nothing; --diff shows what changes.

No virt-controller runs here, so no VMI appears by itself: the vm_info test creates one VMI and sets its
status (node, phase) the way virt-controller and virt-handler would - named as that stand-in below.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from playbook import REPO, output, run_playbook

pytestmark = pytest.mark.apiserver

FIXTURES = 'tests/integration/fixtures/vm'
NAMESPACE = 'vmtest'
ZONE = 'topology.kubernetes.io/zone'
# Nodes as site.yml registers them: one per room, labelled with the room's zone.
NODES = {'vmtest-a1': 'room-a', 'vmtest-b1': 'room-b'}
PAIR = [
    {'name': 'vm-a', 'home_room': 'room-a', 'anti_affinity_group': 'pair1'},
    {'name': 'vm-b', 'home_room': 'room-b', 'anti_affinity_group': 'pair1'},
]


def run_json(api, playbook, extra=None, check=False, diff=False):
    """ansible-playbook with the json callback -> (returncode, [per-item results of the first task])."""
    extra_vars = dict(kubeconfig=str(api.kubeconfig), vm_namespace=NAMESPACE, ansible_python_interpreter=sys.executable)
    extra_vars.update(extra or {})
    command = ['ansible-playbook', '-i', 'localhost,', str(REPO / playbook), '--extra-vars', json.dumps(extra_vars)]
    command += ['--check'] if check else []
    command += ['--diff'] if diff else []
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='json')
    result = subprocess.run(command, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        raise AssertionError('no JSON from ansible-playbook: %s' % (result.stdout + result.stderr))
    task = report['plays'][0]['tasks'][0]['hosts']['localhost']
    return result.returncode, task.get('results', [task])


def vms(api, *names):
    return dict((name, get_vm(api, name)) for name in names)


def get_vm(api, name, kind='vm'):
    result = api.kubectl('-n', NAMESPACE, 'get', kind, name, '-o', 'json', check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture(scope='module')
def cluster(api):
    """The test namespace and two Nodes, one per room (created through the API, as site.yml does)."""
    api.kubectl('create', 'namespace', NAMESPACE)
    for name, zone in NODES.items():
        api.kubectl('apply', '-f', '-', input=json.dumps({
            'apiVersion': 'v1', 'kind': 'Node',
            'metadata': {'name': name, 'labels': {ZONE: zone, 'kubernetes.io/hostname': name}}}))
    return api


def test_pair_in_two_rooms_is_created_accepted_and_second_run_changes_nothing(cluster):
    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': PAIR})
    assert rc == 0, results
    assert [r['changed'] for r in results] == [True, True]
    assert [r['method'] for r in results] == ['create', 'create']

    stored = vms(cluster, 'vm-a', 'vm-b')
    for name, home in (('vm-a', 'room-a'), ('vm-b', 'room-b')):
        vm = stored[name]
        spec = vm['spec']
        template = spec['template']['spec']
        assert spec['runStrategy'] == 'Always'
        assert template['evictionStrategy'] == 'LiveMigrate'
        assert vm['metadata']['labels']['twinroom.io/home-room'] == home
        assert spec['template']['metadata']['labels']['twinroom.io/anti-affinity-group'] == 'pair1'
        preferred = template['affinity']['nodeAffinity']['preferredDuringSchedulingIgnoredDuringExecution']
        assert preferred[0]['preference']['matchExpressions'] == [{'key': ZONE, 'operator': 'In', 'values': [home]}]
        anti = template['affinity']['podAntiAffinity']
        assert list(anti) == ['preferredDuringSchedulingIgnoredDuringExecution']
        assert anti['preferredDuringSchedulingIgnoredDuringExecution'][0]['podAffinityTerm']['topologyKey'] == ZONE
        storage = spec['dataVolumeTemplates'][0]['spec']['storage']
        assert storage == {'storageClassName': 'twinroom-vm-replicated', 'accessModes': ['ReadWriteMany'],
                           'volumeMode': 'Block', 'resources': {'requests': {'storage': '10Gi'}}}

    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': PAIR})
    assert rc == 0
    assert [r['changed'] for r in results] == [False, False]
    after = vms(cluster, 'vm-a', 'vm-b')
    assert [after[n]['metadata']['resourceVersion'] for n in after] == \
        [stored[n]['metadata']['resourceVersion'] for n in stored]


def test_check_mode_changes_nothing(cluster):
    before = vms(cluster, 'vm-a')
    changes = [dict(PAIR[0], memory='3Gi'), {'name': 'vm-new', 'home_room': 'room-b'}, dict(PAIR[1], state='stopped')]
    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': changes}, check=True)
    assert rc == 0, results
    assert [r['changed'] for r in results] == [True, True, True]
    # the server-side dry run returned what would be stored
    assert results[0]['result']['spec']['template']['spec']['domain']['memory'] == {'guest': '3Gi'}
    assert results[2]['run_strategy'] == 'Halted'
    assert get_vm(cluster, 'vm-new') is None
    assert vms(cluster, 'vm-a')['vm-a']['metadata']['resourceVersion'] == before['vm-a']['metadata']['resourceVersion']
    assert get_vm(cluster, 'vm-b')['spec']['runStrategy'] == 'Always'


def test_diff_shows_a_memory_change(cluster):
    result = run_playbook(FIXTURES + '/vms.yml', 'localhost,', diff=True, extra_vars=dict(
        kubeconfig=str(cluster.kubeconfig), vm_namespace=NAMESPACE, ansible_python_interpreter=sys.executable,
        vms=[dict(PAIR[0], memory='2Gi')]))
    text = output(result)
    assert result.returncode == 0, text
    assert re.search(r'^-\s+guest: 1Gi$', text, re.M)
    assert re.search(r'^\+\s+guest: 2Gi$', text, re.M)
    assert get_vm(cluster, 'vm-a')['spec']['template']['spec']['domain']['memory'] == {'guest': '2Gi'}
    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': [dict(PAIR[0], memory='2Gi')]})
    assert [r['changed'] for r in results] == [False]


def test_stopped_halts_and_started_runs_again(cluster):
    spec_before = get_vm(cluster, 'vm-b')['spec']['template']
    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': [{'name': 'vm-b', 'state': 'stopped'}]}, diff=True)
    assert rc == 0 and results[0]['changed'] is True
    assert results[0]['diff'] == {'before': {'spec': {'runStrategy': 'Always'}},
                                  'after': {'spec': {'runStrategy': 'Halted'}}}
    vm = get_vm(cluster, 'vm-b')
    assert vm['spec']['runStrategy'] == 'Halted'
    assert vm['spec']['template'] == spec_before      # stopping leaves the spec alone

    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': [{'name': 'vm-b', 'state': 'stopped'}]})
    assert results[0]['changed'] is False

    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': [{'name': 'vm-b', 'state': 'started'}] * 2})
    assert rc == 0
    assert [r['changed'] for r in results] == [True, False]   # already running the second time: left alone
    assert get_vm(cluster, 'vm-b')['spec']['runStrategy'] == 'Always'


def test_unknown_home_room_fails_with_the_exact_message_and_writes_nothing(cluster):
    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': [{'name': 'vm-lost', 'home_room': 'room-c'}]})
    assert rc != 0
    assert results[0]['failed'] is True
    assert results[0]['msg'] == (
        "Unknown home room 'room-c' for VirtualMachine vmtest/vm-lost: the known rooms are room-a and room-b "
        "(from the topology.kubernetes.io/zone labels of the cluster's Nodes).")
    assert get_vm(cluster, 'vm-lost') is None


def test_unknown_home_room_from_the_rooms_option(cluster):
    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': [
        {'name': 'vm-lost', 'home_room': 'room_a', 'rooms': ['room-a', 'room-b']}]})
    assert rc != 0
    assert results[0]['msg'] == (
        "Unknown home room 'room_a' for VirtualMachine vmtest/vm-lost: the known rooms are room-a and room-b "
        "(from the option rooms).")
    assert get_vm(cluster, 'vm-lost') is None


def test_vm_info_reports_the_room_and_whether_it_is_home(cluster):
    # Stand-in for virt-controller + virt-handler: a VMI of vm-a, running on room B's node.
    cluster.kubectl('-n', NAMESPACE, 'apply', '-f', '-', input=json.dumps({
        'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance',
        'metadata': {'name': 'vm-a', 'namespace': NAMESPACE},
        'spec': {'domain': {'devices': {}, 'memory': {'guest': '2Gi'}}},
        # The VMI CRD has no status subresource: virt-controller and virt-handler write status with the object.
        'status': {'phase': 'Running', 'nodeName': 'vmtest-b1'}}))
    rc, results = run_json(cluster, FIXTURES + '/vm_info.yml')
    assert rc == 0, results
    by_name = dict((vm['name'], vm) for vm in results[0]['vms'])
    assert by_name['vm-a']['node'] == 'vmtest-b1'
    assert by_name['vm-a']['room'] == 'room-b'
    assert by_name['vm-a']['home_room'] == 'room-a'
    assert by_name['vm-a']['in_home_room'] is False
    assert by_name['vm-a']['vmi_phase'] == 'Running'
    assert by_name['vm-a']['anti_affinity_group'] == 'pair1'
    assert by_name['vm-b']['node'] is None and by_name['vm-b']['in_home_room'] is None
    assert by_name['vm-b']['home_room'] == 'room-b'
    assert results[0]['changed'] is False


def test_absent_deletes_and_then_changes_nothing(cluster):
    rc, results = run_json(cluster, FIXTURES + '/vms.yml', {'vms': [{'name': 'vm-b', 'state': 'absent'}] * 2},
                           diff=True)
    assert rc == 0, results
    assert [r['changed'] for r in results] == [True, False]
    assert results[0]['diff']['before']['metadata']['name'] == 'vm-b'
    assert results[0]['diff']['after'] == {}
    assert get_vm(cluster, 'vm-b') is None


def kubevirt_cr(api):
    result = api.kubectl('-n', 'kubevirt', 'get', 'kubevirt', 'kubevirt', '-o', 'json', check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def without_empty_lists(value):
    """An object as a Go client writes it back with `omitempty`: no empty lists."""
    if isinstance(value, dict):
        return {key: without_empty_lists(item) for key, item in value.items() if item != []}
    if isinstance(value, list):
        return [without_empty_lists(item) for item in value]
    return value


def operator_manifests(directory):
    """Stand-ins for the two operator manifests (a ConfigMap each, in the operator's namespace), on file://, with
    their checksums, as the role's variables."""
    values = dict(kubevirt_download_dir=str(directory / 'downloads'))
    for variable, namespace, name in (('kubevirt_operator', 'kubevirt', 'virt-operator'),
                                      ('kubevirt_cdi_operator', 'cdi', 'cdi-operator')):
        path = directory / (name + '.yaml')
        path.write_text(json.dumps({'apiVersion': 'v1', 'kind': 'ConfigMap',
                                    'metadata': {'name': 'vmtest-' + name, 'namespace': namespace}}))
        values[variable + '_url'] = 'file://%s' % path
        values[variable + '_checksum'] = 'sha256:' + hashlib.sha256(path.read_bytes()).hexdigest()
    return values


def test_kubevirt_role_applies_the_crs_and_second_run_changes_nothing(cluster, tmp_path):
    role = FIXTURES + '/kubevirt_role.yml'
    extra = dict(operator_manifests(tmp_path), kubeconfig=str(cluster.kubeconfig),
                 ansible_python_interpreter=sys.executable)

    result = run_playbook(role, 'localhost,', extra_vars=extra, check=True)
    assert result.returncode == 0, output(result)
    assert kubevirt_cr(cluster) is None
    assert cluster.kubectl('get', 'cdi', 'cdi', check=False).returncode != 0

    result = run_playbook(role, 'localhost,', extra_vars=extra)
    assert result.returncode == 0, output(result)
    cr = kubevirt_cr(cluster)
    config = cr['spec']['configuration']
    assert config['evictionStrategy'] == 'LiveMigrate'
    assert config['migrations']['allowPostCopy'] is False
    assert config['migrations']['bandwidthPerMigration'] == '64Mi'
    assert cr['spec']['workloadUpdateStrategy']['workloadUpdateMethods'] == ['LiveMigrate']
    assert config['developerConfiguration'] == {'useEmulation': False}
    cdi = json.loads(cluster.kubectl('get', 'cdi', 'cdi', '-o', 'json').stdout)
    assert cdi['spec']['uninstallStrategy'] == 'BlockUninstallIfWorkloadsExist'
    assert cdi['spec']['config'] == {'featureGates': ['HonorWaitForFirstConsumer']}
    assert cluster.kubectl('-n', 'kubevirt', 'get', 'configmap', 'vmtest-virt-operator').returncode == 0

    # virt-operator writes its CR back (an update, from Go structs whose empty lists are omitted): that is no
    # change of the role's, and the next run must not put anything back.
    cluster.kubectl('replace', '-f', '-', input=json.dumps(without_empty_lists(kubevirt_cr(cluster))))
    result = run_playbook(role, 'localhost,', extra_vars=extra)
    assert result.returncode == 0, output(result)
    assert 'changed=0' in output(result).split('PLAY RECAP')[-1]

    result = run_playbook(role, 'localhost,', extra_vars=dict(extra, kubevirt_migration_bandwidth='128Mi'),
                          diff=True, check=True)
    text = output(result)
    assert result.returncode == 0, text
    assert re.search(r'^-\s+bandwidthPerMigration: 64Mi$', text, re.M)
    assert re.search(r'^\+\s+bandwidthPerMigration: 128Mi$', text, re.M)
    assert kubevirt_cr(cluster)['spec']['configuration']['migrations']['bandwidthPerMigration'] == '64Mi'
