# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The isolation guard: what the service twinroom-isolation-guard runs on every node of both rooms.

Every ``interval`` seconds it asks, all at once, whether this node still sees the other room (a TCP connection to any
of its nodes) and, with a witness, whether the witness still answers this room (an HTTP GET, status 200); it asks
room_vote.isolate (the plan) whether the node must isolate itself and, the first time it must, runs the isolation
action: ``systemctl poweroff|reboot --force --force``, which stops every workload at once instead of waiting for a
clean shutdown that a hung workload could stretch past the survivor's margin. It writes its state to a JSON file
every round and logs a line whenever its decision changes. Layer 5 (a runner). It runs with the node's python3 and
the standard library only: it imports nothing of the collection but rooms.py, failover_settings.py and room_vote.py,
the four files roles/isolation_guard copies (tests/unit/test_isolation_guard.py checks that they suffice).

The clock: a wall clock that jumps (an NTP step, a hand-set date) must neither isolate a node nor keep one up. Every
time is read from CLOCK_BOOTTIME, which never jumps and, unlike CLOCK_MONOTONIC, counts a suspend: a node waking up
has been away. The wall clock is read once at start to turn readings into the epoch seconds room_vote takes. The
state file keeps the raw readings with the boot's id, so a guard restarted within the boot (a crash, the watchdog,
a new configuration) carries on from what the one before saw; a rebooted node (/run empty) starts unarmed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import functools
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

from ansible_collections.twinroom.ha.plugins.module_utils import room_vote
from ansible_collections.twinroom.ha.plugins.module_utils.failover_settings import shown
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, TwinroomError, join_words, other_room

DEFAULT_CONFIG, DEFAULT_STATE_FILE = '/etc/twinroom/isolation-guard.json', '/run/twinroom/isolation-guard.json'
ACTIONS = {'poweroff': ['systemctl', 'poweroff', '--force', '--force'],
           'reboot': ['systemctl', 'reboot', '--force', '--force']}
DEFAULTS = {'witness_url': None, 'action': 'poweroff', 'interval': 1, 'state_file': DEFAULT_STATE_FILE}
KEYS = ('own_room', 'targets', 'witness_url', 'settings', 'action', 'interval', 'state_file')
MAX_INTERVAL = 5  # several probes within isolation_seconds, and a WATCHDOG=1 well within WatchdogSec (10 s)
CONNECT_TIMEOUT = 1.0  # seconds: within a site a connection takes well under a millisecond
ROUND_TIMEOUT = CONNECT_TIMEOUT + 0.5  # a probe not done by then (a name that does not resolve) counts as no answer
ACTION_TIMEOUT = 10  # seconds: with --force --force systemctl calls reboot(2) at once, it does not wait for anything
BOOT_ID = '/proc/sys/kernel/random/boot_id'
WITNESS = 'witness'
OTHER = 'other_room'
EXIT_CONFIG, EXIT_ACTION = 2, 1


class IsolationGuardError(TwinroomError):
    """The guard's configuration cannot be used; nothing has been probed."""


class IsolationActionError(TwinroomError):
    """The isolation action failed: the node is still up although it must isolate itself."""


# --- configuration -------------------------------------------------------------------------------------------------

def _shown(config, key):
    return 'missing' if key not in config else shown(config[key])


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _target_problems(targets):
    if not isinstance(targets, list) or not targets:
        return ["targets is %s; it must be a non-empty list of {address, port}: the other room's nodes this node "
                "connects to." % ('missing' if targets is None else shown(targets))]
    problems = []
    for index, target in enumerate(targets):
        good = isinstance(target, dict) and sorted(target) == ['address', 'port']
        if not (good and isinstance(target['address'], str) and target['address'].strip()
                and _number(target['port']) and int(target['port']) == target['port'] and 0 < target['port'] < 65536):
            problems.append('targets[%d] is %s; it needs address (a host name or IP address) and port (1 to 65535), '
                            'nothing else.' % (index, shown(target)))
    return problems


def _witness_problems(url, witness):
    if url is None:
        return ['witness_url is missing but settings.witness is true: give the URL where the witness answers this '
                'room (http://<witness>:<port>/rooms/<own room>).'] if witness is True else []
    if witness is not True:
        return ['witness_url is set but settings.witness is not true: the vote counts no witness, so the guard must '
                'not ask one. Remove witness_url or set witness: true.']
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ('http', 'https') and parts.hostname and (parts.port is None or parts.port > 0)
    except (AttributeError, TypeError, ValueError):  # not a string, or a port that is not a number
        valid = False
    if not valid:
        return ['witness_url is %s; it must be an http:// or https:// URL with a host '
                '(http://<witness>:<port>/rooms/<own room>).' % shown(url)]
    return []


def config_problems(config):
    """Exact messages for what is wrong with a guard configuration (a dict read from JSON); [] when it is usable."""
    if not isinstance(config, dict):
        return ['It holds %s; it must be a JSON object with own_room, targets and settings.' % shown(config)]
    problems = []
    unknown = sorted(str(key) for key in config if key not in KEYS)
    if unknown:
        plural = 's' if len(unknown) > 1 else ''
        problems.append('Unknown key%s %s: the keys are %s.' % (plural, join_words(unknown), join_words(KEYS)))
    if config.get('own_room') not in ROOMS:
        problems.append('own_room is %s; it must be %s: the room this node is in.'
                        % (_shown(config, 'own_room'), ' or '.join(ROOMS)))
    problems += _target_problems(config.get('targets'))
    settings = config.get('settings', {})
    witness = settings.get('witness') if isinstance(settings, dict) else None
    problems += room_vote.settings_problems(settings) + _witness_problems(config.get('witness_url'), witness)
    if config.get('action', DEFAULTS['action']) not in ACTIONS:
        problems.append('action is %s; it must be %s.' % (_shown(config, 'action'), ' or '.join(sorted(ACTIONS))))
    interval = config.get('interval', DEFAULTS['interval'])
    if not _number(interval) or not 0 < interval <= MAX_INTERVAL:
        problems.append('interval is %s; it must be a number of seconds greater than 0 and at most %d: the guard '
                        'probes several times within twinroom_isolation_seconds and tells the watchdog it is alive.'
                        % (_shown(config, 'interval'), MAX_INTERVAL))
    state_file = config.get('state_file', DEFAULTS['state_file'])
    if not isinstance(state_file, str) or not os.path.isabs(state_file):
        problems.append('state_file is %s; it must be an absolute path.' % _shown(config, 'state_file'))
    return problems


def load_config(path):
    """The guard's configuration from ``path`` (JSON), checked, with its defaults; IsolationGuardError if not usable."""
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise IsolationGuardError('Cannot read the isolation guard configuration %s (%s): run site.yml with '
                                  'twinroom_automatic_failover: true to write it.' % (path, exc))
    problems = config_problems(config)
    if problems:
        raise IsolationGuardError('The isolation guard configuration %s is not valid: %s Run site.yml again to write '
                                  'it from the inventory.' % (path, ' '.join(problems)), problems=problems)
    merged = dict(DEFAULTS)
    merged.update(config)
    merged['settings'] = room_vote.check_settings(config.get('settings') or {})
    return merged


# --- observe -------------------------------------------------------------------------------------------------------

def tcp_answers(address, port, timeout=CONNECT_TIMEOUT):
    """Whether address:port accepts a TCP connection. A refused connection is no answer: a firewall on this side of
    a cut link may refuse on behalf of hosts it cannot reach, and that must not keep a cut-off node up."""
    try:
        socket.create_connection((address, int(port)), timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def witness_answers(url, timeout=CONNECT_TIMEOUT):
    """Whether a GET of ``url`` answers status 200 (any other status, a redirect, no answer: no), asked directly."""
    parts = urlsplit(url)
    https = dict(context=ssl.create_default_context()) if parts.scheme == 'https' else {}
    connection = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(
        parts.hostname, parts.port, timeout=timeout, **https)
    try:
        connection.request('GET', (parts.path or '/') + ('?' + parts.query if parts.query else ''),
                           headers={'User-Agent': 'twinroom-isolation-guard'})
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class ParallelProbes(object):
    """Runs every probe of a round at once, each in a thread of its own, and waits at most ``timeout`` seconds. A
    probe still running from an earlier round (a name that does not resolve) is not started again and counts as no
    answer, so hung probes neither pile up nor hold the round back."""

    def __init__(self, timeout=ROUND_TIMEOUT):
        self.timeout, self.running = timeout, {}

    def run(self, probes):
        """{key: callable returning a bool} -> {key: bool}."""
        answers = {}

        def ask(key, probe):
            answers[key] = bool(probe())

        started = [key for key in probes if key not in self.running or not self.running[key].is_alive()]
        for key in started:
            self.running[key] = threading.Thread(target=ask, args=(key, probes[key]), name=key, daemon=True)
            self.running[key].start()
        deadline = time.monotonic() + self.timeout
        for key in started:
            self.running[key].join(max(0.0, deadline - time.monotonic()))
        return dict((key, answers.get(key, False)) for key in probes)


def boottime():
    """Seconds since boot, suspend included (CLOCK_BOOTTIME); never jumps with the wall clock."""
    return time.clock_gettime(getattr(time, 'CLOCK_BOOTTIME', time.CLOCK_MONOTONIC))


def read_boot_id(path=BOOT_ID):
    try:
        with open(path) as handle:
            return handle.read().strip() or None
    except (IOError, OSError):  # no /proc: no id, so no state is carried over
        return None


# --- act -----------------------------------------------------------------------------------------------------------

def run_command(argv):
    """(exit code, output) of ``argv``; 127 when it cannot be run at all."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=ACTION_TIMEOUT,
                              check=False)
        return done.returncode, done.stdout.decode('utf-8', 'replace').strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, str(exc)


def sd_notify(message, environ=None):
    """Send ``message`` to systemd's notification socket ($NOTIFY_SOCKET, a unix datagram socket; a name starting
    with @ is in the abstract namespace). False when there is no socket or the message could not be sent."""
    address = (os.environ if environ is None else environ).get('NOTIFY_SOCKET')
    if not address:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode('utf-8'), '\0' + address[1:] if address.startswith('@') else address)
        return True
    except OSError:
        return False


class Notifier(object):
    """What systemd hears: READY=1 once the configuration is loaded (Type=notify), STATUS= on each change of the
    decision, WATCHDOG=1 every round when the unit has a watchdog for this process ($WATCHDOG_USEC, $WATCHDOG_PID)."""

    def __init__(self, environ=None, send=sd_notify):
        self.environ, self.send = os.environ if environ is None else environ, send
        usec, pid = self.environ.get('WATCHDOG_USEC', ''), self.environ.get('WATCHDOG_PID')
        self.watchdog_usec = int(usec) if usec.isdigit() and self.environ.get('NOTIFY_SOCKET') and \
            pid in (None, '', str(os.getpid())) else None

    def __call__(self, *lines):
        return self.send('\n'.join(lines), self.environ)


def log(line):
    sys.stderr.write('%s\n' % line)
    sys.stderr.flush()


def write_state(path, state):
    """Write ``state`` as JSON to ``path`` atomically (a reader sees the old file or the new one, never half)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, 0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix='.isolation-guard.', dir=directory)
    try:
        with os.fdopen(handle, 'w') as out:
            json.dump(state, out, indent=2, sort_keys=True)
            out.write('\n')
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# --- the guard -----------------------------------------------------------------------------------------------------

def _when(epoch):
    return None if epoch is None else room_vote.when(round(epoch, 3))


class Guard(object):
    """One node's guard: ``step()`` is one round (probe, decide, act, record), ``run()`` repeats it every interval.

    Every way out can be replaced, as the tests do: ``steady`` (seconds that never jump: CLOCK_BOOTTIME), ``wall``
    (read once), the probes ``tcp`` and ``witness``, ``command`` (argv -> (exit code, output)), ``notifier``, ``log_``
    and ``boot_id``. The status, in the state file and the log: ``never`` (no witness and no preferred room, or the
    preferred room without a witness: it never isolates), ``unarmed`` (it has seen neither the other room nor the
    witness since it started), ``contact`` (it sees them now), ``no-contact`` (it does not: it isolates at
    ``isolates_at`` unless it sees them again) and ``isolate``."""

    def __init__(self, config, steady=boottime, wall=time.time, tcp=tcp_answers, witness=witness_answers,
                 command=run_command, notifier=None, log_=log, boot_id=read_boot_id):
        self.config, self.settings, self.own_room = config, config['settings'], config['own_room']
        self.other = other_room(self.own_room)
        self.steady, self.tcp, self.witness, self.command, self.log = steady, tcp, witness, command, log_
        self.notifier = Notifier() if notifier is None else notifier
        self.origin = wall() - steady()  # the only read of the wall clock
        self.boot_id, self.probes = boot_id(), ParallelProbes()
        self.last_seen = {OTHER: None, WITNESS: None}  # steady readings
        self.current, self.since, self.write_failed = None, None, False
        self.action = {'run_at': None, 'exit_code': None, 'output': None}
        self.can_isolate = self.settings['witness'] or self.settings['preferred_room'] not in (None, self.own_room)
        self._restore()

    def epoch(self, reading):
        return None if reading is None else self.origin + reading

    def _restore(self):
        """Carry on from the guard that ran before in this boot: its last-seen readings, from its state file."""
        try:
            with open(self.config['state_file']) as handle:
                state = json.load(handle)
            same = self.boot_id is not None and (state['boot_id'], state['own_room']) == (self.boot_id, self.own_room)
            readings = state['readings'] if same else {}
            restored = dict((key, float(readings[key])) for key in self.last_seen
                            if _number(readings.get(key)) and 0 <= readings[key] <= self.steady())
        except (IOError, OSError, ValueError, KeyError, TypeError, AttributeError):
            return
        self.last_seen.update(restored)
        for key, reading in sorted(restored.items()):
            self.log('Carrying on from the guard before it in this boot: it last saw %s at %s.'
                     % ('the witness' if key == WITNESS else self.other, _when(self.epoch(reading))))

    def _seen_text(self, seen):
        words = ['%s %s' % (self.other, 'answers' if seen[OTHER] else 'does not answer')]
        if seen[WITNESS] is not None:
            words.append('the witness %s' % ('answers' if seen[WITNESS] else 'does not answer'))
        return join_words(words)

    def _status(self, decision, seen):
        if decision['isolate']:
            return 'isolate'
        if decision['at'] is None:
            return 'unarmed' if self.can_isolate else 'never'
        return 'contact' if seen[OTHER] or seen[WITNESS] else 'no-contact'

    def step(self):
        """One round: probe everything at once, decide through room_vote.isolate, run the action the first time the
        decision is to isolate, write the state file, tell the watchdog. Returns the state written."""
        started = self.steady()
        targets = dict(('%s:%s' % (target['address'], target['port']), target) for target in self.config['targets'])
        probes = dict((key, functools.partial(self.tcp, target['address'], target['port']))
                      for key, target in targets.items())
        url = self.config['witness_url']
        if url:
            probes[WITNESS] = functools.partial(self.witness, url)
        answers = self.probes.run(probes)
        seen = {OTHER: any(answers[key] for key in targets), WITNESS: answers[WITNESS] if url else None}
        for key in self.last_seen:
            if seen[key]:
                self.last_seen[key] = started  # the round's start: the answer came no earlier
        now = self.epoch(self.steady())
        decision = room_vote.isolate(now, self.epoch(self.last_seen[OTHER]), self.epoch(self.last_seen[WITNESS]),
                                     self.settings['witness'], self.settings['preferred_room'], self.own_room,
                                     self.settings)
        status = self._status(decision, seen)
        if (status, seen[OTHER], seen[WITNESS]) != self.current:
            self.current, self.since = (status, seen[OTHER], seen[WITNESS]), now
            line = '%s - %s. %s' % (status, self._seen_text(seen), decision['reason'])
            self.log(line)
            self.notifier('STATUS=%s' % line)
        round_ = (decision, status, seen, answers, targets)
        if decision['isolate'] and self.action['run_at'] is None:
            self._act(now, round_)
        state = self._state(now, *round_)
        self._write(state)
        if self.notifier.watchdog_usec:
            self.notifier('WATCHDOG=1')
        return state

    def _act(self, now, round_):
        argv = ACTIONS[self.config['action']]
        self.action['run_at'] = now
        self.log('Isolating this node of %s: %s' % (self.own_room, ' '.join(argv)))
        self._write(self._state(now, *round_))  # before the node goes down
        code, output = self.command(argv)
        self.action.update(exit_code=code, output=output)
        if code != 0:
            self._write(self._state(now, *round_))
            raise IsolationActionError(
                'The isolation action %s failed (exit code %s: %s): this node of %s is still up although it must '
                'isolate itself. The guard exits and systemd starts it again, which tries again; power the node off '
                'through its BMC.' % (' '.join(argv), code, output or 'no output', self.own_room))

    def _state(self, now, decision, status, seen, answers, targets):
        last = dict((self.other if key == OTHER else key, _when(self.epoch(at))) for key, at in self.last_seen.items())
        return {'own_room': self.own_room, 'status': status, 'isolate': decision['isolate'],
                'reason': decision['reason'], 'since': _when(self.since), 'isolates_at': _when(decision['at']),
                'updated_at': _when(now), 'seen_now': {self.other: seen[OTHER], WITNESS: seen[WITNESS]},
                'last_seen': last, 'witness_url': self.config['witness_url'],
                'targets': [dict(target, answered=answers[key]) for key, target in sorted(targets.items())],
                'action': self.config['action'], 'action_run_at': _when(self.action['run_at']),
                'action_exit_code': self.action['exit_code'], 'action_output': self.action['output'],
                'pid': os.getpid(), 'boot_id': self.boot_id, 'readings': dict(self.last_seen)}

    def _write(self, state):
        try:
            write_state(self.config['state_file'], state)
        except (IOError, OSError) as exc:
            if not self.write_failed:
                self.log('Cannot write the state file %s (%s): the guard goes on without it.'
                         % (self.config['state_file'], exc))
            self.write_failed = True
        else:
            self.write_failed = False

    def run(self, sleep=time.sleep, rounds=None):
        """READY=1, then a round every ``interval`` seconds (or as soon as the last one ends, when it took longer)."""
        config = self.config
        self.log('Guarding this node of %s: %s through %s%s, every %s s; action %s.' % (
            self.own_room, self.other, join_words('%s:%s' % (t['address'], t['port']) for t in config['targets']),
            ', the witness at %s' % config['witness_url'] if config['witness_url'] else '', config['interval'],
            config['action']))
        self.notifier('READY=1', 'STATUS=guarding this node of %s' % self.own_room)
        done = 0
        while rounds is None or done < rounds:
            begun = self.steady()
            self.step()
            done += 1
            sleep(max(0.0, config['interval'] - (self.steady() - begun)))


def main(argv=None):
    """The entry point of twinroom-isolation-guard: exit 2 on a configuration it cannot use (nothing probed), 1 when
    the isolation action failed."""
    parser = argparse.ArgumentParser(prog='twinroom-isolation-guard', description=(
        'Isolate this node (power it off or reboot it) when it has seen neither the other room nor the witness for '
        'twinroom_isolation_seconds (docs/automatic-failover.md).'))
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG,
                        help='the configuration roles/isolation_guard writes (default %(default)s)')
    parser.add_argument('--check', action='store_true', help='check the configuration and exit, probing nothing')
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if args.check:
            sys.stdout.write('The isolation guard configuration %s is valid.\n' % args.config)
            return 0
        Guard(config).run()
    except (IsolationGuardError, IsolationActionError) as exc:
        log('twinroom-isolation-guard: %s' % exc.msg)
        return EXIT_CONFIG if isinstance(exc, IsolationGuardError) else EXIT_ACTION
    return 0
