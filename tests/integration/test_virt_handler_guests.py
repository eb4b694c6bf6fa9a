"""The virt-handler stand-in's hypervisor (lab/twinroom_lab/virt_handler_standin.py with --guest-dir) on this
host: real QEMU guests of the lab's test guest, vmrunner.py imported on its own as on a lab node, and an API server
that records the stand-in's patches (no lab needed). A Scheduled VMI gets one guest and is reported Running only
after the guest's READY line; a VMI that leaves the node has its guest stopped; a guest that dies fails its VMI.
The same code runs in the lab's nodes under tests/integration/lab/test_failover_vms.py."""
import os
import signal
import time

import pytest

from standin_host import MARKS, build_guest, standin, vmrunner

pytestmark = MARKS

NODE = "a-w2"


class RecordingApi:
    """The API server as far as the stand-in's rounds use it: every VMI update is recorded and succeeds. Like
    KubeVirt's webhook it takes a VMI's status only from virt-handler's service account, in an update (PUT) of the
    whole VMI (virt-handler's role may not patch VMIs)."""

    server = "https://api.invalid"
    as_handler = standin.handler_identity("kubevirt", NODE)

    def __init__(self):
        self.patches = []

    def request(self, method, path, body=None, headers=None):
        assert method == "PUT", method
        assert headers == self.as_handler, headers
        assert not path.endswith("/status"), path
        self.patches.append((path, body["status"]["phase"]))
        return {}


def vmi(name, phase, uid):
    return {"metadata": {"namespace": "vms", "name": name, "uid": uid, "resourceVersion": "7"},
            "spec": {"domain": {"cpu": {"cores": 1}, "memory": {"guest": "128Mi"},
                                "devices": {"disks": [{"name": "root", "disk": {"bus": "virtio"}}]}},
                     "volumes": [{"name": "root", "persistentVolumeClaim": {"claimName": name + "-root"}}]},
            "status": {"phase": phase, "nodeName": NODE}}


def qemu_pids(name):
    return vmrunner.vm_processes("%svms/%s" % (vmrunner.PROCESS_PREFIX, name), vmrunner.proc_cmdlines())


@pytest.fixture(scope="module")
def guest_dir():
    return build_guest()


@pytest.fixture
def hypervisor(guest_dir, tmp_path):
    (tmp_path / "disks").mkdir()
    running = standin.Hypervisor(str(guest_dir), str(tmp_path / "disks"), str(tmp_path / "run"))
    yield running
    for uid in list(running.guests):
        running.guests[uid].kill()


def rounds_until(api, vmis, hypervisor, done, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        standin.round_with_guests(api, NODE, vmis, hypervisor)
        if done():
            return
        time.sleep(0.5)
    raise AssertionError("not done after %d s; patches %s" % (seconds, api.patches))


def test_a_scheduled_vmi_runs_once_its_guest_is_ready_and_its_guest_stops_when_it_leaves(hypervisor, tmp_path):
    api = RecordingApi()
    scheduled = [vmi("vm-a", "Scheduled", "uid-1")]
    standin.round_with_guests(api, NODE, scheduled, hypervisor)
    assert api.patches == [], "reported before the guest booted"
    assert len(qemu_pids("vm-a")) == 1
    assert (tmp_path / "disks" / "vms_vm-a-root.raw").stat().st_size == standin.Hypervisor.DISK_BYTES
    rounds_until(api, scheduled, hypervisor, lambda: api.patches)
    assert api.patches == [("/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances/vm-a", "Running")]
    assert hypervisor.guests["uid-1"].console_state()["ready"]

    # Running, guest alive: nothing to do; a second round starts no second guest.
    standin.round_with_guests(api, NODE, [vmi("vm-a", "Running", "uid-1")], hypervisor)
    assert len(api.patches) == 1 and len(qemu_pids("vm-a")) == 1
    # The VMI is gone from this node (moved, deleted): its guest is stopped.
    standin.round_with_guests(api, NODE, [], hypervisor)
    assert hypervisor.guests == {} and qemu_pids("vm-a") == []


def test_a_guest_that_dies_fails_its_vmi_and_a_running_vmi_without_a_guest_fails_too(hypervisor):
    api = RecordingApi()
    scheduled = [vmi("vm-b", "Scheduled", "uid-2")]
    rounds_until(api, scheduled, hypervisor, lambda: api.patches)
    for pid in qemu_pids("vm-b"):
        os.kill(pid, signal.SIGKILL)
    hypervisor.guests["uid-2"].proc.wait(10)
    standin.round_with_guests(api, NODE, [vmi("vm-b", "Running", "uid-2")], hypervisor)
    assert api.patches[-1] == ("/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances/vm-b", "Failed")
    assert hypervisor.guests == {}
    # As after the stand-in or its node restarted: Running here, no guest.
    standin.round_with_guests(api, NODE, [vmi("vm-c", "Running", "uid-3")], hypervisor)
    assert api.patches[-1] == ("/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances/vm-c", "Failed")
    assert qemu_pids("vm-c") == []
