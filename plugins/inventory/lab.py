# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: lab
short_description: The twinroom lab's two rooms of podman "bare-metal" nodes
version_added: 0.1.0
description:
  - Generates the inventory of the lab bed that C(playbooks/lab.yml) builds on one machine
    with podman. Each room has one control-plane node and O(workers_per_room) workers; an optional
    witness node sits at a third site.
  - Hosts are reached over SSH (pipelining, ControlPersist) on their room network, with a key the lab
    bed generates; every room node has a Redfish BMC emulator on its own loopback address.
  - Groups follow the collection's inventory model (C(room_a), C(room_b), C(control_plane),
    C(workers), C(witness)), so the same roles run unchanged against a real site.
  - The configuration file must end in C(twinroom.yml) or C(twinroom.yaml).
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    required: true
    choices: [twinroom.ha.lab]
    type: str
  workers_per_room:
    description: Worker nodes in each room.
    type: int
    default: 2
    env:
      - name: TWINROOM_LAB_WORKERS_PER_ROOM
  witness:
    description: Add a witness node at a third site, reachable from both control-plane nodes.
    type: bool
    default: false
    env:
      - name: TWINROOM_LAB_WITNESS
  state_dir:
    description: The lab's state directory, which holds the SSH key that reaches the nodes.
    type: path
    default: /var/lib/twinroom-lab
    env:
      - name: TWINROOM_LAB_STATE
"""

EXAMPLES = r"""
# inventories/lab/lab.twinroom.yml
plugin: twinroom.ha.lab
workers_per_room: 2
witness: false
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

from ansible_collections.twinroom.ha.plugins.module_utils import lab_topology


class InventoryModule(BaseInventoryPlugin):

    NAME = "twinroom.ha.lab"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("twinroom.yml", "twinroom.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            nodes = lab_topology.build(self.get_option("workers_per_room"), self.get_option("witness"))
        except lab_topology.TopologyError as exc:
            raise AnsibleParserError("%s: %s" % (path, exc))

        for group in ("lab", "room_a", "room_b", "control_plane", "workers", "witness"):
            self.inventory.add_group(group)
        ssh_key = os.path.join(self.get_option("state_dir"), "ssh", "id_ed25519")
        for node in nodes:
            name = node["name"]
            self.inventory.add_host(name, group="lab")
            if node["room"] != "witness":
                self.inventory.add_host(name, group=node["room"])
            self.inventory.add_host(name, group=node["role"])
            hostvars = {
                "ansible_connection": "ssh",
                "ansible_host": node.get("room_address", node["address"]),
                "ansible_user": "root",
                "ansible_ssh_private_key_file": ssh_key,
                # Lab nodes are rebuilt with new host keys; their addresses are the lab's own.
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
                "twinroom_node_address": node["address"],
                "twinroom_room_address": node.get("room_address", node["address"]),
                "twinroom_lab_container": node["container"],
                "twinroom_lab_networks": node["networks"],
            }
            if node["bmc"]:
                hostvars.update({
                    "twinroom_bmc_address": node["bmc"]["address"],
                    "twinroom_bmc_port": node["bmc"]["port"],
                    "twinroom_bmc_systems_uri": "/redfish/v1/Systems/" + node["bmc"]["system_id"],
                })
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
        self.inventory.set_variable("all", "twinroom_witness_enabled", bool(self.get_option("witness")))
        self.inventory.set_variable("all", "twinroom_lab_network_subnets", lab_topology.networks(self.get_option("witness")))
