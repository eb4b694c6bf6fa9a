# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory rule ``automatic-failover`` (docs/inventory-model.md): when ``twinroom_automatic_failover`` is true,
the vote's settings are valid and the same on every room node and witness, so no voter judges with other times.

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

RULE = 'automatic-failover'
_DIGITS = re.compile(r'^\s*\d+\s*$')
# Where the room watch on the witness answers the isolation guards (roles automatic_failover and isolation_guard read
# it; default 8450): one port for every host, or a guard asks where nothing listens and isolates its room.
WITNESS_PORT = 'twinroom_witness_port'
INVENTORY_VARIABLES = failover_settings.INVENTORY_VARIABLES + (WITNESS_PORT,)


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
        values = [(_number(value), holders) for value, holders in model.by_value(hosts, hostvars, name)]
        unset = [host for host in hosts if model.value(hostvars, host, name) is None]
        if len(values) > 1 or (values and unset):
            parts = ['%s: %s' % (failover_settings.shown(value), model.names(holders)) for value, holders in values]
            if unset:
                parts.append('unset: %s' % model.names(unset))
            violations.append(model.violation(
                RULE, model.subject([host for value, holders in values for host in holders] + unset,
                                    layout.room_nodes),
                '%s differs between hosts (%s): the rooms and the witness must judge a room lost with the same '
                'settings. Set it once, in group_vars/all, and remove the other values.' % (name, '; '.join(parts))))
        elif values:
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

    def port(host):  # '8450' from an INI inventory is 8450; an unreadable value is reported by its own rule
        value = model.value(hostvars, host, WITNESS_PORT)
        return None if isinstance(value, Unreadable) else _number(value)

    values = model.group_hosts(hosts, port)
    unset = [host for host in hosts if model.value(hostvars, host, WITNESS_PORT) is None]
    if len(values) > 1 or (values and unset):
        parts = ['%s: %s' % (failover_settings.shown(value), model.names(holders)) for value, holders in values]
        if unset:
            parts.append('unset (8450): %s' % model.names(unset))
        return [model.violation(
            RULE, model.subject([host for value, holders in values for host in holders] + unset, layout.room_nodes),
            '%s differs between hosts (%s): an isolation guard would ask the witness where its room watch does not '
            'listen, and isolate its room. Set it once, in group_vars/all, and remove the other values.'
            % (WITNESS_PORT, '; '.join(parts)))]
    for value, holders in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            return [model.violation(
                RULE, model.subject(holders, layout.room_nodes),
                '%s is %s; it must be a TCP port from 1 to 65535, where the room watch on the witness answers the '
                'isolation guards (default 8450). Set it in group_vars/all.'
                % (WITNESS_PORT, failover_settings.shown(value)))]
    return []
