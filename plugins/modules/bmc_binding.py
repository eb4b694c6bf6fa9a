#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: bmc_binding
short_description: Bind each node to its BMC by the machine UUID both report
version_added: 0.1.0
description:
  - Asks each node's BMC which machine it controls (Redfish C(System.UUID); IPMI C(Get System GUID) through
    C(ipmitool mc guid)) and compares it with the machine UUID read on the node itself (SMBIOS, C(/sys/class/dmi/id/product_uuid)),
    accepting either SMBIOS byte order.
  - When every BMC reports its own node's machine, records the bindings in O(path) on the controller;
    M(twinroom.ha.fence) then refuses to power off through a BMC that reports another machine.
  - Refuses, and records nothing, when a BMC reports another machine (naming the node it belongs to, when that is
    one of O(nodes)), reports none, or two nodes report the same UUID. A copy-pasted BMC address would otherwise
    power off the wrong machine and let the right node be tainted while it runs.
options:
  machine_ids:
    description: The machine UUID each node reports, keyed by node name (read on the node).
    type: dict
    required: true
  path:
    description: The bindings file on the controller (JSON, mode 0600); other nodes' entries are kept.
    type: path
    required: true
extends_documentation_fragment:
  - twinroom.ha.fence_bmc
  - twinroom.ha.kubeconfig
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the BMCs and compares; writes nothing.
  diff_mode:
    support: full
    details: The bindings file before and after.
  platform:
    platforms: posix
notes:
  - O(kubeconfig) and O(context) are not used; the module never talks to the API server.
seealso:
  - module: twinroom.ha.bmc_binding_info
  - module: twinroom.ha.fence
author:
  - twinroom developers (@twinroom)
'''

EXAMPLES = r'''
- name: Read each node's machine UUID
  ansible.builtin.slurp:
    src: /sys/class/dmi/id/product_uuid
  register: machine_uuid

- name: Bind every node to its BMC
  twinroom.ha.bmc_binding:
    nodes: "{{ groups['room_a'] | map('extract', hostvars) | list
               | community.general.keep_keys(target='^(inventory_hostname|twinroom_bmc_.*)$', matching_parameter='regex') }}"
    machine_ids: "{{ dict(groups['room_a'] | zip(groups['room_a'] | map('extract', hostvars, 'machine_uuid')
                     | map(attribute='content') | map('b64decode') | map('trim'))) }}"
    bmc_username: "{{ twinroom_bmc_username }}"
    bmc_password: "{{ twinroom_bmc_password }}"
    path: /var/lib/twinroom/bmc-bindings.json
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
bindings:
  description: Per node, C(machine_id) (what the node reports) and C(bmc_identity) (what its BMC reports).
  returned: success
  type: dict
  sample: {a-w1: {machine_id: 4c4c4544-0042-3510-8057-b2c04f4e3232, bmc_identity: 4c4c4544-0042-3510-8057-b2c04f4e3232}}
path:
  description: The bindings file.
  returned: success
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils.bmc import fence_argument_spec
from ansible_collections.twinroom.ha.plugins.module_utils.bmc_binding import ERRORS, run_bmc_binding
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(argument_spec=fence_argument_spec(machine_ids=dict(type='dict', required=True),
                                                             path=dict(type='path', required=True)),
                           supports_check_mode=True)
    finish(module, run_bmc_binding, ERRORS, module.params, check_mode=module.check_mode,
           diff=module._diff)


if __name__ == '__main__':
    main()
