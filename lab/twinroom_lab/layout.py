# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's topology as a pure function of its size.

One place decides names, networks, addresses and BMC endpoints of the lab's nodes; the lab's inventory
(inventory.py) turns the result into hosts and groups, and the lab bed writes it out as topology.json for the
drill tools. Nothing here touches a container.
"""

import uuid

LINK_NETWORK = "twinroom-link"
ROOMS = (
    # (group, zone label, short letter, room network, room subnet, link offset, bmc octet)
    ("room_a", "room-a", "a", "twinroom-room-a", "10.77.1", 110, 1),
    ("room_b", "room-b", "b", "twinroom-room-b", "10.77.2", 210, 2),
)
LINK_SUBNET = "10.77.0"
WITNESS_NETWORKS = (("twinroom-witness-a", "10.77.3"), ("twinroom-witness-b", "10.77.4"))
BMC_PORT = 8443
MAX_WORKERS_PER_ROOM = 20
# Fixed namespace so a node's Redfish system id is stable across rebuilds of the lab.
_SYSTEM_NAMESPACE = uuid.UUID("6d1f3a52-7c39-4b0e-9b61-2f1f0c5b7a10")


class TopologyError(ValueError):
    pass


def networks(witness):
    """Every podman network the lab needs, with its subnet."""
    nets = {LINK_NETWORK: LINK_SUBNET + ".0/24"}
    for room in ROOMS:
        nets[room[3]] = room[4] + ".0/24"
    if witness:
        for name, prefix in WITNESS_NETWORKS:
            nets[name] = prefix + ".0/24"
    return nets


def link_mac(address):
    """A node's fixed MAC on the link network: 02:77 (locally administered) and the four octets of its link
    address. Fixed, so the link-cut filter (link_filter.py) still names the node's interface after a power cycle."""
    return "02:77:" + ":".join("%02x" % int(octet) for octet in address.split("."))


def system_id(name):
    return str(uuid.uuid5(_SYSTEM_NAMESPACE, name))


def build(workers_per_room=2, witness=False):
    """Return the lab's nodes: a list of dicts, control-plane nodes first, then workers, witness last."""
    if isinstance(workers_per_room, bool) or not isinstance(workers_per_room, int):
        raise TopologyError("workers_per_room must be a whole number, got %r" % (workers_per_room,))
    if not 0 <= workers_per_room <= MAX_WORKERS_PER_ROOM:
        raise TopologyError(
            "workers_per_room must be between 0 and %d, got %d" % (MAX_WORKERS_PER_ROOM, workers_per_room))
    nodes = []
    for group, zone, letter, room_net, prefix, link_offset, bmc_octet in ROOMS:
        for index in range(workers_per_room + 1):
            role = "control_plane" if index == 0 else "workers"
            name = "%s-cp1" % letter if index == 0 else "%s-w%d" % (letter, index)
            host = 10 + index
            nets = {room_net: "%s.%d" % (prefix, host), LINK_NETWORK: "%s.%d" % (LINK_SUBNET, link_offset + index)}
            if witness and index == 0:
                for wnet, wprefix in WITNESS_NETWORKS:
                    if wnet.endswith(letter):
                        nets[wnet] = "%s.10" % wprefix
            nodes.append({
                "name": name,
                "container": "twinroom-" + name,
                "room": group,
                "zone": zone,
                "role": role,
                "address": nets[LINK_NETWORK],
                "room_address": nets[room_net],
                "link_mac": link_mac(nets[LINK_NETWORK]),
                "networks": nets,
                "bmc": {
                    "address": "127.77.%d.%d" % (bmc_octet, host),
                    "port": BMC_PORT,
                    "system_id": system_id(name),
                },
            })
    if witness:
        nets = dict((wnet, "%s.5" % wprefix) for wnet, wprefix in WITNESS_NETWORKS)
        nodes.append({
            "name": "witness1",
            "container": "twinroom-witness1",
            "room": "witness",
            "zone": "witness",
            "role": "witness",
            "address": nets[WITNESS_NETWORKS[0][0]],
            "networks": nets,
            "bmc": None,
        })
    return nodes
