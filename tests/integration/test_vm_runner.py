"""The VM runner stand-in on this host: a real QEMU guest boots, counts, live-migrates over 127.0.0.1 without
a reboot, and a migration that cannot complete leaves exactly one QEMU running the guest (checked in /proc).

Needs qemu-system-x86_64 and /dev/kvm (scripts/install-system-deps.sh installs QEMU); builds the lab guest
(lab/build/build-binaries.sh guest, about a minute cold) if it is missing. One guest for the whole module, 128 MiB.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))
from twinroom_lab import vmrunner  # noqa: E402  pylint: disable=wrong-import-position

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.kvm,
    pytest.mark.skipif(shutil.which(vmrunner.QEMU) is None,
                       reason="%s is not installed (scripts/install-system-deps.sh installs qemu-system-x86)"
                       % vmrunner.QEMU),
    pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="no /dev/kvm on this host"),
]

VMI = {"metadata": {"name": "counter", "namespace": "drill"},
       "spec": {"domain": {"cpu": {"cores": 1}, "resources": {"requests": {"memory": "128Mi"}},
                           "devices": {"disks": [{"name": "root", "disk": {"bus": "virtio"}}]}},
                "volumes": [{"name": "root", "persistentVolumeClaim": {"claimName": "counter-root"}}]}}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def qemu_pids():
    return vmrunner.vm_processes(vmrunner.process_name(VMI), vmrunner.proc_cmdlines())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """{'guest': the Guest running the VM now, 'disk': the shared backing file, 'dir': a work directory}."""
    subprocess.run([str(REPO / "lab" / "build" / "build-binaries.sh"), "guest"], check=True, timeout=600)
    work = tmp_path_factory.mktemp("vm")
    disk = work / "shared-disk.raw"
    with open(disk, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    state = {"dir": work, "disk": disk, "runs": 0}
    state["guest"] = start(state)
    yield state
    for pid in qemu_pids():
        os.kill(pid, signal.SIGKILL)
    state["guest"].stop()


def start(state, incoming=None):
    state["runs"] += 1
    return vmrunner.Guest(VMI, state["dir"] / ("qemu-%d" % state["runs"]), incoming=incoming,
                          disk_paths={"counter-root": str(state["disk"])})


def test_the_guest_boots_and_counts(lab):
    guest = lab["guest"]
    seconds, ready = guest.wait_ready(timeout=75)
    print("guest ready %.1fs after QEMU started (%s: %s)" % (seconds, guest.accel, guest.accel_reason))
    assert ready["boot_id"]
    counted = guest.wait_count(ready["count"] or 0)
    later = guest.wait_count(counted["count"])
    assert later["boot_id"] == ready["boot_id"] and later["count"] > counted["count"]
    # The shared disk holds what the guest wrote: the stand-in's replicated volume is one file.
    assert ("boot=%s" % ready["boot_id"]).encode() in lab["disk"].read_bytes()[:512]
    assert qemu_pids() == [guest.pid]


def test_live_migration_keeps_the_boot_and_the_counter(lab):
    source = lab["guest"]
    before = source.wait_count(0)
    port = free_port()
    target = start(lab, incoming="tcp:127.0.0.1:%d" % port)
    assert sorted(qemu_pids()) == sorted([source.pid, target.pid])
    result = vmrunner.migrate(source, target, "127.0.0.1:%d" % port, timeout=60)
    print("migration: %s" % result)
    lab["guest"] = target
    assert isinstance(result["total_ms"], int) and isinstance(result["downtime_ms"], int)
    assert not source.alive() and qemu_pids() == [target.pid]
    after = target.wait_count(before["count"] + 1)
    assert after["boot_id"] == before["boot_id"]  # same boot: no reboot
    assert target.status() == "running"


def test_migration_to_an_unreachable_target_leaves_exactly_the_source(lab):
    source = lab["guest"]
    before = source.wait_count(0)
    listening = free_port()
    target = start(lab, incoming="tcp:127.0.0.1:%d" % listening)
    with pytest.raises(vmrunner.MigrationError) as failed:
        vmrunner.migrate(source, target, "127.0.0.1:%d" % free_port(), timeout=30)  # nobody listens there
    assert "did not complete" in str(failed.value) and "keeps running on the source" in str(failed.value)
    assert qemu_pids() == [source.pid]
    assert source.status() == "running"
    assert source.wait_count(before["count"])["boot_id"] == before["boot_id"]


def test_a_target_killed_mid_migration_leaves_exactly_the_source(lab):
    source = lab["guest"]
    before = source.wait_count(0)
    port = free_port()
    target = start(lab, incoming="tcp:127.0.0.1:%d" % port)
    # 2 MiB/s makes the copy take many seconds; the target loses power after one.
    killer = threading.Timer(1.0, os.kill, (target.pid, signal.SIGKILL))
    killer.start()
    try:
        with pytest.raises(vmrunner.MigrationError, match="keeps running on the source") as failed:
            vmrunner.migrate(source, target, "127.0.0.1:%d" % port, timeout=60, max_bandwidth=2 * 1024 * 1024)
    finally:
        killer.cancel()
        source.qmp.execute("migrate-set-parameters", **{"max-bandwidth": 128 * 1024 * 1024})
    print(failed.value)
    assert qemu_pids() == [source.pid]
    assert source.status() == "running"
    after = source.wait_count(before["count"] + 1)
    assert after["boot_id"] == before["boot_id"]
