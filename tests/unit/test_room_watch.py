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
from ansible_collections.twinroom.ha.plugins.module_utils import isolation_guard, k8s, room_events, room_vote

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
        self.renewed = {}  # each node's last lease renewal: a lease that is not renewed stays, and ages

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
        self.renewed.update((name, self.now) for other in NODES for name in NODES[other] if self.reads(other))
        return True, dict(self.renewed)

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

    def __init__(self, hold=False, fail=(), refusals=0):
        self.posts = []
        self.posted = threading.Event()
        self.release = threading.Event()
        self.hold, self.fail, self.refusals = hold, fail, refusals

    def __call__(self, kubeconfig, context, body, timeout):
        self.posts.append((kubeconfig, context, body, timeout))
        self.posted.set()
        if self.hold:
            self.release.wait(10)
        if context in self.fail or len(self.posts) <= self.refusals:
            raise RuntimeError('cannot write the Event through context %s' % context)


def watch_over(tmp_path, rooms, poster=None, find_primary=room_watch.primary_from_reads, beacon=False,
               event_retry=(0.0, 0.01), **settings):
    """A watch over the scripted rooms; ``beacon``: it answers the guards on 127.0.0.1 (any free port), its clock the
    rooms' time."""
    loaded = room_watch.load_config(write(tmp_path, config(tmp_path, **settings)))
    if beacon:
        loaded['beacon'] = {'address': '127.0.0.1', 'port': 0}
    return room_watch.Watch(loaded, room_watch.Observer(loaded, rooms.read_api, rooms.tcp, rooms.read_bmcs,
                                                        find_primary=find_primary),
                            post_event=poster or Poster(), clock=lambda: rooms.now, wall=lambda: 1000.0,
                            event_retry=event_retry)


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


def no_primary(_config, _reads):
    return None


@pytest.mark.parametrize('witness', [False, True], ids=['no-witness', 'witness-primary-unknown'])
def test_a_cut_link_is_never_failed_over_and_raises_one_alarm(tmp_path, witness):
    """Without a witness and a preferred room, or with a witness that cannot tell which room holds the datastore
    primary: an alarm, and the witness keeps answering both rooms."""
    rooms = Rooms()
    watch = watch_over(tmp_path, rooms, find_primary=no_primary, witness=witness)
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


@pytest.mark.parametrize('witness', [False, True], ids=['no-witness', 'witness-primary-unknown'])
def test_a_cut_link_alarm_is_posted_once_through_a_room_that_answered(tmp_path, witness):
    rooms, poster = Rooms(), Poster()
    watch = watch_over(tmp_path, rooms, poster=poster, find_primary=no_primary, witness=witness)
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
        '1796281200000 (1 round in 0 s): cannot write the Event through context room-a cannot write the Event '
        'through context room-b']


def test_a_decision_is_offered_again_until_the_survivors_api_server_takes_writes(tmp_path, caplog):
    """Room A, holding the datastore primary, is lost: room B's API server takes no write until the failover has
    taken the datastore over; the Event is offered again, round after round, until it does."""
    poster = Poster(refusals=3)
    watch = watch_over(tmp_path, Rooms(), poster=poster, event_retry=(5.0, 0.01))
    with caplog.at_level(logging.WARNING):
        assert watch.record(decision('room_a'), ['room_b']) is not None
        deadline = time.monotonic() + 5
        while len(poster.posts) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [context for _config, context, _body, _timeout in poster.posts] == ['room-b'] * 4
    assert caplog.records == []


def test_offering_a_decision_again_ends_after_its_seconds():
    posts, slept, now = [], [], [0.0]

    def refuse(_kubeconfig, context, _body, timeout):
        posts.append(context)
        now[0] += timeout
        raise RuntimeError('refused')

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    body = room_events.decision_event(decision('room_a'), 'ctl')
    assert k8s.offer_event(refuse, 'k', ['room-b'], body, 20.0, 3.0, clock=lambda: now[0],
                           sleep=sleep) == (5, ['refused'])
    assert posts == ['room-b'] * 5 and slept == [3.0] * 4 and now[0] == 22.0


def test_no_room_answered_no_event_is_posted(tmp_path):
    poster = Poster()
    watch = watch_over(tmp_path, Rooms(), poster=poster)
    assert watch.record(decision(None), []) is None
    assert poster.posts == []


# --- which room holds the datastore primary --------------------------------------------------------------------------

@pytest.mark.parametrize('reads, primary', [
    ({'room_a': (True, {'a-cp1': 1.0}), 'room_b': (True, None)}, 'room_a'),  # the link cut: room_b cannot read
    ({'room_a': (True, None), 'room_b': (True, {'a-cp1': 1.0})}, 'room_b'),
    ({'room_a': (True, {'a-cp1': 1.0}), 'room_b': (True, {'a-cp1': 1.0})}, None),  # both read: either may hold it
    ({'room_a': (True, {'a-cp1': 1.0}), 'room_b': (False, None)}, None),  # room_b gone: room_a may read across
    ({'room_a': (True, None), 'room_b': (True, None)}, None),
    ({'room_a': (False, None), 'room_b': (False, None)}, None),
], ids=['a-reads', 'b-reads', 'both-read', 'other-gone', 'neither-reads', 'none-answers'])
def test_the_primary_room_from_the_api_reads(reads, primary):
    assert room_watch.primary_from_reads({}, reads) == primary


def test_the_observer_reads_the_primary_room_each_step(tmp_path):
    rooms = Rooms()
    watch = watch_over(tmp_path, rooms, witness=True)
    watch.step(rooms.now)
    assert watch.observer.primary_room is None  # the link is up: both API servers read
    rooms.link = False
    watch.step(rooms.now + 2)
    assert watch.observer.primary_room == 'room_a'
    seen = []
    observer = room_watch.Observer(watch.config, rooms.read_api, rooms.tcp, rooms.read_bmcs,
                                   find_primary=lambda config, reads: seen.append(sorted(reads)) or 'room_b')
    observer.observe(rooms.now + 4)
    assert (observer.primary_room, seen) == ('room_b', [['room_a', 'room_b']])


# --- the witness's answer to the isolation guards (the beacon) ------------------------------------------------------

def ask(port, path, method='GET'):
    """(status, JSON body, headers) of one request to the beacon on loopback."""
    import http.client  # pylint: disable=import-outside-toplevel
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        body = response.read()
        return response.status, json.loads(body) if body else None, dict(response.getheaders())
    finally:
        connection.close()


def beacon_config(tmp_path, beacon, **settings):
    value = config(tmp_path, **settings)
    value['beacon'] = beacon
    return write(tmp_path, value)


def test_a_configuration_with_a_beacon_is_loaded_as_it_is(tmp_path):
    loaded = room_watch.load_config(beacon_config(tmp_path, {'address': '203.0.113.250', 'port': 8450}))
    assert loaded['beacon'] == {'address': '203.0.113.250', 'port': 8450}
    assert 'beacon' not in room_watch.load_config(write(tmp_path, config(tmp_path)))


@pytest.mark.parametrize('beacon, problems', [
    ({'address': '', 'port': 8450}, "beacon.address must be the witness's address, a non-empty string (found '')"),
    ({'port': 8450}, "beacon.address must be the witness's address, a non-empty string (found nothing)"),
    ({'address': 7, 'port': 8450}, "beacon.address must be the witness's address, a non-empty string (found 7)"),
    ({'address': '203.0.113.250', 'port': 0}, 'beacon.port must be a whole number from 1 to 65535 (found 0)'),
    ({'address': '203.0.113.250', 'port': 65536}, 'beacon.port must be a whole number from 1 to 65535 (found 65536)'),
    ({'address': '203.0.113.250', 'port': '8450'},
     "beacon.port must be a whole number from 1 to 65535 (found '8450')"),
    ({'address': '203.0.113.250', 'port': True}, 'beacon.port must be a whole number from 1 to 65535 (found True)'),
    ({'address': '203.0.113.250'}, 'beacon.port must be a whole number from 1 to 65535 (found nothing)'),
    ({'address': '203.0.113.250', 'port': 8450, 'stale_seconds': 0},
     'beacon.stale_seconds must be a number of seconds greater than 0 (found 0)'),
    ({'address': '203.0.113.250', 'port': 8450, 'stale_seconds': '6'},
     "beacon.stale_seconds must be a number of seconds greater than 0 (found '6')"),
    ({'address': '203.0.113.250', 'port': 8450, 'stale': 6, 'url': 'x'},
     'beacon has the unknown key(s) stale and url (it takes address, port and stale_seconds)'),
    (['203.0.113.250', 8450], "beacon must be a mapping with address and port (found ['203.0.113.250', 8450])"),
    ({}, "beacon.address must be the witness's address, a non-empty string (found nothing); beacon.port must be a "
         'whole number from 1 to 65535 (found nothing)'),
], ids=['empty-address', 'no-address', 'address-number', 'port-0', 'port-65536', 'port-text', 'port-bool', 'no-port',
        'stale-0', 'stale-text', 'unknown-keys', 'not-a-mapping', 'empty'])
def test_a_beacon_the_watch_cannot_use_is_refused(tmp_path, beacon, problems):
    path = beacon_config(tmp_path, beacon)
    with pytest.raises(room_watch.RoomWatchError) as failure:
        room_watch.load_config(path)
    assert str(failure.value) == (
        'the room watch configuration %s is not usable: %s. Run site.yml with twinroom_automatic_failover: true to '
        'write it again.' % (path, problems))


def test_a_null_beacon_is_no_beacon(tmp_path):
    loaded = room_watch.load_config(beacon_config(tmp_path, None))
    with room_watch.Watch(loaded, room_watch.Observer(loaded)) as watch:
        assert not watch.beacon


class Clock(object):
    def __init__(self, now=500.0):
        self.now = now

    def __call__(self):
        return self.now


def beacon_watch(tmp_path, rooms, clock, stale_seconds=None, interval=2.0):
    loaded = room_watch.load_config(write(tmp_path, config(tmp_path, witness=True)))
    loaded['beacon'] = dict({'address': '127.0.0.1', 'port': 0},
                            **({'stale_seconds': stale_seconds} if stale_seconds else {}))
    observer = room_watch.Observer(loaded, rooms.read_api, rooms.tcp, rooms.read_bmcs)
    return room_watch.Watch(loaded, observer, post_event=Poster(), interval=interval, clock=clock,
                            wall=lambda: 1800000000.0)


def test_the_beacon_answers_each_room_while_the_watch_steps(tmp_path):
    rooms, clock = Rooms(), Clock()
    with beacon_watch(tmp_path, rooms, clock) as watch:
        port = watch.beacon.port
        assert ask(port, '/rooms/room_a')[:2] == (503, {
            'room': 'room_a', 'answer': False, 'watch_step_at': None,
            'reason': 'The watch has not completed a step since it started at 2027-01-15T08:00:00Z (the witness '
                      'answers for 6 s after one): it vouches for no room it does not watch.'})
        watch.step(1800000002.5)
        for room in ('room_a', 'room_b'):
            status, body, headers = ask(port, '/rooms/%s' % room)
            assert (status, body) == (200, {'room': room, 'answer': True, 'watch_step_at': '2027-01-15T08:00:02.500Z'})
            assert headers['Content-Type'] == 'application/json'
        assert ask(port, '/rooms/room_a?from=a-w1')[0] == 200  # a query string is ignored


def test_the_beacon_stops_vouching_once_the_watch_has_not_stepped_for_three_intervals(tmp_path):
    rooms, clock = Rooms(), Clock()
    with beacon_watch(tmp_path, rooms, clock, interval=2.0) as watch:
        watch.step(1800000000.0)
        clock.now += 6.0  # exactly 3 intervals: still answering
        assert ask(watch.beacon.port, '/rooms/room_b')[0] == 200
        clock.now += 0.5
        assert ask(watch.beacon.port, '/rooms/room_b')[:2] == (503, {
            'room': 'room_b', 'answer': False, 'watch_step_at': '2027-01-15T08:00:00Z',
            'reason': 'The watch has not completed a step since 2027-01-15T08:00:00Z (the witness answers for 6 s '
                      'after one): it vouches for no room it does not watch.'})
        watch.step(1800000007.0)  # a step completes: it vouches again
        assert ask(watch.beacon.port, '/rooms/room_b')[0] == 200


def test_a_configured_staleness_replaces_three_intervals(tmp_path):
    rooms, clock = Rooms(), Clock()
    with beacon_watch(tmp_path, rooms, clock, stale_seconds=20) as watch:
        watch.step(1800000000.0)
        clock.now += 19.5
        assert ask(watch.beacon.port, '/rooms/room_a')[0] == 200
        clock.now += 1
        status, body, _headers = ask(watch.beacon.port, '/rooms/room_a')
        assert status == 503 and '(the witness answers for 20 s after one)' in body['reason']


@pytest.mark.parametrize('method, path, status, reason', [
    ('GET', '/rooms/room_c', 404,
     'No such path /rooms/room_c: the witness answers GET /rooms/room_a and /rooms/room_b.'),
    ('GET', '/', 404, 'No such path /: the witness answers GET /rooms/room_a and /rooms/room_b.'),
    ('GET', '/rooms/room_a/x', 404,
     'No such path /rooms/room_a/x: the witness answers GET /rooms/room_a and /rooms/room_b.'),
    ('POST', '/rooms/room_a', 405, 'The witness answers GET only, not POST.'),
    ('PUT', '/rooms/room_a', 405, 'The witness answers GET only, not PUT.'),
    ('DELETE', '/nothing', 405, 'The witness answers GET only, not DELETE.'),
    ('PURGE', '/rooms/room_a', 405, 'The witness answers GET only, not PURGE.'),
])
def test_other_paths_and_methods(tmp_path, method, path, status, reason):
    rooms, clock = Rooms(), Clock()
    with beacon_watch(tmp_path, rooms, clock) as watch:
        watch.step(1800000000.0)
        answer = ask(watch.beacon.port, path, method)
        assert answer[:2] == (status, {'answer': False, 'reason': reason})
        if status == 405:
            assert answer[2]['Allow'] == 'GET'


def test_head_gets_the_status_without_a_body(tmp_path):
    rooms, clock = Rooms(), Clock()
    with beacon_watch(tmp_path, rooms, clock) as watch:
        watch.step(1800000000.0)
        status, body, headers = ask(watch.beacon.port, '/rooms/room_a', 'HEAD')
        assert (status, body, headers['Allow']) == (405, None, 'GET')


def test_a_cut_link_withdraws_the_room_without_the_primary_and_the_beacon_refuses_it(tmp_path):
    rooms = Rooms()
    with watch_over(tmp_path, rooms, beacon=True, witness=True) as watch:
        port = watch.beacon.port
        run(watch, rooms, 10)
        assert [ask(port, '/rooms/%s' % room)[0] for room in ('room_a', 'room_b')] == [200, 200]
        rooms.link = False
        answers = []
        while not room_watch.read_memory(str(tmp_path / 'state.json'))['withdrawn']:
            assert rooms.now < 1100, 'the watch never withdrew a room'
            watch.step(rooms.now)
            answers.append(ask(port, '/rooms/room_b')[0])
            rooms.now += 2.0
        withdrawn = room_watch.read_memory(str(tmp_path / 'state.json'))['withdrawn']
        assert list(withdrawn) == ['room_b']
        assert set(answers[:-1]) == {200} and answers[-1] == 403  # 403 from the step that withdrew it, not before
        assert ask(port, '/rooms/room_b')[:2] == (403, {
            'room': 'room_b', 'answer': False, 'watch_step_at': room_watch.room_vote.when(rooms.now - 2.0),
            'reason': 'room_b was withdrawn at %s: the link between the rooms is cut and the witness keeps room_a, so '
                      'room_b isolates itself.' % room_watch.room_vote.when(withdrawn['room_b'])})
        assert ask(port, '/rooms/room_a')[0] == 200
        rooms.link = True  # every voter hears room_b again: the witness answers it again
        run(watch, rooms, 4)
        assert ask(port, '/rooms/room_b')[0] == 200


def test_a_withdrawal_stands_when_the_primary_room_can_no_longer_be_read(tmp_path):
    """Once the witness withdrew a room it keeps the other, even when a step cannot tell the primary room."""
    rooms, primary = Rooms(), {'room': 'room_a'}
    watch = watch_over(tmp_path, rooms, find_primary=lambda config, reads: primary['room'], witness=True)
    run(watch, rooms, 10)
    rooms.link = False
    run(watch, rooms, 20)
    assert list(room_watch.read_memory(str(tmp_path / 'state.json'))['withdrawn']) == ['room_b']
    for unsure in (None, 'room_b'):
        primary['room'] = unsure
        events = run(watch, rooms, 4)
        assert list(room_watch.read_memory(str(tmp_path / 'state.json'))['withdrawn']) == ['room_b'], unsure
        assert [event['action'] for event in events] == [], events


def test_the_isolation_guard_probe_sees_200_then_no_answer_after_the_withdrawal(tmp_path):
    """End to end over loopback: the guard's own probe (isolation_guard.witness_answers) against the watch's beacon."""
    rooms = Rooms()
    with watch_over(tmp_path, rooms, beacon=True, witness=True) as watch:
        url = 'http://127.0.0.1:%d/rooms/%%s' % watch.beacon.port
        assert not isolation_guard.witness_answers(url % 'room_b')  # no step yet: the watch vouches for nobody
        run(watch, rooms, 4)
        assert isolation_guard.witness_answers(url % 'room_a') and isolation_guard.witness_answers(url % 'room_b')
        rooms.link = False
        run(watch, rooms, 20)
        assert room_watch.read_memory(str(tmp_path / 'state.json'))['withdrawn']
        assert isolation_guard.witness_answers(url % 'room_a')
        assert not isolation_guard.witness_answers(url % 'room_b')


class Guards(object):
    """Each room's isolation guard, as room_vote.isolate decides for it: it sees the other room while the link is up
    and both rooms are powered, and the witness when the beacon answers 200 to its own probe on loopback. A guard
    that must isolate powers its room off."""

    def __init__(self, rooms, port, settings):
        self.rooms, self.url, self.settings = rooms, 'http://127.0.0.1:%d/rooms/%%s' % port, settings
        self.seen = dict((room, {'other': None, 'witness': None}) for room in NODES)
        self.isolated = []

    def round(self):
        rooms = self.rooms
        for room in sorted(NODES):
            if not rooms.powered[room]:
                continue
            other = 'room_b' if room == 'room_a' else 'room_a'
            if rooms.link and rooms.powered[other]:
                self.seen[room]['other'] = rooms.now
            if isolation_guard.witness_answers(self.url % room):
                self.seen[room]['witness'] = rooms.now
            decision = room_vote.isolate(rooms.now, self.seen[room]['other'], self.seen[room]['witness'], True, None,
                                         room, self.settings)
            if decision['isolate']:
                rooms.powered[room] = False
                self.isolated.append((room, rooms.now))


def test_a_cut_link_with_a_witness_isolates_the_room_without_the_primary_and_fails_it_over(tmp_path):
    rooms = Rooms()
    with watch_over(tmp_path, rooms, beacon=True, witness=True) as watch:
        guards = Guards(rooms, watch.beacon.port, watch.config['settings'])
        events = []

        def go(seconds):
            end = rooms.now + seconds
            while rooms.now < end:
                news = watch.step(rooms.now)
                if news is not None:
                    events.append(news['twinroom'])
                guards.round()
                rooms.now += 2.0

        go(10)
        cut = rooms.now
        rooms.link = False
        go(120)
    withdrawn = room_watch.read_memory(str(tmp_path / 'state.json'))['withdrawn']
    # Withdrawn once room_a has not heard room_b for twinroom_detect_seconds; room_b's guard got its last 200 in the
    # round before and isolates twinroom_isolation_seconds after it; room_a's guard never isolates.
    assert list(withdrawn) == ['room_b'] and cut + 8.0 <= withdrawn['room_b'] <= cut + 12.0, (withdrawn, cut)
    assert guards.isolated == [('room_b', withdrawn['room_b'] - 2.0 + 30)]
    assert rooms.powered == {'room_a': True, 'room_b': False}
    assert [(event['action'], event['room'], event['method']) for event in events] == [
        ('failover', 'room_b', 'bmc-off')], events
    assert events[0]['decided_at'] <= guards.isolated[0][1] + 2.0


def test_the_beacon_of_a_watch_that_cannot_listen_says_what_to_do(tmp_path):
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    rooms = Rooms()
    loaded = room_watch.load_config(beacon_config(tmp_path, {'address': '127.0.0.1', 'port': port}))
    try:
        with pytest.raises(room_watch.RoomWatchError) as failure:
            room_watch.Watch(loaded, room_watch.Observer(loaded, rooms.read_api, rooms.tcp, rooms.read_bmcs))
    finally:
        taken.close()
    assert str(failure.value) == (
        'cannot answer the isolation guards on 127.0.0.1 port %d ([Errno 98] Address already in use): the room watch '
        'must run on the witness, whose twinroom_node_address this is, and nothing else may listen on '
        'twinroom_witness_port. Start the watch on the witness, or free the port, and start it again.' % port)
    loaded['beacon'] = {'address': '192.0.2.1', 'port': 8450}  # TEST-NET-1: no address of this host
    with pytest.raises(room_watch.RoomWatchError) as failure:
        room_watch.Watch(loaded, room_watch.Observer(loaded, rooms.read_api, rooms.tcp, rooms.read_bmcs))
    assert str(failure.value).startswith(
        'cannot answer the isolation guards on 192.0.2.1 port 8450 ([Errno 99] Cannot assign requested address): the '
        'room watch must run on the witness')


def test_close_stops_the_beacon(tmp_path):
    rooms = Rooms()
    watch = watch_over(tmp_path, rooms, beacon=True, witness=True)
    port = watch.beacon.port
    run(watch, rooms, 2)
    assert ask(port, '/rooms/room_a')[0] == 200
    watch.close()
    watch.close()  # twice is harmless
    with pytest.raises(ConnectionRefusedError):
        ask(port, '/rooms/room_a')
    assert not watch.beacon.server.thread.is_alive()


def test_a_client_that_sends_nothing_neither_slows_a_step_nor_the_other_guards(tmp_path):
    rooms = Rooms()
    with watch_over(tmp_path, rooms, beacon=True, witness=True) as watch:
        run(watch, rooms, 2)
        silent = socket.create_connection(('127.0.0.1', watch.beacon.port))  # connects, never asks
        try:
            started = time.monotonic()
            run(watch, rooms, 20)
            took = time.monotonic() - started
            assert took < 2.0, '10 steps took %.1f s beside a silent client' % took
            assert ask(watch.beacon.port, '/rooms/room_b')[0] == 200
        finally:
            silent.close()


def test_many_guards_at_once_while_the_watch_steps(tmp_path):
    rooms = Rooms()
    with watch_over(tmp_path, rooms, beacon=True, witness=True) as watch:
        run(watch, rooms, 2)
        url = 'http://127.0.0.1:%d/rooms/%%s' % watch.beacon.port
        answers = []

        def probe(room):
            answers.append(isolation_guard.witness_answers(url % room))

        threads = [threading.Thread(target=probe, args=(room,)) for room in ('room_a', 'room_b') * 10]
        for thread in threads:
            thread.start()
        run(watch, rooms, 6)
        for thread in threads:
            thread.join(5)
        assert answers == [True] * 20


def test_the_bmcs_of_a_room_failed_over_are_not_asked_again(tmp_path):
    # Each BMC read is a fence agent process per node: once the room is failed over no decision needs its power,
    # and the failover itself needs the CPU and the BMCs.
    rooms = Rooms()
    watch = watch_over(tmp_path, rooms)
    run(watch, rooms, 10)
    rooms.powered['room_a'] = False
    events = run(watch, rooms, 30)
    assert [event['action'] for event in events] == ['failover'], events
    asked = len(rooms.bmc_asked)
    assert asked > 0
    assert run(watch, rooms, 60) == []
    assert len(rooms.bmc_asked) == asked, 'the BMCs of a room failed over were asked again'
