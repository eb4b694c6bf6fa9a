# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: workloads_waiting
short_description: The lost room's workloads that do not yet run in the surviving room
version_added: 0.1.0
description:
  - Compares the pods before a failover with the pods now. For every controller (Deployment's ReplicaSet,
    StatefulSet, VirtualMachineInstance launcher owner...; not DaemonSets) that had a pod on a node of the lost
    room, counts its pods running, not terminating, outside the lost room, and returns those still short of the
    count they had before.
extends_documentation_fragment:
  - twinroom.ha.workloads
"""

EXAMPLES = r"""
- name: Wait for the workloads
  kubernetes.core.k8s_info:
    kind: Pod
  register: now
  until: before.resources | twinroom.ha.workloads_waiting(now.resources, groups['room_a']) | length == 0
  retries: 120
  delay: 1
"""

RETURN = r"""
_value:
  description: One line per controller still short, C(namespace/Kind/name - k of n running).
  type: list
  elements: str
"""

from ansible_collections.twinroom.ha.plugins.module_utils.workloads import workloads_waiting


class FilterModule(object):
    def filters(self):
        return {"workloads_waiting": workloads_waiting}
