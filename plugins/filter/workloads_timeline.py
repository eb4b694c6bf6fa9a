# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: workloads_timeline
short_description: When each of a lost room's workloads ran again in the surviving room
version_added: 0.1.0
description:
  - For every controller (not DaemonSets) that had a pod on a node of the lost room, the seconds from the
    failover's start until it had as many pods Ready outside the lost room as it had before.
  - Times come from the pods' Ready conditions (second resolution), so the timeline can be computed after the
    wait, from one listing.
extends_documentation_fragment:
  - twinroom.ha.workloads
options:
  started:
    description: The failover's start, epoch seconds.
    type: float
    required: true
"""

EXAMPLES = r"""
- name: Per-workload timeline for the failover report
  ansible.builtin.set_fact:
    timeline: "{{ before.resources | twinroom.ha.workloads_timeline(now.resources, groups['room_a'], started) }}"
"""

RETURN = r"""
_value:
  description:
    - One entry per workload, sorted by time; C(running_after_s) is null for a workload still short.
  type: list
  elements: dict
  sample:
    - {workload: shop/StatefulSet/db, pods: 2, moved: 1, running_after_s: 14.0}
"""

from ansible_collections.twinroom.ha.plugins.module_utils.workloads import workloads_timeline


class FilterModule(object):
    def filters(self):
        return {"workloads_timeline": workloads_timeline}
