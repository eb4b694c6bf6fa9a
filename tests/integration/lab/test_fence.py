"""twinroom.ha.fence on the lab: real BMC emulators, the real fence agent, the rooms' real API servers.

(a) One worker fenced through its BMC: its container stops before the out-of-service taint exists (both
    polled while the module runs), taint + record + Event are there, a second run changes nothing; then it is
    powered on and unfenced.
(b) A room lost with its BMCs (dark): fencing without confirmation is refused with the exact message and
    nothing is tainted; after the datastore takeover (the surviving API server accepts writes only then, since
    replication is synchronous) fencing with confirm_room_down marks the nodes with method confirmed-down; then
    the room is powered on, rejoined and unfenced.

Each test leaves the lab as it found it: every node running, Ready, without the taint or the record.
The module runs through ansible-playbook with the lab inventory, its BMC settings taken from hostvars the way
a playbook does. Run: pytest -m lab tests/integration/lab/test_fence.py -s
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playbook import failed_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
STATE = Path(os.environ.get("TWINROOM_LAB_STATE", "/var/lib/twinroom-lab"))
KUBECONFIG = str(STATE / "admin.kubeconfig")
CONTEXT = {"room_a": "room-a", "room_b": "room-b"}
TAINT_KEY = "node.kubernetes.io/out-of-service"
ANNOTATION = "twinroom.io/fenced"
READY_TIMEOUT = 300

PLAYBOOK = """
- name: Fence or unfence lab nodes with twinroom.ha.fence
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the module
      twinroom.ha.fence:
        state: "{{ fence_state }}"
        room: "{{ fence_room }}"
        nodes: >-
          {{ fence_hosts | map('extract', hostvars) | list
             | community.general.keep_keys(target='^(inventory_hostname|twinroom_bmc_.*)$', matching_parameter='regex') }}
        fence_method: "{{ hostvars[fence_hosts[0]].twinroom_fence_method }}"
        confirm_room_down: "{{ fence_confirm }}"
        kubeconfig: "{{ fence_kubeconfig }}"
        context: "{{ fence_context }}"
        timeout: 60
      register: fence_result
      ignore_errors: true

    - name: Hand the result to the test
      ansible.builtin.copy:
        content: "{{ fence_result | to_json }}"
        dest: "{{ fence_result_file }}"
        mode: "0600"
"""


# ------------------------------------------------------------------------------------------- helpers

def podman_env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "lab" / "containers.conf"))
    return env


def container_state(container):
    proc = subprocess.run(["podman", "container", "inspect", "--format", "{{.State.Status}}", container],
                          capture_output=True, text=True, timeout=30, check=False, env=podman_env())
    return proc.stdout.strip() or "missing"


def core(context):
    from kubernetes import client, config  # the venv's; imported here so collection needs no cluster
    return client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG, context=context,
                                                          persist_config=False))


def fence_taints(node):
    return [t for t in (node.spec.taints or ()) if t.key == TAINT_KEY and t.effect == "NoExecute"]


def mark(api, name):
    """(fence taints, parsed record or None) of Node name."""
    node = api.read_node(name, _request_timeout=20)
    value = (node.metadata.annotations or {}).get(ANNOTATION)
    return fence_taints(node), json.loads(value) if value else None


# kube-controller-manager's node lifecycle controller adds these while a node is off and lifts them on
# its own schedule once the node is Ready again; they are not the fence module's to keep or remove.
LIFECYCLE_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
# An operator's own taint, set before fencing: fencing and unfencing must leave it alone.
KEPT_TAINT = ("twinroom.test/operator-taint", "kept", "PreferNoSchedule")


def other_taints(api, name):
    """Taints of Node name other than the fence taint and the lifecycle controller's, sorted tuples."""
    node = api.read_node(name, _request_timeout=20)
    return sorted((t.key, t.value, t.effect) for t in (node.spec.taints or ())
                  if t.key != TAINT_KEY and t.key not in LIFECYCLE_TAINTS)


def set_kept_taint(api, name, present):
    node = api.read_node(name, _request_timeout=20)
    taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in (node.spec.taints or ())
              if t.key != KEPT_TAINT[0]]
    if present:
        taints.append(dict(zip(("key", "value", "effect"), KEPT_TAINT)))
    api.patch_node(name, {"spec": {"taints": taints}}, _request_timeout=20)


def lease_age(name, context):
    """Seconds since Node name's Lease was renewed (None: no renewTime yet). The lab's nodes share this machine's
    clock."""
    from kubernetes import client, config  # the venv's, as in core()
    api_client = config.new_client_from_config(config_file=KUBECONFIG, context=context, persist_config=False)
    lease = client.CoordinationV1Api(api_client).read_namespaced_lease(name, "kube-node-lease", _request_timeout=20)
    renewed = lease.spec.renew_time
    return None if renewed is None else time.time() - renewed.timestamp()


def events(api, name, reason):
    found = api.list_namespaced_event("default", field_selector="involvedObject.name=%s,reason=%s" % (name, reason),
                                      _request_timeout=20)
    return [e for e in found.items if e.involved_object.kind == "Node"]


def ready(api, names):
    """{name: Ready?} for the Nodes named."""
    states = {}
    for name in names:
        node = api.read_node(name, _request_timeout=20)
        states[name] = any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or ()))
    return states


def wait(what, check, timeout, interval=1.0):
    """Poll check() -> (done, state) until done; fails with the last state. Returns seconds waited."""
    start = time.monotonic()
    state = None
    while time.monotonic() - start < timeout:
        try:
            done, state = check()
        except Exception as exc:  # an API server coming back refuses connections for a while
            done, state = False, "%s: %s" % (exc.__class__.__name__, str(exc)[:200])
        if done:
            return time.monotonic() - start
        time.sleep(interval)
    pytest.fail("gave up after %ds waiting for %s; last state: %s" % (timeout, what, state))


class Fence:
    """Runs the playbook above against inventories/lab; returns the module's result (a dict)."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.playbook = tmp_path / "fence.yml"
        self.playbook.write_text(PLAYBOOK)
        self.runs = 0

    def start(self, hosts, state="fenced", room=None, confirm=False, context="room-a"):
        self.runs += 1
        result_file = self.dir / ("result-%d.json" % self.runs)
        extra = {"fence_hosts": hosts, "fence_state": state, "fence_room": room or "", "fence_confirm": confirm,
                 "fence_kubeconfig": KUBECONFIG, "fence_context": context, "fence_result_file": str(result_file)}
        vars_file = self.dir / ("vars-%d.json" % self.runs)
        vars_file.write_text(json.dumps(extra))
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        proc = subprocess.Popen(["ansible-playbook", "-i", str(REPO / "inventories" / "lab"), str(self.playbook),
                                 "--extra-vars", "@%s" % vars_file], cwd=str(REPO), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return proc, result_file

    @staticmethod
    def finish(proc, result_file, timeout=300):
        out = proc.communicate(timeout=timeout)[0]
        assert proc.returncode == 0, out[-3000:]
        assert result_file.exists(), out[-3000:]
        return json.loads(result_file.read_text())

    def __call__(self, hosts, **kwargs):
        started = time.monotonic()
        result = self.finish(*self.start(hosts, **kwargs))
        result["run_seconds"] = round(time.monotonic() - started, 1)
        return result


@pytest.fixture
def fence_run(tmp_path):
    return Fence(tmp_path)


def cluster_nodes(topology):
    """Names of the rooms' nodes (the witness, if any, is no Kubernetes node)."""
    return [n["name"] for n in topology["nodes"] if n.get("room") in CONTEXT]


def all_ready(api, topology):
    states = ready(api, cluster_nodes(topology))
    return all(states.values()), states


def room_nodes(topology, room):
    return [n for n in topology["nodes"] if n.get("room") == room]


def unfence_if_marked(api, names):
    """Cleanup of a failed test: remove taint and record by hand, so the lab is usable again."""
    from ansible_collections.twinroom.ha.plugins.module_utils.k8s_nodes import NodeRecorder
    recorder = NodeRecorder(api=api)
    for name in names:
        recorder.untaint(name)
        recorder.unannotate(name)


# --------------------------------------------------------------------------------------------- tests

def test_fencing_a_worker_powers_it_off_before_marking_it(topology, nodes, lab_cli, fence_run):
    name = "a-w2"
    container = nodes[name]["container"]
    api = core(CONTEXT["room_a"])
    assert container_state(container) == "running", "%s must run before the test" % name
    assert mark(api, name) == ([], None), "%s is already marked: the lab is not clean" % name
    # A node powered on just before (test_lab_bed's power test) renews its lease only once its agent is up again: the
    # fence watches a fresh lease go stale (verify_lease_stale), so wait for a renewal first.
    wait("%s's lease renewed" % name, lambda: ((lease_age(name, CONTEXT["room_a"]) or 99) < 5,
                                               lease_age(name, CONTEXT["room_a"])), READY_TIMEOUT)
    set_kept_taint(api, name, True)
    taints_before = other_taints(api, name)
    assert KEPT_TAINT in taints_before
    try:
        proc, result_file = fence_run.start([name], room="room_a")
        started = time.monotonic()
        stopped_at = tainted_at = None
        while proc.poll() is None and time.monotonic() - started < 300:
            now = time.monotonic() - started
            if stopped_at is None and container_state(container) != "running":
                stopped_at = now
            if tainted_at is None and mark(api, name)[0]:
                tainted_at = now
            time.sleep(0.2)
        result = fence_run.finish(proc, result_file)
        assert not result.get("failed"), result.get("msg")
        node = result["nodes"][name]
        print("fence %s: power-off to verified off %.1fs; container stopped at %.1fs, taint seen at %.1fs; "
              "module %.1fs" % (name, node["seconds"], stopped_at or -1, tainted_at or -1, result["elapsed"]))
        assert result["changed"] is True
        assert (node["fenced"], node["method"], node["power_state"]) == (True, "bmc", "off")
        assert node["plan"] == ["power_off", "verify_off", "verify_lease_stale", "taint", "annotate", "event"]
        assert stopped_at is not None and tainted_at is not None
        assert stopped_at < tainted_at, "the taint appeared before the container stopped"
        assert container_state(container) != "running"

        taints, record = mark(api, name)
        assert [(t.value, t.effect) for t in taints] == [("nodeshutdown", "NoExecute")]
        assert other_taints(api, name) == taints_before, "existing taints were not kept"
        assert record == {"at": node["fenced_at"], "method": "bmc", "by": "twinroom.ha.fence", "room": "room_a"}
        fenced_events = events(api, name, "Fenced")
        assert any(e.type == "Warning" and node["fenced_at"] in e.message and "BMC" in e.message
                   for e in fenced_events), [e.message for e in fenced_events]

        again = fence_run([name], room="room_a")
        assert not again.get("failed"), again.get("msg")
        assert again["changed"] is False
        assert again["nodes"][name]["plan"] == [] and again["nodes"][name]["fenced_at"] == node["fenced_at"]
        print("second run: changed=false in %.1fs" % again["elapsed"])
        assert len(events(api, name, "Fenced")) == len(fenced_events)

        # Recovery order: power on, wait until Ready, then lift the taint.
        on = lab_cli("power-on-room", "room_a")
        assert on.returncode == 0, on.stdout + on.stderr
        assert container_state(container) == "running"
        wait("%s Ready" % name, lambda: (ready(api, [name])[name], name), READY_TIMEOUT)
        unfenced = fence_run([name], state="unfenced", room="room_a")
        assert not unfenced.get("failed"), unfenced.get("msg")
        assert unfenced["changed"] is True
        assert unfenced["nodes"][name]["plan"] == ["untaint", "unannotate", "event"]
        assert mark(api, name) == ([], None)
        assert other_taints(api, name) == taints_before, "unfencing removed a taint it did not set"
        assert events(api, name, "Unfenced")
        assert fence_run([name], state="unfenced", room="room_a")["changed"] is False
    finally:
        if container_state(container) != "running":
            lab_cli("power-on-room", "room_a")
        unfence_if_marked(api, [name])
        set_kept_taint(api, name, False)
    wait("every node Ready", lambda: all_ready(api, topology), READY_TIMEOUT)


def test_dark_room_is_refused_without_confirmation_and_fenced_with_it(topology, nodes, lab_cli, fence_run):
    lost, survivor = "room_b", "room_a"
    lost_nodes = room_nodes(topology, lost)
    names = [n["name"] for n in lost_nodes]
    api = core(CONTEXT[survivor])
    for name in names:
        assert mark(api, name) == ([], None), "%s is already marked: the lab is not clean" % name
    bmcs = ["BMC %s:%s of node %s" % (n["bmc"]["address"], n["bmc"]["port"], n["name"]) for n in lost_nodes]
    listed = bmcs[0] if len(bmcs) == 1 else "%s and %s" % (", ".join(bmcs[:-1]), bmcs[-1])
    expected = ("%s %s: refusing to fence room_b without confirm_room_down: true." % (listed, "does not answer" if len(bmcs) == 1 else "do not answer"))
    failures = []
    try:
        off = lab_cli("power-off-room", lost, "--bmc", "dark")
        assert off.returncode == 0, off.stdout + off.stderr

        refused = fence_run(names, room=lost)
        assert refused.get("failed") is True
        assert refused["msg"] == expected
        print("refused without confirmation in %.1fs (module run)" % refused["run_seconds"])

        # With synchronous replication the surviving API server writes nothing until the takeover; the
        # takeover itself needs the room fenced, which the operator now confirms.
        taken = drill.takeover(lost, fenced=True)
        assert taken.returncode == 0, failed_tasks(taken)
        for name in names:
            assert mark(api, name) == ([], None), "the refused request marked %s" % name

        confirmed = fence_run(names, room=lost, confirm=True)
        assert not confirmed.get("failed"), confirmed.get("msg")
        assert confirmed["changed"] is True
        for name in names:
            node = confirmed["nodes"][name]
            assert (node["fenced"], node["method"], node["power_state"]) == (True, "confirmed-down", "unknown")
            taints, record = mark(api, name)
            assert len(taints) == 1
            assert record == {"at": node["fenced_at"], "method": "confirmed-down", "by": "twinroom.ha.fence",
                              "room": lost, "confirmed_by": "operator"}
            assert events(api, name, "Fenced")
        print("confirmed-down fencing of %d nodes: %.1fs (module)" % (len(names), confirmed["elapsed"]))

        # Already fenced and the BMCs still dark: nothing to confirm, nothing to do.
        again = fence_run(names, room=lost)
        assert not again.get("failed"), again.get("msg")
        assert again["changed"] is False
    finally:
        back = drill.bring_back(lost)  # power-on-room + control_plane_rejoin.yml
        if back.returncode != 0:
            failures.append("rejoin of %s failed: %s" % (lost, failed_tasks(back)))
        unfenced = fence_run(names, state="unfenced", room=lost)
        if unfenced.get("failed"):
            failures.append("unfence failed: %s" % unfenced.get("msg"))
            unfence_if_marked(api, names)
    assert not failures, failures
    for name in names:
        assert mark(api, name) == ([], None)
        assert events(api, name, "Unfenced")
    assert all(container_state(nodes[name]["container"]) == "running" for name in names)
    waited = wait("every node Ready", lambda: all_ready(api, topology), READY_TIMEOUT)
    print("room %s back: every node Ready %.0fs after the rejoin" % (lost, waited))
    roles = drill.datastore_roles()
    assert sorted(role for role, _mode in roles.values()) == ["primary", "standby"], roles
