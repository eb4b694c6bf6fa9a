# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the twinroom inventory model (docs/inventory-model.md), as pure functions.

The input is what Ansible knows about the inventory, already reduced to plain data:

* ``groups``: group name -> list of host names (Ansible's ``groups`` magic variable);
* ``hostvars``: host name -> dict of the variables listed in :data:`VARIABLES` (plus any extra
  required ones). A variable Ansible could not evaluate is passed as an :class:`Unreadable` value.

:func:`check_inventory` returns every :class:`Violation`; nothing here reads files or talks to hosts.
"""

from __future__ import annotations

import re
from collections import namedtuple

from ansible.module_utils.parsing.convert_bool import boolean

# The BMC port when twinroom_bmc_port is not set (Redfish over HTTPS; IPMI over LAN, UDP): the BMC access layer's.
from ansible_collections.twinroom.ha.plugins.module_utils.bmc import BMC_DEFAULT_PORTS

ROOMS = ('room_a', 'room_b')
CONTROL_PLANE = 'control_plane'
WORKERS = 'workers'
WITNESS = 'witness'
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
)

# Value syntax of a Kubernetes label (the zone becomes topology.kubernetes.io/zone).
_LABEL_VALUE = re.compile(r'^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')

ALL_ROOM_NODES = 'all room nodes'

Violation = namedtuple('Violation', ['rule', 'subject', 'message'])


class Unreadable(object):
    """Stands for a variable that is defined but could not be evaluated (e.g. an undefined reference)."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return 'Unreadable(%r)' % (self.error,)

    def __eq__(self, other):
        return isinstance(other, Unreadable) and other.error == self.error

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.error)


def _violation(rule, subject, text):
    return Violation(rule, subject, "Inventory rule '%s' failed for %s: %s" % (rule, subject, text))


def _unique(hosts):
    seen = set()
    result = []
    for host in hosts or ():
        if host not in seen:
            seen.add(host)
            result.append(host)
    return result


def _names(hosts):
    return ', '.join(hosts)


def _and(hosts):
    hosts = list(hosts)
    return hosts[0] if len(hosts) == 1 else '%s and %s' % (', '.join(hosts[:-1]), hosts[-1])


def _value(hostvars, host, name):
    """The variable's value, or None when it is not set (undefined, null or empty string)."""
    value = (hostvars.get(host) or {}).get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _subject(hosts, room_nodes):
    """Name the hosts, or say 'all room nodes' when the problem is everywhere (a group_vars/all value)."""
    if len(hosts) > 1 and set(hosts) >= set(room_nodes):
        return ALL_ROOM_NODES
    return _names(hosts)


def _by_value(hosts, hostvars, name):
    """[(value, [hosts])] in order of first appearance; unset and unreadable values are left out."""
    order = []
    members = {}
    for host in hosts:
        value = _value(hostvars, host, name)
        if value is None or isinstance(value, Unreadable):
            continue
        key = repr(value)
        if key not in members:
            order.append((key, value))
            members[key] = []
        members[key].append(host)
    return [(value, members[key]) for key, value in order]


class _Layout(object):
    """Group membership, computed once."""

    def __init__(self, groups):
        self.room = dict((room, _unique(groups.get(room))) for room in ROOMS)
        self.room_defined = dict((room, room in groups) for room in ROOMS)
        self.control_plane = _unique(groups.get(CONTROL_PLANE))
        self.workers = _unique(groups.get(WORKERS))
        self.witness = _unique(groups.get(WITNESS))
        self.in_both_rooms = [host for host in self.room[ROOMS[0]] if host in self.room[ROOMS[1]]]
        # Nodes that are fenced and carry a room's settings. A witness put in a room is reported as
        # such and left out here, so the fix (take it out of the room) does not hide behind BMC noise.
        self.room_nodes = [host for host in _unique(self.room[ROOMS[0]] + self.room[ROOMS[1]])
                           if host not in self.witness]

    def zone_nodes(self, room):
        return [host for host in self.room[room]
                if host not in self.in_both_rooms and host not in self.witness]


def _check_rooms(layout):
    violations = []
    for room in ROOMS:
        if not layout.room_defined[room]:
            violations.append(_violation(
                'room-not-empty', room,
                'group %s is not in the inventory. Add group %s with every node of that room.' % (room, room)))
        elif not layout.room[room]:
            violations.append(_violation(
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
            violations.append(_violation(
                'one-control-plane-per-room', room,
                'no host of %s is in group %s. Put exactly one node of each room in %s.'
                % (room, CONTROL_PLANE, CONTROL_PLANE)))
        elif len(members) > 1:
            violations.append(_violation(
                'one-control-plane-per-room', room,
                '%d hosts of %s are in group %s (%s). Keep exactly one node of each room in %s '
                'and move the others to %s.'
                % (len(members), room, CONTROL_PLANE, _names(members), CONTROL_PLANE, WORKERS)))
    return violations


def _check_room_exclusive(layout):
    return [_violation(
        'room-exclusive', host,
        '%s is in both %s and %s. Remove it from the group of the room where it does not stand.'
        % (host, ROOMS[0], ROOMS[1]))
        for host in layout.in_both_rooms]


def _check_node_in_room(layout):
    violations = []
    in_a_room = set(layout.room[ROOMS[0]]) | set(layout.room[ROOMS[1]])
    for host in _unique(layout.control_plane + layout.workers):
        if host in in_a_room:
            continue
        groups = [group for group, members in ((CONTROL_PLANE, layout.control_plane), (WORKERS, layout.workers))
                  if host in members]
        violations.append(_violation(
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
        missing = [host for host in nodes if _value(hostvars, host, 'twinroom_zone') is None]
        values = _by_value(nodes, hostvars, 'twinroom_zone')
        if missing:
            what = room if len(missing) == len(nodes) else _names(missing)
            violations.append(_violation(
                'zone-per-room', room,
                'twinroom_zone is not set for %s. Set twinroom_zone once for the room in group_vars/%s, '
                'e.g. twinroom_zone: %s.' % (what, room, room.replace('_', '-'))))
        if len(values) > 1:
            violations.append(_violation(
                'zone-per-room', room,
                'the nodes of %s do not agree on twinroom_zone: %s. Set twinroom_zone once for the room '
                'in group_vars/%s and remove the per-host values.'
                % (room, '; '.join("'%s' (%s)" % (value, _names(hosts)) for value, hosts in values), room)))
        for value, hosts in values:
            if not isinstance(value, str) or not _LABEL_VALUE.match(value):
                violations.append(_violation(
                    'zone-per-room', room,
                    "twinroom_zone '%s' is not a valid Kubernetes label value (at most 63 letters, digits, "
                    "'-', '_' or '.', beginning and ending with a letter or digit). Set a valid value in "
                    "group_vars/%s." % (value, room)))
        if not missing and len(values) == 1:
            zone_of_room[room] = values[0][0]
    if len(zone_of_room) == len(ROOMS) and zone_of_room[ROOMS[0]] == zone_of_room[ROOMS[1]]:
        violations.append(_violation(
            'zone-per-room', '%s, %s' % ROOMS,
            "both rooms have twinroom_zone '%s'. Give each room its own value in group_vars/%s and "
            "group_vars/%s." % (zone_of_room[ROOMS[0]], ROOMS[0], ROOMS[1])))
    return violations


def _fence_method(hostvars, host):
    return _value(hostvars, host, 'twinroom_fence_method')


def _check_fence_method(layout, hostvars):
    violations = []
    nodes = layout.room_nodes
    missing = [host for host in nodes if _fence_method(hostvars, host) is None]
    if missing:
        violations.append(_violation(
            'fence-method', _subject(missing, nodes),
            'twinroom_fence_method is not set. Set it in group_vars/all to one of %s.' % ', '.join(FENCE_METHODS)))
    for value, hosts in _by_value(nodes, hostvars, 'twinroom_fence_method'):
        if value in FENCE_METHODS:
            continue
        subject = _subject(hosts, nodes)
        if subject == ALL_ROOM_NODES:
            where = 'Set it in group_vars/all.'
        else:
            where = ('Correct it where it is set for %s (host_vars, hosts.yml or the group_vars of its room), '
                     'or remove it there so that group_vars/all applies.' % _names(hosts))
        if value == FENCE_METHOD_NONE:
            text = ("twinroom_fence_method is 'none', which failover.yml cannot carry out: twinroom.ha.fence fences "
                    "only through a BMC (%s), so a failover would stop at its fence step. Use %s with each node's BMC "
                    "(twinroom_bmc_address); when a lost room's BMCs do not answer, failover.yml fences it on your "
                    "typed confirmation that the room is dark (-e confirm_room_down=true). %s"
                    % (', '.join(FENCE_METHODS), ' or '.join(FENCE_METHODS), where))
        else:
            text = "twinroom_fence_method is '%s'; it must be one of %s. %s" % (value, ', '.join(FENCE_METHODS), where)
        violations.append(_violation('fence-method', subject, text))
    valid = sorted((value, hosts) for value, hosts in _by_value(nodes, hostvars, 'twinroom_fence_method')
                   if value in FENCE_METHODS)
    if len(valid) > 1:
        # failover.yml and recover.yml fence and power on a whole room with one method: a host's own value would be
        # accepted here and then ignored.
        violations.append(_violation(
            'fence-method-uniform', _subject([h for _value, hosts in valid for h in hosts], nodes),
            'twinroom_fence_method differs between room nodes (%s): the failover fences a room with one method. Set '
            'it once, in group_vars/all, and remove the other values.'
            % '; '.join('%s: %s' % (value, _names(hosts)) for value, hosts in valid)))
    return violations


def _systems_uri_valid(uri):
    return isinstance(uri, str) and uri.startswith(REDFISH_SYSTEMS_PREFIX) and len(uri) > len(REDFISH_SYSTEMS_PREFIX)


def _bmc_system(hostvars, host):
    """(method, address, port, systems URI or None) naming the host's BMC system, normalized for comparison;
    None when the host is not fenced through a BMC, or a part is missing, invalid or unreadable (reported by
    fence-method, bmc-address, bmc-systems-uri or variable-evaluates)."""
    method = _fence_method(hostvars, host)
    address = _value(hostvars, host, 'twinroom_bmc_address')
    port = _value(hostvars, host, 'twinroom_bmc_port')
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
        uri = _value(hostvars, host, 'twinroom_bmc_systems_uri')
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
        violations.append(_violation(
            'bmc-unique', _subject(hosts, layout.room_nodes),
            '%s have the same %s: fencing one would power off the %s. %s'
            % (_and(hosts), what, 'other' if len(hosts) == 2 else 'others', fix)))
    return violations


def _check_bmc(layout, hostvars):
    address_violations = []
    uri_violations = []
    for host in layout.room_nodes:
        method = _fence_method(hostvars, host)
        if method not in FENCE_METHODS_WITH_BMC:
            continue  # none, or already reported by fence-method
        if _value(hostvars, host, 'twinroom_bmc_address') is None:
            address_violations.append(_violation(
                'bmc-address', host,
                'twinroom_fence_method is %s but twinroom_bmc_address is not set. Set twinroom_bmc_address '
                'for %s (host_vars/%s or its entry in hosts.yml).' % (method, host, host)))
        if method != 'redfish':
            continue
        uri = _value(hostvars, host, 'twinroom_bmc_systems_uri')
        if uri is None:
            uri_violations.append(_violation(
                'bmc-systems-uri', host,
                'twinroom_fence_method is redfish but twinroom_bmc_systems_uri is not set. Set it for %s to '
                'the node\'s Redfish system path, e.g. %s1 (listed by GET /redfish/v1/Systems on its BMC).'
                % (host, REDFISH_SYSTEMS_PREFIX)))
        elif not isinstance(uri, Unreadable) and not _systems_uri_valid(uri):
            uri_violations.append(_violation(
                'bmc-systems-uri', host,
                "twinroom_bmc_systems_uri is '%s'; it must be a Redfish system path such as %s1. "
                'Set it for %s to a member of GET /redfish/v1/Systems on its BMC.'
                % (uri, REDFISH_SYSTEMS_PREFIX, host)))
    return address_violations + uri_violations


def witness_enabled(groups, hostvars):
    """(enabled, [(bad value, [hosts])]): the witness is enabled when any room node says so."""
    layout = _Layout(groups)
    enabled = False
    invalid = []
    for value, hosts in _by_value(layout.room_nodes + layout.witness, hostvars, 'twinroom_witness_enabled'):
        try:
            enabled = boolean(value, strict=True) or enabled
        except TypeError:
            invalid.append((value, hosts))
    return enabled, invalid


def _check_witness(layout, groups, hostvars):
    violations = []
    enabled, invalid = witness_enabled(groups, hostvars)
    for value, hosts in invalid:
        violations.append(_violation(
            'witness-enabled', _subject(hosts, layout.room_nodes),
            "twinroom_witness_enabled is '%s'; it must be true or false. Set it in group_vars/all." % (value,)))
    if enabled and not layout.witness:
        violations.append(_violation(
            'witness-present', WITNESS,
            'twinroom_witness_enabled is true but no host is in group %s. Add the third-site node to group %s, '
            'or set twinroom_witness_enabled: false in group_vars/all.' % (WITNESS, WITNESS)))
    for host in layout.witness:
        for room in ROOMS:
            if host in layout.room[room]:
                violations.append(_violation(
                    'witness-outside-rooms', host,
                    '%s is in group %s and in %s. The witness stands at a third site, outside both rooms: '
                    'remove %s from %s.' % (host, WITNESS, room, host, room)))
    return violations


def _check_required(layout, hostvars, required_vars):
    violations = []
    for name in _unique(required_vars):
        missing = [host for host in layout.room_nodes if _value(hostvars, host, name) is None]
        if not missing:
            continue
        subject = _subject(missing, layout.room_nodes)
        if subject == ALL_ROOM_NODES:
            where = 'for every room node, per host (host_vars or hosts.yml) or in group_vars'
        else:
            where = 'for %s, in host_vars or the host entries in hosts.yml' % _names(missing)
        violations.append(_violation(
            'required-variable', subject,
            '%s is not set (validate_inventory_required_vars lists it). Set it %s.' % (name, where)))
    return violations


def _check_readable(layout, hostvars):
    violations = []
    for host in layout.room_nodes + layout.witness:
        for name, value in sorted((hostvars.get(host) or {}).items()):
            if isinstance(value, Unreadable):
                violations.append(_violation(
                    'variable-evaluates', host,
                    '%s cannot be evaluated: %s. Define what it refers to, or give it a plain value.'
                    % (name, value.error)))
    return violations


# What the site installs: the path a real site runs is the lab's path; only where binaries, images and addresses come
# from differs. Some components have a lab stand-in, selected by a role variable. A role's default must not select
# one (node_agent's still does until it has a real agent: tests/unit/test_inventory_rules.py names that exception);
# an inventory that selects one, by a value or by leaving such a default, says so in twinroom_stand_ins, or the run
# is refused.

STAND_INS_VARIABLE = 'twinroom_stand_ins'
CONTROLLER = 'localhost'
# Where a stand-in's variable is read: the room nodes (a role that runs on room_a:room_b), the controller (a role
# that runs on localhost), or both.
ON_NODES = 'nodes'
ON_CONTROLLER = 'controller'

StandIn = namedtuple('StandIn', ['name', 'variable', 'values', 'role', 'where', 'what', 'instead'])

# One row per stand-in: its name in twinroom_stand_ins, the role variable and the values that select it, the role
# whose default the variable falls back to, where it is read, what it leaves out, and what a real site sets instead.
STAND_INS = (
    StandIn('kwok', 'node_agent_kind', ('kwok',), 'node_agent', (ON_NODES,),
            'kwok registers the nodes and renews their leases, but no kubelet runs their pods',
            'node_agent_kind: kubelet (the default)'),
    StandIn('piraeus-without-operator', 'storage_layer_mode', ('lab',), 'storage_layer', (ON_CONTROLLER,),
            'the Piraeus CRDs are installed without the operator, so nothing creates or replicates a disk',
            'storage_layer_mode: production, with the Piraeus operator installed'),
    StandIn('kubevirt-without-operators', 'kubevirt_mode', ('lab',), 'kubevirt', (ON_CONTROLLER, ON_NODES),
            'the KubeVirt and CDI CRDs are installed without their operators and a stand-in takes virt-handler\'s '
            'place, so no VM runs',
            'kubevirt_mode: production'),
)

# Binaries and operator manifests are fetched to the controller with their checksums enforced (roles/control_plane,
# roles/kine_datastore, roles/storage_layer, roles/kubevirt).
CONTROL_PLANE_COMPONENTS = ('kube-apiserver', 'kube-controller-manager', 'kube-scheduler')
CONTROL_PLANE_BINARY_URL = 'control_plane_binary_url'
CONTROL_PLANE_BINARY_CHECKSUMS = 'control_plane_binary_checksums'
CONTROL_PLANE_BINARY_CHECKSUM_URL = 'control_plane_binary_checksum_url'
KINE_URL = 'kine_datastore_kine_url'
KINE_CHECKSUM = 'kine_datastore_kine_checksum'

Download = namedtuple('Download', ['role', 'url', 'checksum', 'name', 'source', 'thing', 'verified', 'where', 'mode',
                                   'hint'])

# One row per file fetched with a checksum of its own: the role, its URL and checksum variables, how the messages name
# it, where it is fetched (the control-plane nodes' play, or the controller's), and the (variable, value) of the role
# mode that fetches it (None: always).
_MANIFEST_HINT = ' The role has no default for it: pin the sha256sum of the manifest you reviewed.'
DOWNLOADS = (
    Download('kine_datastore', KINE_URL, KINE_CHECKSUM, 'kine', 'the kine release binary', 'the kine binary',
             'the release binary', CONTROL_PLANE, None, ''),
    Download('storage_layer', 'storage_layer_piraeus_operator_url', 'storage_layer_piraeus_operator_checksum',
             'the Piraeus operator', "the release's manifest.yaml",
             'the Piraeus operator manifest', 'the manifest', CONTROLLER, ('storage_layer_mode', 'production'),
             _MANIFEST_HINT),
    Download('kubevirt', 'kubevirt_operator_url', 'kubevirt_operator_checksum',
             'virt-operator', "the KubeVirt release's kubevirt-operator.yaml",
             'the KubeVirt operator manifest', 'the manifest', CONTROLLER, ('kubevirt_mode', 'production'),
             _MANIFEST_HINT),
    Download('kubevirt', 'kubevirt_cdi_operator_url', 'kubevirt_cdi_operator_checksum',
             'cdi-operator', "the CDI release's cdi-operator.yaml",
             'the CDI operator manifest', 'the manifest', CONTROLLER, ('kubevirt_mode', 'production'),
             _MANIFEST_HINT),
)


def _download_variables():
    names = dict(control_plane=(CONTROL_PLANE_BINARY_URL, CONTROL_PLANE_BINARY_CHECKSUMS,
                                CONTROL_PLANE_BINARY_CHECKSUM_URL))
    for row in DOWNLOADS:
        names[row.role] = names.get(row.role, ()) + (row.url, row.checksum)
    return names


BINARY_VARIABLES = _download_variables()
# What get_url takes as a checksum: an algorithm and the digest, or the URL of a checksum file (the same pattern
# roles/kine_datastore asserts).
_CHECKSUM = re.compile(r'^sha(256|512):([0-9a-fA-F]{64,128}|(https?|file)://.+)$')

SITE_VARIABLES = tuple(_unique([STAND_INS_VARIABLE] + [row.variable for row in STAND_INS]
                               + [name for names in BINARY_VARIABLES.values() for name in names]))


def role_default_names():
    """role -> the variables whose role defaults the site rules need (the caller reads them from the roles)."""
    names = {}
    for row in STAND_INS:
        names.setdefault(row.role, []).append(row.variable)
    for role, variables in BINARY_VARIABLES.items():
        names.setdefault(role, []).extend(variables)
    return dict((role, tuple(_unique(variables))) for role, variables in names.items())


def _setting(values, name, role_defaults):
    """(value, from_default): the inventory's value when the variable is set at all (even empty), else the role's
    default (None when the role has none)."""
    if name in values:
        return values[name], False
    return role_defaults.get(name), True


def _empty(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _site_subject(hosts, room_nodes):
    nodes = [host for host in hosts if host != CONTROLLER]
    parts = [_subject(nodes, room_nodes)] if nodes else []
    if CONTROLLER in hosts:
        parts.append(CONTROLLER)
    return ', '.join(parts)


def _control_plane_subject(hosts, control_plane):
    """Name the hosts, or the group control_plane when the problem is on every one of its nodes."""
    if len(hosts) > 1 and set(hosts) >= set(control_plane):
        return CONTROL_PLANE
    return _names(hosts)


def _group_hosts(hosts, key):
    """[(key, [hosts])] in order of first appearance, for hosts whose key is not None."""
    order, members = [], {}
    for host in hosts:
        value = key(host)
        if value is None:
            continue
        marker = repr(value)
        if marker not in members:
            order.append((marker, value))
            members[marker] = []
        members[marker].append(host)
    return [(value, members[marker]) for marker, value in order]


def _declared(values):
    declared = values.get(STAND_INS_VARIABLE)
    if isinstance(declared, (list, tuple)):
        return set(item for item in declared if isinstance(item, str))
    return set()


def _check_stand_ins_known(hosts, site_vars, room_nodes):
    known = [row.name for row in STAND_INS]

    def problem(host):
        declared = site_vars[host].get(STAND_INS_VARIABLE)
        if declared is None or isinstance(declared, Unreadable):
            return None
        if not isinstance(declared, (list, tuple)):
            return ('twinroom_stand_ins is %r; it must be a list of stand-in names (%s). Set it in group_vars/all.'
                    % (declared, ', '.join(known)))
        unknown = [item for item in declared if item not in known]
        if unknown:
            return ('twinroom_stand_ins lists %s, which %s no stand-in of this collection; the stand-ins are %s. '
                    'Correct or remove %s in group_vars/all.'
                    % (', '.join("'%s'" % (item,) for item in unknown), 'is' if len(unknown) == 1 else 'are',
                       ', '.join(known), 'it' if len(unknown) == 1 else 'them'))
        return None

    return [_violation('stand-ins-known', _site_subject(hosts_, room_nodes), text)
            for text, hosts_ in _group_hosts(hosts, problem)]


def _check_stand_ins_declared(layout, site_vars, role_defaults):
    violations = []
    for row in STAND_INS:
        hosts = (list(layout.room_nodes) if ON_NODES in row.where else []) + (
            [CONTROLLER] if ON_CONTROLLER in row.where and CONTROLLER in site_vars else [])

        def selection(host, row=row):
            value, from_default = _setting(site_vars[host], row.variable, role_defaults)
            if isinstance(value, Unreadable) or value not in row.values or row.name in _declared(site_vars[host]):
                return None
            return value, from_default

        for (value, from_default), selecting in _group_hosts(hosts, selection):
            source = ' (the default of role %s)' % row.role if from_default else ''
            violations.append(_violation(
                'stand-in-declared', _site_subject(selecting, layout.room_nodes),
                "%s is '%s'%s, which selects the lab stand-in %s: %s. A real site uses %s. An inventory that "
                "means to run the stand-in declares it by listing %s in twinroom_stand_ins, in group_vars/all."
                % (row.variable, value, source, row.name, row.what, row.instead, row.name)))
    return violations


def _check_control_plane_binaries(hosts, site_vars, role_defaults):
    def source(host):
        value, from_default = _setting(site_vars[host], CONTROL_PLANE_BINARY_URL, role_defaults)
        if isinstance(value, Unreadable) or not _empty(value):
            return None
        return 'not set and role control_plane has no default' if from_default else 'empty'

    def checksum(host):
        if source(host) is not None:
            return None  # no source: already reported
        pinned, dummy = _setting(site_vars[host], CONTROL_PLANE_BINARY_CHECKSUMS, role_defaults)
        url, dummy = _setting(site_vars[host], CONTROL_PLANE_BINARY_CHECKSUM_URL, role_defaults)
        if isinstance(pinned, Unreadable) or isinstance(url, Unreadable):
            return None
        if pinned is None:
            pinned = {}
        if not isinstance(pinned, dict):
            return ('control_plane_binary_checksums is %r; it must map each component (%s) to its checksum, '
                    'sha256:<hex digest>. Correct it in group_vars/all.' % (pinned, ', '.join(CONTROL_PLANE_COMPONENTS)))
        bad = ['%s: %r' % (name, pinned[name]) for name in CONTROL_PLANE_COMPONENTS
               if name in pinned and not (isinstance(pinned[name], str) and _CHECKSUM.match(pinned[name]))]
        if bad:
            return ('control_plane_binary_checksums has %s; each checksum must be sha256:<hex digest> (or '
                    'sha256:<URL of a checksum file>). Correct it in group_vars/all.' % '; '.join(bad))
        unpinned = [name for name in CONTROL_PLANE_COMPONENTS if name not in pinned]
        if unpinned and _empty(url):
            return ('control_plane_binary_checksum_url is empty and control_plane_binary_checksums pins no checksum '
                    'for %s, so nothing would verify %s. Pin each as sha256:<hex digest> in '
                    'control_plane_binary_checksums, or set control_plane_binary_checksum_url to where the release\'s '
                    '<component>.sha256 files are ({component} stands for the name), in group_vars/all.'
                    % (', '.join(unpinned), 'it' if len(unpinned) == 1 else 'them'))
        return None

    violations = [_violation(
        'binary-source', _control_plane_subject(selecting, hosts),
        'control_plane_binary_url is %s: the control-plane binaries (%s) have no source. Set it in group_vars/all '
        'to the directory of the Kubernetes release (the upstream one, or your mirror), or remove it so that the '
        'role default (the upstream release) applies.' % (why, ', '.join(CONTROL_PLANE_COMPONENTS)))
        for why, selecting in _group_hosts(hosts, source)]
    violations.extend(_violation('binary-checksum', _control_plane_subject(selecting, hosts), text)
                      for text, selecting in _group_hosts(hosts, checksum))
    return violations


def _check_download(row, hosts, subject, site_vars, role_defaults):
    """A file fetched with a checksum of its own (a row of DOWNLOADS), on the hosts that fetch it."""
    def fetches(host):
        if row.mode is None:
            return True
        value, dummy = _setting(site_vars[host], row.mode[0], role_defaults)
        return value == row.mode[1]

    hosts = [host for host in hosts if fetches(host)]

    def source(host):
        value, from_default = _setting(site_vars[host], row.url, role_defaults)
        if isinstance(value, Unreadable) or not _empty(value):
            return None
        return 'not set and role %s has no default' % row.role if from_default else 'empty'

    def checksum(host):
        value, from_default = _setting(site_vars[host], row.checksum, role_defaults)
        if isinstance(value, Unreadable) or (isinstance(value, str) and _CHECKSUM.match(value.strip())):
            return None
        if _empty(value):
            what = ('not set, and role %s has no default checksum' % row.role if from_default
                    else 'empty (a placeholder to fill in)')
        else:
            what = "'%s', which is not a checksum" % (value,)
        return what

    violations = [_violation(
        'binary-source', subject(selecting, hosts),
        '%s is %s: %s has no source. Set it in group_vars/all to %s (the upstream one, or your mirror), or remove it '
        'so that the role default (the upstream release) applies.' % (row.url, why, row.name, row.source))
        for why, selecting in _group_hosts(hosts, source)]
    violations.extend(_violation(
        'binary-checksum', subject(selecting, hosts),
        '%s is %s: nothing would verify %s (%s). Set it in group_vars/all to the checksum of %s you verified, '
        'sha256:<hex digest>, or to sha256:<URL of its checksum file>.%s'
        % (row.checksum, what, row.thing, row.url, row.verified, row.hint))
        for what, selecting in _group_hosts(hosts, checksum))
    return violations


def check_site(groups, hostvars, controller_vars=None, role_defaults=None):
    """What the inventory makes the site install: every lab stand-in it selects is declared in twinroom_stand_ins,
    and every binary and operator manifest it fetches has a source and a checksum.

    ``hostvars``: host -> the variables of :data:`SITE_VARIABLES` it sets (a variable it does not set is absent);
    ``controller_vars``: the same for the controller (localhost), where storage_layer and kubevirt run; ``None`` when
    unknown; ``role_defaults``: variable -> its role default (see :func:`role_default_names`), for the variables
    the inventory leaves unset."""
    layout = _Layout(groups)
    role_defaults = role_defaults or {}
    site_vars = dict((host, hostvars.get(host) or {}) for host in layout.room_nodes)
    if controller_vars is not None:
        site_vars[CONTROLLER] = controller_vars
    violations = []
    if controller_vars is not None:
        for name, value in sorted(controller_vars.items()):
            if isinstance(value, Unreadable):
                violations.append(_violation(
                    'variable-evaluates', CONTROLLER,
                    '%s cannot be evaluated: %s. Define what it refers to, or give it a plain value.'
                    % (name, value.error)))
    violations.extend(_check_stand_ins_known(layout.room_nodes + ([CONTROLLER] if controller_vars is not None else []),
                                             site_vars, layout.room_nodes))
    violations.extend(_check_stand_ins_declared(layout, site_vars, role_defaults))
    control_plane = [host for host in layout.control_plane if host in site_vars]
    violations.extend(_check_control_plane_binaries(control_plane, site_vars, role_defaults))
    controller = [CONTROLLER] if CONTROLLER in site_vars else []
    for row in DOWNLOADS:
        if row.where == CONTROL_PLANE:
            violations.extend(_check_download(row, control_plane, _control_plane_subject, site_vars, role_defaults))
        else:
            violations.extend(_check_download(row, controller, lambda selecting, hosts: CONTROLLER, site_vars,
                                              role_defaults))
    return violations


def relevant_hosts(groups):
    """The hosts whose variables the rules read, in inventory order."""
    return _unique([host for group in ROOMS + (CONTROL_PLANE, WORKERS, WITNESS) for host in groups.get(group) or ()])


def variables_to_read(required_vars=()):
    return tuple(_unique(list(VARIABLES) + list(SITE_VARIABLES) + list(required_vars or ())))


def check_inventory(groups, hostvars, required_vars=()):
    """Every violation of the inventory model, in a stable order (the order of docs/inventory-model.md)."""
    layout = _Layout(groups)
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
    layout = _Layout(groups)
    rooms = {}
    for room in ROOMS:
        nodes = layout.room[room]
        zones = _by_value(nodes, hostvars, 'twinroom_zone')
        rooms[room] = {
            'zone': zones[0][0] if len(zones) == 1 else None,
            'control_plane': [host for host in nodes if host in layout.control_plane],
            'workers': [host for host in nodes if host in layout.workers],
            'nodes': nodes,
        }
    methods = sorted(set(str(value) for value, hosts in _by_value(layout.room_nodes, hostvars, 'twinroom_fence_method')))
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
                     % (room, info['zone'], len(info['nodes']), _names(info['control_plane'])))
    witness = 'on (%s)' % _names(summary['witness']) if summary['witness_enabled'] else 'off'
    return 'Inventory is valid: %s; fence method %s; witness %s.' % ('; '.join(parts), summary['fence_method'], witness)
