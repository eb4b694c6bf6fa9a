# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cluster_dns_spread
short_description: Which CoreDNS replica to move so that each room has one
version_added: 0.1.0
description:
  - From the CoreDNS Pods and the Nodes as the API returns them, says where each ready replica runs (by the nodes'
    C(topology.kubernetes.io/zone)), which rooms have none, which of those cannot take one yet (no node that runs
    containers, is schedulable, Ready, and free of the not-ready, unreachable, out-of-service and unschedulable
    taints), and which replica to delete - one of a room with several - so that its ReplicaSet creates it in a room
    without one. Used by the C(twinroom.ha.cluster_dns) role's C(spread) entry point.
options:
  _input:
    description: The CoreDNS Pods (C(k8s_info) resources).
    type: list
    elements: dict
    required: true
  nodes:
    description: The Nodes (C(k8s_info) resources).
    type: list
    elements: dict
    required: true
  rooms:
    description: The rooms' zones.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Plan the move
  ansible.builtin.set_fact:
    dns_plan: "{{ pods.resources | twinroom.ha.cluster_dns_spread(nodes.resources, ['room-a', 'room-b']) }}"
"""

RETURN = r"""
_value:
  description: C(placed) ({pod - room}), C(missing) (rooms without a ready replica), C(waiting) (those that cannot
    take one yet), C(move) (the replica to delete, empty for none), C(decided) (nothing left to wait for - a
    replica to move, or none missing).
  type: dict
"""

from ansible_collections.twinroom.ha.plugins.module_utils.dns_spread import plan


def cluster_dns_spread(pods, nodes, rooms):
    return plan(pods, nodes, rooms)


class FilterModule(object):
    def filters(self):
        return {'cluster_dns_spread': cluster_dns_spread}
