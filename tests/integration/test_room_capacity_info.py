"""twinroom.ha.room_capacity_info against a real kube-apiserver with KubeVirt's CRDs (the `api` fixture).

Nothing schedules here: the tests create the Nodes (allocatable, zone label) and bind the Pods themselves
(spec.nodeName), and create VMs and VMIs with the status virt-controller would write - the objects the
module reads are exactly what the API server accepts and returns. One balanced lab fits both ways; one
with room A overfilled names the VMs that would not fit and, with fail_on_shortfall, fails with that list.
"""
import json
import os
import subprocess

import pytest
import yaml

pytestmark = pytest.mark.apiserver

ZONE = "topology.kubernetes.io/zone"


def node(name, zone, cpu, memory):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {ZONE: zone, "kubernetes.io/hostname": name}},
            "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "test"}]}}


def nodes(api, *objects):
    """Create Nodes as a kubelet registers them. Admission (TaintNodesByCondition) taints a new Node
    not-ready:NoSchedule until the node lifecycle controller sees it Ready; none runs here, so lift it as
    that controller would - the module rightly counts a node with that taint as taking nothing."""
    apply(api, *objects)
    for obj in objects:
        api.kubectl("taint", "node", obj["metadata"]["name"], "node.kubernetes.io/not-ready:NoSchedule-")


def pod(namespace, name, node_name, requests, owner=None, init=None, labels=None):
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": namespace, "name": name, "labels": labels or {"app": name}},
            "spec": {"nodeName": node_name, "automountServiceAccountToken": False,
                     "containers": [{"name": "main", "image": "registry.invalid/app:1",
                                     "resources": {"requests": requests, "limits": requests}}]}}
    if init:
        body["spec"]["initContainers"] = [{"name": "init", "image": "registry.invalid/init:1",
                                           "resources": {"requests": init, "limits": init}}]
    if owner:
        body["metadata"]["ownerReferences"] = [dict(owner, controller=True, blockOwnerDeletion=False)]
    return body


def vm(namespace, name, run_strategy, guest, cores=1):
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"namespace": namespace, "name": name},
            "spec": {"runStrategy": run_strategy,
                     "template": {"spec": {"domain": {"cpu": {"cores": cores}, "memory": {"guest": guest},
                                                      "devices": {}}}}}}


def vmi(namespace, name, node_name, guest, cores=1):
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
            "metadata": {"namespace": namespace, "name": name, "labels": {"kubevirt.io/vm": name}},
            "spec": {"domain": {"cpu": {"cores": cores}, "memory": {"guest": guest}, "devices": {}}},
            "status": {"phase": "Running", "nodeName": node_name}}


def apply(api, *objects):
    api.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def get(api, kind, namespace, name):
    return json.loads(api.kubectl("get", kind, "-n", namespace, name, "-o", "json").stdout)


def running_vm(api, namespace, name, node_name, cpu, memory, guest, cores=1):
    """A VM, its VMI on node_name, and its launcher pod bound there (owned by the VMI, as KubeVirt makes it)."""
    apply(api, vm(namespace, name, "Always", guest, cores), vmi(namespace, name, node_name, guest, cores))
    uid = get(api, "virtualmachineinstance", namespace, name)["metadata"]["uid"]
    owner = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": name, "uid": uid}
    apply(api, pod(namespace, "virt-launcher-%s-x7k2p" % name, node_name, {"cpu": cpu, "memory": memory},
                   owner=owner, init={"cpu": "10m", "memory": "40Mi"},
                   labels={"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": name}))


def namespace(api, name):
    # No controller-manager here: create the namespace's default ServiceAccount, which admission wants.
    apply(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
          {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"namespace": name, "name": "default"}})


def owned_by(kind, name, api_version="apps/v1"):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": "00000000-0000-0000-0000-%012d" % len(name)}


def run_module(api, args, check=False):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    command = ["ansible", "localhost", "-m", "twinroom.ha.room_capacity_info",
               "-a", json.dumps(dict(args, kubeconfig=str(api.kubeconfig)))]
    if check:
        command.append("--check")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180, check=False)
    report = json.loads(result.stdout)
    return result.returncode, report["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture(scope="module")
def balanced(api):
    ns = "capacity-balanced"
    namespace(api, ns)
    nodes(api, node("bal-a-w1", "room-a", "8", "16Gi"), node("bal-b-w1", "room-b", "8", "16Gi"))
    for room, node_name in (("a", "bal-a-w1"), ("b", "bal-b-w1")):
        apply(api, pod(ns, "web-%s" % room, node_name, {"cpu": "500m", "memory": "1Gi"},
                       owner=owned_by("ReplicaSet", "web-5d9c8")),
              pod(ns, "agent-%s" % room, node_name, {"cpu": "100m", "memory": "128Mi"},
                  owner=owned_by("DaemonSet", "agent")))
        running_vm(api, ns, "db-%s" % room, node_name, "2", "4Gi", "4Gi")
    apply(api, vm(ns, "archive", "Halted", "64Gi"))
    return {"room_a": ["bal-a-w1"], "room_b": ["bal-b-w1"]}


@pytest.fixture(scope="module")
def overfilled(api):
    ns = "capacity-overfilled"
    namespace(api, ns)
    nodes(api, node("ovf-a-w1", "room-a", "32", "96Gi"),
          node("ovf-b-w1", "room-b", "16", "20Gi"), node("ovf-b-w2", "room-b", "16", "20Gi"))
    for name in ("db1", "db2", "db3"):
        running_vm(api, ns, name, "ovf-a-w1", "4", "16Gi", "16Gi", cores=4)
    # Scheduled, launcher pod not there (yet): estimated from the domain - 200m, 8Gi + 16Mi + 256Mi.
    apply(api, vm(ns, "cold", "Always", "8Gi", cores=2), vmi(ns, "cold", "ovf-a-w1", "8Gi", cores=2))
    for index, node_name in enumerate(("ovf-b-w1", "ovf-b-w2")):
        apply(api, pod(ns, "cache-%d" % index, node_name, {"cpu": "1", "memory": "4Gi"},
                       owner=owned_by("StatefulSet", "cache")))
    return {"room_a": ["ovf-a-w1"], "room_b": ["ovf-b-w1", "ovf-b-w2"]}


def test_balanced_rooms_fit_both_ways(api, balanced):
    returncode, result = run_module(api, {"rooms": balanced})
    assert returncode == 0, result
    assert result["changed"] is False
    assert result["fits"] is True
    assert result["table"] == [
        "LOST    TO       FITS MOVING NEEDS cpu/mem    FREE cpu/mem     HEADROOM cpu/mem SHORTFALL cpu/mem",
        "room_a  room_b   yes  2      2500m/5Gi        5400m/11136Mi    2900m/6016Mi     0/0",
        "room_b  room_a   yes  2      2500m/5Gi        5400m/11136Mi    2900m/6016Mi     0/0",
    ]
    assert result["rooms"]["room_a"]["placement"] == {
        "bal-b-w1": ["VirtualMachine capacity-balanced/db-a", "Pod capacity-balanced/web-a"]}
    assert result["rooms"]["room_b"]["nodes"]["bal-a-w1"] == {
        "allocatable": {"cpu": "8", "memory": "16Gi"}, "requested": {"cpu": "2600m", "memory": "5248Mi"},
        "free": {"cpu": "5400m", "memory": "11136Mi"}, "after": {"cpu": "2900m", "memory": "6016Mi"}, "taints": []}
    assert result["unplaced"] == []


def test_overfilled_room_names_the_vms_that_would_not_fit(api, overfilled):
    returncode, result = run_module(api, {"rooms": overfilled}, check=True)
    assert returncode == 0, result
    assert result["changed"] is False
    assert result["fits"] is False
    assert result["table"] == [
        "LOST    TO       FITS MOVING NEEDS cpu/mem    FREE cpu/mem     HEADROOM cpu/mem SHORTFALL cpu/mem",
        "room_a  room_b   no   4      12200m/57616Mi   30/32Gi          22/0             4200m/24848Mi",
        "room_b  room_a   yes  2      2/8Gi            19800m/40688Mi   17800m/32496Mi   0/0",
        "room_a -> room_b: does not fit: VirtualMachine capacity-overfilled/db3 (4/16Gi, on ovf-a-w1)",
        "room_a -> room_b: does not fit: VirtualMachine capacity-overfilled/cold (200m/8464Mi, on ovf-a-w1)",
    ]
    assert result["rooms"]["room_a"]["not_fitting"] == [
        {"kind": "VirtualMachine", "namespace": "capacity-overfilled", "name": "db3", "node": "ovf-a-w1",
         "requests": {"cpu": "4", "memory": "16Gi"}, "source": "launcher"},
        {"kind": "VirtualMachine", "namespace": "capacity-overfilled", "name": "cold", "node": "ovf-a-w1",
         "requests": {"cpu": "200m", "memory": "8464Mi"}, "source": "estimate"},
    ]


def test_fail_on_shortfall_fails_naming_room_and_vms(api, overfilled):
    returncode, result = run_module(api, {"rooms": overfilled, "fail_on_shortfall": True})
    assert returncode != 0
    assert result["failed"] is True
    assert result["msg"] == (
        "Not enough capacity for a room failover: if room_a were lost, room_b could not run VirtualMachine "
        "capacity-overfilled/db3 (cpu 4, memory 16Gi), VirtualMachine capacity-overfilled/cold (cpu 200m, "
        "memory 8464Mi) (shortfall cpu 4200m, memory 24848Mi). Add capacity to the surviving room or lower "
        "these requests; run without fail_on_shortfall to only report it.")
    assert result["fits"] is False


def test_balanced_rooms_pass_with_fail_on_shortfall(api, balanced):
    returncode, result = run_module(api, {"rooms": balanced, "fail_on_shortfall": True})
    assert returncode == 0, result
    assert result["fits"] is True
