#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: leader_lease_info
short_description: The control plane's leader leases - who holds them, and whether anyone still renews them
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads the leader leases of the control plane's singletons (by default C(kube-controller-manager) and
    C(kube-scheduler) in C(kube-system)) and reports, per lease, its holder, how long ago it was renewed and
    whether it is stale - not renewed for longer than its C(leaseDurationSeconds) plus O(margin), so no leader
    is behind it.
  - Ages are computed on the API server's clock, read from its HTTP C(Date) header (on the controller's clock
    when there is none).
  - The twin of M(twinroom.ha.leader_lease), which releases the stale ones. Never changes anything.
seealso:
  - module: twinroom.ha.leader_lease
extends_documentation_fragment:
  - twinroom.ha.kubeconfig
  - twinroom.ha.leader_lease
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
'''

EXAMPLES = r'''
- name: Who leads the controller-manager and the scheduler
  twinroom.ha.leader_lease_info:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    context: room-b
  register: leaders
'''

RETURN = r'''
leases:
  description:
    - Per lease, in the order of O(names) - C(name), C(holder) (null when nobody holds it), C(renewed) (its
      renewTime), C(age) (seconds since then), C(duration) (its leaseDurationSeconds), C(state) (V(fresh), V(stale),
      V(free) - no holder, or V(absent) - no such lease), C(outcome) (the same as C(state) here) and C(released)
      (always false here).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: kube-scheduler, holder: a-cp1_5c1d, renewed: '2026-12-03T16:52:49.123456Z', age: 41.2, duration: 15,
       state: stale, outcome: stale, released: false}
clock_skew:
  description: The API server's clock minus the controller's, in seconds (C(offset_s)), and its uncertainty (C(uncertainty_s)).
  returned: when the API answered with a Date header
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils import k8s
from ansible_collections.twinroom.ha.plugins.module_utils.leader_lease import LeaderLeaseError
from ansible_collections.twinroom.ha.plugins.module_utils.leader_lease_runner import (
    leader_lease_argument_spec,
    run_leader_lease_info,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(argument_spec=leader_lease_argument_spec(), supports_check_mode=True)
    if not k8s.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    finish(module, run_leader_lease_info, LeaderLeaseError, module.params)


if __name__ == '__main__':
    main()
