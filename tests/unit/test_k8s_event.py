# -*- coding: utf-8 -*-
"""k8s.post_event: an Event that only records what happened is given up within its timeout, with a message that
says what failed - against an API server address that accepts the connection and never answers (a loopback
listener), and against a kubeconfig that does not load."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import k8s
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import k8s

BODY = {'apiVersion': 'v1', 'kind': 'Event', 'metadata': {'name': 'twinroom-decision-x', 'namespace': 'kube-system'}}

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- {name: silent, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: x}}
contexts:
- {name: room-b, context: {cluster: silent, user: u}}
current-context: room-b
"""


@pytest.fixture
def silent(tmp_path):
    """A kubeconfig whose API server takes the connection and never says a word."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    path = tmp_path / 'kubeconfig'
    path.write_text(KUBECONFIG % listener.getsockname()[1])
    yield str(path)
    listener.close()


def test_an_api_server_that_does_not_answer_is_given_up_within_the_timeout(silent):
    started = time.monotonic()
    with pytest.raises(k8s.KubernetesError) as failure:
        k8s.post_event(silent, 'room-b', BODY, timeout=1)
    assert time.monotonic() - started < 3, 'took %.1f s' % (time.monotonic() - started)
    assert failure.value.msg.startswith('cannot write the Event kube-system/twinroom-decision-x through context '
                                        'room-b: ')
    assert failure.value.msg.endswith('Check that the API server runs and is reachable at the address in the '
                                      'kubeconfig (context, network, certificates).')
    assert k8s.EVENT_TIMEOUT == 2


def test_a_kubeconfig_that_does_not_load_is_an_error_not_a_crash(tmp_path):
    with pytest.raises(k8s.KubernetesError) as failure:
        k8s.post_event(str(tmp_path / 'absent'), 'room-a', BODY)
    assert failure.value.msg.startswith('cannot write the Event kube-system/twinroom-decision-x through context '
                                        'room-a: ')
