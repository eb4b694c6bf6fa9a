# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: failover_isolation_problems
short_description: Whether the room watch's isolation decision confirms that a lost room is down
version_added: 0.1.0
description:
  - The room watch decides a failover by isolation when a room is lost and its BMCs do not answer - the room's nodes
    power themselves off (their isolation guards, after C(twinroom_isolation_seconds) without contact), so the
    survivor takes over once the room's last contact + C(twinroom_isolation_seconds) + C(twinroom_margin_seconds)
    (the decision's C(not_before)) has passed. failover.yml takes such a decision as the confirmation that the room
    is down (fence with C(confirm_room_down) and C(room_down_by=isolation)) only when this filter returns nothing.
  - Returns an empty list when the decision's method is C(isolation), the inventory installs the isolation guards
    (C(twinroom_automatic_failover)), the lost room's nodes isolate themselves in this configuration (a witness, or
    C(twinroom_preferred_room) set to the other room), and O(now) is at or after C(not_before). Else one message
    naming each fault and what to do.
options:
  _input:
    description: The value of C(failover_decision), as the rulebook passes it (with C(not_before)).
    type: raw
    required: true
  lost_room:
    description: The room being failed over.
    type: str
    required: true
  now:
    description: The time to judge at, epoch seconds.
    type: float
    required: true
  automatic_failover:
    description: The inventory's C(twinroom_automatic_failover).
    type: bool
    required: true
  witness:
    description: Whether the inventory has hosts in group C(witness).
    type: bool
    required: true
  preferred_room:
    description: The inventory's C(twinroom_preferred_room), or null.
    type: str
"""

EXAMPLES = r"""
- name: Take the isolation decision as the confirmation that the room is down, or refuse
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join(' ') }}"
  vars:
    problems: >-
      {{ failover_decision | twinroom.ha.failover_isolation_problems(lost_room, now(utc=true).timestamp(),
         twinroom_automatic_failover | default(false) | bool, groups['witness'] | default([]) | length > 0,
         twinroom_preferred_room | default(none)) }}
"""

RETURN = r"""
_value:
  description: Empty when the decision confirms the room down; else one message.
  type: list
  elements: str
"""

from ansible_collections.twinroom.ha.plugins.module_utils.room_events import isolation_problems


def failover_isolation_problems(decision, lost_room, now, automatic_failover, witness, preferred_room=None):
    return isolation_problems(decision, lost_room, float(now), bool(automatic_failover), bool(witness),
                              preferred_room or None)


class FilterModule(object):
    def filters(self):
        return {"failover_isolation_problems": failover_isolation_problems}
