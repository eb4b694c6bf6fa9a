#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: fence_info
short_description: Report the power state and fencing record of nodes
version_added: 0.1.0
description:
  - For each node, reads the power state through its BMC (the fence agent's C(status) action) and, from the API
    server, whether the Node exists, is Ready, carries the C(node.kubernetes.io/out-of-service) taint and the
    C(twinroom.io/fenced) record written by M(twinroom.ha.fence).
  - Changes nothing. The BMCs are asked only when the nodes have O(nodes[].bmc_address).
extends_documentation_fragment:
  - twinroom.ha.fence_bmc
  - twinroom.ha.kubeconfig
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
seealso:
  - module: twinroom.ha.fence
author:
  - twinroom developers (@twinroom)
'''

EXAMPLES = r'''
- name: Read power and fencing state of room A
  twinroom.ha.fence_info:
    nodes: >-
      {{ groups['room_a'] | map('extract', hostvars) | list
         | community.general.keep_keys(target='^(inventory_hostname|twinroom_bmc_.*)$', matching_parameter='regex') }}
    context: room-b
  delegate_to: localhost
  run_once: true
  register: room_a

- name: Unfence only nodes that are back and Ready
  twinroom.ha.fence:
    state: unfenced
    nodes: "{{ room_a.nodes | dict2items | selectattr('value.ready') | map(attribute='key')
               | map('community.general.dict_kv', 'name') }}"
    context: room-a
  delegate_to: localhost
  run_once: true
'''

RETURN = r'''
api_error:
  description:
    - Why the API server could not be read, or null. The BMC fields are still reported; C(exists), C(ready),
      C(tainted) and C(fenced) are then null. This happens when the surviving room's API server cannot reach its
      datastore because the primary was in the lost room.
  returned: always
  type: str
nodes:
  description: Per node (keyed by name), what the BMC and the API server report.
  returned: always
  type: dict
  contains:
    bmc:
      description: The BMC asked (C(address:port)); null when no BMC address was given.
      type: str
    bmc_reachable:
      description: The BMC answered; null when it was not asked.
      type: bool
    power_state:
      description: V(on), V(off) or V(unknown); null when the BMC was not asked.
      type: str
    bmc_error:
      description: Why the BMC did not answer or the power state could not be read.
      type: str
    exists:
      description: The Node object exists.
      type: bool
    ready:
      description: The Node's Ready condition is True; null when unknown.
      type: bool
    tainted:
      description: The Node carries the C(node.kubernetes.io/out-of-service) C(NoExecute) taint.
      type: bool
    record:
      description: The C(twinroom.io/fenced) annotation, parsed (C(at), C(method), C(by), C(room)); null when absent.
      type: dict
    fenced:
      description: Both the record and the taint are present.
      type: bool
  sample:
    a-w2: {bmc: '127.77.1.12:8443', bmc_reachable: true, power_state: 'off', bmc_error: null, exists: true,
           ready: false, tainted: true, fenced: true,
           record: {at: '2026-11-21T17:10:04Z', method: bmc, by: twinroom.ha.fence, room: room_a}}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.bmc import fence_argument_spec
from ansible_collections.twinroom.ha.plugins.module_utils.fence import ERRORS, HAS_KUBERNETES, run_fence_info
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(argument_spec=fence_argument_spec(), supports_check_mode=True)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    finish(module, run_fence_info, ERRORS, module.params)


if __name__ == '__main__':
    main()
