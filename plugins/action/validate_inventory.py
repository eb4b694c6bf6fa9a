# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the inventory against the twinroom model on the controller; never contacts a node."""

from __future__ import annotations

import os
from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.twinroom.ha.plugins.module_utils import (
    inventory_failover, inventory_model, inventory_rules, inventory_services, inventory_site)

ARGUMENT_SPEC = {
    'required_vars': {'type': 'list', 'elements': 'str', 'default': []},
}


def _plain(value):
    """Drop Ansible's wrapper types so results and comparisons see ordinary Python data."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return dict((_plain(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _first_line(error):
    lines = to_text(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def read_hostvars(hostvars, hosts, names):
    """host -> {name: value} for the named variables only; secrets and everything else stay untouched."""
    result = {}
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else {}
        values = {}
        for name in names:
            if name not in host_vars:
                continue
            try:
                values[name] = _plain(host_vars[name])
            except AnsibleError as error:
                values[name] = inventory_model.Unreadable(_first_line(error))
        result[host] = values
    return result


def credentials_set(hostvars, hosts):
    """host -> the BMC credential variables defined for it: their names only, never their values (no templating)."""
    return dict((host, [name for name in inventory_rules.CREDENTIALS if host in hostvars and name in hostvars[host]])
                for host in hosts)


def credentials_unreadable(hostvars, hosts):
    """host -> {name: why} for the BMC credential variables that are set but cannot be used: a reference that does
    not resolve (a vault file the run was not given) or an empty value. Each is evaluated to find that out; the value
    itself is dropped at once and never returned, compared or logged."""
    unreadable = {}
    for host in hosts:
        if host not in hostvars:
            continue
        host_vars = hostvars[host]
        for name in inventory_rules.CREDENTIALS:
            if name not in host_vars:
                continue
            try:
                empty = host_vars[name] in (None, '')
            except AnsibleError as error:
                unreadable.setdefault(host, {})[name] = _first_line(error)
                continue
            if empty:
                unreadable.setdefault(host, {})[name] = 'it is empty'
    return unreadable


# The collection's roles, beside plugins/.
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles')


def variables_to_read(required_vars=()):
    """The variables the rules read on the room nodes: the model's, the site's and the required ones; nothing else
    (secrets in particular) is ever evaluated."""
    return tuple(inventory_model.unique(list(inventory_rules.VARIABLES) + list(inventory_failover.INVENTORY_VARIABLES)
                                        + list(inventory_site.SITE_VARIABLES) + list(inventory_services.VARIABLES)
                                        + list(required_vars or ())))


def read_role_defaults(names, roles_dir=ROLES_DIR):
    """variable -> its value in roles/<role>/defaults/main.yml, as written (a template stays a string), for the
    variables ``names`` lists per role; a variable the role does not default is left out."""
    defaults = {}
    for role, variables in sorted(names.items()):
        path = os.path.join(roles_dir, role, 'defaults', 'main.yml')
        try:
            with open(path) as stream:
                values = yaml.safe_load(stream) or {}
        except (OSError, yaml.YAMLError) as error:
            # Without the defaults, an unset variable could hide a stand-in the role selects: refuse to guess.
            raise AnsibleError('validate_inventory cannot read the defaults of role %s (%s): %s' % (role, path, error))
        for name in variables:
            if name in values:
                defaults[name] = values[name]
    return defaults


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        if task_vars is None:
            task_vars = {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect

        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        required_vars = [str(name) for name in args['required_vars']]

        groups = dict((str(name), [str(host) for host in hosts])
                      for name, hosts in (task_vars.get('groups') or {}).items())
        hosts = inventory_model.relevant_hosts(groups)
        all_hostvars = task_vars.get('hostvars') or {}
        hostvars = read_hostvars(all_hostvars, hosts, variables_to_read(required_vars))
        # storage_layer, kubevirt and cluster_dns run on the controller: what they install follows localhost's
        # variables.
        controller_vars = read_hostvars(all_hostvars, [inventory_model.CONTROLLER],
                                        inventory_site.SITE_VARIABLES)[inventory_model.CONTROLLER]
        dns_controller_vars = read_hostvars(all_hostvars, [inventory_model.CONTROLLER],
                                            inventory_services.VARIABLES)[inventory_model.CONTROLLER]
        role_defaults = read_role_defaults(inventory_site.role_default_names())
        role_defaults.update(read_role_defaults(inventory_services.ROLE_DEFAULTS))

        violations = inventory_rules.check_inventory(groups, hostvars, required_vars)
        violations.extend(inventory_rules.check_bmc_credentials(groups, hostvars, credentials_set(all_hostvars, hosts),
                                                                credentials_unreadable(all_hostvars, hosts)))
        violations.extend(inventory_failover.check_automatic_failover(groups, hostvars))
        violations.extend(inventory_failover.check_operation_lock(groups, hostvars))
        violations.extend(inventory_site.check_site(groups, hostvars, controller_vars, role_defaults))
        violations.extend(inventory_services.check_cluster_dns(groups, hostvars, dns_controller_vars, role_defaults))
        result['changed'] = False
        result['violations'] = [violation._asdict() for violation in violations]
        if violations:
            result['failed'] = True
            result['msg'] = inventory_rules.failure_message(violations)
            return result

        summary = inventory_rules.summarize(groups, hostvars)
        result.update(summary)
        result['msg'] = inventory_rules.summary_message(summary)
        return result
