#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: linstor_resource_group
short_description: Give a LINSTOR resource group the quorum, tiebreaker and placement settings of two rooms
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Creates the LINSTOR resource group O(name) if it is missing and sets what two rooms need, through the
    controller's REST API - the part the Piraeus custom resources do not cover.
  - "Placement - two diskful replicas (O(place_count)), at most one per zone value (select filter
    C(x_replicas_on_different_map) C({Aux/<zone_label>: 1})), so each room holds one copy."
  - Quorum - C(DrbdOptions/Resource/quorum=majority); on losing it C(on-no-quorum) and C(on-no-data-accessible)
    are O(on_no_quorum); C(on-suspended-primary-outdated=force-secondary).
  - Tiebreaker - C(DrbdOptions/auto-add-quorum-tiebreaker) is V(True) with O(witness=true), V(False) without.
    LINSTOR places the automatic diskless tiebreaker under the group's rules with the diskful replicas counted,
    so the one-replica-per-zone rule sends it to a node of a third zone - the witness. Without a witness no node
    qualifies; see the storage-quorum document of this collection for what that means in a failover.
  - Properties and select-filter fields this module does not name are left as they are. A second run with the
    same options changes nothing.
options:
  name:
    description:
      - Name of the resource group (LINSTOR names are case-insensitive). Use the one the StorageClass names
        in its C(resourceGroup) parameter.
    type: str
    required: true
  witness:
    description:
      - A third-site witness runs a LINSTOR satellite whose zone label is neither room's.
      - With V(true) the module warns when no such node is registered.
    type: bool
    required: true
  on_no_quorum:
    description:
      - What DRBD does when a resource loses quorum or access to up-to-date data.
      - V(suspend-io) freezes I/O until quorum returns or is overridden; a VM waits instead of seeing errors and
        turning its file systems read-only. V(io-error) fails the I/O.
    type: str
    choices: [suspend-io, io-error]
    default: suspend-io
  place_count:
    description:
      - Diskful replicas per resource. Two rooms, one copy each.
    type: int
    default: 2
  storage_pools:
    description:
      - Storage pools the diskful replicas may use (select filter C(storage_pool_list)). Not managed when omitted.
    type: list
    elements: str
extends_documentation_fragment:
  - twinroom.ha.linstor_api
  - twinroom.ha.linstor_api.rooms
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the resource group and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: The managed properties and select-filter fields before and after.
  platform:
    platforms: posix
notes:
  - LINSTOR has no dry run; check mode compares what the controller reports with the wanted settings.
  - LINSTOR's CSI driver may set the select filter of a StorageClass's resource group from the StorageClass's
    parameters. Keep those parameters the same as here (placement count 2, one replica per zone).
seealso:
  - module: twinroom.ha.linstor_resource_group_info
  - module: twinroom.ha.linstor_resource_info
  - module: twinroom.ha.linstor_quorum_override
'''

EXAMPLES = r'''
- name: Resource group for VM disks, with a witness site
  twinroom.ha.linstor_resource_group:
    name: twinroom-vms
    witness: true
    storage_pools: [thinpool]
    controller_url: https://linstor-controller.piraeus-datastore.svc:3371
    ca_file: /etc/twinroom/linstor-ca.pem
    client_cert: /etc/twinroom/linstor-client.pem
    client_key: /etc/twinroom/linstor-client.key
    rooms:
      room_a: "{{ hostvars[groups['room_a'][0]]['twinroom_zone'] }}"
      room_b: "{{ hostvars[groups['room_b'][0]]['twinroom_zone'] }}"
  delegate_to: localhost
  run_once: true

- name: Without a witness (every room loss then needs twinroom.ha.linstor_quorum_override after fencing)
  twinroom.ha.linstor_resource_group:
    name: twinroom-vms
    witness: false
    controller_url: http://linstor-controller.piraeus-datastore.svc:3370
  check_mode: true
  diff: true
'''

RETURN = r'''
name:
  description: The resource group's name.
  returned: always
  type: str
  sample: twinroom-vms
created:
  description: The resource group did not exist and was (or in check mode would be) created.
  returned: always
  type: bool
props:
  description: The managed properties as they are after the run.
  returned: always
  type: dict
  sample: {"DrbdOptions/Resource/quorum": majority, "DrbdOptions/Resource/on-no-quorum": suspend-io,
           "DrbdOptions/Resource/on-no-data-accessible": suspend-io,
           "DrbdOptions/Resource/on-suspended-primary-outdated": force-secondary,
           "DrbdOptions/auto-add-quorum-tiebreaker": "True"}
select_filter:
  description: The managed select-filter fields as they are after the run.
  returned: always
  type: dict
  sample: {place_count: 2, x_replicas_on_different_map: {"Aux/topology.kubernetes.io/zone": 1}}
diff:
  description: The managed properties and select-filter fields before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.linstor_quorum_runner import (
    HAS_LINSTOR,
    LinstorQuorumError,
    linstor_argument_spec,
    run_resource_group,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=linstor_argument_spec(
            name=dict(type='str', required=True),
            witness=dict(type='bool', required=True),
            on_no_quorum=dict(type='str', default='suspend-io', choices=['suspend-io', 'io-error']),
            place_count=dict(type='int', default=2),
            storage_pools=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    if not HAS_LINSTOR:
        module.fail_json(msg=missing_required_lib('python-linstor'))
    finish(module, run_resource_group, LinstorQuorumError, module.params, check_mode=module.check_mode,
           diff=module._diff)


if __name__ == '__main__':
    main()
