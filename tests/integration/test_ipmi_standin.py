"""The lab's IPMI BMC stand-in (lab/twinroom_lab/ipmi_bmc.py) against the real IPMI clients.

The BMC runs in this process on a loopback port, its "machine" replaced by a record of power actions (the
lab test tests/integration/lab/test_fence_ipmi.py drives it against a real node container). The clients are
the real programs, each in its own process: ipmitool, fence_ipmilan (through twinroom.ha's FenceAgent, as the
fence modules run it) and community.general.ipmi_power (pyghmi), which recover.yml uses to power a room on.
"""
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from playbook import failed_tasks, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
from twinroom_lab import ipmi_bmc, power_bridge  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.twinroom.ha.plugins.module_utils import bmc as bmc_access  # noqa: E402

USER, PASSWORD = "admin", "ipmi-standin-test"


class Machine:
    """What the BMC powers: running or not, and every action it was asked for."""

    def __init__(self):
        self.running = True
        self.actions = []

    def state(self, _container):
        return "running" if self.running else "exited"

    def apply(self, container, action):
        self.actions.append(action)
        self.running = action == power_bridge.START
        return "%s %s" % (action, container)


def free_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture(scope="module")
def bmc():
    machine = Machine()
    patch = pytest.MonkeyPatch()
    patch.setattr(ipmi_bmc.podman, "state", machine.state)
    patch.setattr(ipmi_bmc.power_bridge, "apply", machine.apply)
    port = free_udp_port()
    server = ipmi_bmc.ContainerBmc({USER: PASSWORD}, "twinroom-test-node", "127.0.0.1", port)
    threading.Thread(target=server.listen, name="ipmi-standin", daemon=True).start()
    yield machine, port
    patch.undo()


def agent(port, password=PASSWORD):
    return bmc_access.FenceAgent("ipmi", dict(address="127.0.0.1", port=port, username=USER, password=password,
                                              lanplus=True), bmc_timeout=5)


def test_it_answers_the_presence_ping_and_nothing_else_as_a_ping(bmc):
    _machine, port = bmc
    assert bmc_access.rmcp_answers("127.0.0.1", port, 2) == (True, None)
    pong = ipmi_bmc.presence_pong(bmc_access._RMCP_PING)  # pylint: disable=protected-access  # the probe's own ping
    assert pong is not None and pong[8] == 0x40 and pong[9] == bmc_access._RMCP_PING[9]  # pylint: disable=protected-access
    assert ipmi_bmc.presence_pong(b"\x06\x00\xff\x07" + bytes(20)) is None  # an IPMI packet, not ASF
    assert ipmi_bmc.presence_pong(b"\x06\x00") is None


def test_ipmitool_reads_the_power_state(bmc):
    machine, port = bmc
    machine.running = True
    proc = subprocess.run(["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", USER,
                           "-E", "chassis", "power", "status"], env={"IPMI_PASSWORD": PASSWORD},
                          capture_output=True, text=True, timeout=30, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, "Chassis Power is on"), proc.stderr


def test_fence_ipmilan_powers_off_and_verifies_through_it(bmc):
    machine, port = bmc
    machine.running, machine.actions[:] = True, []
    assert agent(port).status() == dict(reachable=True, power_state="on", error=None)
    ok, message = agent(port).power("off", 20)
    assert ok, message
    assert machine.actions == [power_bridge.KILL] and not machine.running
    assert agent(port).status() == dict(reachable=True, power_state="off", error=None)
    off, last, _seconds = agent(port).wait_off(5)
    assert off and last["power_state"] == "off"


def test_a_wrong_password_is_refused_and_powers_nothing(bmc):
    machine, port = bmc
    machine.running, machine.actions[:] = True, []
    ok, message = agent(port, password="not-the-password").power("off", 10)
    assert not ok
    assert message  # the agent's own words, passed on
    assert machine.actions == [] and machine.running
    status = agent(port, password="not-the-password").status()
    assert status["power_state"] == "unknown" and status["error"], status


def test_community_general_ipmi_power_turns_it_on(bmc, tmp_path):
    """The module recover.yml runs for an IPMI site (it needs pyghmi, which requirements.txt pins)."""
    machine, port = bmc
    machine.running, machine.actions[:] = False, []
    playbook = tmp_path / "on.yml"
    playbook.write_text(json.dumps([{
        "name": "Power on through IPMI", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Power on", "community.general.ipmi_power": {
            "name": "127.0.0.1", "port": port, "user": USER, "password": PASSWORD, "state": "on"}}]}]))
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    result = run_playbook(str(playbook), str(inventory), timeout=120)
    assert result.returncode == 0, failed_tasks(result)
    assert machine.actions == [power_bridge.START] and machine.running
