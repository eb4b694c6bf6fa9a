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


# One DNS query (A record, recursion desired) sent from a node to the cluster DNS Service through kube-proxy; prints
# the first answer's address, or what went wrong. The node's python3 is the one Ansible uses.
_DNS_QUERY = r"""
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
query = struct.pack(">HHHHHH", 0x7472, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
try:
    sock.sendto(query, (server, 53))
    reply = sock.recv(512)
except OSError as exc:
    print("no reply: %s" % exc)
    sys.exit(1)
answers = struct.unpack(">H", reply[6:8])[0]
print(".".join(str(b) for b in reply[-4:]) if answers and reply[-6:-4] == b"\0\4" else "rcode %d, %d answers"
      % (reply[3] & 15, answers))
"""


# A pod's network namespace on the node: a Service address is reached from the pod network (the lab's nodes have no
# default route of their own). A ready pod outside kube-system if there is one, else any (CoreDNS asking its own
# Service comes back to itself through the bridge's hairpin mode).
_POD_NETNS = r"""
import json, subprocess
pods = json.loads(subprocess.run(["crictl", "pods", "--state", "ready", "-o", "json"], capture_output=True,
                                 check=True).stdout)["items"]
pods.sort(key=lambda p: p["metadata"]["namespace"] == "kube-system")
pod = pods[0]["id"] if pods else None
if pod:
    info = json.loads(subprocess.run(["crictl", "inspectp", pod], capture_output=True, check=True).stdout)["info"]
    print(next(n["path"] for n in info["runtimeSpec"]["linux"]["namespaces"] if n["type"] == "network"))
"""


def dns_answer(container, name, server="10.96.0.10"):
    """The address the cluster DNS at ``server`` gives for ``name``, asked from a pod's network on lab node
    ``container`` (or a line saying why there is none)."""
    script = ('netns=$(python3 -c "$1") && [ -n "$netns" ] || { echo "no ready pod on this node"; exit 1; }; '
              'nsenter --net="$netns" python3 -c "$2" "$3" "$4"')
    result = podman("exec", container, "bash", "-c", script, "dns", _POD_NETNS, _DNS_QUERY, name, server, check=False,
                    timeout=30)
    return (result.stdout + result.stderr).strip()


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


# recover.yml's CoreDNS spread step as a playbook of its own; written inside playbooks/ (where the collection's roles
# resolve) by the tests that run it.
SPREAD_PLAYBOOK = """---
- name: Spread the cluster DNS (recover.yml's step)
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Spread CoreDNS over the rooms
      ansible.builtin.include_role:
        name: twinroom.ha.cluster_dns
        tasks_from: spread
"""


def wait_for(predicate, seconds, what):
    """predicate()'s first truthy value, asked every second; fails the test after seconds."""
    import pytest  # pylint: disable=import-outside-toplevel
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail("timed out after %d s waiting for %s (last seen: %r)" % (seconds, what, value))


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


def out_of_service(kubeconfig, context):
    """The nodes carrying node.kubernetes.io/out-of-service, as context's API server reads them."""
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=context))
    return sorted(n.metadata.name for n in api.list_node(_request_timeout=15).items
                  if any(t.key == "node.kubernetes.io/out-of-service" for t in n.spec.taints or ()))
