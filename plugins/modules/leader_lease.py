#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: leader_lease
short_description: Release the control plane's leader leases that nobody renews any more
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - One kube-controller-manager and one kube-scheduler lead for both rooms, each through a Lease. When the leader's
    room is lost, its lease stays until it expires, and a candidate in the surviving room waits a full lease
    duration from when it first saw it. With O(state=released), each stale lease - not renewed for longer than its
    C(leaseDurationSeconds) plus O(margin), so its holder has stopped leading (client-go gives up at its renew
    deadline, shorter than the duration) - is deleted, and a candidate takes it at once.
  - Only stale leases are deleted, each on the C(resourceVersion) it was read with. When the API server answers
    409 (or 404), a candidate renewed or took the lease in between - which is what the release is for - and that
    lease is reported as C(taken), not as a failure. Fresh leases, free ones (no holder) and absent ones are left
    alone.
  - Ages are computed on the API server's clock, read from its HTTP C(Date) header (on the controller's clock
    when there is none).
  - Check mode reads the leases and asks the API server for a dry run of each deletion.
  - See M(twinroom.ha.leader_lease_info) for the same report without any change.
extends_documentation_fragment:
  - twinroom.ha.kubeconfig
  - twinroom.ha.leader_lease
  - ansible.builtin.action_common_attributes
options:
  state:
    description: V(released) - the stale leases are deleted.
    type: str
    choices: [released]
    default: released
attributes:
  check_mode:
    support: full
    details: Reads the leases and asks the API server for a dry run of each deletion (precondition included).
  diff_mode:
    support: full
    details: Each lease's holder and renewTime before and after.
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Release the leader leases nobody renews (their holder was in the lost room)
  twinroom.ha.leader_lease:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    context: room-b
    state: released
  register: leaders

- name: Show which were released
  ansible.builtin.debug:
    msg: "{{ leaders.leases | selectattr('released') | map(attribute='name') | list }}"
'''

RETURN = r'''
leases:
  description:
    - Per lease, in the order of O(names) - C(name), C(holder) (null when nobody holds it), C(renewed) (its
      renewTime), C(age) (seconds since then), C(duration) (its leaseDurationSeconds), C(state) as read (V(fresh),
      V(stale), V(free) or V(absent)), C(outcome) (V(released), V(taken) - a candidate took it between the read and
      the delete - or the C(state) when nothing was tried) and C(released) (it was deleted; in check mode, it
      would be).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: kube-controller-manager, holder: b-cp1_0e4a, renewed: '2026-12-03T16:53:30.000001Z', age: 1.2,
       duration: 15, state: fresh, outcome: fresh, released: false}
    - {name: kube-scheduler, holder: a-cp1_5c1d, renewed: '2026-12-03T16:52:49.123456Z', age: 41.2, duration: 15,
       state: stale, outcome: released, released: true}
clock_skew:
  description: The API server's clock minus the controller's, in seconds (C(offset_s)), and its uncertainty (C(uncertainty_s)).
  returned: when the API answered with a Date header
  type: dict
diff:
  description: With C(--diff), each lease's holder and renewTime before, and after (a released lease is gone).
  returned: when diff mode is on
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.twinroom.ha.plugins.module_utils import k8s
from ansible_collections.twinroom.ha.plugins.module_utils.leader_lease import LeaderLeaseError
from ansible_collections.twinroom.ha.plugins.module_utils.leader_lease_runner import (
    leader_lease_argument_spec,
    run_leader_lease,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=leader_lease_argument_spec(state=dict(type='str', choices=['released'], default='released')),
        supports_check_mode=True)
    if not k8s.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'))
    finish(module, run_leader_lease, LeaderLeaseError, module.params, check_mode=module.check_mode,
           diff=module._diff)


if __name__ == '__main__':
    main()
