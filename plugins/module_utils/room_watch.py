# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The room watch: what the event source twinroom.ha.room_watch runs every interval.

It observes both rooms from where it runs (the witness site, or a controller outside both rooms), turns what it saw
into the voters' views and asks room_vote (the plan) whether a room is lost. Layer 5: observes through k8s.py
(each room's API server), a TCP probe (each room's PostgreSQL) and bmc.py (the lost room's BMCs, asked only
once a room looks unreachable), decides through room_vote.py, and keeps the storm guard's memory in a file. Each
decision it emits is also posted, in the background, as a Kubernetes Event (room_events.py builds it, k8s.py posts
it) through a room's API server that answered.

The voters, as observed here:

- ``room_a`` and ``room_b`` - each room's own API server: the leases of the other room's nodes as it reads them.
  A room whose API server answers but cannot read (its datastore primary is behind the lost link or in the lost
  room) keeps the leases of its last read, so they age: it cannot see the other room. A room whose API server does
  not answer casts no vote.
- ``witness`` - only with a witness (the inventory's ``witness`` group: this watch then runs there): each room's API
  server answering at all, its PostgreSQL accepting a connection, and the newest lease renewal any API server read.

The BMCs of a room some voter cannot see are asked too; their answer goes into every view of that room. recover.yml
clears a recovered room from the storm guard's memory.

Which room holds the datastore primary (the witness keeps that room when the link is cut, room_vote rule 5) is read
from the same API servers (:func:`primary_from_reads`). With ``beacon`` in its configuration (a witness), the watch
answers each room's isolation guard (:class:`Beacon`): ``GET /rooms/<room>`` is 200 while the watch runs and has not
withdrawn the room.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import logging
import os
import socket
import tempfile
import threading
import time

from ansible_collections.twinroom.ha.plugins.module_utils import bmc, json_http, k8s, room_events, room_vote
from ansible_collections.twinroom.ha.plugins.module_utils.failover_settings import shown
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, TwinroomError, join_words

PROBE_TIMEOUT = 1.5  # seconds to read the leases: a read that takes longer keeps the last one (aging), and
# an API server without its datastore holds the step this long
CONNECT_TIMEOUT = 1.0  # seconds to connect to an API server or PostgreSQL: within a site a connection takes < 1 ms
VERSION_TIMEOUT = 1.5  # /version needs no datastore: an API server that is up answers it at once
WITNESS = 'witness'
DEFAULT_INTERVAL = 2.0  # seconds between two steps, as the event source runs them by default
EVENT_RETRY_SECONDS = 180.0  # a decision's Event is offered again this long: when a room holding the datastore
# primary is lost, the surviving room's API server takes no write until the failover has taken the datastore over
EVENT_RETRY_INTERVAL = 3.0  # seconds between two rounds of offering it
STALE_STEPS = 3  # the beacon stops vouching when the watch has completed no step for this many intervals
BEACON_KEYS = ('address', 'port', 'stale_seconds')


class RoomWatchError(TwinroomError):
    """The watch's configuration or its state file cannot be used."""


def load_config(path):
    """The watch configuration that twinroom.ha.automatic_failover writes (JSON), checked; RoomWatchError if not."""
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise RoomWatchError('cannot read the room watch configuration %s (%s): run site.yml with '
                             'twinroom_automatic_failover: true to write it.' % (path, exc))
    problems = []
    for key in ('kubeconfig', 'rooms', 'state_file'):
        if not config.get(key):
            problems.append('%s is missing' % key)
    rooms = config.get('rooms') or {}
    if rooms and sorted(rooms) != sorted(ROOMS):
        problems.append('rooms must be exactly %s (found %s)' % (' and '.join(ROOMS), ', '.join(sorted(rooms)) or 'none'))
    for room in ROOMS:
        spec = rooms.get(room) or {}
        for key in ('context', 'nodes', 'datastore_address'):
            if rooms and not spec.get(key):
                problems.append('rooms.%s.%s is missing' % (room, key))
    if config.get('beacon') is not None:
        problems += _beacon_problems(config['beacon'])
    if problems:
        raise RoomWatchError('the room watch configuration %s is not usable: %s. Run site.yml with '
                             'twinroom_automatic_failover: true to write it again.' % (path, '; '.join(problems)))
    config['settings'] = room_vote.check_settings(config.get('settings') or {})
    return config


def _beacon_problems(beacon):
    if not isinstance(beacon, dict):
        return ['beacon must be a mapping with address and port (found %s)' % shown(beacon)]
    problems = []
    unknown = sorted(str(key) for key in beacon if key not in BEACON_KEYS)
    if unknown:
        problems.append('beacon has the unknown key(s) %s (it takes %s)'
                        % (join_words(unknown), join_words(BEACON_KEYS)))
    address = beacon.get('address')
    if not isinstance(address, str) or not address.strip():
        problems.append("beacon.address must be the witness's address, a non-empty string (found %s)"
                        % ('nothing' if address is None else shown(address)))
    port = beacon.get('port')
    if not _whole(port) or not 0 < port < 65536:
        problems.append('beacon.port must be a whole number from 1 to 65535 (found %s)'
                        % ('nothing' if port is None else shown(port)))
    stale = beacon.get('stale_seconds')
    if stale is not None and (not _number(stale) or stale <= 0):
        problems.append('beacon.stale_seconds must be a number of seconds greater than 0 (found %s)' % shown(stale))
    return problems


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- observe -------------------------------------------------------------------------------------------------------

def _epoch(stamp):
    return calendar.timegm(stamp.utctimetuple()) + stamp.microsecond / 1e6 if stamp else None


def read_api(kubeconfig, context, timeout=PROBE_TIMEOUT):
    """(answers, leases): whether the room's API server answered at all, and {node: renew epoch} when it could
    read the node leases (None when it could not).

    /version first: it needs no datastore, so an API server that is up answers it at once, and one that is gone
    costs only the connect timeout; the leases are read only from an API server that answered."""
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    try:
        api_client = k8s.api_client(kubeconfig, context)
    except Exception:  # a kubeconfig without that context: no vote from it, and the configuration check says why
        return False, None
    try:
        try:
            client.VersionApi(api_client).get_code(
                _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, VERSION_TIMEOUT))
        except client.exceptions.ApiException:
            pass  # it answered, with an error
        except Exception:  # pylint: disable=broad-except
            return False, None  # the process or the room is gone
        try:
            leases = client.CoordinationV1Api(api_client).list_namespaced_lease(
                'kube-node-lease', _request_timeout=(CONNECT_TIMEOUT, float(timeout)))
            return True, dict((lease.metadata.name, _epoch(lease.spec.renew_time)) for lease in leases.items)
        except Exception:  # pylint: disable=broad-except
            return True, None  # it answered /version but cannot read: its datastore is not there
    finally:
        api_client.close()


def tcp_answers(address, port, timeout=CONNECT_TIMEOUT):
    try:
        socket.create_connection((address, int(port)), timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def read_bmc_power(room_spec, read_power=bmc.read_power, make_agents=bmc.make_agents):
    """{node: 'on'|'off'|'dark'} from the room's BMCs, asked in parallel through the fence agents."""
    params = dict(room_spec['bmc'], nodes=room_spec['nodes'])
    names = [node['name'] for node in room_spec['nodes']]
    power = {}
    for status in read_power(names, make_agents(params)):
        power[status['name']] = status['power_state'] if status['bmc_reachable'] else 'dark'
    return power


def primary_from_reads(_config, reads):
    """The room that holds the datastore primary as the rooms' API servers show it, or None when they do not tell.

    ``reads``: {room: (answers, leases)} of this step (read_api). The kine of both rooms writes to the one primary, so
    an API server reads only when it reaches the primary. When one room's API server reads and the other's answers but
    cannot, and the rooms cannot reach each other (a cut link, the only case where room_vote asks which room holds
    the primary), the reading room is the one with the primary. While the link is up the answer may name the room
    whose API server reads across the link: room_vote uses it only for a cut link."""
    reading = [room for room in ROOMS if reads[room][0] and reads[room][1] is not None]
    blind = [room for room in ROOMS if reads[room][0] and reads[room][1] is None]
    return reading[0] if len(reading) == 1 and len(blind) == 1 else None


class Observer(object):
    """Reads the rooms; keeps when each signal was last seen, since a view needs ages, not one instant.

    ``find_primary(config, reads)`` names the room holding the datastore primary from this step's API reads
    ({room: (answers, leases)}), or None (:func:`primary_from_reads`; a site may hand in a probe of its own);
    ``primary_room`` keeps the answer of the last step."""

    def __init__(self, config, read_api_=read_api, tcp=tcp_answers, read_bmcs=read_bmc_power,
                 find_primary=primary_from_reads):
        self.config = config
        self.read_api, self.tcp, self.read_bmcs, self.find_primary = read_api_, tcp, read_bmcs, find_primary
        self.primary_room = None
        self.api_answered = dict((room, None) for room in ROOMS)
        self.datastore_answered = dict((room, None) for room in ROOMS)
        self.leases_via = dict((room, {}) for room in ROOMS)  # the last leases each room's API server read
        self.suspects = set()  # rooms unseen, or whose API server did not answer, in the last step

    def nodes(self, room):
        return [node['name'] for node in self.config['rooms'][room]['nodes']]

    def observe(self, now, settled=()):
        """{voter: {room: room_vote.room_view(...)}} for this instant; the witness's view only when the settings
        have a witness (this watch runs on it).

        Every probe runs at once (a room that is gone answers only with its timeouts, so the slowest probe sets the
        step's length). The BMCs answer slowly and say nothing while a room answers: they are asked, in the same
        round, for a room that was unseen or whose API server did not answer in the previous step, and otherwise
        only once some voter cannot see the room; never for a room in ``settled`` (failed over already: no decision
        needs its power, and each fence agent call is a process the failover itself needs the CPU and BMCs for)."""
        suspects = sorted(room for room in self.suspects if room not in settled)
        probes = [('api', room) for room in ROOMS] + [('datastore', room) for room in ROOMS]
        probes += [('bmc', room) for room in suspects]
        answers = dict(zip(probes, bmc.run_parallel(probes, self._probe)))
        for answer in answers.values():
            if isinstance(answer, Exception):
                raise answer
        answering = {}
        for room in ROOMS:
            responded, leases = answers[('api', room)]
            answering[room] = responded
            if responded:
                self.api_answered[room] = now
            if leases is not None:
                self.leases_via[room] = leases
            if answers[('datastore', room)]:
                self.datastore_answered[room] = now
        self.primary_room = self.find_primary(self.config, dict((room, answers[('api', room)]) for room in ROOMS))
        power = dict((room, answers[('bmc', room)]) for room in suspects)
        views = self._views(now, answering, power)
        unseen = sorted(set(room for rooms in views.values() for room, view in rooms.items() if not view['reachable']))
        late = [room for room in unseen if room not in power and room not in settled]
        if late:  # a room that went unseen between two steps: its BMCs now, rather than one step later
            power.update(zip(late, bmc.run_parallel(late, lambda room: self.read_bmcs(self.config['rooms'][room]))))
            for answer in power.values():
                if isinstance(answer, Exception):
                    raise answer
            views = self._views(now, answering, power)
        self.suspects = set(unseen) | set(room for room in ROOMS if not answering[room])
        return views

    def _probe(self, probe):
        kind, room = probe
        spec = self.config['rooms'][room]
        if kind == 'api':
            return self.read_api(self.config['kubeconfig'], spec['context'])
        if kind == 'datastore':
            return self.tcp(spec['datastore_address'], spec.get('datastore_port', 5432))
        return self.read_bmcs(spec)

    def _views(self, now, answering, power):
        detect = self.config['settings']['detect_seconds']
        views = {}
        if self.config['settings']['witness']:
            newest = {}
            for leases in self.leases_via.values():  # the newest renewal any API server read
                for node, renewed in leases.items():
                    if renewed is not None and (newest.get(node) is None or renewed > newest[node]):
                        newest[node] = renewed
            views[WITNESS] = dict(
                (room, room_vote.room_view(room, now, dict((node, newest.get(node)) for node in self.nodes(room)),
                                           self.api_answered[room], self.datastore_answered[room],
                                           power.get(room, {}), detect))
                for room in ROOMS)
        for voter in ROOMS:
            if not answering[voter]:
                continue  # a room whose API server does not answer casts no vote
            other = [room for room in ROOMS if room != voter][0]
            leases = dict((node, self.leases_via[voter].get(node)) for node in self.nodes(other))
            views[voter] = {other: room_vote.room_view(other, now, leases, None, None, power.get(other, {}), detect)}
        return views


# --- the storm guard's memory --------------------------------------------------------------------------------------

MEMORY_KEYS = ('failed_over', 'alarmed', 'withdrawn')  # as room_vote.judge keeps them


def read_memory(path):
    if not os.path.exists(path):
        return dict((key, {}) for key in MEMORY_KEYS)
    try:
        with open(path) as handle:
            memory = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise RoomWatchError('cannot read the room watch state %s (%s): it records which rooms were failed over '
                             'automatically. Fix or remove it (after recover.yml) and start the watch again.'
                             % (path, exc))
    for key in MEMORY_KEYS:
        memory.setdefault(key, {})
    return memory


def write_memory(path, memory):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix='.room-watch-')
    with os.fdopen(handle, 'w') as stream:
        json.dump(memory, stream, indent=2, sort_keys=True)
    os.rename(temporary, path)


# --- the witness's answer to the isolation guards ------------------------------------------------------------------

class Beacon(object):
    """The witness's answer to each room's isolation guard (room_vote.witness_answer), served over HTTP on
    ``address``:``port`` (json_http.JsonServer; port 0: any free one) until :meth:`close`.

    It answers from what the watch's last completed step left (:meth:`update`: a snapshot swapped under a lock, never
    the state file); each request has a daemon thread of its own, so no client ever holds a step. ``clock``
    (monotonic) ages the last step against ``stale_seconds``; ``wall`` says when the beacon started."""

    def __init__(self, address, port, stale_seconds, clock=time.monotonic, wall=time.time):
        self.stale_seconds, self.clock, self.started_at = float(stale_seconds), clock, wall()
        self.lock = threading.Lock()
        self.last_step, self.withdrawn = None, {}  # (clock reading, the step's epoch), {room: epoch}
        try:
            self.server = json_http.JsonServer(address, port, self.answer, name='twinroom-beacon')
        except (OSError, OverflowError) as exc:
            raise RoomWatchError('cannot answer the isolation guards on %s port %s (%s): the room watch must run on '
                                 'the witness, whose twinroom_node_address this is, and nothing else may listen on '
                                 'twinroom_witness_port. Start the watch on the witness, or free the port, and start '
                                 'it again.' % (address, port, exc))
        self.port = self.server.port

    def update(self, step_at, withdrawn):
        """A step completed at ``step_at`` (epoch) with ``withdrawn`` ({room: epoch}) in its memory."""
        with self.lock:
            self.last_step, self.withdrawn = (self.clock(), step_at), dict(withdrawn or {})

    def answer(self, method, path):
        with self.lock:
            last_step, withdrawn = self.last_step, self.withdrawn
        age = None if last_step is None else self.clock() - last_step[0]
        return room_vote.witness_answer(method, path, withdrawn, last_step and last_step[1], age, self.stale_seconds,
                                        self.started_at)

    def close(self):
        self.server.close()


class Watch(object):
    """One step per interval: observe, judge, remember; returns the decision when it is news (an event), and posts
    it as a Kubernetes Event in the background (``post_event``: k8s.post_event, or a stand-in for tests).

    With ``beacon`` in the configuration it starts the :class:`Beacon` (RoomWatchError when it cannot listen), which
    stops vouching ``beacon.stale_seconds`` (default ``STALE_STEPS`` x ``interval``) after the last completed step;
    :meth:`close` stops it. ``clock`` and ``wall`` go to the beacon. ``event_retry``: (seconds, interval) for which
    a decision's Event no API server took is offered again."""

    def __init__(self, config, observer=None, post_event=None, interval=DEFAULT_INTERVAL, clock=time.monotonic,
                 wall=time.time, event_retry=(EVENT_RETRY_SECONDS, EVENT_RETRY_INTERVAL)):
        self.config = config
        self.observer = observer or Observer(config)
        self.state_file = config['state_file']
        self.last = None
        self.post_event = post_event or k8s.post_event
        self.instance = socket.gethostname()
        self.event_retry = event_retry
        spec = config.get('beacon')
        self.beacon = spec and Beacon(spec['address'], spec['port'],
                                      spec.get('stale_seconds') or STALE_STEPS * float(interval), clock, wall)

    def close(self):
        if self.beacon:
            self.beacon.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def step(self, now):
        memory = read_memory(self.state_file)
        views = self.observer.observe(now, settled=set(memory['failed_over']))
        decision = room_vote.judge(views, now, self.config['settings'], memory,
                                   primary_room=getattr(self.observer, 'primary_room', None))
        if decision.get('memory') is not None and decision['memory'] != memory:
            write_memory(self.state_file, decision['memory'])
        if self.beacon:  # after the memory is written: the answer never runs ahead of what a restart would read
            self.beacon.update(now, (decision.get('memory') or memory)['withdrawn'])
        key = (decision['action'], decision.get('room'), decision.get('method'))
        if decision['action'] == 'none' or key == self.last:
            self.last = key if decision['action'] != 'none' else None
            return None
        self.last = key
        news = event(decision, views, now)
        # The rooms that voted are those whose API server answered in this step (an unanswering one casts no vote).
        self.record(news['twinroom'], [voter for voter in ROOMS if voter in views])
        return news

    def record(self, decision, answered):
        """Post the decision's Event (room_events.decision_event) in a thread of its own, through the API server of
        the room that answered - the other room's first - trying the next when one fails, each within
        k8s.EVENT_TIMEOUT. When none takes it (a survivor's API server takes no write until the failover has taken
        the datastore over) the round is tried again every ``event_retry`` interval for its seconds; then the
        failure is logged. Returns the thread (None when no room answered): the step never waits for it, and the
        event the rulebook gets carries nothing of it."""
        if not answered:
            return None
        room = decision.get('room')
        contexts = [self.config['rooms'][voter]['context']
                    for voter in sorted(answered, key=lambda voter: voter == room)]
        body = room_events.decision_event(decision, self.instance)
        thread = threading.Thread(target=_post_event, name='twinroom-event',
                                  args=(self.post_event, self.config['kubeconfig'], contexts, body, self.event_retry))
        thread.daemon = True  # a post still waiting for its timeout never keeps the event source from ending
        thread.start()
        return thread


def _post_event(post, kubeconfig, contexts, body, retry):
    failed = k8s.offer_event(post, kubeconfig, contexts, body, *retry)
    if failed:
        logging.getLogger(__name__).warning(
            'The room watch could not record its decision as the Kubernetes Event %s (%d %s in %.0f s): %s',
            body['metadata']['name'], failed[0], 'round' if failed[0] == 1 else 'rounds', retry[0], ' '.join(failed[1]))
    return not failed


def event(decision, views, now):
    """What the event source puts on the rulebook's queue."""
    seen = {}
    for voter, rooms in views.items():
        seen[voter] = dict((room, {'reachable': view['reachable'], 'unreachable_since': view['unreachable_since'],
                                   'signals': view['signals'], 'power': view['power']})
                           for room, view in rooms.items())
    return {'twinroom': {
        'action': decision['action'], 'room': decision.get('room'), 'method': decision.get('method'),
        'reason': decision.get('reason'), 'votes': decision.get('votes'), 'not_before': decision.get('not_before'),
        'decided_at': now, 'views': seen,
    }}
