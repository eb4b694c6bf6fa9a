# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory rules ``automatic-failover`` and ``operation-lock`` (docs/inventory-model.md).

``automatic-failover``: when ``twinroom_automatic_failover`` is true, the vote's settings are valid and the same on
every room node and witness, so no voter judges with other times.

``operation-lock``: where failover.yml and recover.yml keep their lock (``twinroom_operation_lock_host``, default the
witness, else the controller) is the same for every host and outside both rooms, and its lease
(``twinroom_operation_lock_lease_seconds``) is a whole number of seconds the module accepts.

A plan (layer 4), pure; the checks of the settings themselves are failover_settings.py's, shared with the vote.
The action plugin hands it the same ``groups`` and ``hostvars`` as inventory_rules.check_inventory (which reads the
variables, failover_settings.INVENTORY_VARIABLES among them, and reports those it cannot evaluate).
"""

from __future__ import annotations

import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.twinroom.ha.plugins.module_utils import failover_settings
from ansible_collections.twinroom.ha.plugins.module_utils import inventory_model as model
from ansible_collections.twinroom.ha.plugins.module_utils.inventory_model import ALL_ROOM_NODES, Unreadable
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import LOCK_LEASE_MIN_SECONDS, ROOMS

RULE = 'automatic-failover'
_DIGITS = re.compile(r'^\s*\d+\s*$')
# Where the room watch on the witness answers the isolation guards (roles automatic_failover and isolation_guard read
# it; default 8450): one port for every host, or a guard asks where nothing listens and isolates its room.
WITNESS_PORT = 'twinroom_witness_port'
LOCK_RULE = 'operation-lock'
LOCK_HOST = 'twinroom_operation_lock_host'
LOCK_LEASE = 'twinroom_operation_lock_lease_seconds'
INVENTORY_VARIABLES = failover_settings.INVENTORY_VARIABLES + (WITNESS_PORT, LOCK_HOST, LOCK_LEASE)


def _hosts(layout):
    return model.unique(layout.room_nodes + layout.witness)


def _number(value):
    """A whole number written as text (an INI inventory's [all:vars] gives strings) is the number."""
    return int(value) if isinstance(value, str) and _DIGITS.match(value) else value


def check_automatic_failover(groups, hostvars):
    """Violations of rule automatic-failover: the switch is not a boolean; with it on, a setting differs between
    hosts or is not valid (failover_settings.settings_problems). A witness votes when group witness has hosts."""
    layout = model.Layout(groups)
    hosts = _hosts(layout)
    enabled, violations = False, []
    switch = failover_settings.ENABLE_VARIABLE
    for value, holders in model.by_value(hosts, hostvars, switch):
        try:
            enabled = boolean(value, strict=True) or enabled
        except TypeError:
            violations.append(model.violation(
                RULE, model.subject(holders, layout.room_nodes),
                "%s is %s; it must be true or false. Set it in group_vars/all." % (switch, failover_settings.shown(value))))
    if not enabled:
        return violations
    settings = {'witness': bool(layout.witness)}
    for key, name in sorted(failover_settings.VARIABLES.items(), key=lambda item: item[1]):
        values, differs = _one_value(RULE, layout, hosts, hostvars, name,
                                     'the rooms and the witness must judge a room lost with the same settings.')
        violations.extend(differs)
        if differs:
            continue
        if values:
            settings[key] = values[0][0]
        elif any(isinstance(model.value(hostvars, host, name), Unreadable) for host in hosts):
            return violations  # reported by variable-evaluates; the settings are not known
    violations.extend(_check_witness_port(layout, hosts, hostvars))
    if violations:
        return violations
    return [model.violation(RULE, ALL_ROOM_NODES, problem)
            for problem in failover_settings.settings_problems(settings)]


def _check_witness_port(layout, hosts, hostvars):
    """With hosts in group witness: twinroom_witness_port is one TCP port (1-65535) for every host."""
    if not layout.witness:
        return []

    values, differs = _one_value(RULE, layout, hosts, hostvars, WITNESS_PORT,
                                 'an isolation guard would ask the witness where its room watch does not listen, and '
                                 'isolate its room.', unset_label='unset (8450)')
    if differs:
        return differs
    for value, holders in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            return [model.violation(
                RULE, model.subject(holders, layout.room_nodes),
                '%s is %s; it must be a TCP port from 1 to 65535, where the room watch on the witness answers the '
                'isolation guards (default 8450). Set it in group_vars/all.'
                % (WITNESS_PORT, failover_settings.shown(value)))]
    return []


def _one_value(rule, layout, hosts, hostvars, name, why, unset_label='unset'):
    """(values, violations): the variable's values as model.group_hosts gives them - [(value, [hosts])], a whole
    number written as text taken as the number, unreadable values left to their own rule - and, when it has more
    than one value or is set on some hosts only, a violation of ``rule`` naming the hosts of each value and ``why``
    it must be one."""
    def readable(host):
        found = model.value(hostvars, host, name)
        return None if isinstance(found, Unreadable) else _number(found)

    values = model.group_hosts(hosts, readable)
    unset = [host for host in hosts if model.value(hostvars, host, name) is None]
    if len(values) > 1 or (values and unset):
        parts = ['%s: %s' % (failover_settings.shown(value), model.names(holders)) for value, holders in values]
        if unset:
            parts.append('%s: %s' % (unset_label, model.names(unset)))
        return values, [model.violation(
            rule, model.subject([host for value, holders in values for host in holders] + unset, layout.room_nodes),
            '%s differs between hosts (%s): %s Set it once, in group_vars/all, and remove the other values.'
            % (name, '; '.join(parts), why))]
    return values, []


def check_operation_lock(groups, hostvars):
    """Violations of rule operation-lock: twinroom_operation_lock_host names localhost or a host of the inventory
    outside both rooms, the same everywhere; twinroom_operation_lock_lease_seconds is a whole number, at least 60."""
    layout = model.Layout(groups)
    hosts = _hosts(layout)
    hosts_values, violations = _one_value(
        LOCK_RULE, layout, hosts, hostvars, LOCK_HOST,
        'a failover started from the witness and one started elsewhere would take different locks.')
    leases, lease_violations = _one_value(
        LOCK_RULE, layout, hosts, hostvars, LOCK_LEASE, 'every run must renew the lock it takes on the same lease.')
    violations.extend(lease_violations)
    host = hosts_values[0][0] if len(hosts_values) == 1 and not violations else None
    lease = leases[0][0] if len(leases) == 1 and not lease_violations else None
    if isinstance(host, str) and host != 'localhost':
        rooms = [room for room in ROOMS if host in layout.room[room]]
        if rooms:
            violations.append(model.violation(
                LOCK_RULE, ALL_ROOM_NODES,
                '%s is %s, a node of %s: a room that is lost takes the lock with it, and no failover of that room '
                'could start. Keep the lock on the witness (leave %s unset) or on the controller (localhost).'
                % (LOCK_HOST, host, rooms[0], LOCK_HOST)))
        elif host not in groups.get('all', []):
            violations.append(model.violation(
                LOCK_RULE, ALL_ROOM_NODES,
                "%s is %s, which is not a host of this inventory: failover.yml and recover.yml take the lock there "
                'through its connection. Add it to the inventory (a host outside both rooms), or use localhost.'
                % (LOCK_HOST, host)))
    elif host is not None and not isinstance(host, str):
        violations.append(model.violation(
            LOCK_RULE, ALL_ROOM_NODES,
            '%s is %s; it must be a host name of this inventory outside both rooms, or localhost.'
            % (LOCK_HOST, failover_settings.shown(host))))
    if lease is not None and (isinstance(lease, bool) or not isinstance(lease, int) or lease < LOCK_LEASE_MIN_SECONDS):
        violations.append(model.violation(
            LOCK_RULE, ALL_ROOM_NODES,
            '%s is %s; it must be a whole number of seconds, at least %d: the lock is held that long after its '
            'run last renewed it (default 300).' % (LOCK_LEASE, failover_settings.shown(lease), LOCK_LEASE_MIN_SECONDS)))
    return violations
