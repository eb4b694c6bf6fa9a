# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the inventory against the twinroom model on the controller; never contacts a node."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.twinroom.ha.plugins.module_utils import inventory_rules

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
                values[name] = inventory_rules.Unreadable(_first_line(error))
        result[host] = values
    return result


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
        hosts = inventory_rules.relevant_hosts(groups)
        hostvars = read_hostvars(task_vars.get('hostvars') or {}, hosts,
                                 inventory_rules.variables_to_read(required_vars))

        violations = inventory_rules.check_inventory(groups, hostvars, required_vars)
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
