# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the twinroom inventory model (docs/inventory-model.md), as pure functions.

The input is what Ansible knows about the inventory, already reduced to plain data:

* ``groups``: group name -> list of host names (Ansible's ``groups`` magic variable);
* ``hostvars``: host name -> dict of the variables listed in :data:`VARIABLES` (plus any extra
  required ones). A variable Ansible could not evaluate is passed as an :class:`Unreadable` value.

:func:`check_inventory` returns every :class:`Violation`; nothing here reads files or talks to hosts. The shared
view of the inventory is inventory_model.py; the site rules (stand-ins, downloads) are inventory_site.py.
"""

from __future__ import annotations

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.twinroom.ha.plugins.module_utils import failover_settings, inventory_model as model
from ansible_collections.twinroom.ha.plugins.module_utils.inventory_model import (
    ALL_ROOM_NODES, CONTROL_PLANE, WITNESS, WORKERS, Unreadable)
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import BMC_DEFAULT_PORTS, ROOMS, join_words

FENCE_METHODS = ('redfish', 'ipmi')
FENCE_METHODS_WITH_BMC = ('redfish', 'ipmi')
# Refused: twinroom.ha.fence (which failover.yml and recover.yml call) fences only through a BMC, so a failover
# with this value would stop at its fence step. A room whose BMCs are dark is fenced with redfish or ipmi and the
# operator's typed confirmation (failover.yml -e confirm_room_down=true).
FENCE_METHOD_NONE = 'none'
REDFISH_SYSTEMS_PREFIX = '/redfish/v1/Systems/'

# The inventory variables the rules read; nothing else (secrets in particular) is ever evaluated.
VARIABLES = (
    'twinroom_zone',
    'twinroom_fence_method',
    'twinroom_witness_enabled',
    'twinroom_bmc_address',
    'twinroom_bmc_port',
    'twinroom_bmc_systems_uri',
) + failover_settings.INVENTORY_VARIABLES  # rule automatic-failover (inventory_failover.py)

# Value syntax of a Kubernetes label (the zone becomes topology.kubernetes.io/zone).
_LABEL_VALUE = re.compile(r'^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')


def _check_rooms(layout):
    violations = []
    for room in ROOMS:
        if not layout.room_defined[room]:
            violations.append(model.violation(
                'room-not-empty', room,
                'group %s is not in the inventory. Add group %s with every node of that room.' % (room, room)))
        elif not layout.room[room]:
            violations.append(model.violation(
                'room-not-empty', room,
                'group %s has no hosts. Add every node of that room to group %s.' % (room, room)))
    return violations


def _check_control_plane(layout):
    violations = []
    for room in ROOMS:
        if not layout.room[room]:
            continue  # already reported by room-not-empty
        members = [host for host in layout.room[room] if host in layout.control_plane]
        if not members:
            violations.append(model.violation(
                'one-control-plane-per-room', room,
                'no host of %s is in group %s. Put exactly one node of each room in %s.'
                % (room, CONTROL_PLANE, CONTROL_PLANE)))
        elif len(members) > 1:
            violations.append(model.violation(
                'one-control-plane-per-room', room,
                '%d hosts of %s are in group %s (%s). Keep exactly one node of each room in %s '
                'and move the others to %s.'
                % (len(members), room, CONTROL_PLANE, model.names(members), CONTROL_PLANE, WORKERS)))
    return violations


def _check_room_exclusive(layout):
    return [model.violation(
        'room-exclusive', host,
        '%s is in both %s and %s. Remove it from the group of the room where it does not stand.'
        % (host, ROOMS[0], ROOMS[1]))
        for host in layout.in_both_rooms]


def _check_node_in_room(layout):
    violations = []
    in_a_room = set(layout.room[ROOMS[0]]) | set(layout.room[ROOMS[1]])
    for host in model.unique(layout.control_plane + layout.workers):
        if host in in_a_room:
            continue
        groups = [group for group, members in ((CONTROL_PLANE, layout.control_plane), (WORKERS, layout.workers))
                  if host in members]
        violations.append(model.violation(
            'node-in-room', host,
            '%s is in %s %s but in neither %s nor %s. Add %s to the group of the room where it stands.'
            % (host, 'groups' if len(groups) > 1 else 'group', ' and '.join(groups), ROOMS[0], ROOMS[1], host)))
    return violations


def _check_zones(layout, hostvars):
    violations = []
    zone_of_room = {}
    for room in ROOMS:
        nodes = layout.zone_nodes(room)
        if not nodes:
            continue
        missing = [host for host in nodes if model.value(hostvars, host, 'twinroom_zone') is None]
        values = model.by_value(nodes, hostvars, 'twinroom_zone')
        if missing:
            what = room if len(missing) == len(nodes) else model.names(missing)
            violations.append(model.violation(
                'zone-per-room', room,
                'twinroom_zone is not set for %s. Set twinroom_zone once for the room in group_vars/%s, '
                'e.g. twinroom_zone: %s.' % (what, room, room.replace('_', '-'))))
        if len(values) > 1:
            violations.append(model.violation(
                'zone-per-room', room,
                'the nodes of %s do not agree on twinroom_zone: %s. Set twinroom_zone once for the room '
                'in group_vars/%s and remove the per-host values.'
                % (room, '; '.join("'%s' (%s)" % (value, model.names(hosts)) for value, hosts in values), room)))
        for value, hosts in values:
            if not isinstance(value, str) or not _LABEL_VALUE.match(value):
                violations.append(model.violation(
                    'zone-per-room', room,
                    "twinroom_zone '%s' is not a valid Kubernetes label value (at most 63 letters, digits, "
                    "'-', '_' or '.', beginning and ending with a letter or digit). Set a valid value in "
                    "group_vars/%s." % (value, room)))
        if not missing and len(values) == 1:
            zone_of_room[room] = values[0][0]
    if len(zone_of_room) == len(ROOMS) and zone_of_room[ROOMS[0]] == zone_of_room[ROOMS[1]]:
        violations.append(model.violation(
            'zone-per-room', '%s, %s' % ROOMS,
            "both rooms have twinroom_zone '%s'. Give each room its own value in group_vars/%s and "
            "group_vars/%s." % (zone_of_room[ROOMS[0]], ROOMS[0], ROOMS[1])))
    return violations


def _fence_method(hostvars, host):
    return model.value(hostvars, host, 'twinroom_fence_method')


def _check_fence_method(layout, hostvars):
    violations = []
    nodes = layout.room_nodes
    missing = [host for host in nodes if _fence_method(hostvars, host) is None]
    if missing:
        violations.append(model.violation(
            'fence-method', model.subject(missing, nodes),
            'twinroom_fence_method is not set. Set it in group_vars/all to one of %s.' % ', '.join(FENCE_METHODS)))
    for value, hosts in model.by_value(nodes, hostvars, 'twinroom_fence_method'):
        if value in FENCE_METHODS:
            continue
        subject = model.subject(hosts, nodes)
        if subject == ALL_ROOM_NODES:
            where = 'Set it in group_vars/all.'
        else:
            where = ('Correct it where it is set for %s (host_vars, hosts.yml or the group_vars of its room), '
                     'or remove it there so that group_vars/all applies.' % model.names(hosts))
        if value == FENCE_METHOD_NONE:
            text = ("twinroom_fence_method is 'none', which failover.yml cannot carry out: twinroom.ha.fence fences "
                    "only through a BMC (%s), so a failover would stop at its fence step. Use %s with each node's BMC "
                    "(twinroom_bmc_address); when a lost room's BMCs do not answer, failover.yml fences it on your "
                    "typed confirmation that the room is dark (-e confirm_room_down=true). %s"
                    % (', '.join(FENCE_METHODS), ' or '.join(FENCE_METHODS), where))
        else:
            text = "twinroom_fence_method is '%s'; it must be one of %s. %s" % (value, ', '.join(FENCE_METHODS), where)
        violations.append(model.violation('fence-method', subject, text))
    valid = sorted((value, hosts) for value, hosts in model.by_value(nodes, hostvars, 'twinroom_fence_method')
                   if value in FENCE_METHODS)
    if len(valid) > 1:
        # failover.yml and recover.yml fence and power on a whole room with one method: a host's own value would be
        # accepted here and then ignored.
        violations.append(model.violation(
            'fence-method-uniform', model.subject([h for _value, hosts in valid for h in hosts], nodes),
            'twinroom_fence_method differs between room nodes (%s): the failover fences a room with one method. Set '
            'it once, in group_vars/all, and remove the other values.'
            % '; '.join('%s: %s' % (value, model.names(hosts)) for value, hosts in valid)))
    return violations


def _systems_uri_valid(uri):
    return isinstance(uri, str) and uri.startswith(REDFISH_SYSTEMS_PREFIX) and len(uri) > len(REDFISH_SYSTEMS_PREFIX)


def _bmc_system(hostvars, host):
    """(method, address, port, systems URI or None) naming the host's BMC system, normalized for comparison;
    None when the host is not fenced through a BMC, or a part is missing, invalid or unreadable (reported by
    fence-method, bmc-address, bmc-systems-uri or variable-evaluates)."""
    method = _fence_method(hostvars, host)
    address = model.value(hostvars, host, 'twinroom_bmc_address')
    port = model.value(hostvars, host, 'twinroom_bmc_port')
    if method not in FENCE_METHODS_WITH_BMC or address is None or isinstance(address, Unreadable) or isinstance(
            port, Unreadable):
        return None
    if port is None:
        port = BMC_DEFAULT_PORTS[method]
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = str(port).strip()
    uri = None
    if method == 'redfish':
        uri = model.value(hostvars, host, 'twinroom_bmc_systems_uri')
        if not _systems_uri_valid(uri):
            return None
        uri = uri.rstrip('/')
    return method, str(address).strip().strip('[]').lower(), port, uri


def _endpoint(address, port):
    return '[%s]:%s' % (address, port) if ':' in address else '%s:%s' % (address, port)


def _check_bmc_unique(layout, hostvars):
    """Two hosts naming the same BMC system: fencing one would power off the other (a copied address).

    Redfish: one BMC (a chassis manager, an emulator) may serve several systems, so address and port may be
    shared when the systems URIs differ. IPMI: one BMC per address and port."""
    order, sharing = [], {}
    for host in layout.room_nodes:
        system = _bmc_system(hostvars, host)
        if system is None:
            continue
        if system not in sharing:
            order.append(system)
            sharing[system] = []
        sharing[system].append(host)
    violations = []
    for system in order:
        hosts = sharing[system]
        if len(hosts) < 2:
            continue
        method, address, port, uri = system
        if method == 'redfish':
            what = 'BMC system %s on %s (redfish)' % (uri, _endpoint(address, port))
            fix = ('Give each host the address of its own BMC in twinroom_bmc_address, or, when one BMC serves '
                   'several nodes, its own system in twinroom_bmc_systems_uri.')
        else:
            what = 'BMC %s (ipmi)' % _endpoint(address, port)
            fix = 'Give each host the address of its own BMC in twinroom_bmc_address.'
        violations.append(model.violation(
            'bmc-unique', model.subject(hosts, layout.room_nodes),
            '%s have the same %s: fencing one would power off the %s. %s'
            % (join_words(hosts), what, 'other' if len(hosts) == 2 else 'others', fix)))
    return violations


def _check_bmc(layout, hostvars):
    address_violations = []
    uri_violations = []
    for host in layout.room_nodes:
        method = _fence_method(hostvars, host)
        if method not in FENCE_METHODS_WITH_BMC:
            continue  # none, or already reported by fence-method
        if model.value(hostvars, host, 'twinroom_bmc_address') is None:
            address_violations.append(model.violation(
                'bmc-address', host,
                'twinroom_fence_method is %s but twinroom_bmc_address is not set. Set twinroom_bmc_address '
                'for %s (host_vars/%s or its entry in hosts.yml).' % (method, host, host)))
        if method != 'redfish':
            continue
        uri = model.value(hostvars, host, 'twinroom_bmc_systems_uri')
        if uri is None:
            uri_violations.append(model.violation(
                'bmc-systems-uri', host,
                'twinroom_fence_method is redfish but twinroom_bmc_systems_uri is not set. Set it for %s to '
                'the node\'s Redfish system path, e.g. %s1 (listed by GET /redfish/v1/Systems on its BMC).'
                % (host, REDFISH_SYSTEMS_PREFIX)))
        elif not isinstance(uri, Unreadable) and not _systems_uri_valid(uri):
            uri_violations.append(model.violation(
                'bmc-systems-uri', host,
                "twinroom_bmc_systems_uri is '%s'; it must be a Redfish system path such as %s1. "
                'Set it for %s to a member of GET /redfish/v1/Systems on its BMC.'
                % (uri, REDFISH_SYSTEMS_PREFIX, host)))
    return address_violations + uri_violations


# The BMC login of every room node. The rule never sees the values (they are secrets, usually from ansible-vault):
# the action plugin hands it the names that are set and, for those that cannot be used, why not.
CREDENTIALS = ('twinroom_bmc_username', 'twinroom_bmc_password')


def check_bmc_credentials(groups, hostvars, credentials_set, unreadable=None):
    """Every room node that is fenced through a BMC has both CREDENTIALS set, and each resolves to a value.

    ``credentials_set``: host -> the names of CREDENTIALS defined for it (not their values).
    ``unreadable``: host -> {name: why it cannot be used}, e.g. a reference to a vault variable the run was not
    given: failover.yml would otherwise stop at the BMC login of the lost room with its output hidden (no_log)."""
    layout = model.Layout(groups)
    missing = {}
    broken = {}
    for host in layout.room_nodes:
        if _fence_method(hostvars, host) not in FENCE_METHODS_WITH_BMC:
            continue  # none, or already reported by fence-method
        absent = tuple(name for name in CREDENTIALS if name not in (credentials_set.get(host) or ()))
        if absent:
            missing.setdefault(absent, []).append(host)
        for name, why in sorted(((unreadable or {}).get(host) or {}).items()):
            if name not in absent:
                broken.setdefault((name, why), []).append(host)
    violations = []
    for (name, why), hosts in sorted(broken.items(), key=lambda item: (CREDENTIALS.index(item[0][0]), item[0][1])):
        subject = model.subject(hosts, layout.room_nodes)
        violations.append(model.violation(
            'bmc-credentials', subject,
            '%s is set but cannot be used (%s): failover.yml, recover.yml and site.yml log in to each node\'s BMC '
            'with it. Give the run the vault that defines it (--ask-vault-pass or --vault-id; in AWX, a Vault '
            'credential or a twinroom BMC credential) or set it for %s.'
            % (name, why, 'every room node' if subject == ALL_ROOM_NODES else model.names(hosts))))
    for absent, hosts in sorted(missing.items()):
        subject = model.subject(hosts, layout.room_nodes)
        where = ('group_vars/all or the group_vars of each room' if subject == ALL_ROOM_NODES
                 else 'the group_vars of its room or host_vars of %s' % model.names(hosts))
        violations.append(model.violation(
            'bmc-credentials', subject,
            '%s %s not set: failover.yml, recover.yml and site.yml log in to each node\'s BMC with '
            'twinroom_bmc_username and twinroom_bmc_password. Set them (with ansible-vault) in %s.'
            % (join_words(absent), 'is' if len(absent) == 1 else 'are', where)))
    return violations


def witness_enabled(groups, hostvars):
    """(enabled, [(bad value, [hosts])]): the witness is enabled when any room node says so."""
    layout = model.Layout(groups)
    enabled = False
    invalid = []
    for value, hosts in model.by_value(layout.room_nodes + layout.witness, hostvars, 'twinroom_witness_enabled'):
        try:
            enabled = boolean(value, strict=True) or enabled
        except TypeError:
            invalid.append((value, hosts))
    return enabled, invalid


def _check_witness(layout, groups, hostvars):
    violations = []
    enabled, invalid = witness_enabled(groups, hostvars)
    for value, hosts in invalid:
        violations.append(model.violation(
            'witness-enabled', model.subject(hosts, layout.room_nodes),
            "twinroom_witness_enabled is '%s'; it must be true or false. Set it in group_vars/all." % (value,)))
    if enabled and not layout.witness:
        violations.append(model.violation(
            'witness-present', WITNESS,
            'twinroom_witness_enabled is true but no host is in group %s. Add the third-site node to group %s, '
            'or set twinroom_witness_enabled: false in group_vars/all.' % (WITNESS, WITNESS)))
    for host in layout.witness:
        for room in ROOMS:
            if host in layout.room[room]:
                violations.append(model.violation(
                    'witness-outside-rooms', host,
                    '%s is in group %s and in %s. The witness stands at a third site, outside both rooms: '
                    'remove %s from %s.' % (host, WITNESS, room, host, room)))
    return violations


def _check_required(layout, hostvars, required_vars):
    violations = []
    for name in model.unique(required_vars):
        missing = [host for host in layout.room_nodes if model.value(hostvars, host, name) is None]
        if not missing:
            continue
        subject = model.subject(missing, layout.room_nodes)
        if subject == ALL_ROOM_NODES:
            where = 'for every room node, per host (host_vars or hosts.yml) or in group_vars'
        else:
            where = 'for %s, in host_vars or the host entries in hosts.yml' % model.names(missing)
        violations.append(model.violation(
            'required-variable', subject,
            '%s is not set (validate_inventory_required_vars lists it). Set it %s.' % (name, where)))
    return violations


def _check_readable(layout, hostvars):
    violations = []
    for host in layout.room_nodes + layout.witness:
        for name, value in sorted((hostvars.get(host) or {}).items()):
            if isinstance(value, Unreadable):
                violations.append(model.violation(
                    'variable-evaluates', host,
                    '%s cannot be evaluated: %s. Define what it refers to, or give it a plain value.'
                    % (name, value.error)))
    return violations


def check_inventory(groups, hostvars, required_vars=()):
    """Every violation of the inventory model, in a stable order (the order of docs/inventory-model.md)."""
    layout = model.Layout(groups)
    violations = []
    violations.extend(_check_readable(layout, hostvars))
    violations.extend(_check_rooms(layout))
    violations.extend(_check_control_plane(layout))
    violations.extend(_check_room_exclusive(layout))
    violations.extend(_check_node_in_room(layout))
    violations.extend(_check_zones(layout, hostvars))
    violations.extend(_check_fence_method(layout, hostvars))
    violations.extend(_check_bmc(layout, hostvars))
    violations.extend(_check_bmc_unique(layout, hostvars))
    violations.extend(_check_witness(layout, groups, hostvars))
    violations.extend(_check_required(layout, hostvars, required_vars or ()))
    return violations


def failure_message(violations):
    lines = ['Inventory is not valid: %d problem(s); nothing was changed.' % len(violations)]
    lines.extend('- %s' % violation.message for violation in violations)
    return '\n'.join(lines)


def summarize(groups, hostvars):
    """What a valid inventory describes: rooms, their nodes, zones, control planes; fencing; witness."""
    layout = model.Layout(groups)
    rooms = {}
    for room in ROOMS:
        nodes = layout.room[room]
        zones = model.by_value(nodes, hostvars, 'twinroom_zone')
        rooms[room] = {
            'zone': zones[0][0] if len(zones) == 1 else None,
            'control_plane': [host for host in nodes if host in layout.control_plane],
            'workers': [host for host in nodes if host in layout.workers],
            'nodes': nodes,
        }
    methods = sorted(set(str(value) for value, hosts
                         in model.by_value(layout.room_nodes, hostvars, 'twinroom_fence_method')))
    return {
        'rooms': rooms,
        'fence_method': ', '.join(methods),
        'witness_enabled': witness_enabled(groups, hostvars)[0],
        'witness': layout.witness,
    }


def summary_message(summary):
    parts = []
    for room in ROOMS:
        info = summary['rooms'][room]
        parts.append('%s (zone %s): %d node(s), control plane %s'
                     % (room, info['zone'], len(info['nodes']), model.names(info['control_plane'])))
    witness = 'on (%s)' % model.names(summary['witness']) if summary['witness_enabled'] else 'off'
    return 'Inventory is valid: %s; fence method %s; witness %s.' % ('; '.join(parts), summary['fence_method'], witness)
