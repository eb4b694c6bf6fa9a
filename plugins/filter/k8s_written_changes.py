# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: k8s_written_changes
short_description: The objects a kubernetes.core.k8s write really changed
version_added: 0.1.0
description:
  - C(kubernetes.core.k8s) calls an object changed when anything differs between its read and the object the API
    server returned, so an object whose status a controller updated in between counts as changed (a new
    C(resourceVersion), C(managedFields) and C(status)). This filter judges the write's diff without status and
    the metadata the API server keeps (C(resourceVersion), C(generation), C(managedFields), C(uid),
    C(creationTimestamp)) and returns C(Kind/name) of each object that changed beyond them.
  - Needs the write's diff (the task's C(diff) keyword set to true); a result without one counts as the module says.
  - With a server-side apply the module's diff may show only metadata although the write changed the object, so
    with O(field_manager) a change of the fields that manager owns (its C(managedFields) entry) counts too.
options:
  _input:
    description: The registered result of a C(kubernetes.core.k8s) task, or the list of per-object results of a
      multi-document write (C(.result.results)).
    type: raw
    required: true
  field_manager:
    description: The field manager of a server-side apply (C(server_side_apply.field_manager)).
    type: str
"""

EXAMPLES = r"""
- name: Apply CoreDNS
  kubernetes.core.k8s:
    definition: "{{ lookup('ansible.builtin.template', 'coredns.yaml.j2') | ansible.builtin.from_yaml_all | list }}"
    apply: true
    server_side_apply: {field_manager: twinroom.ha.cluster_dns}
  diff: true
  register: applied
  changed_when: >-
    applied.result.results | default(applied) | twinroom.ha.k8s_written_changes('twinroom.ha.cluster_dns') | length > 0
"""

RETURN = r"""
_value:
  description: C(Kind/name) of each changed object, in the order written.
  type: list
  elements: str
"""

from ansible_collections.twinroom.ha.plugins.module_utils.object_diff import written_changes


def k8s_written_changes(results, field_manager=None):
    return written_changes(results, field_manager)


class FilterModule(object):
    def filters(self):
        return {'k8s_written_changes': k8s_written_changes}
