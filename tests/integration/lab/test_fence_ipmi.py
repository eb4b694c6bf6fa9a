"""Fencing through IPMI on the lab: fence_ipmilan (and ipmitool under it) against the lab's IPMI BMC stand-in,
whose chassis power-off really kills the node's container.

The lab's nodes have Redfish BMCs (sushy-tools); for this test one worker also gets an IPMI BMC
(lab/twinroom_lab/ipmi_bmc.py, a stand-in for the BMC hardware) on the same loopback address, UDP 623.
twinroom.ha.fence with fence_method ipmi powers it off, verifies it off, and only then marks it; the
container is polled while the module runs. Then community.general.ipmi_power (what recover.yml runs for an
IPMI site) powers it on, and the node is unfenced. The lab is left as it was found.
"""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from labutil import ipmi_bmcs, podman
from playbook import output, run_playbook
import test_fence as lab  # the Redfish fencing test's helpers  # pylint: disable=wrong-import-order

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
NODE, ROOM = "a-w2", "room_a"
IPMI_PORT = 623

PLAYBOOK = """
- name: Fence, read or power on a lab node through IPMI
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Fence or unfence through fence_ipmilan
      twinroom.ha.fence:
        state: "{{ fence_state }}"
        room: "{{ fence_room }}"
        fence_method: ipmi
        nodes: "{{ [{'name': fence_node, 'bmc_address': hostvars[fence_node].twinroom_bmc_address}] }}"
        bmc_port: "{{ ipmi_port }}"
        bmc_username: "{{ twinroom_bmc_username }}"
        bmc_password: "{{ twinroom_bmc_password }}"
        kubeconfig: "{{ fence_kubeconfig }}"
        context: "{{ fence_context }}"
        timeout: 60
      register: fence_result
      when: fence_state != 'power_on'

    - name: Power on through IPMI, as recover.yml does
      community.general.ipmi_power:
        name: "{{ hostvars[fence_node].twinroom_bmc_address }}"
        port: "{{ ipmi_port }}"
        user: "{{ twinroom_bmc_username }}"
        password: "{{ twinroom_bmc_password }}"
        state: "on"
      register: power_result
      when: fence_state == 'power_on'

    - name: Hand the result to the test
      ansible.builtin.copy:
        content: "{{ (power_result if fence_state == 'power_on' else fence_result) | to_json }}"
        dest: "{{ fence_result_file }}"
        mode: "0600"
"""


class IpmiFence:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        (tmp_path / "ipmi.yml").write_text(PLAYBOOK)
        self.runs = 0

    def start(self, state):
        self.runs += 1
        result_file = self.dir / ("result-%d.json" % self.runs)
        extra = {"fence_state": state, "fence_room": ROOM, "fence_node": NODE, "ipmi_port": IPMI_PORT,
                 "fence_kubeconfig": lab.KUBECONFIG, "fence_context": lab.CONTEXT[ROOM],
                 "fence_result_file": str(result_file)}
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        proc = subprocess.Popen(["ansible-playbook", "-i", str(REPO / "inventories" / "lab"),
                                 str(self.dir / "ipmi.yml"), "--extra-vars", json.dumps(extra)],
                                cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return proc, result_file

    def __call__(self, state):
        return lab.Fence.finish(*self.start(state))


@pytest.fixture
def ipmi_bmc(topology, tmp_path):
    """The IPMI BMC stand-in for NODE, on its BMC address; stopped afterwards. Yields its log's path."""
    log = tmp_path / "ipmi-bmc.log"
    with ipmi_bmcs([n for n in topology["nodes"] if n["name"] == NODE], IPMI_PORT, log):
        yield log


def test_fencing_through_ipmi_powers_the_node_off_before_marking_it(topology, nodes, ipmi_bmc, tmp_path):
    container = nodes[NODE]["container"]
    api = lab.core(lab.CONTEXT[ROOM])
    assert lab.container_state(container) == "running", "%s must run before the test" % NODE
    assert lab.mark(api, NODE) == ([], None), "%s is already marked: the lab is not clean" % NODE
    fence = IpmiFence(tmp_path)
    try:
        proc, result_file = fence.start("fenced")
        started = time.monotonic()
        stopped_at = tainted_at = None
        while proc.poll() is None and time.monotonic() - started < 300:
            now = time.monotonic() - started
            if stopped_at is None and lab.container_state(container) != "running":
                stopped_at = now
            if tainted_at is None and lab.mark(api, NODE)[0]:
                tainted_at = now
            time.sleep(0.2)
        result = lab.Fence.finish(proc, result_file)
        assert not result.get("failed"), result.get("msg")
        node = result["nodes"][NODE]
        print("fence %s through IPMI: verified off after %.1fs; container stopped at %.1fs, taint seen at %.1fs"
              % (NODE, node["seconds"], stopped_at or -1, tainted_at or -1))
        assert (node["fenced"], node["method"], node["power_state"]) == (True, "bmc", "off")
        assert node["plan"] == ["power_off", "verify_off", "verify_lease_stale", "taint", "annotate", "event"]
        assert stopped_at is not None and tainted_at is not None
        assert stopped_at < tainted_at, "the taint appeared before the container stopped"
        assert "chassis power off: podman kill" in ipmi_bmc.read_text()
        taints, record = lab.mark(api, NODE)
        assert [(t.value, t.effect) for t in taints] == [("nodeshutdown", "NoExecute")]
        assert record["method"] == "bmc" and record["room"] == ROOM

        assert fence("fenced")["changed"] is False

        on = fence("power_on")
        assert on.get("changed") is True and on.get("powerstate") == "on", on
        assert lab.container_state(container) == "running"
        lab.wait("%s Ready" % NODE, lambda: (lab.ready(api, [NODE])[NODE], NODE), lab.READY_TIMEOUT)
        unfenced = fence("unfenced")
        assert unfenced["changed"] is True and unfenced["nodes"][NODE]["plan"] == ["untaint", "unannotate", "event"]
        assert lab.mark(api, NODE) == ([], None)
    finally:
        # Powered off and on through IPMI only, so the node's Redfish emulator still says On: a failed test
        # starts the container itself (a Redfish power-on would find nothing to change).
        if lab.container_state(container) != "running":
            podman("start", container)
        lab.unfence_if_marked(api, [NODE])
    lab.wait("every node Ready", lambda: lab.all_ready(api, topology), lab.READY_TIMEOUT)


def test_a_wrong_ipmi_password_is_refused_with_the_agents_words_and_nothing_stops(nodes, ipmi_bmc, tmp_path):
    """The BMC refuses the session: the fence module fails, names the BMC, and neither powers nor marks."""
    container = nodes[NODE]["container"]
    api = lab.core(lab.CONTEXT[ROOM])
    playbook = tmp_path / "wrong.yml"
    playbook.write_text(PLAYBOOK.replace('bmc_password: "{{ twinroom_bmc_password }}"',
                                         'bmc_password: "not-the-password"'))
    result = run_playbook(str(playbook), "inventories/lab", extra_vars={
        "fence_state": "fenced", "fence_room": ROOM, "fence_node": NODE, "ipmi_port": IPMI_PORT,
        "fence_kubeconfig": lab.KUBECONFIG, "fence_context": lab.CONTEXT[ROOM],
        "fence_result_file": str(tmp_path / "wrong.json")})
    assert result.returncode != 0
    assert "%s:%d" % (nodes[NODE]["bmc"]["address"], IPMI_PORT) in output(result), output(result)[-3000:]
    assert lab.container_state(container) == "running"
    assert lab.mark(api, NODE) == ([], None)
