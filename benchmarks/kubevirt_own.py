"""KubeVirt's own virt-handler and virt-launcher on the lab's real-kubelet nodes: a VM's boot to guest ready, and
live migration between the rooms, with no stand-in in the VM's path.

Needs a lab (make lab): virt-operator runs KubeVirt's virt-handler on the kubelet workers (its DaemonSet), one in each
room; the virt-handler stand-in on the kwok nodes is not used here.

Each run: a VM (1 vCPU, 256 MiB, the lab's test guest by kernelBoot from its image, TCG) is created on one room's
virt-handler node; then a VirtualMachineInstanceMigration moves it to the other room's; the VM is deleted. Rooms
alternate between runs.

Clocks: the drill's own, polled every 0.25 s. "boot s": from creating the VM to the guest's READY line in its
console log (the launcher pod's guest-console-log container, read through the API): virt-controller, scheduling,
the kubelet starting the pod, virt-handler and virt-launcher defining the domain, QEMU and the guest's boot.
"VMI Running s": from creating the VM to its VMI phase Running. "migration s": from creating the migration to its
phase Succeeded (target pod, target preparation, the memory copy over the inter-room link through virt-handler's
migration proxies, the hand-over). "same boot": the guest on the target node has the boot id it had on the source,
and its counter went on. "QEMU after": QEMU processes of the VM counted in both nodes' process lists after the
migration (1 is right).

usage: python benchmarks/kubevirt_own.py [--runs 5]   (after: source scripts/devenv.sh, make lab)
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

NAMESPACE = "twinroom-bench-kubevirt"
GUEST_IMAGE = "localhost/twinroom-guest-kernel:%s"  # lab/build/guest, tagged GUEST_REVISION
READY = re.compile(r"TWINROOM-GUEST READY boot=(\S+)")
COUNT = re.compile(r"TWINROOM-GUEST COUNT (\d+) boot=(\S+)")
POLL = 0.25
MIGRATION_TIMEOUT = 240


def kubectl(*args, stdin=None, check=True):
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise RuntimeError("kubectl %s: %s" % (" ".join(args), result.stderr.strip()))
    return result.stdout


def handler_nodes():
    """One node of each room where KubeVirt's own virt-handler runs (a Ready pod of its DaemonSet)."""
    pods = json.loads(kubectl("-n", "kubevirt", "get", "pods", "-l", "kubevirt.io=virt-handler", "-o", "json"))["items"]
    ready = set(pod["spec"]["nodeName"] for pod in pods
                if any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])))
    by_zone = {}
    for node in json.loads(kubectl("get", "nodes", "-o", "json"))["items"]:
        name = node["metadata"]["name"]
        if name in ready:
            by_zone.setdefault(node["metadata"]["labels"].get("topology.kubernetes.io/zone"), name)
    if len(by_zone) < 2:
        sys.exit("needs KubeVirt's virt-handler Ready on a node of each room (make lab); found %s" % by_zone)
    return sorted(by_zone.values())


def guest_image():
    versions = dict(line.split("=", 1) for line in (Path(__file__).resolve().parents[1] / "lab" / "versions.env")
                    .read_text().splitlines() if "=" in line and not line.startswith("#"))
    return GUEST_IMAGE % versions["GUEST_REVISION"].strip()


def vm_manifest(name, node, nodes):
    return json.dumps({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"runStrategy": "Always", "template": {"spec": {
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": nodes}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}}]}},
            "architecture": "amd64",
            "domain": {
                "machine": {"type": "q35"}, "cpu": {"cores": 1, "sockets": 1, "threads": 1},
                "memory": {"guest": "256Mi"}, "resources": {"requests": {"memory": "256Mi"}},
                "firmware": {"kernelBoot": {"kernelArgs": "console=ttyS0 panic=-1 quiet loglevel=3", "container": {
                    "image": guest_image(), "kernelPath": "/boot/vmlinux",
                    "initrdPath": "/boot/initramfs.cpio", "imagePullPolicy": "IfNotPresent"}}},
                "devices": {"autoattachGraphicsDevice": False, "autoattachMemBalloon": False,
                            "autoattachPodInterface": False}},
            "terminationGracePeriodSeconds": 5}}}})


def vmi(name):
    out = kubectl("-n", NAMESPACE, "get", "vmi", name, "-o", "json", check=False)
    return json.loads(out) if out else None


def launcher_pod(name, node):
    pods = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-l", "vm.kubevirt.io/name=" + name, "-o", "json"))
    for pod in pods["items"]:
        if pod["spec"].get("nodeName") == node and pod["status"].get("phase") == "Running":
            return pod["metadata"]["name"]
    return None


def console(pod):
    return kubectl("-n", NAMESPACE, "logs", pod, "-c", "guest-console-log", check=False)


def wait(what, test, timeout):
    return drill.wait(what, test, timeout, interval=POLL)


def qemu_count(node, name):
    out = subprocess.run(["podman", "exec", "twinroom-" + node, "pgrep", "-f", "qemu-system.*guest=%s_%s" % (NAMESPACE, name)],
                         capture_output=True, text=True, timeout=30, check=False).stdout
    return len(out.split())


def one_run(index, source, target):
    name = "probe-%d" % index
    started = time.monotonic()
    kubectl("apply", "-f", "-", stdin=vm_manifest(name, source, [source, target]))
    wait("VMI %s Running" % name, lambda: (vmi(name) or {}).get("status", {}).get("phase") == "Running", 240)
    running_s = time.monotonic() - started
    node = vmi(name)["status"]["nodeName"]
    pod = wait("launcher pod of %s" % name, lambda: launcher_pod(name, node), 60)
    boot = wait("READY line of %s" % name, lambda: (READY.search(console(pod)) or [None, None])[1], 120)
    boot_s = time.monotonic() - started
    wait("a COUNT line of %s" % name, lambda: COUNT.findall(console(pod)), 30)
    counter_before = int(COUNT.findall(console(pod))[-1][0])
    other = target if node == source else source
    migration = kubectl("create", "-o", "name", "-f", "-", stdin=json.dumps({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": name + "-", "namespace": NAMESPACE}, "spec": {"vmiName": name}})).strip()
    moved = time.monotonic()

    def phase():
        value = kubectl("-n", NAMESPACE, "get", migration, "-o", "jsonpath={.status.phase}", check=False)
        return value if value in ("Succeeded", "Failed") else None
    result = {"node": node, "to": other, "running_s": running_s, "boot_s": boot_s}
    try:
        outcome = wait("migration of %s" % name, phase, MIGRATION_TIMEOUT)
    except RuntimeError as error:
        # e.g. a target pod no node takes: its scheduling message says why
        outcome, result["migration_error"] = None, "%s; target pod: %s" % (error, unscheduled(name))
    result.update(migration=outcome, migration_s=time.monotonic() - moved)
    if outcome == "Succeeded":
        new_node = vmi(name)["status"]["nodeName"]
        new_pod = wait("launcher pod of %s on %s" % (name, new_node), lambda: launcher_pod(name, new_node), 60)
        lines = wait("a COUNT line of %s on %s" % (name, new_node), lambda: COUNT.findall(console(new_pod)), 30)
        last, last_boot = lines[-1]
        result["same_boot"] = last_boot == boot and int(last) > counter_before
        result["qemu_after"] = qemu_count(source, name) + qemu_count(target, name)
    else:
        result["reason"] = (vmi(name) or {}).get("status", {}).get("migrationState", {}).get("failureReason")
    kubectl("-n", NAMESPACE, "delete", "vm", name, "--wait=true", "--timeout=120s", check=False)
    return result


def unscheduled(name):
    """The scheduler's message for a launcher pod of the VM that is still Pending, if any."""
    pods = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-l", "vm.kubevirt.io/name=" + name, "-o", "json"))
    for pod in pods["items"]:
        for condition in pod["status"].get("conditions", []):
            if condition["type"] == "PodScheduled" and condition["status"] == "False":
                return condition.get("message")
    return None


def spread(values):
    if not values:
        return "-"
    return "%.1f (%.1f-%.1f)" % (statistics.median(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--migration-timeout", type=int, default=MIGRATION_TIMEOUT, help="seconds (default %(default)s)")
    args = parser.parse_args()
    globals()["MIGRATION_TIMEOUT"] = args.migration_timeout
    if "KUBECONFIG" not in os.environ:
        os.environ["KUBECONFIG"] = os.path.join(os.environ.get("TWINROOM_LAB_STATE", "/var/lib/twinroom-lab"), "admin.kubeconfig")
    nodes = handler_nodes()
    kubectl("create", "namespace", NAMESPACE, check=False)
    results = []
    try:
        for index in range(args.runs):
            source, target = (nodes[0], nodes[1]) if index % 2 == 0 else (nodes[1], nodes[0])
            try:
                result = one_run(index, source, target)
            except RuntimeError as error:  # drill.DrillError too
                # e.g. a VMI left without a phase (as KubeVirt 1.6's virt-controller could leave one on Kubernetes
                # >= 1.35: its JSON-patch test of the launcher pod's conditions knew no observedGeneration)
                phase = ((vmi("probe-%d" % index) or {}).get("status") or {}).get("phase")
                result = {"failed": str(error), "vmi_phase": phase, "migration": None}
                kubectl("-n", NAMESPACE, "delete", "vm", "probe-%d" % index, "--wait=true", "--timeout=120s", check=False)
            results.append(result)
            print("run %d: %s" % (index + 1, json.dumps(result, default=str)), flush=True)
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=180s", check=False)
    done = [r for r in results if r["migration"] == "Succeeded"]
    booted = [r for r in results if "boot_s" in r]
    print()
    print("| runs | VMs started | VMI Running s | boot to guest READY s | live migration s | migrated | same boot | QEMU after (each) |")
    print("|---|---|---|---|---|---|---|---|")
    print("| %d | %d/%d | %s | %s | %s | %d/%d | %d/%d | %s |" % (
        len(results), len(booted), len(results), spread([r["running_s"] for r in booted]),
        spread([r["boot_s"] for r in booted]), spread([r["migration_s"] for r in done]), len(done), len(booted),
        sum(1 for r in done if r.get("same_boot")), len(done), sorted({r.get("qemu_after") for r in done})))
    return 0 if results and len(done) == len(results) and all(r.get("same_boot") and r.get("qemu_after") == 1 for r in done) else 1


if __name__ == "__main__":
    sys.exit(main())
