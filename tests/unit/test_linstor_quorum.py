# -*- coding: utf-8 -*-
"""The LINSTOR quorum decisions: resource-group settings, per-resource placement and quorum, the override's
refusal, and the override / restore plans. Pure functions on REST-shaped dicts; no controller, no cluster."""

from __future__ import annotations

import json
import os
import sys

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import linstor_quorum as lq
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import linstor_quorum as lq
from ansible_collections.twinroom.ha.plugins.module_utils import linstor_quorum_runner, linstor_rest  # noqa: E402

ROOMS = {'room_a': 'room-a', 'room_b': 'room-b'}
ZONE = 'Aux/topology.kubernetes.io/zone'
NODES = {'a-w1': 'room-a', 'a-w2': 'room-a', 'b-w1': 'room-b', 'b-w2': 'room-b', 'witness1': 'witness', 'bare': None}


def node(name, zone, online=True):
    props = {ZONE: zone} if zone else {}
    return dict(name=name, type='SATELLITE', props=props, connection_status='ONLINE' if online else 'OFFLINE')


PLACEMENT = lq.node_rooms([node(n, z) for n, z in NODES.items()], ROOMS)


def rsc(name, node_name, kind='diskful', state='UpToDate', props=None, extra_flags=()):
    flags = {'diskful': [], 'tiebreaker': ['DISKLESS', 'DRBD_DISKLESS', 'TIE_BREAKER'],
             'diskless': ['DISKLESS', 'DRBD_DISKLESS'], 'client': ['DISKLESS', 'DRBD_DISKLESS', 'CLIENT']}[kind]
    volume = dict(volume_number=0)
    if state is not None:
        volume['state'] = dict(disk_state=state if kind == 'diskful' else 'Diskless')
    return dict(name=name, node_name=node_name, flags=flags + list(extra_flags), props=dict(props or {}),
                volumes=[volume])


def summary(resources, group='vms'):
    return lq.placement_summary(dict(name='r', resource_group_name=group), resources, PLACEMENT, ROOMS)


# --- the resource group ----------------------------------------------------------------------------------

@pytest.mark.parametrize('witness,tiebreaker', [(True, 'True'), (False, 'False')])
def test_desired_resource_group(witness, tiebreaker):
    desired = lq.desired_resource_group(witness)
    assert desired == dict(
        props={'DrbdOptions/Resource/quorum': 'majority',
               'DrbdOptions/Resource/on-no-quorum': 'suspend-io',
               'DrbdOptions/Resource/on-no-data-accessible': 'suspend-io',
               'DrbdOptions/Resource/on-suspended-primary-outdated': 'force-secondary',
               'DrbdOptions/auto-add-quorum-tiebreaker': tiebreaker},
        select_filter={'place_count': 2, 'x_replicas_on_different_map': {ZONE: 1}})


def test_desired_resource_group_options():
    desired = lq.desired_resource_group(True, zone_label='example.com/room', on_no_quorum='io-error', place_count=3,
                                        storage_pools=['thin'])
    assert desired['props']['DrbdOptions/Resource/on-no-quorum'] == 'io-error'
    assert desired['props']['DrbdOptions/Resource/on-no-data-accessible'] == 'io-error'
    assert desired['select_filter'] == {'place_count': 3, 'x_replicas_on_different_map': {'Aux/example.com/room': 1},
                                        'storage_pool_list': ['thin']}


WANTED = lq.desired_resource_group(True)
DONE_PROPS = dict(WANTED['props'], **{'DrbdOptions/Net/protocol': 'C'})


@pytest.mark.parametrize('group,override,select_filter,create', [
    pytest.param(None, WANTED['props'], WANTED['select_filter'], True, id='missing-is-created'),
    pytest.param(dict(name='vms', props={}, select_filter={}), WANTED['props'], WANTED['select_filter'], False,
                 id='empty-gets-everything'),
    pytest.param(dict(name='vms', props=DONE_PROPS, select_filter=dict(WANTED['select_filter'], diskless_on_remaining=False)),
                 {}, {}, False, id='done-unmanaged-left-alone'),
    pytest.param(dict(name='vms', props=dict(DONE_PROPS, **{'DrbdOptions/auto-add-quorum-tiebreaker': 'true'}),
                      select_filter=WANTED['select_filter']), {}, {}, False, id='boolean-case-is-the-same'),
    pytest.param(dict(name='vms', props=dict(DONE_PROPS, **{'DrbdOptions/Resource/on-no-quorum': 'io-error'}),
                      select_filter=dict(WANTED['select_filter'], place_count=3)),
                 {'DrbdOptions/Resource/on-no-quorum': 'suspend-io'}, {'place_count': 2}, False, id='partial'),
])
def test_resource_group_plan(group, override, select_filter, create):
    plan = lq.resource_group_plan(group, WANTED)
    assert plan['create'] is create
    assert plan['override_props'] == override
    assert plan['select_filter'] == select_filter
    assert plan['changed'] is bool(create or override or select_filter)
    assert plan['after']['props'].keys() == WANTED['props'].keys()
    if not plan['changed']:
        assert plan['before'] == plan['after']


def test_resource_group_report():
    group = dict(name='vms', description='VM disks', props=dict(WANTED['props']), select_filter=WANTED['select_filter'])
    report = lq.resource_group_report(group)
    assert (report['quorum'], report['on_no_quorum'], report['auto_tiebreaker'], report['place_count'],
            report['replicas_per_zone']) == ('majority', 'suspend-io', True, 2, 1)
    bare = lq.resource_group_report(dict(name='DfltRscGrp', select_filter={'replicas_on_different': [ZONE]}))
    assert (bare['quorum'], bare['auto_tiebreaker'], bare['replicas_per_zone']) == (None, None, 1)


@pytest.mark.parametrize('witness,nodes,warnings', [
    (True, {'a': 'room-a', 'b': 'room-b', 'w': 'witness'}, []),
    (False, {'a': 'room-a', 'b': 'room-b'}, []),
    (True, {'a': 'room-a', 'b': 'room-b'},
     ['witness is true but no LINSTOR node has a zone outside room_a (room-a) and room_b (room-b): the tiebreaker '
      'cannot be placed, so losing a room suspends I/O until twinroom.ha.linstor_quorum_override. Register the '
      'witness as a LINSTOR satellite with its own zone label.']),
    (False, {'a': 'room-a', 'b': 'room-b', 'x': None, 'y': None},
     ['LINSTOR nodes x and y have no zone property: the one-replica-per-room rule does not cover them, so both '
      'replicas could land in one room.']),
])
def test_witness_warnings(witness, nodes, warnings):
    placement = lq.node_rooms([node(n, z) for n, z in nodes.items()], ROOMS)
    assert lq.witness_warnings(witness, placement, ROOMS) == warnings


@pytest.mark.parametrize('rooms,message', [
    ({'room_a': 'room-a'}, 'rooms must name exactly two rooms with their zone label values, for example '
                           '{room_a: room-a, room_b: room-b}; got {"room_a": "room-a"}.'),
    ({'room_a': 'x', 'room_b': 'x'}, 'rooms {"room_a": "x", "room_b": "x"}: each room needs its own zone label value.'),
])
def test_check_rooms(rooms, message):
    with pytest.raises(lq.LinstorQuorumError) as caught:
        lq.check_rooms(rooms)
    assert caught.value.msg == message


# --- quorum ------------------------------------------------------------------------------------------------

def voters(*spec):
    return [dict(room=room, diskful=kind == 'D') for kind, room in spec]


@pytest.mark.parametrize('spec,lost,keeps', [
    (voters(('D', 'room_a'), ('D', 'room_b'), ('T', 'room_a')), 'room_a', False),   # tiebreaker went with it
    (voters(('D', 'room_a'), ('D', 'room_b'), ('T', 'room_a')), 'room_b', True),
    (voters(('D', 'room_a'), ('D', 'room_b'), ('T', None)), 'room_a', True),        # witness
    (voters(('D', 'room_a'), ('D', 'room_b'), ('T', None)), 'room_b', True),
    (voters(('D', 'room_a'), ('D', 'room_b')), 'room_a', False),                    # no tiebreaker
    (voters(('D', 'room_a'), ('D', 'room_b')), 'room_b', False),
    (voters(('D', 'room_a'), ('D', 'room_a'), ('D', 'room_b')), 'room_b', True),    # majority of diskful
    (voters(('D', 'room_a'), ('D', 'room_a'), ('D', 'room_b')), 'room_a', False),
    (voters(('D', 'room_a'), ('T', 'room_b')), 'room_a', False),                    # no diskful left
    (voters(('D', 'room_a'), ('D', 'room_b'), ('T', 'room_a'), ('T', 'room_b')), 'room_a', False),  # 1 of 2 diskless
    (voters(('D', 'room_a'), ('D', 'room_b'), ('T', 'room_b'), ('T', None)), 'room_a', True),
])
def test_keeps_quorum(spec, lost, keeps):
    assert lq.keeps_quorum(spec, lost) is keeps


@pytest.mark.parametrize('resources,expected', [
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'b-w1'), rsc('r', 'witness1', 'tiebreaker')],
                 dict(tiebreaker='witness1', keeps={'room_a': True, 'room_b': True}, problems=[]), id='witness'),
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'b-w1'), rsc('r', 'a-w2', 'tiebreaker')],
                 dict(tiebreaker='a-w2', keeps={'room_a': False, 'room_b': True}, problems=[]), id='tiebreaker-in-a'),
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'b-w1')],
                 dict(tiebreaker=None, keeps={'room_a': False, 'room_b': False},
                      problems=['no tiebreaker: losing either room suspends I/O until the quorum override.']),
                 id='no-tiebreaker'),
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'b-w1'), rsc('r', 'b-w2', 'diskless')],
                 dict(tiebreaker=None, keeps={'room_a': True, 'room_b': False}, problems=[]),
                 id='diskless-peer-votes'),
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'b-w1'), rsc('r', 'b-w2', 'client')],
                 dict(tiebreaker=None, keeps={'room_a': False, 'room_b': False},
                      problems=['no tiebreaker: losing either room suspends I/O until the quorum override.']),
                 id='client-does-not-vote'),
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'a-w2'), rsc('r', 'witness1', 'tiebreaker')],
                 dict(tiebreaker='witness1', keeps={'room_a': False, 'room_b': True},
                      problems=['2 diskful replicas in room_a (a-w1 and a-w2): one room holds both copies.',
                                'no diskful replica in room_b.']), id='both-in-one-room'),
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'bare'), rsc('r', 'witness1', 'tiebreaker')],
                 dict(tiebreaker='witness1', keeps={'room_a': True, 'room_b': True},
                      problems=['no diskful replica in room_b.',
                                'diskful replicas on bare are in no room (zone None).']), id='replica-without-zone'),
    pytest.param([rsc('r', 'a-w1'), rsc('r', 'b-w1'), rsc('r', 'b-w2', 'tiebreaker', extra_flags=['DELETE']),
                  rsc('r', 'witness1', 'tiebreaker')],
                 dict(tiebreaker='witness1', keeps={'room_a': True, 'room_b': True}, problems=[]),
                 id='deleted-ignored'),
])
def test_placement_summary(resources, expected):
    result = summary(resources)
    assert (result['tiebreaker'] or {}).get('node') == expected['tiebreaker']
    assert result['keeps_quorum_if_lost'] == expected['keeps']
    assert result['problems'] == expected['problems']
    assert result['resource_group'] == 'vms'


def test_placement_summary_disk_states():
    result = summary([rsc('r', 'a-w1', state='Outdated'), rsc('r', 'b-w1', state=None),
                      rsc('r', 'witness1', 'tiebreaker')])
    assert [(d['node'], d['room'], d['disk_states'], d['up_to_date']) for d in result['diskful']] == [
        ('a-w1', 'room_a', ['Outdated'], False), ('b-w1', 'room_b', ['Unknown'], False)]
    assert result['up_to_date_if_lost'] == {'room_a': False, 'room_b': False}
    assert result['tiebreaker'] == dict(node='witness1', room=None, zone='witness', online=True)


def test_placement_summary_reports_override_records():
    record = lq.override_record('2026-11-21T17:00:00Z', 'room_b', 'room_a', None)
    result = summary([rsc('r', 'a-w1'), rsc('r', 'b-w1', props={lq.OVERRIDE_RECORD: record})])
    assert result['quorum_override'] == {'b-w1': json.loads(record)}


# --- the override's refusal ----------------------------------------------------------------------------------

FENCED = dict(tainted=True, record=dict(at='2026-11-21T17:10:04Z', method='bmc', by='twinroom.ha.fence', room='room_a'))
TAIL = ' Fence room_a first (twinroom.ha.fence with state fenced), then run this again.'


@pytest.mark.parametrize('kube,linstor_nodes,message', [
    ({'a-w1': FENCED, 'a-w2': dict(FENCED, record=None)}, ['a-w1', 'a-w2'],
     'Refusing quorum override while the other room is not fenced: room_a a-w2 (no twinroom.io/fenced record).' + TAIL),
    ({'a-w1': dict(FENCED, tainted=False), 'a-w2': dict(tainted=False, record=None)}, [],
     'Refusing quorum override while the other room is not fenced: room_a a-w1 (no node.kubernetes.io/out-of-service '
     'taint) and a-w2 (no twinroom.io/fenced record and no node.kubernetes.io/out-of-service taint).' + TAIL),
    ({'a-w1': dict(FENCED, record=dict(raw='yes'))}, ['a-w1'],
     'Refusing quorum override while the other room is not fenced: room_a a-w1 (no twinroom.io/fenced record).' + TAIL),
    ({'a-w1': FENCED}, ['a-w1', 'a-w9'],
     'Refusing quorum override while the other room is not fenced: room_a a-w9 (a LINSTOR node in room_a without a '
     'Kubernetes Node labelled topology.kubernetes.io/zone=room-a).' + TAIL),
    ({}, [],
     'Refusing quorum override while the other room is not fenced: room_a no Node is labelled '
     'topology.kubernetes.io/zone=room-a, so nothing shows that room_a is down.' + TAIL),
])
def test_override_refused(kube, linstor_nodes, message):
    with pytest.raises(lq.LinstorQuorumError) as caught:
        lq.check_other_room_fenced('room_a', 'room-a', kube, linstor_nodes)
    assert caught.value.msg == message


@pytest.mark.parametrize('method', ['bmc', 'confirmed-down'])
def test_override_allowed_when_fenced(method):
    kube = {'a-w1': dict(FENCED, record=dict(FENCED['record'], method=method)), 'a-w2': FENCED}
    assert lq.check_other_room_fenced('room_a', 'room-a', kube, ['a-w1', 'a-w2']) == ['a-w1', 'a-w2']


# --- override and restore plans ---------------------------------------------------------------------------

AT = '2026-11-21T17:12:40Z'


def scenario(**rscs):
    """{name: [resources]} -> (summaries, resources by name)."""
    return dict((n, summary(r)) for n, r in rscs.items()), rscs


def test_override_plan_only_where_quorum_is_lost():
    summaries, by_name = scenario(
        lost=[rsc('lost', 'a-w1'), rsc('lost', 'b-w1'), rsc('lost', 'a-w2', 'tiebreaker'),
              rsc('lost', 'b-w2', 'client')],
        kept=[rsc('kept', 'a-w1'), rsc('kept', 'b-w1'), rsc('kept', 'witness1', 'tiebreaker')],
        stale=[rsc('stale', 'a-w1'), rsc('stale', 'b-w1', state='Outdated')])
    changes, skipped = lq.override_plan(summaries, by_name, 'room_b', 'room_a', AT)
    record = lq.override_record(AT, 'room_b', 'room_a', None)
    assert changes == [
        dict(resource='lost', node='b-w1', set={lq.QUORUM: 'off', lq.OVERRIDE_RECORD: record}, delete=[]),
        dict(resource='lost', node='b-w2', set={lq.QUORUM: 'off', lq.OVERRIDE_RECORD: record}, delete=[]),
    ]
    assert skipped == {'kept': 'keeps quorum without room_a', 'stale': 'no UpToDate diskful replica in room_b'}
    assert json.loads(record) == {'at': AT, 'by': 'twinroom.ha.linstor_quorum_override', 'lost_room': 'room_a',
                                  'surviving_room': 'room_b', 'previous': {lq.QUORUM: None}}


def test_override_plan_records_the_previous_value_once():
    first = lq.override_record('2026-11-21T17:00:00Z', 'room_b', 'room_a', 'majority')
    summaries, by_name = scenario(
        done=[rsc('done', 'a-w1'), rsc('done', 'b-w1', props={lq.QUORUM: 'off', lq.OVERRIDE_RECORD: first})],
        changed=[rsc('changed', 'a-w1'),
                 rsc('changed', 'b-w1', props={lq.QUORUM: 'majority', lq.OVERRIDE_RECORD: first})],
        fresh=[rsc('fresh', 'a-w1'), rsc('fresh', 'b-w1', props={lq.QUORUM: 'majority'})])
    changes, skipped = lq.override_plan(summaries, by_name, 'room_b', 'room_a', AT)
    assert changes == [
        dict(resource='changed', node='b-w1', set={lq.QUORUM: 'off'}, delete=[]),   # the first record stays
        dict(resource='fresh', node='b-w1', set={lq.QUORUM: 'off', lq.OVERRIDE_RECORD: lq.override_record(
            AT, 'room_b', 'room_a', 'majority')}, delete=[]),
    ]
    assert skipped == {}


def by_b(previous):
    return lq.override_record(AT, 'room_b', 'room_a', previous)


def test_restore_plan():
    summaries, by_name = scenario(
        none=[rsc('none', 'a-w1'), rsc('none', 'b-w1', props={lq.QUORUM: 'off', lq.OVERRIDE_RECORD: by_b(None)})],
        value=[rsc('value', 'a-w1', state='Inconsistent'),
               rsc('value', 'b-w1', props={lq.QUORUM: 'off', lq.OVERRIDE_RECORD: by_b('majority')})],
        other=[rsc('other', 'a-w1', props={lq.QUORUM: 'off', lq.OVERRIDE_RECORD: lq.override_record(
            AT, 'room_a', 'room_b', None)}), rsc('other', 'b-w1')],
        plain=[rsc('plain', 'a-w1'), rsc('plain', 'b-w1')])
    changes, behind = lq.restore_plan(summaries, by_name, 'room_b')
    assert changes == [
        dict(resource='none', node='b-w1', set={}, delete=[lq.OVERRIDE_RECORD, lq.QUORUM]),
        dict(resource='value', node='b-w1', set={lq.QUORUM: 'majority'}, delete=[lq.OVERRIDE_RECORD]),
    ]
    assert behind == {'value': ['a-w1']}
    assert lq.check_restore(behind, 600, allow_outdated=True) == [
        'quorum restored on value while its replica on a-w1 is not UpToDate: DRBD suspends its I/O again if it loses '
        'quorum before that replica is back.']
    assert lq.check_restore({}, 3) == []


def test_restore_is_refused_while_a_returning_replica_is_not_up_to_date():
    with pytest.raises(lq.LinstorQuorumError) as caught:
        lq.check_restore({'pvc-1': ['a-w1'], 'pvc-2': ['a-w1', 'a-w2']}, 600)
    assert caught.value.msg == (
        'refusing to restore DRBD quorum: pvc-1 (replica on a-w1) and pvc-2 (replica on a-w1 and a-w2) are not '
        'UpToDate after 600 s. With quorum back on, DRBD would suspend I/O there again if the other room failed '
        'before the resync. Nothing was changed; the override stays. Check the resync (linstor resource list) and '
        'that the returning room\'s satellites run, then run again; allow_outdated: true restores quorum anyway.')


def test_changes_view():
    summaries, by_name = scenario(r=[rsc('r', 'a-w1'), rsc('r', 'b-w1', props={lq.QUORUM: 'majority'})])
    changes, dummy = lq.override_plan(summaries, by_name, 'room_b', 'room_a', AT)
    before, after = lq.apply_changes_view(by_name, changes)
    assert before == {'r@b-w1': {lq.QUORUM: 'majority', lq.OVERRIDE_RECORD: None}}
    assert after == {'r@b-w1': {lq.QUORUM: 'off', lq.OVERRIDE_RECORD: by_b('majority')}}


# --- the runner refuses before it writes --------------------------------------------------------------------

class FakeApi(object):
    where = 'LINSTOR controller fake'

    def __init__(self, nodes, definitions, resources):
        self._nodes, self._definitions, self._resources = nodes, definitions, resources
        self.writes = []

    def nodes(self):
        return self._nodes

    def resource_definitions(self, names=None):
        return [d for d in self._definitions if not names or d['name'] in names]

    def resources(self, names=None):
        return [r for r in self._resources if not names or r['name'] in names]

    def modify_resource(self, *args):
        self.writes.append(args)


class FakeRecords(object):
    def __init__(self, nodes):
        self.nodes = nodes

    def room_nodes(self, zone_label, zone):
        return self.nodes


def override_params(**extra):
    params = dict(controller_url='http://fake', rooms=ROOMS, zone_label=lq.ZONE_LABEL, surviving_room='room_b',
                  state='present', resource_group=None, resources=None, kubeconfig=None, context=None)
    params.update(extra)
    return params


def fake_api():
    resources = [rsc('r', 'a-w1'), rsc('r', 'b-w1'), rsc('r', 'a-w2', 'tiebreaker')]
    return FakeApi([node(n, z) for n, z in NODES.items()], [dict(name='r', resource_group_name='vms')], resources)


@pytest.mark.parametrize('check_mode', [False, True])
def test_runner_refuses_without_writing(check_mode):
    api = fake_api()
    with pytest.raises(lq.LinstorQuorumError) as caught:
        linstor_quorum_runner.run_quorum_override(override_params(), check_mode=check_mode, api=api,
                                                  fence_records=FakeRecords({'a-w1': FENCED, 'a-w2': dict(tainted=True, record=None)}))
    assert caught.value.msg.startswith('Refusing quorum override while the other room is not fenced: room_a a-w2 ')
    assert api.writes == []


def test_runner_check_mode_plans_without_writing():
    api = fake_api()
    result = linstor_quorum_runner.run_quorum_override(override_params(), check_mode=True, diff=True, api=api,
                                                       fence_records=FakeRecords({'a-w1': FENCED, 'a-w2': FENCED}))
    assert result['changed'] is True
    assert [(c['resource'], c['node']) for c in result['changes']] == [('r', 'b-w1')]
    assert result['fenced_nodes'] == ['a-w1', 'a-w2']
    assert result['diff']['after']['r@b-w1'][lq.QUORUM] == 'off'
    assert api.writes == []


@pytest.mark.parametrize('room,message', [
    ('room_c', 'surviving_room room_c is not one of the rooms room_a and room_b.'),
])
def test_runner_unknown_room(room, message):
    with pytest.raises(lq.LinstorQuorumError) as caught:
        linstor_quorum_runner.run_quorum_override(override_params(surviving_room=room), api=fake_api(), fence_records=FakeRecords({}))
    assert caught.value.msg == message


def test_tls_without_ca_file_is_refused():
    with pytest.raises(linstor_rest.LinstorApiError) as caught:
        linstor_rest.LinstorApi(dict(controller_url='https://linstor.example:3371', validate_certs=True, ca_file=None))
    assert caught.value.msg == (
        "controller_url https://linstor.example:3371 uses TLS but no ca_file is given: python-linstor checks the "
        "controller's certificate only against ca_file. Give the CA that signed it, or set validate_certs: false.")
