#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: bmc_binding_info
short_description: Report which machine each BMC controls, and whether it is still the node's
version_added: 0.1.0
description:
  - Reads the bindings M(twinroom.ha.bmc_binding) recorded in O(path) and, for each of O(nodes), what its BMC
    reports now. Changes nothing.
options:
  path:
    description: The bindings file on the controller.
    type: path
    required: true
  nodes:
    description:
      - Nodes whose BMCs to ask which machine they control. Empty - only the recorded bindings are returned.
      - Every suboption also accepts the inventory variable's name as an alias, as for M(twinroom.ha.fence).
    required: false
    default: []
extends_documentation_fragment:
  - twinroom.ha.fence_bmc
  - twinroom.ha.kubeconfig
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
notes:
  - O(kubeconfig) and O(context) are not used.
seealso:
  - module: twinroom.ha.bmc_binding
author:
  - twinroom developers (@twinroom)
'''

EXAMPLES = r'''
- name: Is every BMC still its node's?
  twinroom.ha.bmc_binding_info:
    nodes: "{{ groups['room_a'] | map('extract', hostvars) | list
               | community.general.keep_keys(target='^(inventory_hostname|twinroom_bmc_.*)$', matching_parameter='regex') }}"
    bmc_username: "{{ twinroom_bmc_username }}"
    bmc_password: "{{ twinroom_bmc_password }}"
    path: /var/lib/twinroom/bmc-bindings.json
  register: bindings
'''

RETURN = r'''
bindings:
  description: The recorded bindings, per node C(machine_id) and C(bmc_identity).
  returned: always
  type: dict
nodes:
  description:
    - Per asked node, C(recorded) (its bound machine UUID or null), C(reported) (what its BMC says now), C(error),
      and C(matches) (null when nothing is recorded).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils.bmc import fence_argument_spec
from ansible_collections.twinroom.ha.plugins.module_utils.bmc_binding import ERRORS, run_bmc_binding_info
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    spec = fence_argument_spec(path=dict(type='path', required=True))
    spec['nodes']['required'] = False
    spec['nodes']['default'] = []
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    finish(module, run_bmc_binding_info, ERRORS, module.params)


if __name__ == '__main__':
    main()
