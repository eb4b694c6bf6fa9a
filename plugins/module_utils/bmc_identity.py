# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which machine a BMC belongs to, and whether that is the node it is configured for.

A copy-pasted BMC address would power off the wrong machine, "verify" it off, and then the right node would be
tainted and its pods force-deleted while it still runs. So each node is bound to its machine: the machine's
own UUID (SMBIOS, ``/sys/class/dmi/id/product_uuid`` on the node) is recorded by ``site.yml`` after the BMC
reported the same UUID (Redfish ``System.UUID``; IPMI ``Get System GUID``), and fencing refuses a BMC that
reports another machine.

Pure comparison here (layer 2: the machine identity, shared by the fence plan and the bmc_binding runner); the
reads (Redfish over HTTPS, IPMI through ipmitool) and the bindings file are the BMC access layer's, bmc.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError

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
