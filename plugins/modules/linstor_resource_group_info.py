#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: linstor_resource_group_info
short_description: Report the quorum, tiebreaker and placement settings of LINSTOR resource groups
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads LINSTOR resource groups through the controller's REST API and reports, for each, its properties and
    select filter, and the quorum-relevant part picked out - DRBD quorum and its on-no-quorum policy, whether
    LINSTOR adds a diskless tiebreaker, the placement count and how many replicas one zone may hold.
  - Changes nothing.
options:
  name:
    description:
      - The resource group to report. All resource groups when omitted.
      - A name that does not exist fails the module.
    type: str
extends_documentation_fragment:
  - twinroom.ha.linstor_api
  - twinroom.ha.linstor_api.rooms
  - twinroom.ha.linstor_api.info
  - ansible.builtin.action_common_attributes
seealso:
  - module: twinroom.ha.linstor_resource_group
'''

EXAMPLES = r'''
- name: Read the VM resource group
  twinroom.ha.linstor_resource_group_info:
    name: twinroom-vms
    controller_url: http://linstor-controller.piraeus-datastore.svc:3370
  register: group

- name: The group must keep one replica per room
  ansible.builtin.assert:
    that:
      - group.resource_groups['twinroom-vms'].replicas_per_zone == 1
      - group.resource_groups['twinroom-vms'].quorum == 'majority'
'''

RETURN = r'''
resource_groups:
  description: Per resource group (keyed by name), its settings.
  returned: always
  type: dict
  contains:
    description:
      description: The group's description.
      type: str
    props:
      description: All properties of the group.
      type: dict
    select_filter:
      description: The group's select filter (autoplacement rules) as the controller reports it.
      type: dict
    quorum:
      description: C(DrbdOptions/Resource/quorum); null when the group does not set it.
      type: str
    on_no_quorum:
      description: C(DrbdOptions/Resource/on-no-quorum); null when the group does not set it.
      type: str
    auto_tiebreaker:
      description: C(DrbdOptions/auto-add-quorum-tiebreaker) as a boolean; null when the group does not set it.
      type: bool
    place_count:
      description: Diskful replicas per resource.
      type: int
    replicas_per_zone:
      description: How many replicas one value of the zone property may hold; null when there is no such rule.
      type: int
  sample:
    twinroom-vms: {description: '', quorum: majority, on_no_quorum: suspend-io, auto_tiebreaker: true,
                   place_count: 2, replicas_per_zone: 1,
                   props: {"DrbdOptions/Resource/quorum": majority},
                   select_filter: {place_count: 2, x_replicas_on_different_map: {"Aux/topology.kubernetes.io/zone": 1}}}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.linstor_quorum_runner import (
    HAS_LINSTOR,
    LinstorQuorumError,
    linstor_argument_spec,
    run_resource_group_info,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(argument_spec=linstor_argument_spec(name=dict(type='str')), supports_check_mode=True)
    if not HAS_LINSTOR:
        module.fail_json(msg=missing_required_lib('python-linstor'))
    finish(module, run_resource_group_info, LinstorQuorumError, module.params)


if __name__ == '__main__':
    main()
