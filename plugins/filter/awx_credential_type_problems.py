# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: awx_credential_type_problems
short_description: What AWX would refuse in a custom credential type, or a variable it never injects
version_added: 0.1.0
description:
  - Checks an AWX/Tower custom credential type (V(name), V(kind), V(inputs) with its V(fields) and V(required),
    V(injectors) with V(extra_vars), V(env) and V(file)) the way AWX does before saving it.
  - Every input field must reach the job through an injector, and every variable in O(reads) must be one of the
    type's injected extra vars.
  - Returns one sentence per problem; an empty list means the credential type is fine.
options:
  _input:
    description: The credential type, with the keys the M(awx.awx.credential_type) module takes.
    type: dict
    required: true
  reads:
    description: The variables the playbooks read from a credential of this type.
    type: list
    elements: str
    default: []
  name:
    description: What to call the credential type in the messages, for example its file name.
    type: str
    default: credential type
"""

EXAMPLES = r"""
- name: Refuse a BMC credential type that would leave the BMC password unset
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join(' ') }}"
  vars:
    problems: >-
      {{ lookup('ansible.builtin.file', 'awx/credential_types/bmc.json') | from_json
         | twinroom.ha.awx_credential_type_problems(['twinroom_bmc_username', 'twinroom_bmc_password'], name='bmc.json') }}
"""

RETURN = r"""
_value:
  description: One sentence per problem, naming the credential type, the field or variable and what to change.
  type: list
  elements: str
"""

from ansible_collections.twinroom.ha.plugins.module_utils.awx_spec import credential_type_problems


def awx_credential_type_problems(credential_type, reads=(), name='credential type'):
    return credential_type_problems(credential_type, reads=reads, name=name)


class FilterModule(object):
    def filters(self):
        return {"awx_credential_type_problems": awx_credential_type_problems}
