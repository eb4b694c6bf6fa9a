# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The modules that apply one Kubernetes object through plugins/module_utils/piraeus_k8s.py
    # (piraeus_cluster, piraeus_node_connection, piraeus_satellite_configuration, vm_storage_class), with
    # kubernetes.core.k8s_auth_options. Matches their state and labels options.
    DOCUMENTATION = r'''
options:
  state:
    description: V(present) makes the object match the options; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  labels:
    description: Labels of the object.
    type: dict
requirements:
  - The C(kubernetes) Python library where the module runs
'''

    # Their read-only twins (piraeus_k8s.run_info).
    INFO = r'''
options:
  name:
    description: Return only the object of this name. Without it, every object of the module's kind is returned.
    type: str
  label_selectors:
    description: Return only objects with these labels (C(key=value), C(key!=value), ...).
    type: list
    elements: str
requirements:
  - The C(kubernetes) Python library where the module runs
'''
