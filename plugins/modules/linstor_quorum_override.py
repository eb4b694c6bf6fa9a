#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: linstor_quorum_override
short_description: Let the surviving room's DRBD resources run without quorum once the other room is fenced, and undo it
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - With two diskful replicas (one per room) and a diskless tiebreaker, the room that still sees the tiebreaker
    keeps I/O when the other is lost. When the tiebreaker was in the lost room, or there is none, the surviving
    replica suspends I/O. This module lifts that, for the resources that need it, and puts it back afterwards.
  - O(state=present) first reads the Kubernetes Nodes of the other room (label O(zone_label) with that room's zone)
    and refuses unless every one of them carries twinroom.ha.fence's C(twinroom.io/fenced) record and the
    C(node.kubernetes.io/out-of-service) taint, and every LINSTOR node of that room is one of them. With quorum
    off on both sides of a cut link, both rooms would write and the copies would diverge.
  - It then sets C(DrbdOptions/Resource/quorum=off) on each resource in the surviving room of every resource
    definition whose surviving replicas would not keep quorum without the other room (as
    M(twinroom.ha.linstor_resource_info) reports it) and that has an UpToDate diskful replica there. The property
    is set on the resources (per node), which LINSTOR's satellite puts before the definition's and the group's when it
    writes that node's DRBD configuration - the lost room's replicas keep their setting. The value it replaces is
    recorded in the same resource's C(Aux/twinroom.io/quorum-override) property (JSON - time, rooms, previous value).
  - O(state=absent) puts each recorded value back (deletes the property when there was none) and removes the record,
    for the overrides made for O(surviving_room). It does not need the fencing records. It first waits, up to
    O(wait_timeout), until the returning room's diskful replicas of those resources are UpToDate, and refuses -
    changing nothing - while any is not, since with quorum back on DRBD would suspend I/O there again if the other
    room failed before the resync. C(recover.yml) runs it before it clears the out-of-service taints.
  - A second run changes nothing; an override already in place keeps its first record, so the value it restores
    is never C(off).
options:
  surviving_room:
    description:
      - The room that is still up (a key of O(rooms)). The other room is the one that was lost.
    type: str
    required: true
  state:
    description:
      - V(present) - the override is in place on the surviving room's resources that need it.
      - V(absent) - the values recorded by the override are back and the records are gone.
    type: str
    choices: [present, absent]
    default: present
  wait_timeout:
    description:
      - O(state=absent) - seconds to wait for the returning room's replicas to be UpToDate before refusing. V(0)
        does not wait.
    type: int
    default: 600
  allow_outdated:
    description:
      - O(state=absent) - restore quorum even where a returning replica is not UpToDate (a warning names each).
    type: bool
    default: false
extends_documentation_fragment:
  - twinroom.ha.linstor_api
  - twinroom.ha.linstor_api.rooms
  - twinroom.ha.linstor_api.resources
  - twinroom.ha.kubeconfig
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Checks the fencing records and reports the changes it would make in RV(changes); writes nothing.
  diff_mode:
    support: full
    details: Per resource and node, the quorum property and the override record before and after.
  platform:
    platforms: posix
notes:
  - DRBD resumes suspended I/O once the resource has quorum again; with quorum off it has. This was exercised
    against a stand-in for the LINSTOR controller only (no DRBD on the test machine) - verify the resume on real
    hardware before relying on it in a drill.
  - The refusal reads the fencing records from the API server of O(context); during a failover use the surviving
    room's context, after the datastore takeover.
seealso:
  - module: twinroom.ha.linstor_resource_info
  - module: twinroom.ha.fence
'''

EXAMPLES = r'''
- name: Room A is fenced; let room B's replicas run without quorum where they lost it
  twinroom.ha.linstor_quorum_override:
    surviving_room: room_b
    controller_url: http://linstor-controller.piraeus-datastore.svc:3370
    context: room-b
  delegate_to: localhost
  run_once: true

- name: What would the override change? (reads only)
  twinroom.ha.linstor_quorum_override:
    surviving_room: room_b
    resource_group: twinroom-vms
    controller_url: http://linstor-controller.piraeus-datastore.svc:3370
    context: room-b
  check_mode: true
  diff: true

- name: Room A is back and resynced; restore quorum
  twinroom.ha.linstor_quorum_override:
    surviving_room: room_b
    state: absent
    controller_url: http://linstor-controller.piraeus-datastore.svc:3370
'''

RETURN = r'''
surviving_room:
  description: The value of O(surviving_room).
  returned: always
  type: str
  sample: room_b
lost_room:
  description: The other room.
  returned: always
  type: str
  sample: room_a
fenced_nodes:
  description: The other room's Nodes found fenced (O(state=present)); null with O(state=absent).
  returned: always
  type: list
  elements: str
  sample: [a-cp1, a-w1, a-w2]
changes:
  description:
    - One entry per resource and node changed (or, in check mode, to change) - C(resource), C(node), C(set)
      (properties set) and C(delete) (properties deleted).
  returned: always
  type: list
  elements: dict
  sample:
    - resource: pvc-4f1c
      node: b-w1
      delete: []
      set:
        DrbdOptions/Resource/quorum: "off"
        Aux/twinroom.io/quorum-override: >-
          {"at":"2026-11-21T17:12:40Z","by":"twinroom.ha.linstor_quorum_override","lost_room":"room_a",
          "previous":{"DrbdOptions/Resource/quorum":null},"surviving_room":"room_b"}
left_alone:
  description: Resource definitions O(state=present) leaves alone, with the reason; empty with O(state=absent).
  returned: always
  type: dict
  sample: {pvc-9a20: keeps quorum without room_a}
diff:
  description: Per C(resource@node), the quorum property and the override record before and after.
  returned: when diff mode is on
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.k8s import HAS_KUBERNETES
from ansible_collections.twinroom.ha.plugins.module_utils.linstor_quorum_runner import (
    HAS_LINSTOR,
    LinstorQuorumError,
    linstor_argument_spec,
    run_quorum_override,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=linstor_argument_spec(
            kubernetes=True,
            surviving_room=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            resource_group=dict(type='str'),
            resources=dict(type='list', elements='str'),
            wait_timeout=dict(type='int', default=600),
            allow_outdated=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    if not HAS_LINSTOR:
        module.fail_json(msg=missing_required_lib('python-linstor'))
    if module.params['state'] == 'present' and not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    finish(module, run_quorum_override, LinstorQuorumError, module.params, check_mode=module.check_mode,
           diff=module._diff)


if __name__ == '__main__':
    main()
