#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: linstor_resource_info
short_description: Report, per LINSTOR resource, which room holds each replica and who keeps quorum if a room is lost
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads nodes, resource definitions and resources (C(GET /v1/view/resources)) from the LINSTOR controller and
    reports for each resource - the room of each diskful replica and its disk state, where the diskless
    tiebreaker is, and, for each room, whether the replicas outside it would keep DRBD quorum if that room were
    lost.
  - Quorum follows DRBD's rule for C(quorum majority) with diskless tiebreakers - the remaining nodes keep quorum
    with more than half of the diskful replicas, or with exactly half and more than half of the diskless voters
    (the tiebreaker, and any diskless resource that is not a DRBD client). Inactive and deleted resources do not
    vote.
  - Changes nothing.
extends_documentation_fragment:
  - twinroom.ha.linstor_api
  - twinroom.ha.linstor_api.rooms
  - twinroom.ha.linstor_api.info
  - twinroom.ha.linstor_api.resources
  - ansible.builtin.action_common_attributes
seealso:
  - module: twinroom.ha.linstor_quorum_override
  - module: twinroom.ha.linstor_resource_group
'''

EXAMPLES = r'''
- name: Where are the VM disks, and which room's loss would suspend their I/O?
  twinroom.ha.linstor_resource_info:
    resource_group: twinroom-vms
    controller_url: http://linstor-controller.piraeus-datastore.svc:3370
  register: storage

- name: Resources that would need the quorum override if room A were lost
  ansible.builtin.debug:
    msg: "{{ storage.resources | dict2items | rejectattr('value.keeps_quorum_if_lost.room_a') | map(attribute='key') }}"
'''

RETURN = r'''
rooms:
  description: The value of O(rooms).
  returned: always
  type: dict
  sample: {room_a: room-a, room_b: room-b}
nodes:
  description: Every LINSTOR node with its room (null outside both rooms), zone and whether the controller sees it ONLINE.
  returned: always
  type: dict
  sample: {a-w1: {room: room_a, zone: room-a, online: true}, witness1: {room: null, zone: witness, online: true}}
resources:
  description: Per resource (keyed by name), where its replicas are and what losing a room would do.
  returned: always
  type: dict
  contains:
    resource_group:
      description: The resource group of the resource definition.
      type: str
    diskful:
      description: The diskful replicas - C(node), C(room), C(zone), C(online), C(disk_states) (one per volume,
        as DRBD reports it, V(Unknown) when the controller has no state), C(up_to_date) (every volume UpToDate).
      type: list
      elements: dict
    tiebreaker:
      description: The diskless tiebreaker LINSTOR placed (C(node), C(room), C(zone), C(online)); null when there is none.
      type: dict
    diskless:
      description: Other diskless resources (C(node), C(room), C(zone), C(online), C(voter)); a diskless resource
        that is not a DRBD client votes like a tiebreaker.
      type: list
      elements: dict
    keeps_quorum_if_lost:
      description: Per room, whether the replicas outside it keep quorum if it is lost. V(false) means I/O is
        suspended after that loss until M(twinroom.ha.linstor_quorum_override), once the room is fenced.
      type: dict
    up_to_date_if_lost:
      description: Per room, whether an UpToDate diskful replica is left if that room is lost.
      type: dict
    quorum_override:
      description: Quorum overrides in place, per node - the parsed C(Aux/twinroom.io/quorum-override) record.
      type: dict
    problems:
      description: What is wrong with the placement (both copies in one room, a replica outside both rooms, no
        tiebreaker).
      type: list
      elements: str
  sample:
    pvc-4f1c: {resource_group: twinroom-vms, tiebreaker: {node: witness1, room: null, zone: witness, online: true},
               diskful: [{node: a-w1, room: room_a, zone: room-a, online: true, disk_states: [UpToDate], up_to_date: true},
                         {node: b-w1, room: room_b, zone: room-b, online: true, disk_states: [UpToDate], up_to_date: true}],
               diskless: [], keeps_quorum_if_lost: {room_a: true, room_b: true},
               up_to_date_if_lost: {room_a: true, room_b: true}, quorum_override: {}, problems: []}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils.linstor_quorum_runner import (
    HAS_LINSTOR,
    LinstorQuorumError,
    linstor_argument_spec,
    run_resource_info,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=linstor_argument_spec(
            resource_group=dict(type='str'),
            resources=dict(type='list', elements='str'),
        ),
        supports_check_mode=True,
    )
    if not HAS_LINSTOR:
        module.fail_json(msg=missing_required_lib('python-linstor'))
    finish(module, run_resource_info, LinstorQuorumError, module.params)


if __name__ == '__main__':
    main()
