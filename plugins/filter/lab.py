# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: lab_node_record
short_description: One lab node's entry of the lab's topology.json
version_added: 0.1.0
description:
  - Turns the host variables of a node of the C(twinroom.ha.lab) inventory into the record the lab's
    drill tools (C(twinroom-lab)) read, BMC credentials included.
options:
  _input:
    description: The node's hostvars.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Topology of every lab node
  ansible.builtin.debug:
    msg: "{{ groups['lab'] | map('extract', hostvars) | map('twinroom.ha.lab_node_record') }}"
"""

RETURN = r"""
_value:
  description: Name, container, room, zone, networks and BMC (address, port, system id, credentials) of the node.
  type: dict
"""


def lab_node_record(hostvars):
    rooms = [g for g in hostvars.get("group_names", []) if g.startswith("room_")]
    record = {
        "name": hostvars["inventory_hostname"],
        "container": hostvars["twinroom_lab_container"],
        "room": rooms[0] if rooms else "witness",
        "zone": hostvars.get("twinroom_zone", "witness"),
        "networks": dict(hostvars["twinroom_lab_networks"]),
        "bmc": None,
    }
    if hostvars.get("twinroom_bmc_address"):
        record["bmc"] = {
            "address": hostvars["twinroom_bmc_address"],
            "port": hostvars["twinroom_bmc_port"],
            "system_id": hostvars["twinroom_bmc_systems_uri"].rsplit("/", 1)[-1],
            "username": hostvars["twinroom_bmc_username"],
            "password": hostvars["twinroom_bmc_password"],
        }
    return record


class FilterModule(object):
    def filters(self):
        return {"lab_node_record": lab_node_record}
