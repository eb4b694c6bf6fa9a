# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: awx_survey_problems
short_description: What AWX would refuse in a survey spec, or a room question not offering the inventory's rooms
version_added: 0.1.0
description:
  - Checks an AWX/Tower survey spec (V(name), V(description), V(spec) with each question's V(question_name),
    V(variable), V(type), V(required), V(default), V(choices), V(min) and V(max)) the way AWX does before saving it.
  - A question setting C(lost_room) must be a V(multiplechoice) whose choices are exactly the inventory's rooms.
  - Returns one sentence per problem; an empty list means the spec is fine.
options:
  _input:
    description: The survey spec, as AWX's API takes it.
    type: dict
    required: true
  groups:
    description: The inventory's group names (C(groups.keys())); its rooms are the room groups among them.
    type: list
    elements: str
    required: true
  name:
    description: What to call the survey in the messages, for example its file name.
    type: str
    default: survey
"""

EXAMPLES = r"""
- name: Refuse a survey that AWX would reject or that offers rooms the inventory lacks
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join(' ') }}"
  vars:
    problems: >-
      {{ lookup('ansible.builtin.file', 'awx/surveys/failover.json') | from_json
         | twinroom.ha.awx_survey_problems(groups.keys() | list, name='failover.json') }}
"""

RETURN = r"""
_value:
  description: One sentence per problem, naming the survey, the question and what to change.
  type: list
  elements: str
"""

from ansible_collections.twinroom.ha.plugins.module_utils.awx_spec import inventory_rooms, survey_problems


def awx_survey_problems(survey, groups, name='survey'):
    return survey_problems(survey, rooms=inventory_rooms(groups), name=name)


class FilterModule(object):
    def filters(self):
        return {"awx_survey_problems": awx_survey_problems}
