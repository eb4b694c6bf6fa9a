# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: datastore_primary
short_description: Which control-plane node is the kine datastore's primary
version_added: 0.1.0
description:
  - Decides, from what M(twinroom.ha.datastore_info) saw on each control-plane node, which node's PostgreSQL
    is the primary - a running primary; else, after every node was powered off, the one that was primary last
    (newest timeline); else, for a new pair, the configured initial primary.
  - Fails when two nodes run as primary, or were both last a primary on the same timeline, or when the only
    candidate would lose acknowledged writes or hold another cluster than the datastore (a rebuilt node).
options:
  _input:
    description: Mapping of host name to its C(datastore_info) result.
    type: dict
    required: true
  initial:
    description: Host that becomes primary when the pair has never run.
    type: str
    required: true
  history:
    description:
      - The controller's copy of the datastore history (see M(twinroom.ha.datastore)); each node's own copy,
        C(history) in its C(datastore_info) result, is merged in.
      - With a history, only a node that has every write the last primary acknowledged is chosen.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Decide the primary
  ansible.builtin.set_fact:
    primary: "{{ dict(groups['control_plane'] | zip(groups['control_plane'] | map('extract', hostvars, 'info')))
                 | twinroom.ha.datastore_primary(groups['control_plane'][0]) }}"
"""

RETURN = r"""
_value:
  description: The host name of the primary.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.twinroom.ha.plugins.module_utils.datastore_choice import PrimaryChoiceError, choose_primary


def datastore_primary(states, initial, history=None):
    try:
        return choose_primary(states, initial, history)
    except PrimaryChoiceError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"datastore_primary": datastore_primary}
