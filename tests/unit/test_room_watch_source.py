# -*- coding: utf-8 -*-
"""The event source extensions/eda/plugins/event_source/room_watch.py, loaded as ansible-rulebook loads it
(runpy.run_path): it runs its steps against rooms that do not answer (loopback port 9, nothing listens) and emits
nothing, a missing configuration stops it with the watch's own message, and its beacon (the witness's answer to the
isolation guards) answers while it runs and stops when it ends, however it ends."""

from __future__ import annotations

import asyncio
import json
import pathlib
import runpy

import pytest

PLUGIN = pathlib.Path(__file__).resolve().parents[2] / 'extensions' / 'eda' / 'plugins' / 'event_source' / 'room_watch.py'

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: x}}
contexts:
- {name: room-a, context: {cluster: a, user: u}}
- {name: room-b, context: {cluster: a, user: u}}
current-context: room-a
"""


class Queue(object):
    def __init__(self):
        self.events = []

    async def put(self, event):
        self.events.append(event)


def test_rooms_that_never_answered_give_no_event(tmp_path):
    (tmp_path / 'kubeconfig').write_text(KUBECONFIG)
    config = {'kubeconfig': str(tmp_path / 'kubeconfig'), 'state_file': str(tmp_path / 'state.json'),
              'rooms': dict((room, {'context': room.replace('_', '-'), 'datastore_address': '127.0.0.1',
                                    'datastore_port': 9, 'bmc': {'fence_method': 'redfish'},
                                    'nodes': [{'name': room[-1] + '-cp1', 'bmc_address': '127.0.0.1', 'bmc_port': 9}]})
                            for room in ('room_a', 'room_b')),
              'settings': {}}
    (tmp_path / 'room-watch.json').write_text(json.dumps(config))
    queue = Queue()
    main = runpy.run_path(str(PLUGIN))['main']
    asyncio.run(main(queue, {'config': str(tmp_path / 'room-watch.json'), 'interval': 0, 'steps': 2}))
    assert queue.events == []
    assert not (tmp_path / 'state.json').exists(), 'a watch that decided nothing wrote its memory'


def test_a_missing_configuration_stops_the_source_with_the_watchs_message(tmp_path):
    main = runpy.run_path(str(PLUGIN))['main']
    with pytest.raises(Exception) as failure:
        asyncio.run(main(Queue(), {'config': str(tmp_path / 'absent.json'), 'steps': 1}))
    assert type(failure.value).__name__ == 'RoomWatchError'
    assert 'run site.yml with twinroom_automatic_failover: true to write it.' in str(failure.value)


def free_port():
    import socket  # pylint: disable=import-outside-toplevel
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def ask(port):
    """The beacon's status for room_a, or None when nothing listens."""
    import http.client  # pylint: disable=import-outside-toplevel
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        connection.request('GET', '/rooms/room_a')
        return connection.getresponse().status
    except ConnectionRefusedError:
        return None
    finally:
        connection.close()


def beacon_config(tmp_path, port):
    (tmp_path / 'kubeconfig').write_text(KUBECONFIG)
    config = {'kubeconfig': str(tmp_path / 'kubeconfig'), 'state_file': str(tmp_path / 'state.json'),
              'rooms': dict((room, {'context': room.replace('_', '-'), 'datastore_address': '127.0.0.1',
                                    'datastore_port': 9, 'bmc': {'fence_method': 'redfish'},
                                    'nodes': [{'name': room[-1] + '-cp1', 'bmc_address': '127.0.0.1', 'bmc_port': 9}]})
                            for room in ('room_a', 'room_b')),
              'settings': {'witness': True}, 'beacon': {'address': '127.0.0.1', 'port': port, 'stale_seconds': 60}}
    (tmp_path / 'room-watch.json').write_text(json.dumps(config))
    return str(tmp_path / 'room-watch.json')


def test_the_beacon_answers_while_the_source_runs_and_stops_with_it(tmp_path):
    port = free_port()
    path = beacon_config(tmp_path, port)
    main = runpy.run_path(str(PLUGIN))['main']
    seen = []

    async def watch_and_ask():
        source = asyncio.ensure_future(main(Queue(), {'config': path, 'interval': 0.5, 'steps': 3}))
        loop = asyncio.get_running_loop()
        while not source.done():
            seen.append(await loop.run_in_executor(None, ask, port))
            await asyncio.sleep(0.1)
        await source

    asyncio.run(watch_and_ask())
    assert 200 in seen, seen
    assert ask(port) is None, 'the beacon still answers after the source ended'


def test_a_source_that_fails_stops_its_beacon(tmp_path):
    port = free_port()
    path = beacon_config(tmp_path, port)
    (tmp_path / 'state.json').write_text('{not json')
    main = runpy.run_path(str(PLUGIN))['main']
    with pytest.raises(Exception) as failure:
        asyncio.run(main(Queue(), {'config': path, 'interval': 0, 'steps': 2}))
    assert 'cannot read the room watch state' in str(failure.value)
    assert ask(port) is None
