# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: failover_decision_problems
short_description: Whether failover.yml's failover_decision is a decision of the room watch
version_added: 0.1.0
description:
  - The automatic failover's rulebooks pass the room watch's decision to failover.yml as C(failover_decision), a
    mapping with C(reason) (text), C(votes) (a mapping of voter to vote), C(method) (text) and C(decided_at)
    (epoch seconds); failover.yml writes it into its report.
  - Returns an empty list for such a mapping, and for null (an operator's failover passes none); else one message
    naming the variable and each fault.
options:
  _input:
    description: The value of C(failover_decision), or null when it is not given.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Refuse a failover_decision that is not the room watch's decision
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join(' ') }}"
  vars:
    problems: "{{ failover_decision | default(none) | twinroom.ha.failover_decision_problems }}"
"""

RETURN = r"""
_value:
  description: Empty when the decision is usable or absent; else one message.
  type: list
  elements: str
"""

from ansible_collections.twinroom.ha.plugins.module_utils.room_events import decision_problems


class FilterModule(object):
    def filters(self):
        return {"failover_decision_problems": decision_problems}
