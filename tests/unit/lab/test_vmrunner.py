"""The VM runner stand-in's pure parts: VMI spec → QEMU argv, the guest's console lines, query-migrate."""
import pytest

from twinroom_lab import vmrunner


def vmi(domain=None, volumes=None, name="vm1", namespace="apps"):
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"domain": domain if domain is not None else {"resources": {"requests": {"memory": "128Mi"}}},
                     "volumes": volumes or []}}


def disk_domain(**extra):
    domain = {"resources": {"requests": {"memory": "128Mi"}}, "devices": {"disks": [{"name": "root"}]}}
    domain.update(extra)
    return domain


@pytest.mark.parametrize("text, expected", [
    ("128Mi", 128 * 1024 ** 2), ("1Gi", 1024 ** 3), ("0.5Gi", 512 * 1024 ** 2), ("268435456", 268435456),
    ("200M", 200 * 1000 ** 2), (" 64Mi ", 64 * 1024 ** 2),
])
def test_quantities(text, expected):
    assert vmrunner.parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["", "Mi", "12Xi", "-1Gi"])
def test_a_bad_quantity_is_named(text):
    with pytest.raises(vmrunner.VmRunnerError, match="cannot read the memory quantity"):
        vmrunner.parse_quantity(text)


def test_shape_defaults_to_one_vcpu_and_takes_the_memory_request():
    assert vmrunner.guest_shape(vmi()) == {"name": "vm1", "vcpus": 1, "memory_mib": 128, "disk": None}


def test_shape_multiplies_cores_sockets_threads_and_prefers_guest_memory():
    domain = {"cpu": {"cores": 2, "sockets": 1, "threads": 2}, "memory": {"guest": "256Mi"},
              "resources": {"requests": {"memory": "1Gi"}}}
    shape = vmrunner.guest_shape(vmi(domain))
    assert (shape["vcpus"], shape["memory_mib"]) == (4, 256)


def test_shape_without_memory_is_refused():
    with pytest.raises(vmrunner.VmRunnerError, match="VMI vm1 sets neither spec.domain.memory.guest"):
        vmrunner.guest_shape(vmi({"cpu": {"cores": 1}}))


def test_host_disk_path_is_the_disk():
    shape = vmrunner.guest_shape(vmi(disk_domain(), [{"name": "root", "hostDisk": {"path": "/srv/vm1.raw"}}]))
    assert shape["disk"] == "/srv/vm1.raw"


def test_pvc_disk_is_looked_up_by_claim_name():
    volumes = [{"name": "root", "persistentVolumeClaim": {"claimName": "vm1-root"}}]
    assert vmrunner.guest_shape(vmi(disk_domain(), volumes), {"vm1-root": "/shared/vm1"})["disk"] == "/shared/vm1"
    with pytest.raises(vmrunner.VmRunnerError, match="no backing file known for PVC vm1-root"):
        vmrunner.guest_shape(vmi(disk_domain(), volumes), {})


def test_other_volume_kinds_and_missing_volumes_are_refused():
    with pytest.raises(vmrunner.VmRunnerError, match="volume root is neither hostDisk nor persistentVolumeClaim"):
        vmrunner.guest_shape(vmi(disk_domain(), [{"name": "root", "containerDisk": {"image": "x"}}]))
    with pytest.raises(vmrunner.VmRunnerError, match="disk root has no volume of that name"):
        vmrunner.guest_shape(vmi(disk_domain(), []))


GUEST = {"kernel": "/cache/guest/vmlinux", "initrd": "/cache/guest/initramfs.cpio", "cmdline": "console=ttyS0 quiet"}


def test_argv():
    domain = disk_domain(cpu={"cores": 2})
    argv = vmrunner.qemu_argv(vmi(domain, [{"name": "root", "hostDisk": {"path": "/srv/d.raw"}}]), GUEST,
                              "/run/c.log", "/run/q.sock", accel="tcg", incoming="tcp:127.0.0.1:4444")
    pairs = {flag: argv[argv.index(flag) + 1] for flag in argv if flag.startswith("-")}
    assert argv[0] == "qemu-system-x86_64"
    assert pairs["-name"] == "vm1,process=twinroom-vm:apps/vm1"
    assert pairs["-machine"] == "pc,accel=tcg" and pairs["-cpu"] == "qemu64"
    assert (pairs["-smp"], pairs["-m"]) == ("2", "128M")
    assert pairs["-kernel"] == "/cache/guest/vmlinux" and pairs["-initrd"] == "/cache/guest/initramfs.cpio"
    assert pairs["-append"] == "console=ttyS0 quiet"
    assert pairs["-serial"] == "file:/run/c.log" and pairs["-qmp"] == "unix:/run/q.sock,server=on,wait=off"
    assert pairs["-drive"] == "file=/srv/d.raw,format=raw,if=virtio,id=disk0"
    assert argv[-2:] == ["-incoming", "tcp:127.0.0.1:4444"]
    assert ["-nic", "none"] == argv[argv.index("-nic"):argv.index("-nic") + 2]


def test_argv_under_kvm_uses_the_host_cpu_and_no_disk_or_incoming():
    argv = vmrunner.qemu_argv(vmi(), GUEST, "c.log", "q.sock", accel="kvm")
    assert "host" == argv[argv.index("-cpu") + 1] and "pc,accel=kvm" in argv
    assert "-drive" not in argv and "-incoming" not in argv


BOOT = "0f4b7c1e-1111-2222-3333-444455556666"


def test_console_before_boot_and_after_ready():
    nothing = {"ready": False, "boot_id": None, "count": None, "uptime": None}
    assert vmrunner.read_console("Probing EDD... ok\n") == nothing
    text = ("TWINROOM-GUEST DISK /dev/vda last=none\nTWINROOM-GUEST READY boot=%s\n"
            "TWINROOM-GUEST COUNT 1 boot=%s uptime=3.10\nTWINROOM-GUEST COUNT 2 boot=%s uptime=4.12\n") % ((BOOT,) * 3)
    assert vmrunner.read_console(text) == {"ready": True, "boot_id": BOOT, "count": 2, "uptime": 4.12}


def test_console_of_a_migration_target_starts_at_a_count_line_and_a_torn_line_is_ignored():
    text = "\x00TWINROOM-GUEST COUNT 17 boot=%s uptime=20.50\r\nTWINROOM-GUEST COUNT 18 boot=%s upt" % (BOOT, BOOT)
    assert vmrunner.read_console(text) == {"ready": True, "boot_id": BOOT, "count": 17, "uptime": 20.5}


def test_a_reboot_resets_the_counter_and_the_boot_id():
    text = ("TWINROOM-GUEST READY boot=a\nTWINROOM-GUEST COUNT 9 boot=a uptime=9.0\n"
            "TWINROOM-GUEST READY boot=b\n")
    assert vmrunner.read_console(text) == {"ready": True, "boot_id": "b", "count": None, "uptime": None}


def test_migration_progress():
    completed = {"status": "completed", "total-time": 1419, "downtime": 204, "setup-time": 3,
                 "ram": {"transferred": 65724574, "remaining": 0}}
    assert vmrunner.migration_progress(completed) == {
        "status": "completed", "done": True, "failed": False, "total_ms": 1419, "downtime_ms": 204,
        "transferred": 65724574, "remaining": 0, "error": None}
    failed = vmrunner.migration_progress({"status": "failed", "error-desc": "Failed to connect socket: Connection refused"})
    assert failed["failed"] and not failed["done"] and failed["error"].endswith("Connection refused")
    active = vmrunner.migration_progress({"status": "active", "ram": {"transferred": 10, "remaining": 90}})
    assert not active["done"] and not active["failed"] and active["remaining"] == 90
    assert vmrunner.migration_progress({})["status"] == "none"


@pytest.mark.parametrize("requested, kvm, pvm, accel", [
    ("auto", True, False, "kvm"), ("auto", True, True, "tcg"), ("auto", False, False, "tcg"),
    ("tcg", True, False, "tcg"), ("kvm", True, True, "kvm"),
])
def test_accelerator(requested, kvm, pvm, accel):
    assert vmrunner.choose_accel(requested, kvm, pvm)[0] == accel


def test_accelerator_refusals():
    with pytest.raises(vmrunner.VmRunnerError, match="/dev/kvm is missing"):
        vmrunner.choose_accel("kvm", False, False)
    with pytest.raises(vmrunner.VmRunnerError, match="unknown accelerator 'hvf'"):
        vmrunner.choose_accel("hvf", True, False)
    assert "PVM" in vmrunner.choose_accel("auto", True, True)[1]


def test_vm_processes_match_the_qemu_process_name_only():
    name = "twinroom-vm:apps/vm1"
    cmdlines = {
        10: ["/usr/bin/qemu-system-x86_64", "-name", "vm1,process=twinroom-vm:apps/vm1", "-m", "128M"],
        11: ["qemu-system-x86_64", "-name", "vm1,process=twinroom-vm:apps/vm1", "-incoming", "tcp:127.0.0.1:1"],
        12: ["qemu-system-x86_64", "-name", "vm10,process=twinroom-vm:apps/vm10"],
        13: ["grep", "-name", "vm1,process=twinroom-vm:apps/vm1"],
        14: ["qemu-system-x86_64", "-name", "vm1,process=twinroom-vm:other/vm1"],
    }
    assert vmrunner.vm_processes(name, cmdlines) == [10, 11]
