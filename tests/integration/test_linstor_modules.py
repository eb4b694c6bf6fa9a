# -*- coding: utf-8 -*-
"""The LINSTOR modules through ansible-playbook, against the LINSTOR controller STAND-IN
(tests/standins/linstor_controller.py: documented REST response shapes, in-memory model, decides nothing) and,
for the quorum override's fencing records, a real kube-apiserver (the ``api`` fixture) holding Node objects with
twinroom.ha.fence's annotation and taint.

Each module: created or changed on the first run, changed=0 on the second, check mode writes nothing (the
stand-in logs every request), --diff shows before/after; the info modules report what the stand-in holds; the
override is refused with the exact message while the other room is not fenced and allowed once it is.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import threading

import pytest
import yaml

from playbook import output, run_playbook

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'standins'))
from linstor_controller import LinstorStandIn  # noqa: E402  (the stand-in, not LINSTOR)

ZONE = 'Aux/topology.kubernetes.io/zone'
QUORUM = 'DrbdOptions/Resource/quorum'
RECORD = 'Aux/twinroom.io/quorum-override'
ROOMS = {'room_a': 'lq-room-a', 'room_b': 'lq-room-b'}   # zone values of our own, apart from other tests' Nodes
FENCE_RECORD = '{"at":"2026-11-21T17:10:04Z","by":"twinroom.ha.fence","method":"bmc","room":"room_a"}'


@pytest.fixture
def linstor():
    with LinstorStandIn() as standin:
        for name, zone in [('lq-a1', 'lq-room-a'), ('lq-a2', 'lq-room-a'), ('lq-b1', 'lq-room-b'),
                           ('lq-b2', 'lq-room-b'), ('lq-witness', 'lq-witness')]:
            standin.add_node(name, zone)
        standin.add_resource_group('twinroom-vms')
        # pvc-tb-a: tiebreaker in room A; pvc-witness: tiebreaker on the witness; pvc-other: another group.
        for rsc, tiebreaker in [('pvc-tb-a', 'lq-a2'), ('pvc-witness', 'lq-witness')]:
            standin.add_resource(rsc, 'lq-a1', resource_group='twinroom-vms')
            standin.add_resource(rsc, 'lq-b1', resource_group='twinroom-vms')
            standin.add_resource(rsc, tiebreaker, tiebreaker=True)
        standin.add_resource('pvc-other', 'lq-a1')
        standin.add_resource('pvc-other', 'lq-b2')
        yield standin


def play(tmp_path, name, tasks, check=False, diff=False, callback='json'):
    """Run ``tasks`` on localhost; (process, report) with the json callback's report (None otherwise)."""
    inventory = tmp_path / 'inventory.ini'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    playbook = tmp_path / ('%s.yml' % name)
    playbook.write_text(yaml.safe_dump([dict(name=name, hosts='localhost', gather_facts=False, tasks=tasks)],
                                       sort_keys=False))
    saved = {key: os.environ.get(key) for key in ('ANSIBLE_STDOUT_CALLBACK', 'ANSIBLE_LOAD_CALLBACK_PLUGINS')}
    os.environ.update(ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    try:
        result = run_playbook(str(playbook), str(inventory), check=check, diff=diff, timeout=300)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    report = json.loads(result.stdout) if callback == 'json' and result.stdout.strip().startswith('{') else None
    return result, report


def task_results(report):
    return [task['hosts']['localhost'] for play_ in report['plays'] for task in play_['tasks']]


def changed_count(report):
    return report['stats']['localhost']['changed']


def module_task(module, linstor, **args):
    args.setdefault('controller_url', linstor.url)
    args.setdefault('rooms', ROOMS)
    return {'twinroom.ha.%s' % module: args}


# --- resource group ------------------------------------------------------------------------------------------

def test_resource_group_create_idempotent_check_and_diff(linstor, tmp_path):
    tasks = [module_task('linstor_resource_group', linstor, name='twinroom-new', witness=True,
                         storage_pools=['thin'])]
    before = len(linstor.writes())
    result, report = play(tmp_path, 'rg-check', tasks, check=True, diff=True)
    assert result.returncode == 0, output(result)
    first = task_results(report)[0]
    assert first['changed'] is True and first['created'] is True
    assert first['diff']['before'] == {}
    assert first['diff']['after']['props'][QUORUM] == 'majority'
    assert linstor.writes()[before:] == [] and linstor.resource_group('twinroom-new') is None

    result, report = play(tmp_path, 'rg-create', tasks)
    assert result.returncode == 0, output(result)
    assert changed_count(report) == 1
    group = linstor.resource_group('twinroom-new')
    assert group['props'] == {QUORUM: 'majority', 'DrbdOptions/Resource/on-no-quorum': 'suspend-io',
                              'DrbdOptions/Resource/on-no-data-accessible': 'suspend-io',
                              'DrbdOptions/Resource/on-suspended-primary-outdated': 'force-secondary',
                              'DrbdOptions/auto-add-quorum-tiebreaker': 'True'}
    assert group['select_filter'] == {'place_count': 2, 'x_replicas_on_different_map': {ZONE: 1},
                                      'storage_pool_list': ['thin']}

    writes = len(linstor.writes())
    result, report = play(tmp_path, 'rg-again', tasks)
    assert result.returncode == 0, output(result)
    assert changed_count(report) == 0
    assert len(linstor.writes()) == writes


def test_resource_group_changes_only_what_differs_and_shows_diff(linstor, tmp_path):
    linstor.add_resource_group('twinroom-vms', props={'DrbdOptions/Net/protocol': 'C', QUORUM: 'off'},
                               select_filter={'place_count': 3, 'diskless_on_remaining': False})
    tasks = [module_task('linstor_resource_group', linstor, name='twinroom-vms', witness=False)]
    result, dummy = play(tmp_path, 'rg-diff', tasks, diff=True, callback='default')
    assert result.returncode == 0, output(result)
    text = output(result)
    # The repository's ansible.cfg shows results (and diffs of dicts) as YAML.
    assert "-        DrbdOptions/Resource/quorum: 'off'" in text
    assert '+        DrbdOptions/Resource/quorum: majority' in text
    assert '-        place_count: 3' in text
    assert '+        place_count: 2' in text
    group = linstor.resource_group('twinroom-vms')
    assert group['props']['DrbdOptions/Net/protocol'] == 'C'          # not ours: left alone
    assert group['props']['DrbdOptions/auto-add-quorum-tiebreaker'] == 'False'
    assert group['select_filter']['diskless_on_remaining'] is False
    assert group['select_filter']['place_count'] == 2
    assert [w['path'] for w in linstor.writes()] == ['/v1/resource-groups/twinroom-vms']


def test_resource_group_warns_without_witness_node(linstor, tmp_path):
    with linstor.lock:
        del linstor.nodes['lq-witness']
    tasks = [module_task('linstor_resource_group', linstor, name='twinroom-vms', witness=True)]
    result, report = play(tmp_path, 'rg-warn', tasks, check=True)
    assert result.returncode == 0, output(result)
    assert task_results(report)[0]['warnings'] == [
        'witness is true but no LINSTOR node has a zone outside room_a (lq-room-a) and room_b (lq-room-b): the '
        'tiebreaker cannot be placed, so losing a room suspends I/O until twinroom.ha.linstor_quorum_override. '
        'Register the witness as a LINSTOR satellite with its own zone label.']


def test_resource_group_info(linstor, tmp_path):
    linstor.add_resource_group('twinroom-vms', props={QUORUM: 'majority', 'DrbdOptions/auto-add-quorum-tiebreaker':
                                                      'true'},
                               select_filter={'place_count': 2, 'x_replicas_on_different_map': {ZONE: 1}})
    tasks = [module_task('linstor_resource_group_info', linstor, name='twinroom-vms'),
             module_task('linstor_resource_group_info', linstor, name='no-such-group')]
    tasks[1]['ignore_errors'] = True
    result, report = play(tmp_path, 'rg-info', tasks)
    found, missing = task_results(report)
    info = found['resource_groups']['twinroom-vms']
    assert (info['quorum'], info['auto_tiebreaker'], info['place_count'], info['replicas_per_zone']) == (
        'majority', True, 2, 1)
    assert found['changed'] is False
    assert missing['msg'] == 'resource group no-such-group does not exist on the LINSTOR controller %s.' % linstor.url
    assert linstor.writes() == []


# --- resource info ---------------------------------------------------------------------------------------

def test_resource_info(linstor, tmp_path):
    linstor.set_disk_state('pvc-tb-a', 'lq-b1', 'Outdated')
    tasks = [module_task('linstor_resource_info', linstor, resource_group='twinroom-vms')]
    result, report = play(tmp_path, 'rsc-info', tasks)
    assert result.returncode == 0, output(result)
    info = task_results(report)[0]
    assert sorted(info['resources']) == ['pvc-tb-a', 'pvc-witness']
    tb_a = info['resources']['pvc-tb-a']
    assert [(d['node'], d['room'], d['disk_states']) for d in tb_a['diskful']] == [
        ('lq-a1', 'room_a', ['UpToDate']), ('lq-b1', 'room_b', ['Outdated'])]
    assert tb_a['tiebreaker'] == {'node': 'lq-a2', 'room': 'room_a', 'zone': 'lq-room-a', 'online': True}
    assert tb_a['keeps_quorum_if_lost'] == {'room_a': False, 'room_b': True}
    assert tb_a['up_to_date_if_lost'] == {'room_a': False, 'room_b': True}
    witness = info['resources']['pvc-witness']
    assert witness['tiebreaker']['room'] is None and witness['tiebreaker']['zone'] == 'lq-witness'
    assert witness['keeps_quorum_if_lost'] == {'room_a': True, 'room_b': True}
    assert info['nodes']['lq-witness'] == {'room': None, 'zone': 'lq-witness', 'online': True}
    assert linstor.writes() == []


# --- quorum override -------------------------------------------------------------------------------------

NODE_NAMES = ['lq-a1', 'lq-a2', 'lq-b1', 'lq-b2']


@pytest.fixture
def kube_nodes(api):
    """Node objects of both rooms in the real API server; the test marks room A's as fenced or not."""
    def create(fenced_a):
        items = []
        for name in NODE_NAMES:
            room_a = name.startswith('lq-a')
            node = dict(apiVersion='v1', kind='Node',
                        metadata=dict(name=name, labels={'topology.kubernetes.io/zone': ROOMS['room_a' if room_a
                                                                                              else 'room_b']}))
            if room_a and name in fenced_a:
                node['metadata']['annotations'] = {'twinroom.io/fenced': FENCE_RECORD}
                node['spec'] = dict(taints=[dict(key='node.kubernetes.io/out-of-service', value='nodeshutdown',
                                                 effect='NoExecute')])
            items.append(node)
        api.kubectl('apply', '-f', '-', input=json.dumps(dict(apiVersion='v1', kind='List', items=items)))
    yield create
    api.kubectl('delete', 'node', *NODE_NAMES, '--ignore-not-found', '--wait=false')


def override_task(linstor, api, **args):
    args.setdefault('surviving_room', 'room_b')
    args.setdefault('kubeconfig', str(api.kubeconfig))
    return module_task('linstor_quorum_override', linstor, **args)


@pytest.mark.apiserver
def test_override_refused_while_other_room_not_fenced(linstor, api, kube_nodes, tmp_path):
    kube_nodes(fenced_a=['lq-a1'])
    task = override_task(linstor, api)
    for check in (True, False):
        result, report = play(tmp_path, 'override-refused', [task], check=check)
        assert result.returncode != 0
        failed = task_results(report)[0]
        assert failed['failed'] is True
        assert failed['msg'] == (
            'Refusing quorum override while the other room is not fenced: room_a lq-a2 (no twinroom.io/fenced record '
            'and no node.kubernetes.io/out-of-service taint). Fence room_a first (twinroom.ha.fence with state '
            'fenced), then run this again.')
    assert linstor.writes() == []


@pytest.mark.apiserver
def test_override_allowed_when_fenced_then_restored(linstor, api, kube_nodes, tmp_path):
    kube_nodes(fenced_a=['lq-a1', 'lq-a2'])
    linstor.set_online('lq-a1', False)
    linstor.set_online('lq-a2', False)
    linstor.set_disk_state('pvc-tb-a', 'lq-a1', None)   # an offline node has no state to report
    task = override_task(linstor, api, resource_group='twinroom-vms')

    result, report = play(tmp_path, 'override-check', [task], check=True, diff=True)
    assert result.returncode == 0, output(result)
    planned = task_results(report)[0]
    assert planned['changed'] is True
    assert [(c['resource'], c['node']) for c in planned['changes']] == [('pvc-tb-a', 'lq-b1')]
    assert planned['left_alone'] == {'pvc-witness': 'keeps quorum without room_a'}
    assert planned['fenced_nodes'] == ['lq-a1', 'lq-a2']
    assert planned['diff']['before'] == {'pvc-tb-a@lq-b1': {QUORUM: None, RECORD: None}}
    assert planned['diff']['after']['pvc-tb-a@lq-b1'][QUORUM] == 'off'
    assert linstor.writes() == []

    result, report = play(tmp_path, 'override', [task])
    assert result.returncode == 0, output(result)
    assert changed_count(report) == 1
    props = linstor.resource('pvc-tb-a', 'lq-b1')['props']
    assert props[QUORUM] == 'off'
    record = json.loads(props[RECORD])
    assert (record['surviving_room'], record['lost_room'], record['previous']) == ('room_b', 'room_a', {QUORUM: None})
    assert linstor.resource('pvc-tb-a', 'lq-a1')['props'] == {}           # the lost room's replica: untouched
    assert linstor.resource('pvc-witness', 'lq-b1')['props'] == {}        # kept quorum: untouched

    writes = len(linstor.writes())
    result, report = play(tmp_path, 'override-again', [task])
    assert result.returncode == 0, output(result)
    assert changed_count(report) == 0
    assert len(linstor.writes()) == writes

    info_task = module_task('linstor_resource_info', linstor, resources=['pvc-tb-a'])
    result, report = play(tmp_path, 'override-info', [info_task])
    assert task_results(report)[0]['resources']['pvc-tb-a']['quorum_override'] == {'lq-b1': record}

    # Recovery: room A is back and resynced; state absent puts back what was there (nothing) and drops the record.
    linstor.set_online('lq-a1', True)
    linstor.set_online('lq-a2', True)
    linstor.set_disk_state('pvc-tb-a', 'lq-a1', 'UpToDate')
    restore = override_task(linstor, api, state='absent')
    result, report = play(tmp_path, 'restore-check', [restore], check=True)
    assert task_results(report)[0]['changes'] == [
        dict(resource='pvc-tb-a', node='lq-b1', set={}, delete=[RECORD, QUORUM])]
    assert linstor.resource('pvc-tb-a', 'lq-b1')['props'][QUORUM] == 'off'
    result, report = play(tmp_path, 'restore', [restore])
    assert result.returncode == 0, output(result)
    assert changed_count(report) == 1
    assert linstor.resource('pvc-tb-a', 'lq-b1')['props'] == {}
    result, report = play(tmp_path, 'restore-again', [restore])
    assert changed_count(report) == 0


@pytest.mark.apiserver
def test_override_restores_a_previous_value(linstor, api, kube_nodes, tmp_path):
    kube_nodes(fenced_a=['lq-a1', 'lq-a2'])
    with linstor.lock:
        linstor.resources[('pvc-tb-a', 'lq-b1')]['props'][QUORUM] = 'majority'
    result, report = play(tmp_path, 'override', [override_task(linstor, api, resources=['pvc-tb-a'])])
    assert result.returncode == 0, output(result)
    assert json.loads(linstor.resource('pvc-tb-a', 'lq-b1')['props'][RECORD])['previous'] == {QUORUM: 'majority'}
    result, report = play(tmp_path, 'restore', [override_task(linstor, api, state='absent')])
    assert result.returncode == 0, output(result)
    assert linstor.resource('pvc-tb-a', 'lq-b1')['props'] == {QUORUM: 'majority'}


@pytest.mark.apiserver
def test_restore_waits_for_the_returning_replicas_and_refuses_while_they_are_behind(linstor, api, kube_nodes, tmp_path):
    kube_nodes(fenced_a=['lq-a1', 'lq-a2'])
    result, report = play(tmp_path, 'override', [override_task(linstor, api, resources=['pvc-tb-a'])])
    assert result.returncode == 0, output(result)
    overridden = linstor.resource('pvc-tb-a', 'lq-b1')['props']
    # Room A is back, but its replica has not resynced yet.
    linstor.set_online('lq-a1', True)
    linstor.set_online('lq-a2', True)
    linstor.set_disk_state('pvc-tb-a', 'lq-a1', 'Inconsistent')
    writes = len(linstor.writes())
    result, report = play(tmp_path, 'restore-behind', [override_task(linstor, api, state='absent', wait_timeout=0)])
    assert result.returncode != 0
    assert task_results(report)[0]['msg'] == (
        'refusing to restore DRBD quorum: pvc-tb-a (replica on lq-a1) is not UpToDate after 0 s. With quorum back on, '
        'DRBD would suspend I/O there again if the other room failed before the resync. Nothing was changed; the '
        'override stays. Check the resync (linstor resource list) and that the returning room\'s satellites run, '
        'then run again; allow_outdated: true restores quorum anyway.')
    assert len(linstor.writes()) == writes and linstor.resource('pvc-tb-a', 'lq-b1')['props'] == overridden

    # The resync finishes while the module waits: it then restores.
    timer = threading.Timer(3, linstor.set_disk_state, ('pvc-tb-a', 'lq-a1', 'UpToDate'))
    timer.start()
    try:
        result, report = play(tmp_path, 'restore-wait', [override_task(linstor, api, state='absent', wait_timeout=60)])
    finally:
        timer.cancel()
    assert result.returncode == 0, output(result)
    assert changed_count(report) == 1
    assert linstor.resource('pvc-tb-a', 'lq-b1')['props'] == {}
