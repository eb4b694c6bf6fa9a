# -*- coding: utf-8 -*-
"""Automatic failover's Events against a real kube-apiserver (apiserver.py: the lab's binaries, kine on SQLite,
loopback; no lab needed): the API server takes each body as room_events.py builds it - the room watch's decisions
through k8s.post_event, failover.yml's through kubernetes.core.k8s as failover.yml writes it - and the kubectl
commands docs/automatic-failover.md gives list them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import k8s, room_events
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import k8s, room_events

pytestmark = pytest.mark.apiserver

DECIDED_AT = time.time()
VOTES = {'room_a': 'absent', 'room_b': 'lost', 'witness': 'lost'}
FAILOVER = {'action': 'failover', 'room': 'room_a', 'method': 'bmc-off', 'not_before': None, 'views': {},
            'votes': VOTES, 'decided_at': DECIDED_AT,
            'reason': 'room_a is lost: unreachable by a majority of the voters (votes: room_a absent, room_b lost, '
                      'witness lost). Its BMCs answer and report every node off: failing over to room_b.'}
ALARM = {'action': 'alarm', 'room': None, 'method': None, 'not_before': None, 'views': {},
         'votes': {'room_a': 'lost', 'room_b': 'lost'}, 'decided_at': DECIDED_AT + 1,
         'reason': u'The link between the rooms is cut \u2014 ' + 'x' * 2000}  # cut to 1024 bytes


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    from apiserver import ApiServer
    with ApiServer(tmp_path_factory.mktemp('events')) as api:
        deadline = time.monotonic() + 60  # kube-system is made by the API server shortly after it is ready
        while api.kubectl('get', 'namespace', 'kube-system', check=False).returncode != 0:
            assert time.monotonic() < deadline, 'kube-system did not appear'
            time.sleep(1)
        yield api


def listed(server, *selector):
    result = server.kubectl('get', 'events', *selector, '-o', 'json')
    return dict((item['metadata']['name'], item) for item in json.loads(result.stdout)['items'])


def test_the_watch_posts_each_decision_and_kubectl_lists_it(server):
    bodies = [room_events.decision_event(decision, 'watch-host') for decision in (FAILOVER, ALARM)]
    assert len(bodies[1]['message'].encode('utf-8')) == 1024
    for body in bodies:
        k8s.post_event(str(server.kubeconfig), None, body)
    ours = listed(server, '-n', 'kube-system', '--field-selector', 'reportingComponent=twinroom.ha')
    assert sorted(ours) == sorted(body['metadata']['name'] for body in bodies)
    for body in bodies:
        stored = ours[body['metadata']['name']]
        for key in ('involvedObject', 'type', 'reason', 'action', 'message', 'eventTime', 'firstTimestamp',
                    'reportingComponent', 'reportingInstance', 'source'):
            assert stored[key] == body[key], key
    decided = listed(server, '-n', 'kube-system', '--field-selector', 'reason=RoomFailoverDecided')
    assert list(decided) == [bodies[0]['metadata']['name']]


def test_a_second_post_of_the_same_decision_is_refused_as_a_conflict(server):
    body = room_events.decision_event(dict(FAILOVER, decided_at=DECIDED_AT + 5), 'watch-host')
    k8s.post_event(str(server.kubeconfig), None, body)
    with pytest.raises(k8s.KubernetesError) as failure:
        k8s.post_event(str(server.kubeconfig), None, body)
    assert failure.value.details['status'] == 409


def test_failover_yml_writes_its_event_with_kubernetes_core_and_kubectl_lists_it(server):
    decision = dict((key, FAILOVER[key]) for key in room_events.DECISION_KEYS)
    body = room_events.failover_event('room_a', 'room_b', 'room_watch', DECIDED_AT + 2, DECIDED_AT + 40.4,
                                      decision, 'controller')
    arguments = json.dumps({'kubeconfig': str(server.kubeconfig), 'state': 'present', 'definition': body})
    command = ['ansible', 'localhost', '-c', 'local', '-m', 'kubernetes.core.k8s', '-a', arguments]
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false')
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'CHANGED' in first.stdout, first.stdout
    found = listed(server, '-A', '--field-selector', 'reason=RoomFailedOver')
    assert list(found) == [body['metadata']['name']]
    stored = found[body['metadata']['name']]
    assert stored['metadata']['namespace'] == 'kube-system'
    assert stored['message'] == body['message']
    assert 'trigger room_watch. Votes: room_a absent, room_b lost, witness lost (bmc-off, decided at ' in \
        stored['message']
