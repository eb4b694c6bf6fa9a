# -*- coding: utf-8 -*-
"""The event source extensions/eda/plugins/event_source/room_watch.py, loaded as ansible-rulebook loads it
(runpy.run_path): it runs its steps against rooms that do not answer (loopback port 9, nothing listens) and emits
nothing, and a missing configuration stops it with the watch's own message."""

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
