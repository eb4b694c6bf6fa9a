"""The lab bed is what the issue promises: systemd nodes in two rooms, a link that really cuts,
and BMCs whose power-off really stops a node."""
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labutil import podman, node_exec, tcp_reachable

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import disk  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

SSH = 22  # sshd runs in every node image; a listening port to probe across networks


def container_running(container):
    out = podman("inspect", "-f", "{{.State.Running}}", container, check=False)
    return out.stdout.strip() == "true"


def wait_until(predicate, seconds, step=0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_every_node_runs_systemd_as_pid1(nodes):
    for name, node in nodes.items():
        pid1 = node_exec(node["container"], "cat /proc/1/comm").stdout.strip()
        state = node_exec(node["container"], "systemctl is-system-running").stdout.strip()
        assert (pid1, state) == ("systemd", "running"), name


def test_rooms_are_separate_networks(nodes):
    a, b = nodes["a-w1"], nodes["b-w1"]
    b_room_address = b["networks"]["twinroom-room-b"]
    assert not tcp_reachable(a["container"], b_room_address, SSH), \
        "a room-a node reached a room-b node on room-b's own network"


def test_cutting_the_link_partitions_the_rooms(nodes, lab_cli):
    a, b = nodes["a-w1"], nodes["b-w1"]
    b_link = b["networks"]["twinroom-link"]
    assert tcp_reachable(a["container"], b_link, SSH), "rooms must see each other before the cut"
    cut = lab_cli("cut-link", "room_a")
    try:
        assert cut.returncode == 0, cut.stdout + cut.stderr
        assert not tcp_reachable(a["container"], b_link, SSH), "a-w1 still reaches b-w1 with the link cut"
        # Inside a room, life goes on - at the addresses the cluster uses too: a cut is between the rooms, it
        # does not take a node's own link address away (the room's API server behind the kubernetes Service).
        assert tcp_reachable(a["container"], nodes["a-w2"]["networks"]["twinroom-room-a"], SSH)
        assert tcp_reachable(a["container"], nodes["a-w2"]["networks"]["twinroom-link"], SSH), \
            "a-w1 lost a-w2's link address with the link cut"
        status = lab_cli("status")
        rows = dict((line.split()[0], line.split()[-1]) for line in status.stdout.splitlines()[2:] if line.strip())
        assert (rows["a-w1"], rows["b-w1"]) == ("CUT", "connected"), status.stdout
    finally:
        restore = lab_cli("restore-link", "room_a")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert wait_until(lambda: tcp_reachable(a["container"], b_link, SSH), 10), "link did not come back"


def fence_redfish(node, action, password=None):
    bmc = node["bmc"]
    cmd = ["fence_redfish", "--ip=%s" % bmc["address"], "--ipport=%d" % bmc["port"],
           "--username=%s" % bmc["username"], "--password=%s" % (password or bmc["password"]),
           "--ssl-insecure", "--systems-uri=/redfish/v1/Systems/%s" % bmc["system_id"], "--action=%s" % action]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def test_bmc_power_off_stops_the_node_and_power_on_brings_it_back(nodes, lab_restored):  # pylint: disable=unused-argument
    node = nodes["a-w2"]
    status = fence_redfish(node, "status")
    assert status.returncode == 0 and "ON" in status.stdout.upper(), status.stdout + status.stderr
    off = fence_redfish(node, "off")
    assert off.returncode == 0, off.stdout + off.stderr
    assert not container_running(node["container"]), "BMC said off but the node's container still runs"
    assert "OFF" in fence_redfish(node, "status").stdout.upper()
    on = fence_redfish(node, "on")
    assert on.returncode == 0, on.stdout + on.stderr
    assert wait_until(lambda: container_running(node["container"]), 30)
    booted = node_exec(node["container"], "systemctl is-system-running --wait", timeout=120).stdout.strip()
    assert booted == "running"


def test_bmc_refuses_a_wrong_password(nodes):
    result = fence_redfish(nodes["a-w1"], "status", password="not-the-password")
    assert result.returncode != 0
    assert container_running(nodes["a-w1"]["container"])


def test_witness_sees_both_rooms_when_the_link_is_cut(nodes, lab_cli):
    if "witness1" not in nodes:
        pytest.skip("lab built without a witness (TWINROOM_LAB_WITNESS=true make lab-fresh adds one)")
    witness, a_cp, b_cp = nodes["witness1"], nodes["a-cp1"], nodes["b-cp1"]
    a_side = a_cp["networks"]["twinroom-witness-a"]
    b_side = b_cp["networks"]["twinroom-witness-b"]
    cut = lab_cli("cut-link")
    try:
        assert cut.returncode == 0, cut.stdout + cut.stderr
        assert tcp_reachable(witness["container"], a_side, SSH), "witness lost room A with the link cut"
        assert tcp_reachable(witness["container"], b_side, SSH), "witness lost room B with the link cut"
        # The witness networks do not become a path between the rooms.
        for address in b_cp["networks"].values():
            assert not tcp_reachable(a_cp["container"], address, SSH), "room A reaches room B at %s" % address
    finally:
        restore = lab_cli("restore-link")
    assert restore.returncode == 0, restore.stdout + restore.stderr


def test_every_node_address_routes_through_a_lab_bridge(nodes, lab_cli):
    result = lab_cli("check-routes")
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(n["networks"]) for n in nodes.values())
    assert "routes: %d node addresses route through lab bridges" % count in result.stdout, result.stdout
    # Whatever happens to a bridge, the lab's range never follows the default route off the machine.
    blackhole = subprocess.run(["ip", "route", "show", "type", "blackhole", "10.77.0.0/16"], capture_output=True,
                               text=True, check=True)
    assert "10.77.0.0/16" in blackhole.stdout


def test_the_nodes_disks_have_room_above_the_kubelets_disk_pressure_threshold(lab_cli):
    # What make lab checked before starting the nodes still holds with the lab up (its images and data on it).
    result = lab_cli("check-disk")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.match(r"disk: \S+ has [0-9.]+ GiB free of [0-9.]+ GiB \([0-9.]+ %%\), enough for the nodes' kubelets "
                    r"\(15 %% \+ %d GiB\)\n$" % disk.DEFAULT_RESERVE_GIB, result.stdout), result.stdout
