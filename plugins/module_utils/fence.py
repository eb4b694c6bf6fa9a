# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fencing: power a node off through its BMC, verify it is off, then tell Kubernetes.

Two layers:

* **Pure decisions** (:func:`decide`): per-node observations (BMC answers? power on/off/unknown? Node in
  the API, out-of-service taint, fencing record) plus the request give a plan per node, or raise
  :class:`FenceError` before anything is touched. No I/O; unit-tested with YAML fixtures.
* **I/O**: :class:`FenceAgent` runs the fence agents Pacemaker and MediK8s use (``fence_redfish``,
  ``fence_ipmilan``) with their options on stdin, so the BMC password never shows in a process list;
  :class:`NodeRecorder` reads the Node and writes the taint, the record annotation and an Event;
  :func:`run_fence` / :func:`run_fence_info` are what the modules call.

Safety rule, in words: a node is tainted ``node.kubernetes.io/out-of-service`` (which lets the
controller-manager force-delete its pods and detach their volumes) only when its BMC reported its power
OFF, or, when its BMC does not answer, when the operator (``confirm_room_down``) confirmed that the room
is down. A BMC that does not answer without that
confirmation refuses the whole request before any node is touched.

And a node that still renews its Kubernetes lease (``kube-node-lease``) is running, whatever its BMC says:
it is never tainted or counted as fenced. A BMC that reports such a node off, or does not answer for it,
is another machine's BMC or a wrong one: the whole request is refused. A node powered off by this module
is tainted only once its lease has gone stale as well.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import copy
import datetime
import json
import os
import shutil
import socket
import subprocess
import threading
import time

from ansible_collections.twinroom.ha.plugins.module_utils import bmc_identity
from ansible_collections.twinroom.ha.plugins.module_utils import k8s as k8s_client_factory
from ansible_collections.twinroom.ha.plugins.module_utils.inventory_rules import BMC_DEFAULT_PORTS
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import TwinroomError

try:
    from kubernetes import client as k8s_client
    from kubernetes.client.rest import ApiException
    HAS_KUBERNETES = True
except ImportError:  # pragma: no cover - depends on the host
    k8s_client = None
    HAS_KUBERNETES = False

    class ApiException(Exception):
        """Stand-in so the except clauses below stay valid without the library."""

TAINT_KEY = 'node.kubernetes.io/out-of-service'
TAINT_VALUE = 'nodeshutdown'
TAINT_EFFECT = 'NoExecute'
ANNOTATION = 'twinroom.io/fenced'
RECORDED_BY = 'twinroom.ha.fence'
EVENT_NAMESPACE = 'default'  # where the kubelet and node controller put Node events too
API_TIMEOUT = 20             # seconds for each API request
LEASE_NAMESPACE = 'kube-node-lease'
LEASE_STALE_AFTER = 10       # seconds without renewal after which a node's lease counts as stale (as room_info)

METHODS = ('bmc', 'confirmed-down')
POWER_STATES = ('on', 'off', 'unknown')
AGENTS = dict(redfish='fence_redfish', ipmi='fence_ipmilan')
DEFAULT_PORTS = BMC_DEFAULT_PORTS  # the inventory model's (docs/inventory-model.md), defined once

# Fence agent exit codes for action=status: 0 powered on, 2 powered off, anything else a failure.
STATUS_ON, STATUS_OFF = 0, 2

# ---------------------------------------------------------------------------------------------
# Shared argument specs (documented by the doc fragments twinroom.ha.fence_bmc and twinroom.ha.kubeconfig)
# ---------------------------------------------------------------------------------------------

_NODE_SPEC = dict(
    name=dict(type='str', required=True, aliases=['inventory_hostname']),
    bmc_address=dict(type='str', aliases=['twinroom_bmc_address']),
    bmc_port=dict(type='int', aliases=['twinroom_bmc_port']),
    bmc_systems_uri=dict(type='str', aliases=['twinroom_bmc_systems_uri']),
    bmc_username=dict(type='str', aliases=['twinroom_bmc_username']),
    bmc_password=dict(type='str', no_log=True, aliases=['twinroom_bmc_password']),
    bmc_validate_certs=dict(type='bool', aliases=['twinroom_bmc_validate_certs']),
)

_BMC_SPEC = dict(
    nodes=dict(type='list', elements='dict', required=True, options=_NODE_SPEC),
    fence_method=dict(type='str', default='redfish', choices=['redfish', 'ipmi']),
    bmc_username=dict(type='str'),
    bmc_password=dict(type='str', no_log=True),
    bmc_port=dict(type='int'),
    validate_certs=dict(type='bool', default=True),
    ipmi_lanplus=dict(type='bool', default=True),
    bmc_timeout=dict(type='int', default=10),
    bmc_bindings=dict(type='path'),
    api_timeout=dict(type='int', default=20),
)

_KUBECONFIG_SPEC = dict(
    kubeconfig=dict(type='path'),
    context=dict(type='str'),
)


def fence_argument_spec(**extra):
    """The shared BMC and API options (deep-copied, so callers may change them) plus the module's own."""
    spec = copy.deepcopy(_BMC_SPEC)
    spec.update(copy.deepcopy(_KUBECONFIG_SPEC))
    spec.update(copy.deepcopy(extra))
    return spec


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

class FenceError(TwinroomError):
    """A refusal or failure of the fence modules."""


# ---------------------------------------------------------------------------------------------
# Pure decisions
# ---------------------------------------------------------------------------------------------

# Steps in the order they are carried out. power_off and verify_off go to the BMC; the rest to the API.
# verify_lease_stale: after the power-off of a node whose lease was fresh, its lease must go stale before the taint.
STEPS = ('power_off', 'verify_off', 'verify_lease_stale', 'taint', 'release', 'annotate', 'event', 'untaint',
         'unannotate')

_OBSERVED_DEFAULTS = dict(
    name=None,
    bmc=None,             # 'address:port', for messages
    bmc_reachable=None,   # the BMC answered (None: not asked, as for state=unfenced)
    power_state=None,     # on | off | unknown (None: not asked)
    bmc_error=None,       # why the BMC did not answer, or why its power state could not be read
    exists=True,          # the Node object exists in the API
    tainted=False,        # it carries the out-of-service NoExecute taint
    record=None,          # the parsed twinroom.io/fenced annotation
    ready=None,           # its Ready condition (True, False, None when unknown)
    pods=0,               # pods still bound to it (asked only when it is to be marked out of service)
    lease_age=None,       # seconds since its Lease was last renewed (None: not known - no Lease, or not read)
    lease_fresh=None,     # lease_age below the stale threshold: the node runs (None: not known)
    lease_waited=None,    # seconds its lease was watched for going stale before the decision (None: not watched)
    lease_error=None,     # why the Lease could not be read (the node is then judged as before: by its BMC)
    machine_id=None,      # the machine UUID site.yml bound the node to (None: no binding recorded)
    bmc_identity=None,    # what its BMC reports it controls: {'uuid': ...} or {'error': ...} (None: not asked)
)


def normalize_observed(observed):
    state = copy.deepcopy(_OBSERVED_DEFAULTS)
    state.update(copy.deepcopy(observed or {}))
    if state['power_state'] is not None:
        state['power_state'] = str(state['power_state']).lower()
        if state['power_state'] not in POWER_STATES:
            raise ValueError('unknown power state %r' % (state['power_state'],))
    return state


def _join(words):
    words = list(words)
    if len(words) <= 1:
        return ''.join(words)
    return '%s and %s' % (', '.join(words[:-1]), words[-1])


def _target(request, names):
    return request.get('room') or ('node %s' % names[0] if len(names) == 1 else 'nodes %s' % _join(names))


def confirmed_by(request):
    """Who confirmed that the room is down: 'operator', or None. (A witness's vote is a room-level decision of the
    failover, not a flag a caller can set.)"""
    if request.get('confirm_room_down'):
        return 'operator'
    return None


def _plan_fenced(node, confirmation):
    """(steps, method, problem) for one node; problem is 'unreachable' or 'unreadable' when it must refuse."""
    recorded = bool(node['record'])
    if not node['bmc_reachable']:
        if recorded and (node['tainted'] or not node['exists']):
            return [], node['record'].get('method'), None      # fenced before; nothing left to do
        if not node['exists']:
            if confirmation:
                return [], 'confirmed-down', None               # nothing in the API to mark
            return None, None, 'unreachable'
        if not confirmation:
            return None, None, 'unreachable'
        steps = [] if node['tainted'] else ['taint']
        if not recorded:
            steps += ['annotate', 'event']
        return steps, 'confirmed-down', None
    if node['power_state'] not in ('on', 'off'):
        return None, None, 'unreadable'
    steps = ['power_off', 'verify_off'] if node['power_state'] == 'on' else []
    if not node['exists']:
        return steps, 'bmc', None
    if not node['tainted']:
        steps.append('taint')
    if 'power_off' in steps or not recorded:
        # A new power-off, or a node found off without our record: record it (again) with an Event.
        steps += ['annotate', 'event']
    method = 'bmc' if 'annotate' in steps else node['record'].get('method', 'bmc')
    return steps, method, None


def _renews_lease_yet_off(node):
    """The node renews its lease (a fresh one was read), yet its BMC reports it off or does not answer."""
    return bool(node['lease_fresh'] and node['exists'] and (
        not node['bmc_reachable'] or node['power_state'] == 'off'))


def _seconds(value):
    return '%.1f s' % value


def running_refusal(nodes, target):
    """The refusal for nodes that renew their lease while their BMC reports them off or does not answer."""
    clauses = []
    for node in nodes:
        watched = (' (watched %s for it to go stale)' % _seconds(node['lease_waited'])
                   if node.get('lease_waited') else '')
        said = 'does not answer' if not node['bmc_reachable'] else 'reports its power OFF'
        clauses.append('node %s renewed its lease %s ago%s, yet its BMC %s %s' % (
            node['name'], _seconds(node['lease_age']), watched, node['bmc'], said))
    names = [node['name'] for node in nodes]
    text = '; '.join(clauses)
    text = text[0].upper() + text[1:]
    return ('%s: a node that renews its lease is running, and is never marked out of service or counted as fenced. '
            'Refusing to fence %s. Check the BMC %s of %s (twinroom_bmc_address): %s.' % (
                text, target, 'address' if len(nodes) == 1 else 'addresses', _join(names),
                'it may name another machine\'s BMC' if len(nodes) == 1 else 'they may name other machines\' BMCs'))


def still_renewing(name, bmc, lease_age, after):
    """The failure for a node powered off through ``bmc`` whose lease was renewed again ``after`` seconds later."""
    return ('Node %s renewed its lease %s ago, %s after its BMC %s reported its power OFF: not tainted. A node that '
            'renews its lease is running - that BMC powered off another machine (power it back on), or it reports '
            'wrongly. Check the BMC address of %s (twinroom_bmc_address).' % (
                name, _seconds(lease_age), _seconds(after), bmc, name))


def _plan_unfenced(node):
    if not node['exists']:
        return []
    steps = []
    if node['tainted']:
        steps.append('untaint')
    if node['record']:
        steps.append('unannotate')
    if steps:
        steps.append('event')
    return steps


def decide(observed, request):
    """Plans for every node, in the order given, or FenceError before anything is touched.

    ``observed``: list of per-node observations (see ``_OBSERVED_DEFAULTS``).
    ``request``: ``state`` (fenced|unfenced), ``room``, ``confirm_room_down``.
    Returns a list of dicts: name, steps, method, fenced (predicted), power_state (predicted), changed.
    """
    nodes = [normalize_observed(item) for item in observed]
    names = [node['name'] for node in nodes]
    state = request.get('state', 'fenced')
    if state == 'unfenced':
        plans = []
        for node in nodes:
            steps = _plan_unfenced(node)
            plans.append(dict(name=node['name'], steps=steps, method=None, fenced=False,
                              power_state=node['power_state'], changed=bool(steps)))
        # A node that does not renew its lease is not running: clearing its taint would send work to it.
        stale = [node for node, plan in zip(nodes, plans) if 'untaint' in plan['steps'] and node['lease_fresh'] is False]
        if stale:
            raise FenceError(
                'refusing to clear the out-of-service taint of %s: a node that does not renew its lease is not running '
                '(powered off again, or its kubelet stopped), and clearing its taint would send work to it. Nothing '
                'was changed. Power the room on, wait until its nodes are Ready and renew their leases, then run again.'
                % _join(['%s (lease last renewed %s ago)' % (n['name'], _seconds(n['lease_age'])) for n in stale]))
        return plans
    if state != 'fenced':
        raise ValueError('unknown state %r' % (state,))

    confirmation = confirmed_by(request)
    out_of_service = request.get('out_of_service', True)
    plans, unreachable, unreadable, running, wrong_machine = [], [], [], [], []
    for node in nodes:
        if not out_of_service:
            # Power only: what the API holds is not known and not changed.
            node.update(exists=False, tainted=False, record=None, lease_age=None, lease_fresh=None)
        if _renews_lease_yet_off(node):
            # Off or dark by its BMC, yet renewing its lease: that BMC is not this node's (or it is wrong).
            running.append(node)
            continue
        if node['bmc_reachable'] and node['machine_id'] and node['power_state'] in ('on', 'off'):
            # Only a BMC whose power state was read: one that cannot be read is refused below, for its credentials.
            problem = bmc_identity.check_fence_target(node['name'], node['machine_id'], node['bmc_identity'],
                                                      node['bmc'])
            if problem:
                # Its power state says nothing about this node: never powered off through, never counted as off.
                wrong_machine.append(problem)
                continue
        steps, method, problem = _plan_fenced(node, confirmation)
        if problem == 'unreachable':
            unreachable.append(node)
            continue
        if problem == 'unreadable':
            unreadable.append(node)
            continue
        if node['lease_fresh'] and node['exists'] and 'power_off' in steps:
            # Powered off by us: counted as fenced only once the lease stops being renewed too.
            steps.insert(steps.index('verify_off') + 1, 'verify_lease_stale')
        if request.get('release_pods', True) and node['exists'] and node['pods'] and (
                node['tainted'] or 'taint' in steps):
            # Off (verified, or confirmed down) and out of service: its pods cannot be running, so they are
            # deleted now, as the pod garbage collector would do for an out-of-service node on its next cycle.
            steps.insert(steps.index('taint') + 1 if 'taint' in steps else 0, 'release')
        power = 'off' if node['bmc_reachable'] else node['power_state'] or 'unknown'
        plans.append(dict(name=node['name'], steps=steps, method=method, fenced=True, power_state=power,
                          changed=bool(steps)))
    problems = []
    target = _target(request, names)
    if wrong_machine:
        text = '; '.join(wrong_machine)
        problems.append('%s%s: refusing to fence %s, nothing was powered off.' % (text[0].upper(), text[1:], target))
    if running:
        problems.append(running_refusal(running, target))
    if unreachable:
        problems.append(
            '%s %s: refusing to fence %s without confirm_room_down: true.' % (
                _join('BMC %s of node %s' % (node['bmc'], node['name']) for node in unreachable),
                'does not answer' if len(unreachable) == 1 else 'do not answer', target))
    if unreadable:
        problems.append(
            '%s: refusing to fence %s, since a node is tainted only once its BMC reports its power off. Check '
            'the BMC credentials and systems URI.' % (
                _join('BMC %s of node %s answers but its power state cannot be read (%s)'
                      % (node['bmc'], node['name'], node['bmc_error'] or 'no error text') for node in unreadable),
                target))
    if problems:
        raise FenceError(' '.join(problems))
    return plans


def fence_record(at, method, room=None, confirmation=None):
    """The value of the twinroom.io/fenced annotation (a dict; stored as compact JSON)."""
    record = dict(at=at, method=method, by=RECORDED_BY, room=room)
    if method == 'confirmed-down' and confirmation:
        record['confirmed_by'] = confirmation
    return record


def parse_record(value):
    """The annotation's value as a dict; None when absent. Text that is not a JSON object is kept as ``raw``."""
    if value is None or value == '':
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return dict(raw=value)
    return parsed if isinstance(parsed, dict) else dict(raw=value)


def is_fence_taint(taint):
    """Taints are unique by key and effect; the value is not part of the identity."""
    return taint.get('key') == TAINT_KEY and taint.get('effect') == TAINT_EFFECT


def with_fence_taint(taints, added_at):
    """The node's taints plus ours (existing ones kept, in order); unchanged when ours is there."""
    taints = [dict(t) for t in taints or ()]
    if any(is_fence_taint(t) for t in taints):
        return taints
    return taints + [dict(key=TAINT_KEY, value=TAINT_VALUE, effect=TAINT_EFFECT, timeAdded=added_at)]


def without_fence_taint(taints):
    return [dict(t) for t in taints or () if not is_fence_taint(t)]


def utc_now():
    """UTC time, ISO 8601 to the second with a Z: how Kubernetes writes times."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace('+00:00', 'Z')


def endpoint(address, port):
    """'127.77.1.10:8443', '[fd00::1]:443'."""
    if address and ':' in address and not address.startswith('['):
        return '[%s]:%s' % (address, port)
    return '%s:%s' % (address, port)


def agent_options(method, bmc, action, power_timeout=None, login_timeout=None):
    """The fence agent's options as stdin lines (``key=value``), the form Pacemaker uses.

    ``bmc``: address, port, systems_uri, username, password, validate_certs, lanplus.
    """
    options = [('ip', bmc['address']), ('ipport', bmc['port'])]
    if bmc.get('username') is not None:
        options.append(('username', bmc['username']))
    if bmc.get('password') is not None:
        options.append(('password', bmc['password']))
    if method == 'redfish':
        options.append(('ssl_secure' if bmc.get('validate_certs', True) else 'ssl_insecure', '1'))
        if bmc.get('systems_uri'):
            options.append(('systems_uri', bmc['systems_uri']))
    elif method == 'ipmi':
        if bmc.get('lanplus', True):
            options.append(('lanplus', '1'))
        options.append(('method', 'onoff'))  # never "cycle": it may report success before the node is off
    else:
        raise ValueError('unknown fence method %r' % (method,))
    if power_timeout is not None:
        options.append(('power_timeout', int(power_timeout)))
    if login_timeout is not None:
        options.append(('login_timeout', int(login_timeout)))
    options.append(('action', action))
    for key, value in options:
        if '\n' in str(value) or '\r' in str(value):
            raise FenceError('the BMC option %s of %s holds a line break, which the fence agent cannot read.'
                             % (key, endpoint(bmc['address'], bmc['port'])))
    return ''.join('%s=%s\n' % (key, value) for key, value in options)


def agent_message(stdout, stderr):
    """The agent's last meaningful line ('Status: ON', 'Failed: Unable to connect/login ...')."""
    lines = [line.strip() for line in (stdout + '\n' + stderr).splitlines() if line.strip()]
    useful = [line for line in lines if 'DeprecationWarning' not in line and not line.startswith('from pipes')]
    return useful[-1] if useful else ''


# ---------------------------------------------------------------------------------------------
# I/O: the BMC through the fence agent
# ---------------------------------------------------------------------------------------------

def run_process(argv, stdin, timeout):
    """(rc, stdout, stderr); rc None when the process did not finish within ``timeout`` (it is killed)."""
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
                              env=dict(os.environ, LANG='C', LC_ALL='C'))
    except subprocess.TimeoutExpired as exc:
        def text(value):
            return value.decode('utf-8', 'replace') if isinstance(value, bytes) else (value or '')
        return None, text(exc.stdout), text(exc.stderr)
    return proc.returncode, proc.stdout, proc.stderr


def tcp_answers(address, port, timeout):
    """(answers, error): a TCP connection to the BMC opens within ``timeout``."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except (OSError, socket.timeout) as exc:
        return False, str(exc) or exc.__class__.__name__
    sock.close()
    return True, None


# RMCP presence ping (ASF 2.0): every IPMI-over-LAN BMC answers it with a presence pong.
_RMCP_PING = bytes(bytearray([0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, 0x54, 0x00, 0x00]))


def rmcp_answers(address, port, timeout):
    """(answers, error): the BMC answers an RMCP presence ping on UDP ``port`` within ``timeout``."""
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(_RMCP_PING, (address, port))
        data = sock.recv(512)
    except (OSError, socket.timeout) as exc:
        return False, str(exc) or 'no answer to an RMCP ping within %ss' % timeout
    finally:
        sock.close()
    # Presence pong: RMCP header, ASF IANA 4542 (0x000011be), message type 0x40.
    if len(data) >= 9 and data[0] == 0x06 and data[8] == 0x40:
        return True, None
    return False, 'unexpected answer to an RMCP ping'


class FenceAgent(object):
    """One node's BMC, driven by fence_redfish or fence_ipmilan with options on stdin.

    ``executor(argv, stdin, timeout)`` and ``probe(address, port, timeout)`` can be replaced in tests.
    """

    def __init__(self, method, bmc, bmc_timeout=10, executor=None, probe=None, agent_path=None, identity_reader=None):
        if method not in AGENTS:
            raise ValueError('unknown fence method %r' % (method,))
        self.method = method
        self.bmc = bmc
        self.bmc_timeout = bmc_timeout
        self.executor = executor or run_process
        self.probe = probe or (tcp_answers if method == 'redfish' else rmcp_answers)
        self.agent_path = agent_path
        self.identity_reader = identity_reader

    @property
    def where(self):
        return endpoint(self.bmc['address'], self.bmc['port'])

    def _agent(self):
        if self.agent_path:
            return self.agent_path
        found = shutil.which(AGENTS[self.method]) or next(
            (os.path.join(d, AGENTS[self.method]) for d in ('/usr/sbin', '/sbin')
             if os.access(os.path.join(d, AGENTS[self.method]), os.X_OK)), None)
        if not found:
            raise FenceError('%s is not installed on %s: install the fence agents (Debian package fence-agents) '
                             'where this module runs.' % (AGENTS[self.method], socket.gethostname()))
        return found

    def _run(self, action, timeout, power_timeout=None):
        stdin = agent_options(self.method, self.bmc, action, power_timeout=power_timeout,
                              login_timeout=self.bmc_timeout)
        # The agent alone on the command line: every option, the password too, goes through stdin.
        rc, out, err = self.executor([self._agent()], stdin, timeout)
        return rc, agent_message(out, err) if rc is not None else 'no answer within %ds' % timeout

    def status(self):
        """dict(reachable, power_state on|off|unknown, error)."""
        answers, error = self.probe(self.bmc['address'], self.bmc['port'], self.bmc_timeout)
        if not answers:
            return dict(reachable=False, power_state='unknown', error=error)
        rc, message = self._run('status', self.bmc_timeout * 3 + 5)
        if rc == STATUS_ON:
            return dict(reachable=True, power_state='on', error=None)
        if rc == STATUS_OFF:
            return dict(reachable=True, power_state='off', error=None)
        if rc is None:
            # It takes connections but does not answer: as good as dark.
            return dict(reachable=False, power_state='unknown', error=message)
        return dict(reachable=True, power_state='unknown', error=message or 'exit code %s' % rc)

    def identity(self):
        """{'uuid': ...} or {'error': ...}: which machine this BMC says it controls."""
        if self.identity_reader is not None:
            return self.identity_reader(self.bmc)
        return bmc_identity.read_identity(self.method, self.bmc, self.bmc_timeout)

    def power(self, action, timeout):
        """Run action on|off (the agent waits up to ``timeout`` for the change); (ok, message)."""
        rc, message = self._run(action, timeout + self.bmc_timeout * 3 + 10, power_timeout=timeout)
        return rc == 0, message

    def wait_off(self, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
        """Poll status until OFF; (off, last status, seconds). At least one read, even at timeout 0."""
        started = clock()
        while True:
            last = self.status()
            if last['power_state'] == 'off':
                return True, last, clock() - started
            if clock() - started >= timeout:
                return False, last, clock() - started
            sleep(interval)


def bmc_settings(params, node):
    """One node's BMC settings from its entry in ``nodes`` and the module-wide defaults."""
    method = params.get('fence_method') or 'redfish'

    def pick(key, default=None):
        value = node.get('bmc_' + key)
        if value is None:
            value = params.get('bmc_' + key)
        return default if value is None else value

    validate = node.get('bmc_validate_certs')
    return dict(address=node.get('bmc_address'), port=pick('port', DEFAULT_PORTS[method]),
                systems_uri=node.get('bmc_systems_uri'), username=pick('username'), password=pick('password'),
                validate_certs=params.get('validate_certs', True) if validate is None else validate,
                lanplus=params.get('ipmi_lanplus', True))


# Every wait is bounded: 0 or a negative value would mean "no limit" to some layers and "give up at once" to others.
TIMEOUT_BOUNDS = dict(bmc_timeout=(1, 300), api_timeout=(1, 600), timeout=(1, 3600), lease_stale_after=(2, 600))


def check_timeouts(params):
    """Refuse a timeout outside its bounds, naming the option, its value and the bounds."""
    wrong = ['%s is %s; it must be %d-%d seconds' % (name, params[name], low, high)
             for name, (low, high) in sorted(TIMEOUT_BOUNDS.items())
             if params.get(name) is not None and not low <= params[name] <= high]
    if wrong:
        raise FenceError('%s. Nothing was done.' % '; '.join(wrong))


def check_bmc_settings(params):
    """Refuse missing BMC settings, naming the node and the inventory variable, and unbounded timeouts."""
    check_timeouts(params)
    missing = []
    for node in params['nodes']:
        wanted = ['address']
        if (params.get('fence_method') or 'redfish') == 'redfish':
            wanted.append('systems_uri')
        for key in wanted:
            if not node.get('bmc_' + key):
                missing.append('%s (bmc_%s, inventory twinroom_bmc_%s)' % (node['name'], key, key))
    if missing:
        raise FenceError('BMC settings missing for %s: every node to fence needs them.' % _join(missing))


# ---------------------------------------------------------------------------------------------
# I/O: the Node, its taint, record and Events
# ---------------------------------------------------------------------------------------------

def _api_error(exc):
    if isinstance(exc, ApiException) and getattr(exc, 'status', None):
        try:
            body = json.loads(exc.body or '{}')
        except ValueError:
            body = {}
        return '%s %s' % (exc.status, body.get('message') or exc.reason)
    return str(exc) or exc.__class__.__name__


def epoch_seconds(stamp):
    """A datetime as the API client returns it (aware; naive taken as UTC) -> seconds since the epoch."""
    return calendar.timegm(stamp.utctimetuple()) + stamp.microsecond / 1e6


class NodeRecorder(object):
    """Reads Nodes and their Leases, and writes the out-of-service taint, the twinroom.io/fenced record and Events.

    ``api`` (a CoreV1Api) and ``leases`` (a CoordinationV1Api) can be given; with ``api`` but no ``leases``, no
    Lease is read. ``now`` is the wall clock the Lease's renewTime is compared with."""

    def __init__(self, kubeconfig=None, context=None, api=None, timeout=API_TIMEOUT, leases=None,
                 stale_after=LEASE_STALE_AFTER, now=time.time):
        self.where = 'the API server%s' % (' of context %s' % context if context else '')
        self.timeout = timeout
        self.leases = leases
        self.stale_after = stale_after
        self.now = now
        if api is not None:
            self.api = api
            return
        if not HAS_KUBERNETES:
            raise FenceError('the kubernetes Python library is not installed where this module runs '
                             '(pip install kubernetes, or Debian python3-kubernetes).')
        try:
            api_client = k8s_client_factory.api_client(kubeconfig, context)
        except Exception as exc:  # the loader raises several types for a bad or missing file
            raise FenceError('cannot load kubeconfig %s%s: %s' % (
                kubeconfig or '(default)', ' (context %s)' % context if context else '', exc))
        self.api = k8s_client.CoreV1Api(api_client)
        self.leases = k8s_client.CoordinationV1Api(api_client)

    def _read(self, name):
        try:
            return self.api.read_node(name, _request_timeout=self.timeout)
        except ApiException as exc:
            if getattr(exc, 'status', None) == 404:
                return None
            raise FenceError('cannot read Node %s from %s: %s' % (name, self.where, _api_error(exc)))
        except Exception as exc:  # connection refused, timeout: urllib3 errors
            raise FenceError('cannot read Node %s from %s: %s' % (name, self.where, _api_error(exc)))

    @staticmethod
    def _view(node):
        if node is None:
            return dict(exists=False, tainted=False, record=None, ready=None, taints=[])
        taints = []
        for t in node.spec.taints or ():
            fields = (('key', t.key), ('value', t.value), ('effect', t.effect), ('timeAdded', t.time_added))
            taints.append(dict((k, v) for k, v in fields if v is not None))
        for taint in taints:
            if isinstance(taint.get('timeAdded'), datetime.datetime):
                taint['timeAdded'] = taint['timeAdded'].astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        ready = None
        for condition in (node.status.conditions or ()) if node.status else ():
            if condition.type == 'Ready':
                ready = condition.status == 'True'
        annotations = node.metadata.annotations or {}
        return dict(exists=True, tainted=any(is_fence_taint(t) for t in taints),
                    record=parse_record(annotations.get(ANNOTATION)), ready=ready, taints=taints,
                    uid=node.metadata.uid, resource_version=node.metadata.resource_version)

    def observe(self, name):
        view = self._view(self._read(name))
        if view['exists']:
            view['pods'] = len(self.pods_on(name))
            view.update(self.lease(name))
        return view

    def lease(self, name):
        """lease_age (seconds since the node's Lease in kube-node-lease was renewed) and lease_fresh (younger than
        ``stale_after``); both None when that cannot be told - no Lease API, no Lease, no renewTime, or a read
        error (then also lease_error): the node is then judged by its BMC alone, as before Leases were read."""
        unknown = dict(lease_age=None, lease_fresh=None, lease_error=None)
        if self.leases is None:
            return unknown
        try:
            lease = self.leases.read_namespaced_lease(name, LEASE_NAMESPACE, _request_timeout=self.timeout)
        except ApiException as exc:
            if getattr(exc, 'status', None) == 404:
                return unknown
            return dict(unknown, lease_error=_api_error(exc))
        except Exception as exc:  # connection refused, timeout: urllib3 errors
            return dict(unknown, lease_error=_api_error(exc))
        renewed = lease.spec.renew_time if lease.spec is not None else None
        if renewed is None:
            return unknown
        age = round(self.now() - epoch_seconds(renewed), 1)
        return dict(lease_age=age, lease_fresh=age < self.stale_after, lease_error=None)

    def pods_on(self, name):
        """[(namespace, name, uid)] of the pods bound to Node ``name``."""
        try:
            pods = self.api.list_pod_for_all_namespaces(field_selector='spec.nodeName=%s' % name,
                                                        _request_timeout=self.timeout)
        except Exception as exc:
            raise FenceError('cannot list the pods of Node %s on %s: %s' % (name, self.where, _api_error(exc)))
        return [(pod.metadata.namespace, pod.metadata.name, pod.metadata.uid) for pod in pods.items]

    def release(self, name):
        """Delete the pods bound to Node ``name`` at once (grace period 0, the UID as precondition, so a
        replacement with the same name is never hit). Only called for a node that is verified off and marked
        out of service. Returns 'namespace/name' of each pod deleted."""
        released = []
        for namespace, pod, uid in self.pods_on(name):
            body = k8s_client.V1DeleteOptions(grace_period_seconds=0,
                                              preconditions=k8s_client.V1Preconditions(uid=uid))
            try:
                self.api.delete_namespaced_pod(pod, namespace, body=body, grace_period_seconds=0,
                                               _request_timeout=self.timeout)
            except ApiException as exc:
                if getattr(exc, 'status', None) in (404, 409):  # gone already, or replaced (other UID)
                    continue
                raise FenceError('cannot delete pod %s/%s of fenced Node %s on %s: %s' % (
                    namespace, pod, name, self.where, _api_error(exc)))
            except Exception as exc:
                raise FenceError('cannot delete pod %s/%s of fenced Node %s on %s: %s' % (
                    namespace, pod, name, self.where, _api_error(exc)))
            released.append('%s/%s' % (namespace, pod))
        return released

    def _patch(self, name, change):
        """Read, change, patch with the read resourceVersion (a conflict re-reads); the view afterwards."""
        for attempt in range(3):
            view = self.observe(name)
            if not view['exists']:
                raise FenceError('Node %s disappeared from %s while it was being changed.' % (name, self.where))
            body = change(view)
            if body is None:
                return view
            body.setdefault('metadata', {})['resourceVersion'] = view['resource_version']
            try:
                # Strategic merge: spec.taints has no merge key, so the list sent replaces the node's.
                node = self.api.patch_node(name, body, _request_timeout=self.timeout,
                                           _content_type='application/strategic-merge-patch+json')
                return self._view(node)
            except ApiException as exc:
                if getattr(exc, 'status', None) == 409 and attempt < 2:
                    continue
                raise FenceError('cannot update Node %s on %s: %s' % (name, self.where, _api_error(exc)))
            except Exception as exc:
                raise FenceError('cannot update Node %s on %s: %s' % (name, self.where, _api_error(exc)))
        raise FenceError('Node %s kept changing on %s: gave up after 3 tries.' % (name, self.where))  # pragma: no cover

    def taint(self, name, at):
        def change(view):
            if view['tainted']:
                return None
            return dict(spec=dict(taints=with_fence_taint(view['taints'], at)))
        return self._patch(name, change)

    def untaint(self, name):
        def change(view):
            if not view['tainted']:
                return None
            return dict(spec=dict(taints=without_fence_taint(view['taints'])))
        return self._patch(name, change)

    def annotate(self, name, record):
        value = json.dumps(record, sort_keys=True, separators=(',', ':'))
        return self._patch(name, lambda view: dict(metadata=dict(annotations={ANNOTATION: value})))

    def unannotate(self, name):
        def change(view):
            if view['record'] is None:
                return None
            return dict(metadata=dict(annotations={ANNOTATION: None}))  # null deletes the key
        return self._patch(name, change)

    def event(self, name, reason, message, uid=None, event_type='Warning'):
        now = utc_now()
        body = dict(
            apiVersion='v1', kind='Event',
            metadata=dict(name='%s.%x' % (name, time.time_ns()), namespace=EVENT_NAMESPACE),
            involvedObject=dict(apiVersion='v1', kind='Node', name=name, uid=uid),
            reason=reason, message=message, type=event_type, count=1,
            firstTimestamp=now, lastTimestamp=now,
            source=dict(component=RECORDED_BY), reportingComponent=RECORDED_BY,
            reportingInstance=socket.gethostname())
        try:
            self.api.create_namespaced_event(EVENT_NAMESPACE, body, _request_timeout=self.timeout,
                                             _content_type='application/json')
        except Exception as exc:
            raise FenceError('cannot record the %s Event of Node %s on %s: %s' % (
                reason, name, self.where, _api_error(exc)))


# ---------------------------------------------------------------------------------------------
# Runners: what the modules call
# ---------------------------------------------------------------------------------------------

def run_parallel(items, work):
    """work(item) for every item in threads; results in order. Exceptions are returned, not raised."""
    results = [None] * len(items)

    def run(index, item):
        try:
            results[index] = work(item)
        except Exception as exc:  # handed back to the caller, which turns it into a FenceError
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, item), name='twinroom-fence-%d' % i)
               for i, item in enumerate(items)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _raise_first(results):
    for result in results:
        if isinstance(result, FenceError):
            raise result
        if isinstance(result, Exception):
            raise FenceError(str(result) or result.__class__.__name__)


def watch_leases(recorder, names, limit, clock=time.monotonic, sleep=time.sleep, interval=1.0, want_fresh=False):
    """Read the Leases of ``names`` until none is fresh (or, with ``want_fresh``, none is stale) or ``limit``
    seconds have passed.

    Returns {name: the last reading (see NodeRecorder.lease) plus lease_waited, the seconds watched until then}."""
    started = clock()
    last, pending = {}, list(names)
    while pending:
        waited = round(clock() - started, 1)
        for name in pending:
            last[name] = dict(recorder.lease(name), lease_waited=waited)
        pending = [name for name in pending if bool(last[name].get('lease_fresh')) != want_fresh]
        if not pending or clock() - started >= limit:
            break
        sleep(interval)
    return last


def _rewatch_leases(recorder, observed, names, limit, clock, sleep, want_fresh=False):
    """watch_leases for ``names``, each last reading written into its entry of ``observed`` (in place)."""
    by_name = dict((entry['name'], entry) for entry in observed)
    for name, lease in watch_leases(recorder, names, limit, clock=clock, sleep=sleep, want_fresh=want_fresh).items():
        by_name[name].update(lease)


UNFENCE_LEASE_WAIT = 90  # s a tainted node may take, after it is powered on, to renew its lease before unfencing


def _stale_after(params):
    return params.get('lease_stale_after') or LEASE_STALE_AFTER


def _request(params):
    out_of_service = params.get('out_of_service')
    return dict(state=params.get('state') or 'fenced', room=params.get('room'),
                confirm_room_down=bool(params.get('confirm_room_down')),
                out_of_service=True if out_of_service is None else bool(out_of_service),
                release_pods=params.get('release_pods') is not False)


def make_agents(params, executor=None, probe=None):
    """A FenceAgent per node of ``params['nodes']``, keyed by node name."""
    return dict((node['name'], FenceAgent(params.get('fence_method') or 'redfish', bmc_settings(params, node),
                                          bmc_timeout=params.get('bmc_timeout') or 10, executor=executor,
                                          probe=probe))
                for node in params['nodes'])


def observe(params, recorder, agents, with_bmc=True):
    """(observations, api_error): the BMCs in parallel (bounded), then the API (``recorder`` None: not asked).

    When the API cannot be read, api_error is its FenceError and the observations hold the BMC part only,
    so the caller can still give the BMC's answer, which matters more.
    """
    names = [node['name'] for node in params['nodes']]
    duplicates = sorted(set(name for name in names if names.count(name) > 1))
    if duplicates:
        raise FenceError('nodes names %s more than once.' % _join(duplicates))
    bindings = bmc_identity.read_record(params.get('bmc_bindings')) if with_bmc else {}

    def ask(name):
        status = agents[name].status()
        machine = (bindings.get(name) or {}).get('machine_id')
        if machine and status['reachable']:
            # Which machine that BMC controls: its power state only counts if it is this node's.
            status = dict(status, machine_id=machine, bmc_identity=agents[name].identity())
        return status

    statuses = run_parallel(names, ask) if with_bmc else [None] * len(names)
    _raise_first(statuses)
    observed, api_error = [], None
    for name, status in zip(names, statuses):
        entry = dict(name=name)
        if status is not None:
            entry.update(bmc=agents[name].where, bmc_reachable=status['reachable'],
                         power_state=status['power_state'], bmc_error=status['error'],
                         machine_id=status.get('machine_id'), bmc_identity=status.get('bmc_identity'))
        if recorder is not None and api_error is None:
            try:
                entry.update(recorder.observe(name))
            except FenceError as exc:
                api_error = exc
        observed.append(entry)
    return observed, api_error


def _public(observed):
    keys = ('name', 'bmc', 'bmc_reachable', 'power_state', 'bmc_error', 'machine_id', 'bmc_identity', 'exists',
            'tainted', 'record', 'ready', 'lease_age')
    return dict((node['name'], dict((key, node.get(key)) for key in keys if key != 'name')) for node in observed)


def _diff_view(node):
    return dict(power_state=node.get('power_state'), tainted=node.get('tainted'), record=node.get('record'))


def _fenced_message(method, at, record):
    if method == 'confirmed-down':
        return ('Fenced at %s by twinroom.ha.fence: BMC did not answer; the room is confirmed down (by the %s). '
                'Out-of-service taint set.' % (at, record.get('confirmed_by') or 'operator'))
    return 'Fenced at %s by twinroom.ha.fence: powered off through its BMC, verified off. Out-of-service taint set.' % at


def run_fence(params, check_mode=False, diff=False, recorder=None, executor=None, probe=None,
              clock=time.monotonic, sleep=time.sleep):
    """Read state, decide, and (unless ``check_mode``) apply. Returns the module result.

    ``recorder`` (a :class:`NodeRecorder`), ``executor`` and ``probe`` (see :class:`FenceAgent`) can be
    replaced in tests.
    """
    started = clock()
    request = _request(params)
    fencing = request['state'] == 'fenced'
    if fencing:
        check_bmc_settings(params)
    marking = not fencing or request['out_of_service']
    if marking:
        recorder = recorder or NodeRecorder(params.get('kubeconfig'), params.get('context'),
                                            timeout=params.get('api_timeout') or API_TIMEOUT,
                                            stale_after=_stale_after(params))
    else:
        recorder = None  # power only: the API is not asked
    agents = make_agents(params, executor, probe)
    observed, api_error = observe(params, recorder, agents, with_bmc=fencing)
    if fencing and recorder is not None and api_error is None:
        # A node reported off (or behind a dark BMC) whose lease is still fresh may have lost power a moment ago:
        # watch its lease until it goes stale. One that keeps renewing it runs, and decide refuses it.
        suspect = [entry['name'] for entry in observed if _renews_lease_yet_off(normalize_observed(entry))]
        _rewatch_leases(recorder, observed, suspect, 2 * _stale_after(params), clock, sleep)
    if not fencing and api_error is None:
        # A node just powered on may not have renewed its lease yet (its Ready condition can still say True from
        # before it lost power): give it time to, bounded; one that stays stale is refused by decide.
        stale = [entry['name'] for entry in observed
                 if entry.get('tainted') and entry.get('lease_fresh') is False]
        _rewatch_leases(recorder, observed, stale, UNFENCE_LEASE_WAIT, clock, sleep, want_fresh=True)
    by_name = dict((node['name'], node) for node in observed)
    try:
        plans = decide(observed, request)
    except FenceError as exc:
        # A BMC refusal stands even when the API could not be read: it needs the operator, the API does not.
        exc.details.setdefault('nodes', _public(observed))
        if api_error is not None:
            exc.details.setdefault('api_error', api_error.msg)
        raise
    if api_error is not None:
        raise api_error
    warnings = []
    for node in observed:
        if node.get('lease_error'):
            warnings.append('the Lease of Node %s could not be read from %s (%s): it was judged by its BMC alone'
                            % (node['name'], recorder.where, node['lease_error']))
        if not node.get('exists', True):
            warnings.append('Node %s does not exist in %s: %s' % (
                node['name'], recorder.where,
                'only its power was handled, nothing to taint' if fencing else 'nothing to unfence'))

    results = dict((plan['name'], dict(
        fenced=plan['fenced'], method=plan['method'], power_state=plan['power_state'], changed=plan['changed'],
        plan=list(plan['steps']), fenced_at=(by_name[plan['name']].get('record') or {}).get('at') if fencing else None,
        seconds=None, released=[])) for plan in plans)
    result = dict(changed=any(plan['changed'] for plan in plans), nodes=results, room=request['room'],
                  warnings=warnings)
    if diff:
        before = dict((node['name'], _diff_view(node)) for node in observed)
        result['diff'] = dict(before=before, after=_predicted_after(before, plans, request))
    if check_mode or not result['changed']:
        result['elapsed'] = round(clock() - started, 2)
        return result

    confirmation = confirmed_by(request)
    powered = [plan for plan in plans if 'power_off' in plan['steps']]

    def power_off(plan):
        agent = agents[plan['name']]
        t0 = clock()
        ok, message = agent.power('off', params['timeout'])
        off, last, _waited = agent.wait_off(max(0, params['timeout'] - (clock() - t0)), clock=clock, sleep=sleep)
        return dict(off=off, agent_ok=ok, agent_message=message, last=last, seconds=round(clock() - t0, 2))

    outcomes = dict(zip([plan['name'] for plan in powered], run_parallel(powered, power_off)))
    # A node whose lease was fresh is counted as fenced only once its lease has gone stale after the power-off:
    # one that keeps renewing it still runs, and the BMC that was used is not its own.
    verified = [name for name, outcome in outcomes.items() if not isinstance(outcome, Exception) and outcome['off']
                and 'verify_lease_stale' in next(plan['steps'] for plan in plans if plan['name'] == name)]
    leases = watch_leases(recorder, verified, 2 * _stale_after(params), clock=clock, sleep=sleep) if verified else {}
    failures, api_failed = [], None
    for plan in plans:
        name = plan['name']
        entry = results[name]
        outcome = outcomes.get(name)
        if isinstance(outcome, Exception):
            failures.append('%s: %s' % (name, getattr(outcome, 'msg', None) or outcome))
            entry.update(fenced=False, power_state='unknown', changed=True)
            continue
        if outcome is not None:
            entry['seconds'] = outcome['seconds']
            if not outcome['off']:
                last = outcome['last']
                entry.update(fenced=False, power_state=last['power_state'], changed=True)
                failures.append(
                    'power-off of node %s was sent to BMC %s (agent said: %s) but it still reports power %s%s after '
                    '%ss: not tainted. Check the node and its BMC.' % (
                        name, agents[name].where, outcome['agent_message'] or 'nothing', last['power_state'].upper(),
                        ' (%s)' % last['error'] if last.get('error') else '', params['timeout']))
                continue
        if leases.get(name, {}).get('lease_fresh'):
            entry.update(fenced=False, changed=True)
            failures.append(still_renewing(name, agents[name].where, leases[name]['lease_age'],
                                           leases[name]['lease_waited']))
            continue
        at = utc_now()
        if 'annotate' in plan['steps'] or 'power_off' in plan['steps']:
            entry['fenced_at'] = at
        uid = by_name[name].get('uid')
        record = fence_record(at, plan['method'], request['room'], confirmation) if fencing else None
        api_steps = [step for step in plan['steps'] if step not in ('power_off', 'verify_off')]
        if api_steps and api_failed:
            entry['fenced'] = False if fencing else entry['fenced']
            failures.append('Node %s was not %s either.' % (name, 'marked out of service' if fencing else 'unfenced'))
            continue
        try:
            for step in plan['steps']:
                if step == 'taint':
                    recorder.taint(name, at)
                elif step == 'release':
                    pass  # below, once every node of the request is tainted
                elif step == 'untaint':
                    recorder.untaint(name)
                elif step == 'annotate':
                    recorder.annotate(name, record)
                elif step == 'unannotate':
                    recorder.unannotate(name)
                elif step == 'event':
                    if fencing:
                        recorder.event(name, 'Fenced', _fenced_message(plan['method'], at, record), uid)
                    else:
                        recorder.event(name, 'Unfenced', 'Unfenced at %s by twinroom.ha.fence: out-of-service taint '
                                                         'and fencing record removed.' % at, uid, event_type='Normal')
        except FenceError as exc:
            api_failed = exc
            entry['fenced'] = False if fencing else entry['fenced']
            failures.append(exc.msg)
            if fencing and plan['method'] == 'bmc' and entry['power_state'] == 'off':
                failures.append(
                    'Node %s is powered off (verified through its BMC) but not marked out of service. Run again once '
                    'the API server accepts writes (with synchronous replication, after the datastore takeover), or '
                    'fence with out_of_service: false first.' % name)
    if fencing and not api_failed and any('release' in plan['steps'] for plan in plans):
        fenced = [plan['name'] for plan in plans if results[plan['name']]['fenced'] and by_name[plan['name']].get('exists')]
        try:
            for name, pods in release_pods(recorder, fenced, clock=clock, sleep=sleep).items():
                results[name]['released'] = pods
        except FenceError as exc:
            failures.append(exc.msg)
    if diff and recorder is not None:
        after_observed = [dict(by_name[n], **recorder.observe(n)) for n in by_name if by_name[n]['exists']]
        for node in after_observed:
            node['power_state'] = results[node['name']]['power_state']
            result['diff']['after'][node['name']] = _diff_view(node)
    result['elapsed'] = round(clock() - started, 2)
    if failures:
        text = ' '.join(f if f.endswith('.') else f + '.' for f in failures)
        raise FenceError(text, nodes=results, elapsed=result['elapsed'], changed=True)
    return result


def release_pods(recorder, names, settle=2.0, limit=15.0, clock=time.monotonic, sleep=time.sleep):
    """Delete the pods bound to the fenced, tainted nodes ``names``, in rounds, until a round finds none
    and ``settle`` seconds have passed. Returns {node: ['namespace/pod', ...]}.

    Rounds, because a controller recreates a deleted pod at once and a scheduler that has not seen the new
    taint yet may bind the replacement to a fenced node again (it never runs there: the node is off). Once the
    scheduler sees the taints it places them in the surviving room. Bounded by ``limit`` seconds.
    """
    released = dict((name, []) for name in names)
    started = clock()
    while True:
        found = False
        for name in names:
            pods = recorder.release(name)
            released[name].extend(pods)
            found = found or bool(pods)
        elapsed = clock() - started
        if (not found and elapsed >= settle) or elapsed >= limit:
            return released
        sleep(0.5)


def _predicted_after(before, plans, request):
    after = copy.deepcopy(before)
    for plan in plans:
        view = after[plan['name']]
        view['power_state'] = plan['power_state']
        steps = plan['steps']
        if 'taint' in steps:
            view['tainted'] = True
        if 'untaint' in steps:
            view['tainted'] = False
        if 'annotate' in steps:
            view['record'] = fence_record('(at fencing time)', plan['method'], request['room'], confirmed_by(request))
        if 'unannotate' in steps:
            view['record'] = None
    return after


def run_fence_info(params, recorder=None, executor=None, probe=None):
    """Everything the info module reports; changes nothing."""
    with_bmc = any(node.get('bmc_address') for node in params['nodes'])
    recorder = recorder or NodeRecorder(params.get('kubeconfig'), params.get('context'),
                                        timeout=params.get('api_timeout') or API_TIMEOUT)
    agents = make_agents(params, executor, probe)
    if with_bmc:
        check_bmc_settings(params)
    observed, api_error = observe(params, recorder, agents, with_bmc=with_bmc)
    # An API server that cannot be read (its datastore primary was in the lost room) leaves the BMCs'
    # answers just as true: report them, with the API's fields unknown and the reason.
    nodes = {}
    for node in observed:
        record = (node.get('record') or None) if api_error is None else None
        known = api_error is None
        nodes[node['name']] = dict(
            bmc=node.get('bmc'), bmc_reachable=node.get('bmc_reachable'), power_state=node.get('power_state'),
            bmc_error=node.get('bmc_error'), exists=node.get('exists') if known else None,
            ready=node.get('ready') if known else None, tainted=node.get('tainted') if known else None,
            record=record, fenced=bool(record and node.get('tainted')) if known else None)
    return dict(changed=False, nodes=nodes, api_error=api_error.msg if api_error is not None else None)
