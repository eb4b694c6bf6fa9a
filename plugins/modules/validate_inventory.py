# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done by the action plugin of the same name, on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: validate_inventory
short_description: Check the inventory against the twinroom two-room model
version_added: 0.1.0
author: twinroom developers (@twinroom)
description:
  - Reads the C(groups) and the inventory variables of every node and checks them against the
    rules of the twinroom inventory model (C(docs/inventory-model.md) in the collection).
  - "Rules checked; the rule name appears in each message:"
  - V(room-not-empty) - groups C(room_a) and C(room_b) exist and have hosts.
  - V(one-control-plane-per-room) - exactly one node of each room is in group C(control_plane).
  - V(room-exclusive) - no host is in both rooms.
  - V(node-in-room) - every host of C(control_plane) and C(workers) is in a room.
  - V(zone-per-room) - C(twinroom_zone) is set for each room, agrees within the room, is a valid
    Kubernetes label value and differs between the rooms.
  - V(fence-method) - C(twinroom_fence_method) is one of V(redfish), V(ipmi). V(none) is refused, since
    M(twinroom.ha.fence), which C(failover.yml) calls, fences only through a BMC; a room whose BMCs are dark is
    fenced with V(redfish) or V(ipmi) and the operator's typed confirmation (C(confirm_room_down=true)).
  - V(bmc-address) - C(twinroom_bmc_address) is set on every room node fenced by Redfish or IPMI.
  - V(bmc-systems-uri) - C(twinroom_bmc_systems_uri) is a C(/redfish/v1/Systems/<id>) path on every
    room node fenced by Redfish.
  - V(bmc-unique) - no two room nodes name the same BMC system, so fencing one never powers off another - the
    same C(twinroom_bmc_address) and C(twinroom_bmc_port) (default 443 for Redfish, 623 for IPMI), and for Redfish
    the same C(twinroom_bmc_systems_uri). One Redfish BMC may serve several nodes, each with its own systems URI.
  - V(witness-enabled) - C(twinroom_witness_enabled) is a boolean.
  - V(witness-present) - a host is in group C(witness) when C(twinroom_witness_enabled) is true.
  - V(witness-outside-rooms) - no host of group C(witness) is in a room.
  - V(required-variable) - every variable named in O(required_vars) is set on every room node.
  - V(stand-ins-known) - C(twinroom_stand_ins) is a list of the collection's lab stand-ins
    (V(kwok), V(piraeus-without-operator)).
  - V(stand-in-declared) - every lab stand-in the inventory selects, on the room nodes or on the controller
    (C(localhost)), by a value or by leaving a role default (C(node_agent_kind=kwok), C(storage_layer_mode=lab)),
    is listed in C(twinroom_stand_ins). The role defaults are read from the collection's roles.
  - V(binary-source) - the control-plane binaries (C(control_plane_binary_url)) and kine (C(kine_datastore_kine_url))
    have a download URL.
  - V(binary-checksum) - each control-plane binary has a checksum, pinned in C(control_plane_binary_checksums) or
    from C(control_plane_binary_checksum_url), and C(kine_datastore_kine_checksum) is C(sha256:<hex digest>) or
    C(sha256:<URL of a checksum file>) (it has no default).
  - V(automatic-failover) - when C(twinroom_automatic_failover) is true, C(twinroom_detect_seconds) (1 to 10,
    default 10), C(twinroom_isolation_seconds) (greater than C(twinroom_detect_seconds), default 30),
    C(twinroom_margin_seconds) (0 or more, default 10) and C(twinroom_preferred_room) (V(room_a), V(room_b) or unset)
    are valid and the same on every room node and witness. A witness votes when group C(witness) has hosts.
  - V(variable-evaluates) - the variables above can be evaluated (no undefined references).
  - "Fails listing B(all) problems at once. The first line of the message is
    'Inventory is not valid: N problem(s); nothing was changed.', then comes one line per problem."
  - Runs entirely on the controller and never connects to any host; it never changes anything.
  - Only the variables named above are evaluated, so BMC credentials kept in ansible-vault are
    never decrypted or shown.
options:
  required_vars:
    description:
      - Names of further variables that every room node must define (for example
        V(twinroom_node_address)).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Check mode makes no difference; the module never changes anything.
  connection:
    support: none
  delegation:
    support: none
    details: The module runs on the controller whatever the target host is.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Run it once per play (C(run_once=true)); the result does not depend on the target host.
  - The role C(twinroom.ha.validate_inventory) and the playbook C(twinroom.ha.validate) wrap it.
seealso:
  - module: ansible.builtin.assert
"""

EXAMPLES = r"""
- name: Validate the inventory before anything changes
  twinroom.ha.validate_inventory:
  run_once: true

- name: Also require the cluster address of every node
  twinroom.ha.validate_inventory:
    required_vars:
      - twinroom_node_address
  run_once: true
"""

RETURN = r"""
msg:
  description:
    - On success, a one-line summary.
    - "On failure, 'Inventory is not valid: N problem(s); nothing was changed.' followed by one
      line per problem, each '- Inventory rule <rule> failed for <host or group>: <what is wrong and what to do>'."
  returned: always
  type: str
  sample: >-
    Inventory is valid: room_a (zone room-a): 3 node(s), control plane a-cp1;
    room_b (zone room-b): 3 node(s), control plane b-cp1; fence method redfish; witness off.
violations:
  description: Every problem found; empty when the inventory is valid.
  returned: always
  type: list
  elements: dict
  contains:
    rule:
      description: Name of the rule that failed.
      type: str
      sample: one-control-plane-per-room
    subject:
      description: The host or group the problem is about.
      type: str
      sample: room_b
    message:
      description: What is wrong and what to do, as in RV(msg).
      type: str
      sample: >-
        Inventory rule 'one-control-plane-per-room' failed for room_b: no host of room_b is in group
        control_plane. Put exactly one node of each room in control_plane.
rooms:
  description: For each room, its zone, control-plane node, workers and all nodes.
  returned: success
  type: dict
  sample:
    room_a:
      zone: room-a
      control_plane: [a-cp1]
      workers: [a-w1, a-w2]
      nodes: [a-cp1, a-w1, a-w2]
    room_b:
      zone: room-b
      control_plane: [b-cp1]
      workers: [b-w1, b-w2]
      nodes: [b-cp1, b-w1, b-w2]
fence_method:
  description: The fence method of the room nodes (comma-separated when nodes differ).
  returned: success
  type: str
  sample: redfish
witness_enabled:
  description: Whether a third-site witness is part of the cluster.
  returned: success
  type: bool
  sample: false
witness:
  description: Hosts of group C(witness).
  returned: success
  type: list
  elements: str
  sample: []
"""
