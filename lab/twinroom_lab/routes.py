"""Lab traffic never leaves the machine: every node address must route through one of the lab's bridges.

`check` is pure (observed routes in, the addresses that would leave out); `observe` reads podman's
networks and the kernel's routing decisions; `guard` installs a blackhole route for the lab's whole range
so a missing bridge address makes a connection fail here instead of following the default route.
"""

import ipaddress
import json
import subprocess

from . import LabError, podman

LAB_RANGE = "10.77.0.0/16"


class RouteError(LabError):
    pass


def check(addresses, routes, bridges):
    """addresses: {node: [ip, ...]}; routes: {ip: device or None}; bridges: set of lab bridge names.

    Returns a sorted list of 'node ip via DEV' strings for each address that does not route through a
    lab bridge (empty when all do)."""
    bad = []
    for node, ips in sorted(addresses.items()):
        for ip in ips:
            dev = routes.get(ip)
            if dev not in bridges:
                bad.append("%s %s via %s" % (node, ip, dev or "no route"))
    return bad


def lab_bridges(networks):
    """The host-side interface of each named podman network (netavark: podmanN)."""
    bridges = {}
    for name in networks:
        proc = podman.run("network", "inspect", name, check=False)
        if proc.returncode != 0:
            raise RouteError("podman network %s does not exist: bring the lab up (playbooks/lab.yml)" % name)
        data = json.loads(proc.stdout or "[]")
        entry = data[0] if isinstance(data, list) and data else {}
        iface = entry.get("network_interface") or entry.get("NetworkInterface")
        if iface:
            bridges[name] = iface
    return bridges


def route_device(ip):
    proc = subprocess.run(["ip", "-j", "route", "get", ip], capture_output=True, text=True, timeout=10, check=False)
    if proc.returncode != 0:
        return None
    routes = json.loads(proc.stdout or "[]")
    if not routes or routes[0].get("type") in ("blackhole", "unreachable", "prohibit"):
        return None
    return routes[0].get("dev")


def bridge_has_address(iface):
    proc = subprocess.run(["ip", "-j", "addr", "show", "dev", iface], capture_output=True, text=True, timeout=10,
                          check=False)
    data = json.loads(proc.stdout or "[]") if proc.returncode == 0 else []
    return any(a.get("family") == "inet" for entry in data for a in entry.get("addr_info", []))


def guard():
    """Blackhole the lab's range; the bridges' own /24 routes are more specific and still win."""
    proc = subprocess.run(["ip", "route", "show", "type", "blackhole", LAB_RANGE], capture_output=True, text=True,
                          timeout=10, check=False)
    if LAB_RANGE.split("/", maxsplit=1)[0] in proc.stdout:
        return False
    subprocess.run(["ip", "route", "add", "blackhole", LAB_RANGE], capture_output=True, text=True, timeout=10,
                   check=True)
    return True


def verify(topo, say=print):
    """Raise RouteError naming every node address that would not stay on a lab bridge."""
    lab_net = ipaddress.ip_network(LAB_RANGE)
    networks = sorted({net for node in topo.nodes for net in node.networks})
    bridges = lab_bridges(networks)
    addresses = {}
    for node in topo.nodes:
        ips = list(node.networks.values())
        outside = [ip for ip in ips if ipaddress.ip_address(ip) not in lab_net]
        if outside:
            raise RouteError("node %s has address %s outside the lab range %s" % (node.name, outside[0], LAB_RANGE))
        addresses[node.name] = ips
    routes = {ip: route_device(ip) for ips in addresses.values() for ip in ips}
    bad = check(addresses, routes, set(bridges.values()))
    if bad:
        unaddressed = sorted(b for b in bridges.values() if not bridge_has_address(b))
        hint = (" (bridges without a host address: %s; the lab needs podman's netavark backend: "
                "scripts/install-system-deps.sh and lab/containers.conf)" % ", ".join(unaddressed)) if unaddressed else ""
        raise RouteError("lab addresses that would not stay on a lab bridge: %s%s" % ("; ".join(bad), hint))
    say("routes: %d node addresses route through lab bridges (%s)"
        % (sum(len(v) for v in addresses.values()), ", ".join(sorted(set(bridges.values())))))
    return routes
