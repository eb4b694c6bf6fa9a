"""The lab's Ansible inventory (a script inventory: inventories/lab/nodes.sh runs this with --list).

Hosts and groups follow the collection's inventory model (room_a, room_b, control_plane, workers, witness), so
the roles run against the lab exactly as against a real site; only addresses, BMC endpoints and the lab's own
variables (its containers and networks, read by roles/lab_bed and the drill tools) are added here.

Environment: TWINROOM_LAB_WORKERS_PER_ROOM (default 2), TWINROOM_LAB_WITNESS (default false), TWINROOM_LAB_STATE
(the lab's state directory, which holds the SSH key that reaches the nodes; default /var/lib/twinroom-lab).
"""

import json
import os
import sys

from . import layout

GROUPS = ("lab", "room_a", "room_b", "control_plane", "workers", "witness")


class InventoryError(ValueError):
    pass


def _flag(value, name):
    text = (value or "false").strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InventoryError("%s must be true or false, got %r" % (name, value))


def build(environ):
    """The inventory as Ansible's script inventory JSON (with _meta.hostvars)."""
    try:
        workers = int(environ.get("TWINROOM_LAB_WORKERS_PER_ROOM") or 2)
    except ValueError:
        raise InventoryError("TWINROOM_LAB_WORKERS_PER_ROOM must be a whole number, got %r"
                             % environ.get("TWINROOM_LAB_WORKERS_PER_ROOM")) from None
    witness = _flag(environ.get("TWINROOM_LAB_WITNESS"), "TWINROOM_LAB_WITNESS")
    state_dir = environ.get("TWINROOM_LAB_STATE") or "/var/lib/twinroom-lab"
    nodes = layout.build(workers, witness)
    inventory = dict((group, {"hosts": []}) for group in GROUPS)
    hostvars = {}
    for node in nodes:
        name = node["name"]
        inventory["lab"]["hosts"].append(name)
        if node["room"] != "witness":
            inventory[node["room"]]["hosts"].append(name)
        inventory[node["role"]]["hosts"].append(name)
        hostvars[name] = {
            "ansible_connection": "ssh",
            "ansible_host": node.get("room_address", node["address"]),
            "ansible_user": "root",
            "ansible_ssh_private_key_file": os.path.join(state_dir, "ssh", "id_ed25519"),
            # Lab nodes are rebuilt with new host keys; their addresses are the lab's own.
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            "twinroom_node_address": node["address"],
            "twinroom_room_address": node.get("room_address", node["address"]),
            "twinroom_lab_container": node["container"],
            "twinroom_lab_networks": node["networks"],
        }
        if node.get("link_mac"):
            hostvars[name]["twinroom_lab_link_mac"] = node["link_mac"]
        if node["bmc"]:
            hostvars[name].update({
                "twinroom_bmc_address": node["bmc"]["address"],
                "twinroom_bmc_port": node["bmc"]["port"],
                "twinroom_bmc_systems_uri": "/redfish/v1/Systems/" + node["bmc"]["system_id"],
            })
    inventory["all"] = {"vars": {"twinroom_witness_enabled": witness,
                                 "twinroom_lab_network_subnets": layout.networks(witness)}}
    inventory["_meta"] = {"hostvars": hostvars}
    return inventory


def main(argv=None, environ=None, out=sys.stdout):
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    try:
        if argv[:1] == ["--host"]:
            result = {}  # everything is in --list's _meta
        elif argv[:1] == ["--list"]:
            result = build(environ)
        else:
            raise InventoryError("usage: nodes.sh --list | --host NAME")
    except (InventoryError, layout.TopologyError) as exc:
        print("twinroom lab inventory: %s" % exc, file=sys.stderr)
        return 2
    json.dump(result, out)
    return 0
