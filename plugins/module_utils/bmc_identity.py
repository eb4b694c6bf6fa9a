# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which machine a BMC belongs to, and whether that is the node it is configured for.

A copy-pasted BMC address would power off the wrong machine, "verify" it off, and then the right node would be
tainted and its pods force-deleted while it still runs. So each node is bound to its machine: the machine's
own UUID (SMBIOS, ``/sys/class/dmi/id/product_uuid`` on the node) is recorded by ``site.yml`` after the BMC
reported the same UUID (Redfish ``System.UUID``; IPMI ``Get System GUID``), and fencing refuses a BMC that
reports another machine.

Pure comparison here, plus the two reads (Redfish over HTTPS, IPMI through ipmitool).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import tempfile

from ansible_collections.twinroom.ha.plugins.module_utils.module_run import TwinroomError

_HEX = re.compile(r'^[0-9a-f]{32}$')


class BmcIdentityError(TwinroomError):
    """A BMC's identity could not be read, or does not match its node."""


def normalize(value):
    """A UUID as 32 lowercase hex digits, or None for no usable value (empty, all zeros, all F)."""
    text = re.sub(r'[^0-9a-fA-F]', '', str(value or '')).lower()
    if not _HEX.match(text) or set(text) in ({'0'}, {'f'}):
        return None
    return text


def _smbios_swapped(hex32):
    """The other byte order of the first three fields: SMBIOS stores them little-endian, and tools differ in
    which order they print (dmidecode, the kernel, ipmitool and Redfish services do not agree)."""
    def swap(part):
        return ''.join(reversed([part[i:i + 2] for i in range(0, len(part), 2)]))
    return swap(hex32[0:8]) + swap(hex32[8:12]) + swap(hex32[12:16]) + hex32[16:]


def same_machine(first, second):
    """True when two UUID strings name the same machine (either SMBIOS byte order)."""
    a, b = normalize(first), normalize(second)
    return a is not None and b is not None and (a == b or a == _smbios_swapped(b))


def pretty(value):
    text = normalize(value)
    if text is None:
        return str(value)
    return '%s-%s-%s-%s-%s' % (text[0:8], text[8:12], text[12:16], text[16:20], text[20:])


def check_bindings(nodes, machine_ids, identities):
    """Bindings to record, or a BmcIdentityError naming every node whose BMC reports another machine.

    nodes: [names]; machine_ids: {node: UUID read on the node}; identities: {node: UUID its BMC reports, or an
    error text under key 'error'}. Returns {node: {machine_id, bmc_identity}}.
    """
    problems, bindings = [], {}
    claimed = {}
    for name in nodes:
        mine = machine_ids.get(name)
        seen = identities.get(name) or {}
        if normalize(mine) is None:
            problems.append('node %s reports no machine UUID (%r): cannot bind it to its BMC' % (name, mine))
            continue
        if seen.get('error'):
            problems.append('the BMC of node %s did not report its machine: %s' % (name, seen['error']))
            continue
        if not same_machine(mine, seen.get('uuid')):
            owner = next((other for other, uuid in machine_ids.items() if other != name
                          and same_machine(uuid, seen.get('uuid'))), None)
            problems.append('the BMC configured for node %s reports machine %s, but %s is machine %s%s' % (
                name, pretty(seen.get('uuid')), name, pretty(mine),
                (' - that BMC belongs to node %s' % owner) if owner else ''))
            continue
        if normalize(mine) in claimed:
            problems.append('nodes %s and %s report the same machine UUID %s'
                            % (claimed[normalize(mine)], name, pretty(mine)))
            continue
        claimed[normalize(mine)] = name
        bindings[name] = dict(machine_id=pretty(mine), bmc_identity=pretty(seen.get('uuid')))
    if problems:
        raise BmcIdentityError(
            'Refusing to bind nodes to their BMCs: %s. Fencing through a BMC that belongs to another machine would '
            'power off the wrong one; check twinroom_bmc_address, twinroom_bmc_port and twinroom_bmc_systems_uri of '
            'those nodes.' % '; '.join(problems))
    return bindings


def check_fence_target(name, recorded, reported, where):
    """Before a power-off: None when the BMC reports the machine recorded for ``name``; else the refusal text.

    recorded: the machine UUID site.yml bound to the node (None: no binding recorded); reported: what the BMC
    reports now ({'uuid'} or {'error'}).
    """
    if recorded is None:
        return None
    reported = reported or {}
    if reported.get('error'):
        return ('the BMC %s of node %s does not say which machine it controls (%s), so it cannot be told from '
                'another machine\'s BMC' % (where, name, reported['error']))
    if not same_machine(recorded, reported.get('uuid')):
        return ('the BMC %s of node %s reports machine %s, but %s is machine %s (bound by site.yml): it is another '
                'machine\'s BMC. Check twinroom_bmc_address of %s' % (
                    where, name, pretty(reported.get('uuid')), name, pretty(recorded), name))
    return None


# ---------------------------------------------------------------------------------------------
# I/O: what a BMC says it is
# ---------------------------------------------------------------------------------------------

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
    if not normalize(system.get('UUID')):
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
    if proc.returncode != 0 or not match or not normalize(match.group(1)):
        text = (proc.stderr or proc.stdout).strip().splitlines()
        return dict(error='ipmitool mc guid failed (exit %s): %s' % (proc.returncode, text[-1] if text else 'no output'))
    return dict(uuid=match.group(1))


def read_identity(method, bmc, timeout):
    """What the BMC of one node (fence's bmc settings dict) says it is."""
    if method == 'ipmi':
        return ipmi_identity(bmc['address'], bmc['port'], bmc['username'], bmc['password'], timeout)
    return redfish_identity(bmc['address'], bmc['port'], bmc['systems_uri'], bmc['username'], bmc['password'],
                            bmc['validate_certs'], timeout)


# ---------------------------------------------------------------------------------------------
# I/O: the bindings file on the controller
# ---------------------------------------------------------------------------------------------

def read_record(path):
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path) as stream:
            return json.load(stream)
    except ValueError as exc:
        raise BmcIdentityError('the BMC bindings in %s are not valid JSON (%s): run site.yml to record them '
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
