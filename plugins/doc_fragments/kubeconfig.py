# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Which API server the module talks to. A small fragment of ours rather than kubernetes.core's
    # k8s_auth_options: that one brings host, api_key, proxy, ... and its validate_certs would clash with the
    # BMC's. Matches the kubeconfig part of fence_argument_spec() in plugins/module_utils/bmc.py.
    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path to the kubeconfig file for the cluster's API server.
      - Defaults to the kubernetes client's default, C($KUBECONFIG) or C(~/.kube/config).
    type: path
  context:
    description:
      - The kubeconfig context to use. Defaults to the file's current context.
      - When a room is lost, use the context of the room that is still up (each room has its own API server).
    type: str
requirements:
  - The C(kubernetes) Python library where the module runs
'''
