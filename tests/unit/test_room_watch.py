# -*- coding: utf-8 -*-
"""The room watch (plugins/module_utils/room_watch.py): its configuration's checks (exact messages), the storm
guard's memory file, the BMC answers as the plan reads them, and whole watches over scripted rooms - a room
powered off, a cut link, a restarted watch - with the observations faked at the I/O boundary (the API servers,
the TCP probe, the BMCs) and the real room_vote plan deciding."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import room_watch
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import room_watch
from ansible_collections.twinroom.ha.plugins.module_utils import room_events

NODES = {'room_a': ['a-cp1', 'a-w1'], 'room_b': ['b-cp1', 'b-w1']}


def config(tmp_path, **settings):
    return {
        'kubeconfig': '/etc/twinroom/admin.kubeconfig',
        'state_file': str(tmp_path / 'state.json'),
        'rooms': dict((room, {'context': room.replace('_', '-'), 'datastore_address': '10.0.%d.10' % (i + 1),
                              'bmc': {'fence_method': 'redfish'},
                              'nodes': [{'name': name, 'bmc_address': '10.9.%d.%d' % (i + 1, n)}
                                        for n, name in enumerate(NODES[room])]})
                      for i, room in enumerate(sorted(NODES))),
        'settings': settings,
    }


def write(tmp_path, value):
    path = tmp_path / 'room-watch.json'
    path.write_text(json.dumps(value))
    return str(path)


# --- the configuration ---------------------------------------------------------------------------------------------

def test_a_missing_configuration_says_how_to_write_it(tmp_path):
    path = str(tmp_path / 'absent.json')
    with pytest.raises(room_watch.RoomWatchError) as failure:
        room_watch.load_config(path)
    assert str(failure.value) == (
        "cannot read the room watch configuration %s ([Errno 2] No such file or directory: '%s'): run site.yml "
        "with twinroom_automatic_failover: true to write it." % (path, path))


def test_a_configuration_without_its_keys_names_each(tmp_path):
    value = config(tmp_path)
    del value['kubeconfig']
    del value['rooms']['room_b']['datastore_address']
    path = write(tmp_path, value)
    with pytest.raises(room_watch.RoomWatchError) as failure:
        room_watch.load_config(path)
    assert str(failure.value) == (
        'the room watch configuration %s is not usable: kubeconfig is missing; rooms.room_b.datastore_address is '
        'missing. Run site.yml with twinroom_automatic_failover: true to write it again.' % path)


def test_a_configuration_with_other_rooms_is_refused(tmp_path):
    value = config(tmp_path)
    value['rooms']['room_c'] = value['rooms'].pop('room_b')
    path = write(tmp_path, value)
    with pytest.raises(room_watch.RoomWatchError) as failure:
        room_watch.load_config(path)
    assert 'rooms must be exactly room_a and room_b (found room_a, room_c)' in str(failure.value)


def test_a_usable_configuration_gets_the_default_settings(tmp_path):
    loaded = room_watch.load_config(write(tmp_path, config(tmp_path)))
    assert loaded['settings']['detect_seconds'] == 10
    assert loaded['rooms']['room_a']['context'] == 'room-a'


# --- the storm guard's memory --------------------------------------------------------------------------------------

def test_memory_starts_empty_and_survives_a_restart(tmp_path):
    path = str(tmp_path / 'sub' / 'state.json')
    assert room_watch.read_memory(path) == {'failed_over': {}, 'alarmed': {}, 'withdrawn': {}}
    room_watch.write_memory(path, {'failed_over': {'room_a': 100.0}, 'alarmed': {}})
    assert room_watch.read_memory(path) == {'failed_over': {'room_a': 100.0}, 'alarmed': {}, 'withdrawn': {}}
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == '0o700'


def test_an_unreadable_memory_is_an_error_not_a_fresh_start(tmp_path):
    path = tmp_path / 'state.json'
    path.write_text('{not json')
    with pytest.raises(room_watch.RoomWatchError) as failure:
        room_watch.read_memory(str(path))
    assert str(failure.value).startswith('cannot read the room watch state %s (' % path)
    assert str(failure.value).endswith('it records which rooms were failed over automatically. Fix or remove it '
                                       '(after recover.yml) and start the watch again.')


# --- the BMCs, as the plan reads them ------------------------------------------------------------------------------

def test_bmc_answers_become_on_off_or_dark(tmp_path):
    spec = config(tmp_path)['rooms']['room_a']
    asked = {}

    def read_power(names, agents):
        asked['names'], asked['agents'] = names, agents
        return [dict(name='a-cp1', bmc_reachable=True, power_state='off'),
                dict(name='a-w1', bmc_reachable=False, power_state='unknown')]

    power = room_watch.read_bmc_power(spec, read_power=read_power, make_agents=lambda params: params)
    assert power == {'a-cp1': 'off', 'a-w1': 'dark'}
    assert asked['names'] == ['a-cp1', 'a-w1']
    assert asked['agents']['fence_method'] == 'redfish' and len(asked['agents']['nodes']) == 2


# --- whole watches over scripted rooms ------------------------------------------------------------------------------

class Rooms(object):
    """The rooms as the watch's probes find them, changed by the test as time goes on."""

    def __init__(self):
        self.powered = {'room_a': True, 'room_b': True}
        self.link = True
        self.primary = 'room_a'
        self.bmc = {'room_a': 'answering', 'room_b': 'answering'}
        self.bmc_asked = []
        self.now = 1000.0

    def reads(self, room):
        """Whether the room's API server can read: its kine reaches the primary's PostgreSQL."""
        return self.powered[room] and self.powered[self.primary] and (self.link or room == self.primary)

    def read_api(self, _kubeconfig, context):
        room = context.replace('-', '_')
        if not self.powered[room]:
            return False, None
        if not self.reads(room):
            return True, None
        # A node renews its lease through its own room's API server, which must be able to write.
        return True, dict((name, self.now) for other in NODES for name in NODES[other] if self.reads(other))

    def tcp(self, address, _port):
        return self.powered['room_a' if address == '10.0.1.10' else 'room_b']

    def read_bmcs(self, spec):
        room = 'room_a' if spec['context'] == 'room-a' else 'room_b'
        self.bmc_asked.append(room)
        if self.bmc[room] == 'dark':
            return dict((node['name'], 'dark') for node in spec['nodes'])
        return dict((node['name'], 'on' if self.powered[room] else 'off') for node in spec['nodes'])


class Poster(object):
    """Stands in for k8s.post_event: records each post; ``hold`` keeps a post waiting until released, ``fail``
    names the contexts whose API server refuses it."""

    def __init__(self, hold=False, fail=()):
        self.posts = []
        self.posted = threading.Event()
        self.release = threading.Event()
        self.hold, self.fail = hold, fail

    def __call__(self, kubeconfig, context, body, timeout):
        self.posts.append((kubeconfig, context, body, timeout))
        self.posted.set()
        if self.hold:
            self.release.wait(10)
        if context in self.fail:
            raise RuntimeError('cannot write the Event through context %s' % context)


def watch_over(tmp_path, rooms, poster=None, **settings):
    loaded = room_watch.load_config(write(tmp_path, config(tmp_path, **settings)))
    return room_watch.Watch(loaded, room_watch.Observer(loaded, rooms.read_api, rooms.tcp, rooms.read_bmcs),
                            post_event=poster or Poster())


def run(watch, rooms, seconds, step=2.0):
    """The watch's events over ``seconds`` of the rooms' time."""
    events = []
    end = rooms.now + seconds
    while rooms.now < end:
        news = watch.step(rooms.now)
        if news is not None:
            events.append(news['twinroom'])
        rooms.now += step
    return events


def test_healthy_rooms_give_no_event_and_ask_no_bmc(tmp_path):
    rooms = Rooms()
    assert run(watch_over(tmp_path, rooms), rooms, 60) == []
    assert rooms.bmc_asked == []


@pytest.mark.parametrize('witness', [False, True], ids=['no-witness', 'witness'])
@pytest.mark.parametrize('lost', ['room_a', 'room_b'])
def test_a_room_powered_off_is_failed_over_once(tmp_path, lost, witness):
    rooms = Rooms()
    watch = watch_over(tmp_path, rooms, witness=witness)
    assert run(watch, rooms, 10) == []
    rooms.powered[lost] = False
    cut = rooms.now
    events = run(watch, rooms, 60)
    failovers = [event for event in events if event['action'] == 'failover']
    assert [(event['room'], event['method']) for event in failovers] == [(lost, 'bmc-off')], events
    assert failovers[0]['decided_at'] - cut <= 10 + 2 * 2.0, 'decided %.1f s after the cut' % (
        failovers[0]['decided_at'] - cut)
    survivor = 'room_b' if lost == 'room_a' else 'room_a'
    expected = {lost: 'absent', survivor: 'lost'}
    if witness:
        expected['witness'] = 'lost'
    assert failovers[0]['votes'] == expected
    assert room_watch.read_memory(str(tmp_path / 'state.json'))['failed_over'].get(lost) is not None

    # A watch restarted on the same state file does not fail the room over again.
    again = watch_over(tmp_path, rooms, witness=witness)
    assert [event for event in run(again, rooms, 30) if event['action'] == 'failover'] == []


def test_a_room_whose_bmcs_are_dark_is_not_failed_over(tmp_path):
    rooms = Rooms()
    watch = watch_over(tmp_path, rooms)
    run(watch, rooms, 10)
    rooms.powered['room_b'] = False
    rooms.bmc['room_b'] = 'dark'
    events = run(watch, rooms, 120)
    assert [event for event in events if event['action'] == 'failover' and event['method'] == 'bmc-off'] == [], events


@pytest.mark.parametrize('witness', [False, True], ids=['no-witness', 'witness'])
def test_a_cut_link_is_never_failed_over_and_raises_one_alarm(tmp_path, witness):
    rooms = Rooms()
    watch = watch_over(tmp_path, rooms, witness=witness)
    run(watch, rooms, 10)
    rooms.link = False
    events = run(watch, rooms, 120)
    assert [event['action'] for event in events] == ['alarm'], events
    assert events[0]['reason'].startswith('The link between the rooms is cut'), events[0]['reason']
    assert rooms.bmc_asked, 'the BMCs of a room a voter cannot see were not asked'


# --- read_api against API servers on loopback ------------------------------------------------------------------------

class _Server(object):
    """An API server stand-in on 127.0.0.1: answers /version; the leases, or hangs on them (no datastore)."""

    def __init__(self, hang):
        import http.server  # pylint: disable=import-outside-toplevel
        import threading  # pylint: disable=import-outside-toplevel
        import time  # pylint: disable=import-outside-toplevel
        released = threading.Event()
        self.released = released

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # pylint: disable=invalid-name
                if self.path.startswith('/version'):
                    body = b'{"major": "1", "minor": "36", "gitVersion": "v1.36.3"}'
                elif hang:
                    released.wait(10)
                    return
                else:
                    body = json.dumps({'kind': 'LeaseList', 'apiVersion': 'coordination.k8s.io/v1', 'metadata': {},
                                       'items': [{'metadata': {'name': 'a-w1', 'namespace': 'kube-node-lease'},
                                                  'spec': {'renewTime': '2026-12-04T03:00:00.500000Z'}}]}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.clock = time.monotonic

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _kubeconfig(tmp_path, port):
    path = tmp_path / 'kubeconfig'
    path.write_text(json.dumps({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'room-a',
        'clusters': [{'name': 'room-a', 'cluster': {'server': 'http://127.0.0.1:%d' % port}}],
        'contexts': [{'name': 'room-a', 'context': {'cluster': 'room-a', 'user': 'admin'}}],
        'users': [{'name': 'admin', 'user': {'token': 'test-only'}}]}))
    return str(path)


@pytest.mark.parametrize('hang', [False, True], ids=['reads', 'no-datastore'])
def test_read_api_tells_an_api_server_that_reads_from_one_that_cannot(tmp_path, hang):
    server = _Server(hang)
    try:
        started = server.clock()
        answers, leases = room_watch.read_api(_kubeconfig(tmp_path, server.server.server_address[1]), 'room-a',
                                              timeout=1)
        took = server.clock() - started
    finally:
        server.close()
    assert answers is True
    if hang:
        assert leases is None
        assert took < 5, 'an API server that cannot read held the watch for %.1f s' % took
    else:
        assert leases == {'a-w1': 1796353200.5}


def test_read_api_of_a_room_that_is_gone_says_so(tmp_path):
    import socket  # pylint: disable=import-outside-toplevel
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused, as from a node whose API server stopped
    assert room_watch.read_api(_kubeconfig(tmp_path, port), 'room-a') == (False, None)
    assert room_watch.read_api(_kubeconfig(tmp_path, port), 'no-such-context') == (False, None)


# --- each decision, as a Kubernetes Event ---------------------------------------------------------------------------

def test_each_decision_is_posted_in_the_background_without_delaying_the_step(tmp_path):
    rooms, poster = Rooms(), Poster(hold=True)
    watch = watch_over(tmp_path, rooms, poster=poster)
    assert run(watch, rooms, 10) == []
    assert poster.posts == []
    rooms.powered['room_a'] = False
    news, slowest = None, 0.0
    try:
        while news is None:
            started = time.monotonic()
            news = watch.step(rooms.now)
            slowest = max(slowest, time.monotonic() - started)
            rooms.now += 2.0
        assert poster.posted.wait(5), 'no Event was posted'
        assert slowest < 1.0, 'a step waited %.1f s for the post' % slowest
        assert not poster.release.is_set()  # the post is still waiting while the step has returned
        assert poster.posts == [('/etc/twinroom/admin.kubeconfig', 'room-b',
                                 room_events.decision_event(news['twinroom'], socket.gethostname()), 2)]
        assert poster.posts[0][2]['reason'] == 'RoomFailoverDecided'
        assert set(news['twinroom']) == {'action', 'room', 'method', 'reason', 'votes', 'not_before', 'decided_at',
                                         'views'}
    finally:
        poster.release.set()


@pytest.mark.parametrize('witness', [False, True], ids=['no-witness', 'witness'])
def test_a_cut_link_alarm_is_posted_once_through_a_room_that_answered(tmp_path, witness):
    rooms, poster = Rooms(), Poster()
    watch = watch_over(tmp_path, rooms, poster=poster, witness=witness)
    run(watch, rooms, 10)
    rooms.link = False
    events = run(watch, rooms, 120)
    deadline = time.monotonic() + 5
    while len(poster.posts) < len(events) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [body['reason'] for _config, _context, body, _timeout in poster.posts] == ['RoomAlarm']
    assert poster.posts[0][1] in ('room-a', 'room-b')


def decision(room):
    return {'action': 'failover' if room else 'alarm', 'room': room, 'method': 'bmc-off' if room else None,
            'reason': 'A reason.', 'votes': {'room_a': 'absent', 'room_b': 'lost'}, 'not_before': None,
            'decided_at': 1796281200.0, 'views': {}}


def test_the_survivors_api_server_is_asked_first_then_the_other(tmp_path, caplog):
    poster = Poster(fail=('room-b',))
    watch = watch_over(tmp_path, Rooms(), poster=poster)
    watch.record(decision('room_a'), ['room_a', 'room_b']).join(5)
    assert [context for _config, context, _body, _timeout in poster.posts] == ['room-b', 'room-a']
    assert caplog.records == []


def test_a_decision_no_api_server_took_is_logged_and_the_watch_goes_on(tmp_path, caplog):
    poster = Poster(fail=('room-a', 'room-b'))
    watch = watch_over(tmp_path, Rooms(), poster=poster)
    with caplog.at_level(logging.WARNING):
        watch.record(decision(None), ['room_a', 'room_b']).join(5)
    assert [context for _config, context, _body, _timeout in poster.posts] == ['room-a', 'room-b']
    assert [record.getMessage() for record in caplog.records] == [
        'The room watch could not record its decision as the Kubernetes Event twinroom-decision-alarm-rooms-'
        '1796281200000: cannot write the Event through context room-a cannot write the Event through context room-b']


def test_no_room_answered_no_event_is_posted(tmp_path):
    poster = Poster()
    watch = watch_over(tmp_path, Rooms(), poster=poster)
    assert watch.record(decision(None), []) is None
    assert poster.posts == []
