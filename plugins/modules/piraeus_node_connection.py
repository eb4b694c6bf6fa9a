#!/usr/bin/python
# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: piraeus_node_connection
short_description: DRBD settings of the connections between the rooms (Piraeus LinstorNodeConnection)
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Creates, updates or deletes a cluster-scoped C(piraeus.io/v1) C(LinstorNodeConnection) whose selector is
    O(zone_label) with C(op=NotSame) - every pair of nodes in different rooms, that is every connection that
    crosses the link between the rooms.
  - On those connections it sets the DRBD replication protocol (V(C), synchronous, by default) and, with
    O(interface), a replication path over a dedicated network interface.
  - Keeping the two replicas of a volume in different rooms is the StorageClass's C(replicasOnDifferent)
    (M(twinroom.ha.vm_storage_class)); this object configures the connection between those replicas.
  - Reads the object first and writes by server-side apply (field manager C(twinroom.ha)); check mode is a
    server-side dry run and C(--diff) shows the object before and after. A second run changes nothing.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - twinroom.ha.piraeus_k8s
options:
  name:
    description: Name of the LinstorNodeConnection.
    type: str
    default: twinroom-cross-room
  zone_label:
    description: The node label that names a node's room; connections between different values are selected.
    type: str
    default: topology.kubernetes.io/zone
  protocol:
    description:
      - DRBD replication protocol across the rooms (C(DrbdOptions/Net/protocol)). V(C) acknowledges a write
        once both rooms have it, so a room can be lost without losing acknowledged writes; V(A) and V(B) do not.
    type: str
    choices: [A, B, C]
    default: C
  interface:
    description:
      - Name of a LINSTOR node network interface to replicate over between the rooms (C(spec.paths)). It must be
        registered on every node first (C(linstor node interface create <node> <interface> <address>)).
      - Leave out to replicate over the satellite's default interface.
    type: str
  path_name:
    description: Name of the path over O(interface).
    type: str
    default: replication
  properties:
    description: More DRBD or LINSTOR properties of the selected connections, name to value.
    type: dict
requirements:
  - The Piraeus operator's CRDs installed on the API server
seealso:
  - module: twinroom.ha.piraeus_node_connection_info
  - module: twinroom.ha.vm_storage_class
"""

EXAMPLES = r"""
- name: Synchronous replication between the rooms, over the dedicated link NIC
  twinroom.ha.piraeus_node_connection:
    kubeconfig: /etc/twinroom/admin.kubeconfig
    interface: link0

- name: Cross-room connections with a longer DRBD timeout
  twinroom.ha.piraeus_node_connection:
    properties:
      DrbdOptions/Net/timeout: "90"
"""

RETURN = r"""
result:
  description: The LinstorNodeConnection as the API server returned it (as it would be, in check mode).
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
    return piraeus.node_connection(params['name'], zone_label=params['zone_label'], protocol=params['protocol'],
                                   interface=params['interface'], path_name=params['path_name'],
                                   properties=params['properties'], labels=params['labels'])


def main():
    module = piraeus_k8s.make_module(piraeus_k8s.argument_spec(
        name=dict(type='str', default='twinroom-cross-room'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        zone_label=dict(type='str', default=piraeus.ZONE_LABEL),
        protocol=dict(type='str', choices=['A', 'B', 'C'], default='C'),
        interface=dict(type='str'),
        path_name=dict(type='str', default='replication'),
        properties=dict(type='dict'),
        labels=dict(type='dict'),
    ))
    finish(module, piraeus_k8s.run, piraeus.PiraeusError, module, build)


if __name__ == '__main__':
    main()
