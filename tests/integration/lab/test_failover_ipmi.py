"""A site that fences through IPMI: failover.yml and recover.yml end to end on the lab, with
twinroom_fence_method=ipmi and every node of the lost room behind the lab's IPMI BMC stand-in
(lab/twinroom_lab/ipmi_bmc.py, UDP 623 on the node's BMC address; its power-off kills the container).

The room lost is the one holding the datastore primary, so the surviving API server cannot read until the
takeover and the failover decides from the BMCs' IPMI answers. The room's power is cut through its BMCs with
ipmitool, failover.yml fences (fence_ipmilan verifies every node off) and takes over, and recover.yml powers
the room on with community.general.ipmi_power and rejoins it. Power goes off and on through IPMI only, so
the nodes' Redfish emulators, which the other tests use, still match the containers afterwards.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from labutil import ipmi_bmcs, podman
from playbook import failed_tasks, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
IPMI_PORT = 623
IPMI_VARS = {"twinroom_fence_method": "ipmi", "twinroom_bmc_port": IPMI_PORT}
TAINT = "node.kubernetes.io/out-of-service"


def container_state(container):
    return podman("container", "inspect", "--format", "{{.State.Status}}", container, check=False).stdout.strip()


@pytest.fixture
def lost_room_behind_ipmi(topology, tmp_path):
    """(room, its nodes from topology.json) with an IPMI BMC stand-in answering for each of them."""
    lost = drill.primary_room(drill.datastore_roles())
    nodes = [n for n in topology["nodes"] if n.get("room") == lost]
    log = tmp_path / "ipmi-bmc.log"
    try:
        with ipmi_bmcs(nodes, IPMI_PORT, log):
            yield lost, nodes
    finally:
        print(log.read_text() if log.exists() else "(no IPMI BMC log)")


def ipmitool(node, *command):
    return subprocess.run(["ipmitool", "-I", "lanplus", "-H", node["bmc"]["address"], "-p", str(IPMI_PORT),
                           "-U", node["bmc"]["username"], "-E", *command], capture_output=True, text=True, timeout=60,
                          check=False, env=dict(os.environ, IPMI_PASSWORD=node["bmc"]["password"]))


def test_a_room_fails_over_and_recovers_through_ipmi(lost_room_behind_ipmi, lab_restored):  # pylint: disable=unused-argument
    lost, nodes = lost_room_behind_ipmi
    survivor = drill.OTHER[lost]
    names = sorted(n["name"] for n in nodes)
    try:
        for node in nodes:  # the room's power is cut, through its BMCs
            cut = ipmitool(node, "chassis", "power", "off")
            assert cut.returncode == 0, cut.stderr
        assert {container_state(n["container"]) for n in nodes} == {"exited"}

        failover = run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars=dict(IPMI_VARS, lost_room=lost))
        assert failover.returncode == 0, failed_tasks(failover)
        report = drill.newest_report(lost, time.time() - 600)
        assert sorted(report["fenced"]) == names, report["fenced"]
        assert {(f["method"], f["power_state"]) for f in report["fenced"].values()} == {("bmc", "off")}, report
        print("failover through IPMI: RTO %.1f s, phases %s" % (report["rto_s"], report["phases"]))

        recover = run_playbook("playbooks/recover.yml", drill.INVENTORY, extra_vars=dict(IPMI_VARS, lost_room=lost))
        assert recover.returncode == 0, failed_tasks(recover)
        assert {container_state(n["container"]) for n in nodes} == {"running"}
        assert all("Chassis Power is on" in ipmitool(n, "chassis", "power", "status").stdout for n in nodes)
        roles = drill.datastore_roles()
        assert [mode for role, mode in roles.values() if role == "primary"] == ["sync"], roles
        api = client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG,
                                                             context=drill.ZONE[survivor]))
        tainted = [n.metadata.name for n in api.list_node(_request_timeout=20).items
                   if any(t.key == TAINT for t in n.spec.taints or ())]
        assert tainted == []
    finally:
        for node in nodes:  # a failed run: power back through IPMI's side of the lab, then the test fails
            if container_state(node["container"]) != "running":
                podman("start", node["container"], check=False)
