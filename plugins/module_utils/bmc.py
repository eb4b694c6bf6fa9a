# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to reach a BMC: the fence agents, the reachability probes, what a BMC says it is, the bindings file.

:class:`FenceAgent` runs the fence agents Pacemaker and MediK8s use (``fence_redfish``, ``fence_ipmilan``) with
their options on stdin, so the BMC password never shows in a process list. :func:`tcp_answers` (Redfish) and
:func:`rmcp_answers` (IPMI) tell a dark BMC from one that answers. :func:`read_identity` asks a BMC which machine
it controls (Redfish ``System.UUID``; IPMI ``Get System GUID``); :func:`read_record` / :func:`write_record` keep
the bindings site.yml recorded. :func:`run_parallel` asks many BMCs at once.

Layer 1 (access): I/O and its errors, no fencing decision. See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import BMC_DEFAULT_PORTS, TwinroomError

DEFAULT_PORTS = BMC_DEFAULT_PORTS  # the inventory model's (docs/inventory-model.md)
AGENTS = dict(redfish='fence_redfish', ipmi='fence_ipmilan')

# Fence agent exit codes for action=status: 0 powered on, 2 powered off, anything else a failure.
STATUS_ON, STATUS_OFF = 0, 2


class BmcError(TwinroomError):
    """A BMC, its fence agent or the bindings file could not be used."""


# ---------------------------------------------------------------------------------------------
# Shared argument specs (documented by the doc fragments twinroom.ha.fence_bmc and twinroom.ha.kubeconfig):
# every module of the group twinroom.ha.fence takes the BMC options and the API's.
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
        raise BmcError('unknown fence method %r: redfish or ipmi.' % (method,))
    if power_timeout is not None:
        options.append(('power_timeout', int(power_timeout)))
    if login_timeout is not None:
        options.append(('login_timeout', int(login_timeout)))
    options.append(('action', action))
    for key, value in options:
        if '\n' in str(value) or '\r' in str(value):
            raise BmcError('the BMC option %s of %s holds a line break, which the fence agent cannot read.'
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
            raise BmcError('unknown fence method %r: redfish or ipmi.' % (method,))
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
            raise BmcError('%s is not installed on %s: install the fence agents (Debian package fence-agents) '
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
        return read_identity(self.method, self.bmc, self.bmc_timeout)

    def power(self, action, timeout):
        """Run action on|off (the agent waits up to ``timeout`` for the change); (ok, message)."""
        rc, message = self._run(action, timeout + self.bmc_timeout * 3 + 10, power_timeout=timeout)
        return rc == 0, message

    def wait_off(self, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
        """Poll status until OFF; (off, last status, seconds). At least one read, even at timeout 0."""
        return self.wait_for('off', timeout, interval=interval, clock=clock, sleep=sleep)

    def wait_for(self, power_state, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
        """Poll status until it reports ``power_state`` (on|off); (reached, last status, seconds). At least one
        read, even at timeout 0."""
        started = clock()
        while True:
            last = self.status()
            if last['power_state'] == power_state:
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


def make_agents(params, executor=None, probe=None):
    """A FenceAgent per node of ``params['nodes']``, keyed by node name."""
    return dict((node['name'], FenceAgent(params.get('fence_method') or 'redfish', bmc_settings(params, node),
                                          bmc_timeout=params.get('bmc_timeout') or 10, executor=executor,
                                          probe=probe))
                for node in params['nodes'])


def run_parallel(items, work):
    """work(item) for every item in threads; results in order. Exceptions are returned, not raised."""
    results = [None] * len(items)

    def run(index, item):
        try:
            results[index] = work(item)
        except Exception as exc:  # handed back to the caller, which decides what it means
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, item), name='twinroom-fence-%d' % i)
               for i, item in enumerate(items)]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join()
    return results


def read_power(names, agents, bindings=None):
    """What the BMCs of ``names`` say, asked in parallel: [{name, bmc, bmc_reachable, power_state, bmc_error,
    machine_id, bmc_identity}]. ``bindings`` ({node: {machine_id}}, see :func:`read_record`): a bound node whose
    BMC answers is also asked which machine it controls. The first failure to ask is raised."""
    bindings = bindings or {}

    def ask(name):
        status = agents[name].status()
        machine = (bindings.get(name) or {}).get('machine_id')
        if machine and status['reachable']:
            # Which machine that BMC controls: its power state only counts if it is this node's.
            status = dict(status, machine_id=machine, bmc_identity=agents[name].identity())
        return status

    statuses = run_parallel(names, ask)
    for status in statuses:
        if isinstance(status, TwinroomError):
            raise status
        if isinstance(status, Exception):
            raise BmcError(str(status) or status.__class__.__name__)
    return [dict(name=name, bmc=agents[name].where, bmc_reachable=status['reachable'],
                 power_state=status['power_state'], bmc_error=status['error'], machine_id=status.get('machine_id'),
                 bmc_identity=status.get('bmc_identity')) for name, status in zip(names, statuses)]


# ---------------------------------------------------------------------------------------------
# I/O: what a BMC says it is, and the bindings file on the controller
# ---------------------------------------------------------------------------------------------


def _usable_uuid(value):
    """Whether ``value`` holds a usable UUID (32 hex digits, not all zeros or all F), as bmc_identity.normalize
    reads it; comparing two is bmc_identity's."""
    text = re.sub(r'[^0-9a-fA-F]', '', str(value or '')).lower()
    return len(text) == 32 and set(text) not in ({'0'}, {'f'})


def redfish_identity(address, port, systems_uri, username, password, validate_certs=True, timeout=10):
    """{'uuid': ...} from the Redfish System resource, or {'error': text}."""
    from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel

    host = '[%s]' % address if ':' in address and not address.startswith('[') else address
    url = 'https://%s:%s%s' % (host, port, systems_uri)
    try:
        response = open_url(url, method='GET', url_username=username, url_password=password,
                            force_basic_auth=True, validate_certs=validate_certs, timeout=timeout,
                            headers={'Accept': 'application/json'})
        system = json.loads(response.read().decode('utf-8'))
    except Exception as exc:  # pylint: disable=broad-except  # any failure: no identity, with its reason
        return dict(error='GET %s failed: %s' % (systems_uri, exc))
    if not _usable_uuid(system.get('UUID')):
        return dict(error='%s has no UUID' % systems_uri)
    return dict(uuid=system.get('UUID'), serial=system.get('SerialNumber'))


_GUID_LINE = re.compile(r'System GUID\s*:\s*([0-9a-fA-F-]{32,36})')


def ipmi_identity(address, port, username, password, timeout=10, ipmitool='ipmitool'):
    """{'uuid': ...} from IPMI Get System GUID (ipmitool mc guid; the password through the environment)."""
    argv = [ipmitool, '-I', 'lanplus', '-H', address, '-p', str(port), '-U', username, '-E', '-N', '2', '-R', '1',
            'mc', 'guid']
    env = dict(os.environ, IPMI_PASSWORD=password or '', LANG='C', LC_ALL='C')
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(error='ipmitool mc guid: %s' % (exc,))
    match = _GUID_LINE.search(proc.stdout)
    if proc.returncode != 0 or not match or not _usable_uuid(match.group(1)):
        text = (proc.stderr or proc.stdout).strip().splitlines()
        return dict(error='ipmitool mc guid failed (exit %s): %s' % (proc.returncode, text[-1] if text else 'no output'))
    return dict(uuid=match.group(1))


def read_identity(method, bmc, timeout):
    """What the BMC of one node (fence's bmc settings dict) says it is."""
    if method == 'ipmi':
        return ipmi_identity(bmc['address'], bmc['port'], bmc['username'], bmc['password'], timeout)
    return redfish_identity(bmc['address'], bmc['port'], bmc['systems_uri'], bmc['username'], bmc['password'],
                            bmc['validate_certs'], timeout)


def read_record(path):
    """The bindings site.yml recorded ({node: {machine_id, bmc_identity}}); {} when there is no file."""
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path) as stream:
            return json.load(stream)
    except ValueError as exc:
        raise BmcError('the BMC bindings in %s are not valid JSON (%s): run site.yml to record them '
                       'again' % (path, exc))


def write_record(path, record):
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.bmc-bindings.')
    with os.fdopen(fd, 'w') as stream:
        json.dump(record, stream, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)
