#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: piraeus_satellite_configuration_info
short_description: Read the Piraeus LinstorSatelliteConfigurations - never changes anything
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Returns the C(piraeus.io/v1) C(LinstorSatelliteConfiguration) objects (node selector, storage pools, properties)
    as the API server has them, without changing anything; the read-only twin of
    M(twinroom.ha.piraeus_satellite_configuration).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.piraeus_k8s.info
seealso:
  - module: twinroom.ha.piraeus_satellite_configuration
"""

EXAMPLES = r"""
- name: Storage pools configured for room A
  twinroom.ha.piraeus_satellite_configuration_info:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    name: twinroom-room-a
  register: room_a

- name: Show them
  ansible.builtin.debug:
    msg: "{{ room_a.resources[0].spec.storagePools | default([]) }}"
"""

RETURN = r"""
resources:
  description: The matching LinstorSatelliteConfiguration objects as the API server returns them; an empty list when there is none.
  returned: success
  type: list
  elements: dict
"""

from ansible_collections.twinroom.ha.plugins.module_utils import piraeus_k8s


def main():
    piraeus_k8s.info_main('LinstorSatelliteConfiguration')


if __name__ == '__main__':
    main()
