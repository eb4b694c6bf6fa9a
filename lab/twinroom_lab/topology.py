"""The lab's topology.json (written by playbooks/lab.yml): parsing, validation, look-ups.

Pure: `parse` turns the decoded JSON into frozen records or raises TopologyError naming the field
that is wrong; only `load` touches the file system.
"""

import ipaddress
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from . import LabError, UsageError, layout

DEFAULT_STATE_DIR = "/var/lib/twinroom-lab"
WITNESS_ROOM = "witness"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class TopologyError(LabError):
    pass


@dataclass(frozen=True)
class Bmc:
    address: str
    port: int
    system_id: str
    username: str
    password: str = field(repr=False)

    @property
    def url(self):
        return "https://%s:%d" % (self.address, self.port)

    @property
    def systems_uri(self):
        return "/redfish/v1/Systems/" + self.system_id


@dataclass(frozen=True)
class Node:
    name: str
    container: str
    room: str
    networks: Dict[str, str]
    bmc: Optional[Bmc]

    @property
    def is_witness(self):
        return self.room == WITNESS_ROOM


@dataclass(frozen=True)
class Topology:
    link_network: str
    nodes: Tuple[Node, ...]
    source: str = "topology.json"

    @property
    def rooms(self):
        return sorted({n.room for n in self.nodes if not n.is_witness})

    @property
    def bmc_nodes(self):
        return [n for n in self.nodes if n.bmc is not None]

    def room_nodes(self, room=None):
        """Nodes of one room, or of every room (witness excluded) when room is None."""
        return [n for n in self.nodes if not n.is_witness and (room is None or n.room == room)]

    def link_ip(self, node):
        return node.networks.get(self.link_network)

    def link_mac(self, node):
        """The node's fixed MAC on the link network (roles/lab_bed sets it from layout.link_mac), or None."""
        address = self.link_ip(node)
        return layout.link_mac(address) if address else None

    def resolve_room(self, text):
        """'room_a' or 'a' -> 'room_a'; anything else is a UsageError listing the valid rooms."""
        for candidate in (text, "room_" + text):
            if candidate in self.rooms:
                return candidate
        short = [r[len("room_"):] for r in self.rooms if r.startswith("room_")]
        raise UsageError("unknown room '%s': valid rooms are %s (or %s)"
                         % (text, ", ".join(self.rooms), ", ".join(short)))

    def node_by_system(self, system_id=None, name=None):
        for node in self.bmc_nodes:
            if node.bmc.system_id == system_id or node.name == name:
                return node
        return None


def state_dir():
    return os.environ.get("TWINROOM_LAB_STATE") or DEFAULT_STATE_DIR


def load(directory=None):
    path = os.path.join(directory or state_dir(), "topology.json")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise TopologyError(
            "%s not found: bring the lab up first (make lab), or set "
            "TWINROOM_LAB_STATE to the lab's state directory" % path) from None
    except ValueError as exc:
        raise TopologyError("%s is not valid JSON: %s" % (path, exc)) from None
    return parse(data, source=path)


def parse(data, source="topology.json"):
    if not isinstance(data, dict):
        raise TopologyError("%s: expected a JSON object with 'link_network' and 'nodes'" % source)
    link = data.get("link_network")
    if not isinstance(link, str) or not link:
        raise TopologyError("%s: 'link_network' must be a non-empty string" % source)
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise TopologyError("%s: 'nodes' must be a non-empty list" % source)

    nodes = tuple(_node(raw, "%s: nodes[%d]" % (source, i), link) for i, raw in enumerate(raw_nodes))
    _unique(source, "node name", [n.name for n in nodes])
    _unique(source, "container", [n.container for n in nodes])
    bmcs = [n.bmc for n in nodes if n.bmc]
    _unique(source, "BMC endpoint", ["%s:%d" % (b.address, b.port) for b in bmcs])
    _unique(source, "BMC system_id", [b.system_id for b in bmcs])
    topo = Topology(link_network=link, nodes=nodes, source=source)
    if not topo.rooms:
        raise TopologyError("%s: no room nodes: every node has room '%s'" % (source, WITNESS_ROOM))
    return topo


def _node(raw, where, link):
    if not isinstance(raw, dict):
        raise TopologyError("%s must be an object" % where)
    for key in ("name", "container", "room"):
        _require_text(raw, key, where)
    where = "%s (%s)" % (where, raw["name"])

    networks = raw.get("networks")
    if not isinstance(networks, dict) or not all(
            isinstance(k, str) and _is_ipv4(v) for k, v in networks.items()):
        raise TopologyError("%s: 'networks' must map network names to IPv4 addresses" % where)
    witness = raw["room"] == WITNESS_ROOM
    if not witness and link not in networks:
        raise TopologyError("%s: room node has no address on the link network '%s' in 'networks'"
                            % (where, link))

    bmc = raw.get("bmc")
    if bmc is None:
        if not witness:
            raise TopologyError("%s: room node needs a 'bmc' object: the drills power rooms through "
                                "their BMCs" % where)
    else:
        bmc = _bmc(bmc, where + ": bmc")
    return Node(name=raw["name"], container=raw["container"], room=raw["room"],
                networks=dict(networks), bmc=bmc)


def _bmc(raw, where):
    if not isinstance(raw, dict):
        raise TopologyError("%s must be an object or null" % where)
    for key in ("address", "system_id", "username", "password"):
        _require_text(raw, key, where)
    if not _is_ipv4(raw["address"]) or ipaddress.ip_address(raw["address"]) not in LOOPBACK:
        raise TopologyError("%s: 'address' must be a loopback IPv4 address (127.0.0.0/8), got %r: "
                            "the lab's BMC emulators listen on loopback only" % (where, raw["address"]))
    port = raw.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise TopologyError("%s: 'port' must be an integer 1-65535, got %r" % (where, raw.get("port")))
    try:
        uuid.UUID(raw["system_id"])
    except ValueError:
        raise TopologyError("%s: 'system_id' must be a UUID, got %r" % (where, raw["system_id"])) from None
    if ":" in raw["username"]:
        raise TopologyError("%s: 'username' must not contain ':'" % where)
    # The password is never echoed, not even when it is the thing that is wrong.
    return Bmc(address=raw["address"], port=port, system_id=raw["system_id"],
               username=raw["username"], password=raw["password"])


def _require_text(raw, key, where):
    if not isinstance(raw.get(key), str) or not raw[key]:
        raise TopologyError("%s: '%s' must be a non-empty string" % (where, key))


def _is_ipv4(value):
    try:
        return isinstance(value, str) and ipaddress.ip_address(value).version == 4
    except ValueError:
        return False


def _unique(source, what, values):
    seen = set()
    for value in values:
        if value in seen:
            raise TopologyError("%s: %s '%s' appears more than once" % (source, what, value))
        seen.add(value)
