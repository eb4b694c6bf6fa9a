"""Which CoreDNS replica to move so that each room has one (module_utils/dns_spread.py)."""

from __future__ import annotations

import os
import sys

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import dns_spread
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import dns_spread

ROOMS = ['room-a', 'room-b']


def node(name, zone, ready='True', taints=(), kwok=False, unschedulable=False):
    labels = {'topology.kubernetes.io/zone': zone}
    if kwok:
        labels['type'] = 'kwok'
    spec = {'taints': [{'key': key, 'effect': 'NoSchedule'} for key in taints]}
    if unschedulable:
        spec['unschedulable'] = True
    return {'metadata': {'name': name, 'labels': labels}, 'spec': spec,
            'status': {'conditions': [{'type': 'Ready', 'status': ready}]}}


def pod(name, node_name, ready=True, deleting=False, phase='Running'):
    metadata = {'name': name}
    if deleting:
        metadata['deletionTimestamp'] = '2026-12-04T18:00:00Z'
    return {'metadata': metadata, 'spec': {'nodeName': node_name},
            'status': {'phase': phase, 'containerStatuses': [{'ready': ready}]}}


NODES = [node('a-cp1', 'room-a', taints=['node-role.kubernetes.io/control-plane']), node('a-w1', 'room-a'),
         node('a-w2', 'room-a', kwok=True), node('b-cp1', 'room-b'), node('b-w1', 'room-b')]


def test_one_in_each_room_moves_nothing():
    assert dns_spread.plan([pod('d1', 'a-cp1'), pod('d2', 'b-w1')], NODES, ROOMS) == {
        'placed': {'d1': 'room-a', 'd2': 'room-b'}, 'missing': [], 'waiting': [], 'move': '', 'decided': True}


def test_both_in_one_room_moves_one_to_the_other():
    assert dns_spread.plan([pod('d2', 'b-w1'), pod('d1', 'b-cp1')], NODES, ROOMS) == {
        'placed': {'d2': 'room-b', 'd1': 'room-b'}, 'missing': ['room-a'], 'waiting': [], 'move': 'd1', 'decided': True}


@pytest.mark.parametrize('room_a', [
    [node('a-cp1', 'room-a', taints=['node.kubernetes.io/not-ready']), node('a-w1', 'room-a', ready='Unknown')],
    [node('a-w1', 'room-a', taints=['node.kubernetes.io/unreachable'])],
    [node('a-w1', 'room-a', taints=['node.kubernetes.io/out-of-service'])],
    [node('a-w1', 'room-a', unschedulable=True), node('a-w2', 'room-a', kwok=True)],
], ids=['not-ready', 'unreachable', 'out-of-service', 'cordoned-or-kwok'])
def test_a_room_that_cannot_take_a_replica_yet_is_waited_for(room_a):
    """A replica deleted now would be created in the crowded room again."""
    nodes = room_a + [node('b-cp1', 'room-b'), node('b-w1', 'room-b')]
    result = dns_spread.plan([pod('d1', 'b-cp1'), pod('d2', 'b-w1')], nodes, ROOMS)
    assert (result['missing'], result['waiting'], result['move'], result['decided']) == (['room-a'], ['room-a'], '', False)


def test_replicas_not_ready_or_going_do_not_count():
    pods = [pod('d1', 'a-w1', ready=False), pod('d2', 'b-w1'), pod('d3', 'b-cp1', deleting=True),
            pod('d4', 'a-cp1', phase='Pending')]
    result = dns_spread.plan(pods, NODES, ROOMS)
    # The replica in room A may become ready yet (restarted with its node): nothing is decided, the step waits.
    assert (result['placed'], result['missing'], result['move'], result['decided']) == (
        {'d2': 'room-b'}, ['room-a'], '', False)
