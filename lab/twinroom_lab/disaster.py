"""Room disasters for drills: power loss (BMCs answering or dark), power back, inter-room link cut.

How "power-off-room --bmc answering" makes the BMCs agree: sushy's fake driver has no way to set a
power state at once. ComputerSystem.Reset only stores a pending change applied 1-11 s later, on the
next read of the system; the only other way in is its private sqlite store, which we leave alone.
A room losing power loses every machine at the same instant, so the drill kills the containers
first, all in one `podman kill`, then sends ForceOff through each BMC's Redfish API and polls until
every BMC reports Off. When the change applies, the power bridge finds the container already
stopped and does nothing. For up to ~11 s a BMC still reports On for a dead node; anything that
fences in that window sends ForceOff itself and gets the same answer a moment later.
"""

import time

from . import LabError, bmc, link_filter, podman, power_bridge, wait
from .redfish import Redfish

ANSWERING = "answering"
DARK = "dark"
POWER_TIMEOUT = 30
POWER_ON_TIMEOUT = 90


# ---------------------------------------------------------------- pure decisions

def plan_link(nodes, containers, cut, connect):
    """[(node, action)] to cut or restore each node's link; action None when already so.

    containers: podman.containers() output; cut: names of the nodes whose link is cut now
    (link_filter.cut_nodes). A cut raises LabError naming containers that do not exist; a restore
    needs none (the filter is the host's: lab_down undoes it before the nodes go).
    """
    missing = [n.container for n in nodes if n.container not in containers]
    if missing and not connect:
        raise LabError("no such container(s): %s: is the lab up? (make lab)"
                       % ", ".join(missing))
    plan = []
    for node in nodes:
        if connect:
            plan.append((node, "restore" if node.name in cut else None))
        else:
            plan.append((node, None if node.name in cut else "cut"))
    return plan


def container_states(nodes, containers):
    return {n.name: containers.get(n.container, {}).get("state", "missing") for n in nodes}


# ---------------------------------------------------------------- link

def set_link(topo, room, connect, say=print):
    """Cut or restore the link of a room's nodes (every room's when room is None): see link_filter."""
    nodes = topo.room_nodes(room)
    where = room or "every room"
    plan = plan_link(nodes, podman.containers(), link_filter.cut_nodes(topo, link_filter.listing()), connect)
    for node, action in plan:
        if action == "cut":
            link_filter.cut(topo, node)
            say("%s: link cut (no frame to or from the other room on %s)" % (node.name, topo.link_network))
        elif action == "restore":
            link_filter.restore(topo, node)
            say("%s: link restored (%s at %s)" % (node.name, topo.link_network, topo.link_ip(node)))
        else:
            say("%s: link already %s" % (node.name, "connected" if connect else "cut"))
    changed = sum(1 for node, action in plan if action)
    outcome = "restored" if connect else "cut"
    if changed:
        say("link of %s %s (%d of %d node(s) changed)" % (where, outcome, changed, len(plan)))
    else:
        say("link of %s already %s: nothing changed" % (where, "connected" if connect else "cut"))


# ---------------------------------------------------------------- power

def _kill_room(nodes, say):
    containers = podman.containers()
    running = [n for n in nodes if container_states([n], containers)[n.name] == "running"]
    if not running:
        say("containers of the room already stopped")
        return
    started = time.monotonic()
    podman.kill([n.container for n in running])

    def all_stopped():
        states = container_states(running, podman.containers())
        still = [name for name, state in states.items() if state == "running"]
        return not still, ", ".join(still)

    wait.wait_for("the killed containers to stop", all_stopped, timeout=POWER_TIMEOUT, say=say)
    say("power lost: killed %s in %.2fs" % (", ".join(n.container for n in running), time.monotonic() - started))


def _clients(nodes, state_dir):
    return {n.name: Redfish(n, cafile=bmc.tls_paths(state_dir)[0]) for n in nodes}


def _wait_power(nodes, clients, want, say, timeout):
    """Poll the BMCs (each read lets the emulator apply a pending change) until all report `want`
    and the containers agree."""
    def check():
        reported = {}
        for node in nodes:
            try:
                reported[node.name] = clients[node.name].power_state()
            except LabError as exc:
                reported[node.name] = "unreadable: %s" % exc
        # Containers are listed after the reads: a read may just have made the bridge act.
        states = container_states(nodes, podman.containers())
        missing = ["%s (BMC %s, container %s)" % (n.name, reported[n.name], states[n.name]) for n in nodes
                   if reported[n.name] != want or (states[n.name] == "running") != (want == "On")]
        return not missing, "; ".join(missing)

    return wait.wait_for("BMCs to report %s" % want, check, timeout=timeout, interval=1.0, say=say)


def power_off_room(topo, room, mode, state_dir, bridge_port, say=print):
    nodes = topo.room_nodes(room)
    say("power-off-room %s (--bmc %s): %s" % (room, mode, ", ".join(n.name for n in nodes)))
    _kill_room(nodes, say)
    names = [n.name for n in nodes]
    if mode == DARK:
        bmc.stop(state_dir, names, say=say)
        say("%s is dark: containers stopped, BMCs refuse connections" % room)
        return
    # A BMC that was down comes back reporting the container's real state, which is now Off.
    power_bridge.ensure_running(state_dir, bridge_port, say=say)
    bmc.start(topo, state_dir, bridge_port, names=names, say=say)
    clients = _clients(nodes, state_dir)
    for node in nodes:
        reported = clients[node.name].power_state()
        if reported != "Off":
            clients[node.name].reset("ForceOff")
            say("%s: BMC still reported %s: sent ForceOff so it agrees with the dead node" % (node.name, reported))
    seconds = _wait_power(nodes, clients, "Off", say, POWER_TIMEOUT)
    say("%s is down: containers stopped, BMCs answer and report Off (BMCs agreed after %.1fs)" % (room, seconds))


def power_on_room(topo, room, state_dir, bridge_port, say=print):
    nodes = topo.room_nodes(room)
    names = [n.name for n in nodes]
    say("power-on-room %s: %s" % (room, ", ".join(names)))
    power_bridge.ensure_running(state_dir, bridge_port, say=say)
    bmc.start(topo, state_dir, bridge_port, names=names, say=say)
    containers = podman.containers()
    clients = _clients(nodes, state_dir)
    started = time.monotonic()
    sent = 0
    for node in nodes:
        reported = clients[node.name].power_state()
        running = container_states([node], containers)[node.name] == "running"
        if reported == "On" and running:
            say("%s: already On" % node.name)
            continue
        sent += 1
        if reported == "On":
            # The container died behind the BMC's back; "On" would be a no-op in the fake driver.
            # A restarted BMC reads the real state (Off), after which On is a real change.
            say("%s: BMC reports On but the container is stopped: restarting the BMC to resync" % node.name)
            bmc.stop(state_dir, [node.name], say=say)
            bmc.start(topo, state_dir, bridge_port, names=[node.name], say=say)
        clients[node.name].reset("On")
        say("%s: sent Power On to %s" % (node.name, node.bmc.url))
    if not sent:
        say("%s is already up: BMCs report On and containers run" % room)
        return
    _wait_power(nodes, clients, "On", say, POWER_ON_TIMEOUT)
    say("%s is up: BMCs report On and containers run (%.1fs after the first Power On)"
        % (room, time.monotonic() - started))


# ---------------------------------------------------------------- status

def status_rows(topo, state_dir):
    containers = podman.containers()
    cut = link_filter.cut_nodes(topo, link_filter.listing())
    bmcs = {r["node"]: r for r in bmc.status(topo, state_dir)}
    rows = []
    for node in topo.nodes:
        entry = containers.get(node.container)
        record = bmcs.get(node.name)
        if record is None:
            bmc_text = "-"
        elif not record["answering"]:
            bmc_text = "down"
        else:
            bmc_text = "up, %s" % (record["power_state"] or "error")
        if topo.link_ip(node) is None:
            link = "-"
        elif entry is None:
            link = "?"
        else:
            link = "CUT" if node.name in cut else "connected"
        rows.append((node.name, node.room, entry["state"] if entry else "missing", bmc_text, link))
    return rows


def format_table(header, rows):
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(value).ljust(width) for value, width in zip(row, widths)).rstrip()
             for row in [header] + list(rows)]
    return "\n".join(lines)
