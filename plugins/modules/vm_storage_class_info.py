#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_storage_class_info
short_description: Read StorageClasses - never changes anything
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Returns the C(storage.k8s.io/v1) C(StorageClass) objects (provisioner, parameters, binding mode)
    as the API server has them, without changing anything; the read-only twin of M(twinroom.ha.vm_storage_class).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.piraeus_k8s.info
seealso:
  - module: twinroom.ha.vm_storage_class
"""

EXAMPLES = r"""
- name: Read the VM StorageClass
  twinroom.ha.vm_storage_class_info:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    name: twinroom-vm
  register: vm_class

- name: Show its DRBD quorum settings
  ansible.builtin.debug:
    msg: "{{ vm_class.resources[0].parameters | dict2items | selectattr('key', 'match', 'DrbdOptions/') | list }}"
"""

RETURN = r"""
resources:
  description: The matching StorageClass objects as the API server returns them; an empty list when there is none.
  returned: success
  type: list
  elements: dict
"""

from ansible_collections.twinroom.ha.plugins.module_utils import piraeus_k8s


def main():
    piraeus_k8s.info_main('StorageClass', 'storage.k8s.io/v1')


if __name__ == '__main__':
    main()
