# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The nodes to fence and how to reach their BMCs through the fence agents.
    # Matches the BMC part of fence_argument_spec() in plugins/module_utils/bmc.py.
    DOCUMENTATION = r'''
options:
  nodes:
    description:
      - The nodes, each with its BMC. Every suboption also accepts the inventory variable's name as an alias
        (C(inventory_hostname), C(twinroom_bmc_address), ...), so a room's entries can be taken straight from
        C(hostvars) with C(community.general.keep_keys) (see the examples).
      - Per-node credentials, port and certificate check override the module-wide O(bmc_username),
        O(bmc_password), O(bmc_port) and O(validate_certs).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the node in Kubernetes (the Node object) and in messages; the inventory hostname.
        type: str
        required: true
        aliases: [inventory_hostname]
      bmc_address:
        description:
          - Address of the node's BMC.
          - Required to fence; without it M(twinroom.ha.fence_info) does not ask the BMC.
        type: str
        aliases: [twinroom_bmc_address]
      bmc_port:
        description:
          - Port of the node's BMC. Defaults to O(bmc_port), else 443 for Redfish and 623 for IPMI.
        type: int
        aliases: [twinroom_bmc_port]
      bmc_systems_uri:
        description:
          - Redfish path of the node's system, for example C(/redfish/v1/Systems/1). Required with
            O(fence_method=redfish).
        type: str
        aliases: [twinroom_bmc_systems_uri]
      bmc_username:
        description:
          - BMC user for this node. Defaults to O(bmc_username).
        type: str
        aliases: [twinroom_bmc_username]
      bmc_password:
        description:
          - BMC password for this node. Defaults to O(bmc_password). Never logged.
        type: str
        aliases: [twinroom_bmc_password]
      bmc_validate_certs:
        description:
          - Verify this node's BMC certificate (Redfish). Defaults to O(validate_certs).
        type: bool
        aliases: [twinroom_bmc_validate_certs]
  fence_method:
    description:
      - Which fence agent talks to the BMCs, the ones Pacemaker and MediK8s use.
      - V(redfish) runs C(fence_redfish) (HTTPS); V(ipmi) runs C(fence_ipmilan) (IPMI over LAN, C(method=onoff)).
    type: str
    choices: [redfish, ipmi]
    default: redfish
  bmc_username:
    description:
      - BMC user for every node without its own O(nodes[].bmc_username).
    type: str
  bmc_password:
    description:
      - BMC password for every node without its own O(nodes[].bmc_password).
      - Never logged and never put on a command line; the fence agent reads it on its standard input, as
        Pacemaker passes it.
    type: str
  bmc_port:
    description:
      - BMC port for every node without its own O(nodes[].bmc_port).
    type: int
  validate_certs:
    description:
      - Verify the BMC's TLS certificate (Redfish), for every node without its own O(nodes[].bmc_validate_certs).
    type: bool
    default: true
  ipmi_lanplus:
    description:
      - Use IPMI v2.0 (lanplus) with O(fence_method=ipmi).
    type: bool
    default: true
  api_timeout:
    description:
      - Seconds each request to the API server may take.
      - An API server whose datastore primary was in the lost room does not answer until the takeover; a
        failover that only needs the BMCs' answer then sets this low.
    type: int
    default: 20
  bmc_timeout:
    description:
      - Seconds a BMC has to answer. First a connection is opened (TCP for Redfish, an RMCP presence ping
        for IPMI); a BMC that does not take it in this time does not answer. Then the power state is read with
        the fence agent, which may take three times this plus five seconds; a BMC that takes the connection
        but does not answer in that time does not answer either.
    type: int
    default: 10
  bmc_bindings:
    description:
      - The bindings file M(twinroom.ha.bmc_binding) wrote on the controller (C(site.yml) keeps it in
        C(<twinroom_state_dir>/bmc-bindings.json)). For every node bound there, the BMC is asked which machine it
        controls (Redfish C(System.UUID), IPMI System GUID) before its power state counts. A BMC that reports
        another machine is never used to power off, or to count as off, that node; the request is refused naming
        both machines.
      - Nodes without a binding are judged by their BMC's power state alone.
    type: path
requirements:
  - The fence agents (Debian package C(fence-agents)) where the module runs - C(fence_redfish) or C(fence_ipmilan).
'''
