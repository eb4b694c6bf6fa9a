"""One node, one emulated BMC, the power bridge, and the real fence agent: no full lab needed.

Creates a throwaway container (bmctest-*, no network), a temporary state directory and topology,
starts BMC + bridge with `twinroom-lab bmc start`, and fences the node with fence_redfish the way
Pacemaker does (options on stdin, so the password never shows in a process list).
Everything is on loopback; every wait is bounded. Run: pytest -m lab tests/integration/lab -s
"""

import collections
import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import time
import uuid

import pytest

pytestmark = pytest.mark.lab

REPO = pathlib.Path(__file__).resolve().parents[3]
CLI = REPO / "lab" / "bin" / "twinroom-lab"
IMAGE = "localhost/twinroom-node:latest"
CONTAINERS_CONF = REPO / "lab" / "containers.conf"


def _env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(*args, check=True, timeout=60):
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          check=check, env=_env())


def container_status(name):
    return podman("container", "inspect", "--format", "{{.State.Status}}", name).stdout.strip()


def free_port(address):
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _requirements():
    for tool in ("podman", "fence_redfish", "openssl"):
        if not shutil.which(tool):
            return "%s is not installed" % tool
    if not shutil.which("sushy-emulator"):
        return "sushy-emulator not on PATH: source scripts/devenv.sh"
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        return "node image %s does not exist yet: build it with lab/image/build-image.sh" % IMAGE
    return None


@pytest.fixture
def lab_node(tmp_path):
    missing = _requirements()
    if missing:
        pytest.skip(missing)
    suffix = secrets.token_hex(3)
    name = "bmctest-" + suffix
    state = tmp_path / "state"
    state.mkdir()
    # A BMC address of its own in 127.77.250.0/24, away from the lab's 127.77.1.x / 127.77.2.x.
    address = "127.77.250.%d" % (int(suffix, 16) % 200 + 20)
    bmc = {"address": address, "port": free_port(address), "system_id": str(uuid.uuid4()),
           "username": "admin", "password": secrets.token_urlsafe(12)}
    bridge_port = free_port("127.0.0.1")
    (state / "topology.json").write_text(json.dumps({
        "link_network": "bmctest-link-unused",
        "nodes": [{"name": name, "container": name, "room": "room_a", "zone": "room-a",
                   "networks": {"bmctest-link-unused": "10.255.0.10"}, "bmc": bmc}]}))

    def cli(*args, check=True):
        proc = subprocess.run([str(CLI), "--state-dir", str(state), "--bridge-port", str(bridge_port), *args],
                              capture_output=True, text=True, timeout=120, env=_env(), check=False)
        print("$ twinroom-lab %s\n%s%s" % (" ".join(args), proc.stdout, proc.stderr))
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    try:
        podman("run", "-d", "--name", name, "--network", "none", "--systemd=always", IMAGE)
        cli("bmc", "start")
        yield {"name": name, "bmc": bmc, "cli": cli, "state": state}
    finally:
        cli("bmc", "stop", check=False)
        podman("rm", "--force", "--time", "0", name, check=False)
        print("power bridge log:\n" + (state / "power-bridge.log").read_text()
              if (state / "power-bridge.log").exists() else "(no bridge log)")


# Fence agent exit codes for action=status: 0 powered on, 2 powered off, 1 failure.
STATUS_ON, STATUS_OFF, FAILED = 0, 2, 1
Fenced = collections.namedtuple("Fenced", "rc output seconds")


def fence(node, action, password=None):
    """fence_redfish with its options on stdin, as Pacemaker passes them."""
    bmc = node["bmc"]
    options = {"ip": bmc["address"], "ipport": bmc["port"], "username": bmc["username"],
               "password": password or bmc["password"], "ssl_insecure": "1",
               "systems_uri": "/redfish/v1/Systems/" + bmc["system_id"], "action": action}
    started = time.monotonic()
    proc = subprocess.run(["fence_redfish"], input="".join("%s=%s\n" % kv for kv in options.items()),
                          capture_output=True, text=True, timeout=90, check=False)
    result = Fenced(proc.returncode, (proc.stdout + proc.stderr).strip(), time.monotonic() - started)
    print("fence_redfish action=%s -> rc %d in %.1fs: %s" % (action, result.rc, result.seconds, result.output))
    return result


def test_fence_redfish_powers_the_container(lab_node):
    name = lab_node["name"]
    assert container_status(name) == "running"
    assert fence(lab_node, "status")[:2] == (STATUS_ON, "Status: ON")

    off = fence(lab_node, "off")
    assert off[:2] == (0, "Success: Powered OFF")
    # The bridge acts inside the Redfish read that applies the change: Off means already stopped.
    assert container_status(name) != "running"
    assert fence(lab_node, "status")[:2] == (STATUS_OFF, "Status: OFF")

    on = fence(lab_node, "on")
    assert on[:2] == (0, "Success: Powered ON")
    assert container_status(name) == "running"
    assert fence(lab_node, "status")[:2] == (STATUS_ON, "Status: ON")

    status = json.loads(lab_node["cli"]("bmc", "status", "--json").stdout)
    assert [(b["answering"], b["power_state"]) for b in status["bmcs"]] == [(True, "On")]
    assert lab_node["bmc"]["password"] not in json.dumps(status)
    print("timings: fence off %.1fs, fence on %.1fs (the emulator applies changes after 1-11 s)"
          % (off.seconds, on.seconds))


def test_wrong_password_is_refused(lab_node):
    wrong = "not-" + lab_node["bmc"]["password"]
    status = fence(lab_node, "status", password=wrong)
    assert status.rc == FAILED and "Unable to get PowerState" in status.output
    assert fence(lab_node, "off", password=wrong).rc == FAILED
    assert container_status(lab_node["name"]) == "running"


def test_restarted_bmc_reports_the_real_power_state(lab_node):
    """The emulator keeps power state in its own store; a restart must re-read the container."""
    name = lab_node["name"]
    lab_node["cli"]("bmc", "stop")
    podman("kill", name)
    lab_node["cli"]("bmc", "start")
    assert fence(lab_node, "status")[:2] == (STATUS_OFF, "Status: OFF")
    assert fence(lab_node, "on").rc == 0
    assert container_status(name) == "running"
