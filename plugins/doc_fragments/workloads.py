# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The pods before and after a failover and the lost room's nodes, as the filters workloads_waiting and
    # workloads_timeline take them (plugins/filter/workloads.py, plugins/filter/workloads_timeline.py).
    DOCUMENTATION = r'''
options:
  _input:
    description: Pods before the failover (C(resources) of M(kubernetes.core.k8s_info)).
    type: list
    elements: dict
    required: true
  pods_now:
    description: Pods now.
    type: list
    elements: dict
    required: true
  lost_nodes:
    description: Names of the lost room's nodes.
    type: list
    elements: str
    required: true
'''
