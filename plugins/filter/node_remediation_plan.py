# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: node_remediation_plan
short_description: MediK8s NodeHealthCheck, FenceAgentsRemediationTemplate and BMC Secrets for two rooms
version_added: 0.1.0
description:
  - Builds, from the inventory's room nodes, the objects the C(twinroom.ha.node_remediation) role applies - a
    C(FenceAgentsRemediationTemplate) for C(fence_redfish) with each node's C(--ip), C(--ipport) and
    C(--systems-uri), the BMC credentials as Secrets, and C(NodeHealthCheck) objects (one per room by default) -
    and the reasons it must not, in C(errors) of RV(_value).
  - A C(min_healthy) given as a percentage is refused - NodeHealthCheck rounds it up, and with one control-plane
    node per room 51% of 2 nodes is 2, so the first failure would block all remediation. So is a number at least
    as large as the nodes a check selects.
  - Its result holds the BMC passwords; register it with C(no_log).
options:
  _input:
    description:
      - The room nodes, each a dict with C(name), C(room) (V(room_a) or V(room_b)), C(zone), C(bmc_address),
        C(bmc_port), C(bmc_systems_uri), C(bmc_username), C(bmc_password), C(bmc_validate_certs) - or with the
        inventory's names for them (C(inventory_hostname), C(twinroom_zone), C(twinroom_bmc_address), ...).
    type: list
    elements: dict
    required: true
  namespace:
    description: Namespace of the template and the Secrets (where the Fence Agents Remediation operator works).
    type: str
    required: true
  template_name:
    description: Name of the C(FenceAgentsRemediationTemplate).
    type: str
    required: true
  secret_name:
    description: Name of the credential Secret; with different credentials per room, C(<name>-room-a) and C(<name>-room-b).
    type: str
    required: true
  health_checks:
    description: C(NodeHealthCheck) objects to make - C(name), C(selector), C(min_healthy), and C(room) or C(nodes)
      (how many nodes it selects). Empty - one per room.
    type: list
    elements: dict
    default: []
  min_healthy:
    description: C(minHealthy) of the per-room checks, an absolute number.
    type: raw
    default: 1
  name_prefix:
    description: Prefix of the per-room checks' names, followed by the room's zone.
    type: str
    default: twinroom
  unhealthy_conditions:
    description: Node conditions (C(type), C(status), C(duration)) that make a node unhealthy.
    type: list
    elements: dict
  remediation_strategy:
    description: FenceAgentsRemediation's C(remediationStrategy).
    type: str
    default: OutOfServiceTaint
  fence_method:
    description: The inventory's C(twinroom_fence_method); only V(redfish) is wired.
    type: str
    default: redfish
"""

EXAMPLES = r"""
- name: Work out the MediK8s objects
  ansible.builtin.set_fact:
    remediation: >-
      {{ nodes | twinroom.ha.node_remediation_plan(namespace='medik8s', template_name='twinroom-fence-redfish',
                                                   secret_name='twinroom-fence-credentials') }}
  no_log: true
"""

RETURN = r"""
_value:
  description:
    - C(errors) (list of messages; empty when the values work), C(namespace), C(secrets), C(template),
      C(health_checks) (Kubernetes objects).
  type: dict
"""

from ansible_collections.twinroom.ha.plugins.module_utils.remediation import plan


def node_remediation_plan(nodes, namespace, template_name, secret_name, health_checks=None, min_healthy=1,
                          name_prefix='twinroom', unhealthy_conditions=None, remediation_strategy='OutOfServiceTaint',
                          fence_method='redfish'):
    return plan(nodes, dict(namespace=namespace, template_name=template_name, secret_name=secret_name,
                            health_checks=health_checks or [], min_healthy=min_healthy, name_prefix=name_prefix,
                            unhealthy_conditions=unhealthy_conditions, remediation_strategy=remediation_strategy,
                            fence_method=fence_method))


class FilterModule(object):
    def filters(self):
        return {'node_remediation_plan': node_remediation_plan}
