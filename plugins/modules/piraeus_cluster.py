#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: piraeus_cluster
short_description: The Piraeus operator's LinstorCluster (LINSTOR controller, CSI driver, satellites)
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Creates, updates or deletes the cluster-scoped C(piraeus.io/v1) C(LinstorCluster) that tells the Piraeus
    operator v2 to run the LINSTOR controller and the CSI driver, and on which nodes satellites run.
  - Reads the object first and writes by server-side apply (field manager C(twinroom.ha)); check mode is a
    server-side dry run and C(--diff) shows the object before and after. A second run changes nothing.
  - Fails, without writing, when the API server would drop an option because its Piraeus CRDs are older than
    the option.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.piraeus_k8s
options:
  name:
    description: Name of the LinstorCluster. The operator manages one per cluster.
    type: str
    default: linstorcluster
  node_selector:
    description:
      - Node labels that select the nodes running LINSTOR satellites (C(spec.nodeSelector)). Nodes left out
        cannot run workloads that use a Piraeus volume.
    type: dict
  properties:
    description:
      - LINSTOR controller properties, name to value (C(spec.properties)); for cluster-wide DRBD defaults such
        as C(DrbdOptions/Net/rr-conflict).
    type: dict
  repository:
    description: Registry the operator pulls the Piraeus images from (C(spec.repository)).
    type: str
  external_controller_url:
    description: URL of a LINSTOR controller that runs outside the cluster (C(spec.externalController.url)).
    type: str
requirements:
  - The Piraeus operator's CRDs installed on the API server
seealso:
  - module: twinroom.ha.piraeus_cluster_info
  - module: twinroom.ha.piraeus_satellite_configuration
"""

EXAMPLES = r"""
- name: LINSTOR cluster with satellites on the nodes of both rooms
  twinroom.ha.piraeus_cluster:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    node_selector:
      twinroom.io/storage: "true"
    properties:
      DrbdOptions/Net/rr-conflict: retry-connect

- name: Remove it
  twinroom.ha.piraeus_cluster:
    state: absent
"""

RETURN = r"""
result:
  description: The LinstorCluster as the API server returned it (as it would be, in check mode).
  returned: success
  type: dict
method:
  description: What was done - C(apply) or C(delete).
  returned: success
  type: str
diff:
  description: The object before and after, when run with C(--diff).
  returned: when diff mode is on and something changes
  type: dict
"""

from ansible_collections.twinroom.ha.plugins.module_utils import piraeus, piraeus_k8s
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def build(params):
    return piraeus.linstor_cluster(params['name'], node_selector=params['node_selector'],
                                   properties=params['properties'], repository=params['repository'],
                                   external_controller_url=params['external_controller_url'],
                                   labels=params['labels'])


def main():
    module = piraeus_k8s.make_module(piraeus_k8s.argument_spec(
        name=dict(type='str', default='linstorcluster'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        node_selector=dict(type='dict'),
        properties=dict(type='dict'),
        repository=dict(type='str'),
        external_controller_url=dict(type='str'),
        labels=dict(type='dict'),
    ))
    finish(module, piraeus_k8s.run, piraeus.PiraeusError, module, build)


if __name__ == '__main__':
    main()
