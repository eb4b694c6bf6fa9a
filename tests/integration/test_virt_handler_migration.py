"""Live migration between two virt-handler stand-ins (lab/twinroom_lab/virt_handler_standin.py) on this host:
two "nodes" in one process, real QEMU guests of the lab's test guest, and an API server that keeps the VMI and
applies the stand-ins' updates (no lab needed). virt-controller's part, the hand-off that names the target
node in status.migrationState, is played by the test. The guest moves without a reboot (same boot id, its counter
goes on), the target takes the VMI over, the source ends its launcher pod; a migration that cannot complete within
its timeout is reported failed and leaves exactly one QEMU, the source's, running the guest. The lab's nodes run
the same code under tests/integration/lab/test_vm_live_migration.py."""
import copy
import io
import time
import urllib.error

import pytest

from standin_host import MARKS, build_guest, standin, vmrunner

pytestmark = MARKS

SOURCE, TARGET, ADDRESS = "node-a", "node-b", "127.0.0.1"


class ClusterApi:
    """One VMI and its launcher pods on the source and the target, as the API server keeps them: PUT replaces the
    VMI, honouring metadata.resourceVersion (409 when stale); GET reads it or lists the pods; DELETE removes one."""

    server = "https://api.invalid"
    as_handler = standin.handler_identity("kubevirt", SOURCE)

    def __init__(self, vmi):
        self.vmi = vmi
        self.pods = {SOURCE: [{"metadata": {"name": "virt-launcher-counter-src", "namespace": "vms"}}],
                     TARGET: [{"metadata": {"name": "virt-launcher-counter-tgt", "namespace": "vms"}}]}
        self.deleted = []

    def request(self, method, path, body=None, headers=None):
        if method == "PUT":
            # As KubeVirt's API: no status subresource, a VMI's status taken only from KubeVirt's service accounts
            # (virt-handler's role may update VMIs, not patch them), resourceVersion honoured.
            assert path.endswith("/virtualmachineinstances/%s" % self.vmi["metadata"]["name"]), path
            assert (headers or {}).get("Impersonate-User") == "system:serviceaccount:kubevirt:kubevirt-handler", headers
            if body["metadata"]["resourceVersion"] != self.vmi["metadata"]["resourceVersion"]:
                raise urllib.error.HTTPError(path, 409, "Conflict", {}, io.BytesIO(b"{}"))
            self.vmi = copy.deepcopy(body)
            self.vmi["metadata"]["resourceVersion"] = str(int(self.vmi["metadata"]["resourceVersion"]) + 1)
            return {}
        if method == "GET" and path.endswith("/virtualmachineinstances/counter"):
            if self.vmi is None:
                raise urllib.error.HTTPError(path, 404, "Not Found", {}, io.BytesIO(b"{}"))
            return copy.deepcopy(self.vmi)
        if method == "GET":
            assert "kubevirt.io%2Fcreated-by%3Duid-m" in path, path
            node = path.rsplit("spec.nodeName%3D", 1)[1]
            return {"items": copy.deepcopy(self.pods[node])}
        assert method == "DELETE", method
        self.deleted.append(path.rsplit("/", 1)[1])
        for node in self.pods:
            self.pods[node] = [p for p in self.pods[node] if p["metadata"]["name"] != self.deleted[-1]]
        return {}

    def listed(self, label, node):
        return [copy.deepcopy(self.vmi)] if self.vmi["metadata"]["labels"].get(label) == node else []


def new_vmi(config):
    return {"metadata": {"namespace": "vms", "name": "counter", "uid": "uid-m", "resourceVersion": "1",
                         "labels": {standin.NODE_NAME_LABEL: SOURCE}},
            "spec": {"domain": {"cpu": {"cores": 1}, "memory": {"guest": "128Mi"},
                                "devices": {"disks": [{"name": "root", "disk": {"bus": "virtio"}}]}},
                     "volumes": [{"name": "root", "persistentVolumeClaim": {"claimName": "counter-root"}}]},
            "status": {"phase": "Scheduled", "nodeName": SOURCE}, "_config": config}


def hand_off(api, migration_uid):
    """virt-controller's hand-off (migration.go handleTargetPodHandoff): the target node is named."""
    api.vmi["metadata"]["labels"][standin.MIGRATION_TARGET_LABEL] = TARGET
    api.vmi["status"]["migrationState"] = {
        "migrationUid": migration_uid, "sourceNode": SOURCE, "targetNode": TARGET, "targetPod": "virt-launcher-t",
        "migrationConfiguration": api.vmi.pop("_config", {})}


def round_of_both(api, source, target):
    standin.round_with_guests(api, SOURCE, api.listed(standin.NODE_NAME_LABEL, SOURCE), source,
                              api.listed(standin.MIGRATION_TARGET_LABEL, SOURCE), ADDRESS)
    standin.round_with_guests(api, TARGET, api.listed(standin.NODE_NAME_LABEL, TARGET), target,
                              api.listed(standin.MIGRATION_TARGET_LABEL, TARGET), ADDRESS)


def rounds_until(api, source, target, done, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        round_of_both(api, source, target)
        if done():
            return
        time.sleep(0.5)
    raise AssertionError("not done after %d s; VMI now %s" % (seconds, api.vmi))


def qemu_pids():
    return vmrunner.vm_processes(vmrunner.PROCESS_PREFIX + "vms/counter", vmrunner.proc_cmdlines())


@pytest.fixture(scope="module")
def guest_dir():
    return build_guest()


@pytest.fixture
def nodes(guest_dir, tmp_path):
    """The two nodes' hypervisors, one disk directory both see (the stand-in for the replicated volume)."""
    (tmp_path / "disks").mkdir()
    pair = [standin.Hypervisor(str(guest_dir), str(tmp_path / "disks"), str(tmp_path / node))
            for node in (SOURCE, TARGET)]
    yield pair
    for hypervisor in pair:
        for entry in hypervisor.sending.values():
            entry["thread"].join(60)
        for guest in list(hypervisor.guests.values()) + [e["guest"] for e in hypervisor.incoming.values()]:
            guest.kill()


def running_guest(api, source, target):
    rounds_until(api, source, target, lambda: api.vmi["status"]["phase"] == "Running")
    guest = source.guests["uid-m"]
    return guest, guest.wait_count(0)


def test_a_guest_moves_to_the_target_node_without_a_reboot(nodes):
    source, target = nodes
    api = ClusterApi(new_vmi({"bandwidthPerMigration": "0", "completionTimeoutPerGiB": 150}))
    guest, before = running_guest(api, source, target)

    hand_off(api, "mig-1")
    rounds_until(api, source, target, lambda: api.vmi["status"]["migrationState"].get("completed"))
    assert api.deleted == [], "the source's launcher pod ended before the target took the VMI over"
    rounds_until(api, source, target, lambda: api.deleted, seconds=10)

    state = api.vmi["status"]["migrationState"]
    assert (api.vmi["status"]["nodeName"], api.vmi["metadata"]["labels"][standin.NODE_NAME_LABEL]) == (TARGET, TARGET)
    assert state["targetNodeAddress"] == ADDRESS and state["targetNodeDomainDetected"] is True
    assert state["startTimestamp"] <= state["endTimestamp"] and state["mode"] == "PreCopy"
    assert "failed" not in state
    moved = target.guests["uid-m"]
    assert not guest.alive() and moved.alive() and "uid-m" not in source.guests and target.incoming == {}
    assert qemu_pids() == [moved.pid]
    after = moved.wait_count(before["count"])
    assert after["boot_id"] == before["boot_id"] and after["uptime"] > before["uptime"], (before, after)
    # The source's launcher pod ends as virt-launcher's would, once its guest has left and the target has the VMI.
    assert api.deleted == ["virt-launcher-counter-src"]
    # Later rounds change nothing: no second guest on either node, no patch.
    version = api.vmi["metadata"]["resourceVersion"]
    for _round in range(3):
        round_of_both(api, source, target)
    assert qemu_pids() == [moved.pid] and api.vmi["metadata"]["resourceVersion"] == version
    # A listing from before the take-over does not stop the guest it took over; a VMI that is gone does.
    standin.round_with_guests(api, TARGET, [], target, [], ADDRESS)
    assert moved.alive() and list(target.guests) == ["uid-m"]
    api.vmi = None
    standin.round_with_guests(api, TARGET, [], target, [], ADDRESS)
    assert target.guests == {} and qemu_pids() == []


def test_a_migration_that_cannot_complete_fails_and_the_guest_keeps_running_on_the_source(nodes):
    source, target = nodes
    # 1 KiB/s for a 128 MiB guest: not done within the 10 s timeout (completionTimeoutPerGiB 1, at least 10 s).
    api = ClusterApi(new_vmi({"bandwidthPerMigration": "1Ki", "completionTimeoutPerGiB": 1}))
    guest, before = running_guest(api, source, target)

    hand_off(api, "mig-2")
    rounds_until(api, source, target, lambda: api.vmi["status"]["migrationState"].get("failed"), seconds=90)
    round_of_both(api, source, target)  # the target sees the failure and stops its incoming QEMU

    state = api.vmi["status"]["migrationState"]
    assert state["failureReason"].startswith(
        "live migration of twinroom-vm:vms/counter to 127.0.0.1:%d did not complete (" % standin.MIGRATION_PORT_BASE)
    assert state["failureReason"].endswith("not complete after 10s); the guest keeps running on the source "
                                           "(QEMU pid %d, running)" % guest.pid)
    assert "completed" not in state and api.vmi["status"]["nodeName"] == SOURCE
    assert api.deleted == ["virt-launcher-counter-tgt"]  # the target's launcher pod ended, the source's runs on
    assert target.incoming == {} and target.guests == {}
    assert qemu_pids() == [guest.pid] and guest.status() == "running"
    after = guest.wait_count(before["count"])
    assert after["boot_id"] == before["boot_id"]
