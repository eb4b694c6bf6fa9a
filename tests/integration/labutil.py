"""Small helpers for tests that look into the lab's nodes."""
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def podman(*args, check=True, timeout=60):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def node_exec(container, script, timeout=30):
    """Run a shell snippet inside a lab node; returns the CompletedProcess (never raises on rc)."""
    return podman("exec", container, "bash", "-c", script, check=False, timeout=timeout)


def tcp_reachable(from_container, address, port, seconds=2):
    probe = 'timeout %d bash -c "</dev/tcp/%s/%d"' % (seconds, address, port)
    return node_exec(from_container, probe, timeout=seconds + 10).returncode == 0


@contextlib.contextmanager
def ipmi_bmcs(nodes, port, log_path):
    """The lab's IPMI BMC stand-in (lab/twinroom_lab/ipmi_bmc.py) answering for each node of topology.json's
    nodes on its BMC address and UDP port; yields once every address answers an RMCP presence ping (20 s
    bound), stops them afterwards. The first node's BMC credentials are the stand-in's.

    One process per node, as every real BMC is a machine of its own: one pyghmi loop serving them all answered
    one at a time, and while it asked podman for a node's power state, the session handshakes of the others (the
    failover reads every BMC at once) ran out of ipmitool's retries on a busy machine."""
    from ansible_collections.twinroom.ha.plugins.module_utils.bmc import rmcp_answers
    credentials = nodes[0]["bmc"]
    env = dict(os.environ, PYTHONPATH=str(REPO / "lab"), TWINROOM_IPMI_USER=credentials["username"],
               TWINROOM_IPMI_PASSWORD=credentials["password"])
    with open(log_path, "w", encoding="utf-8") as log:
        procs = [subprocess.Popen([sys.executable, "-m", "twinroom_lab.ipmi_bmc", "--port", str(port), "--node",
                                   "%s=%s=%s" % (node["container"], node["bmc"]["address"], node["bmc"]["system_id"])],
                                  env=env, stdout=log, stderr=subprocess.STDOUT) for node in nodes]
        try:
            deadline = time.monotonic() + 20
            while not all(rmcp_answers(n["bmc"]["address"], port, 1)[0] for n in nodes):
                if any(proc.poll() is not None for proc in procs) or time.monotonic() > deadline:
                    raise AssertionError("the IPMI BMC stand-in did not answer: %s" % Path(log_path).read_text())
                time.sleep(0.2)
            yield
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=10)


def wait_for(predicate, seconds, what):
    """predicate()'s first truthy value, asked every second; fails the test after seconds."""
    import pytest  # pylint: disable=import-outside-toplevel
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail("timed out after %d s waiting for %s" % (seconds, what))


def delete_namespace_and_wait(core, namespace, seconds=180):
    """Delete namespace through core (a CoreV1Api) and wait until the API server no longer has it, so the
    next test finds no half-deleted namespace (the next lab tests cut the link and lose rooms)."""
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    core.delete_namespace(namespace, _request_timeout=30)

    def gone():
        try:
            core.read_namespace(namespace, _request_timeout=10)
        except client.ApiException as exc:
            return exc.status == 404
        return False
    wait_for(gone, seconds, "namespace %s deleted" % namespace)
