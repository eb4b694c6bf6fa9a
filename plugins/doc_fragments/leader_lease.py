# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Which leader leases twinroom.ha.leader_lease and leader_lease_info look at, and when one counts as stale.
    DOCUMENTATION = r'''
options:
  names:
    description: The leases to look at.
    type: list
    elements: str
    default: [kube-controller-manager, kube-scheduler]
  namespace:
    description: Their namespace.
    type: str
    default: kube-system
  margin:
    description:
      - Seconds a lease may go unrenewed beyond its duration before it counts as stale, for the clocks of its
        holder and of the API server.
    type: int
    default: 5
  api_timeout:
    description: Seconds each API request may take.
    type: int
    default: 10
'''
