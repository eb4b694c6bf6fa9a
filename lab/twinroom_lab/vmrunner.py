"""LAB STAND-IN for KubeVirt's virt-handler and virt-launcher: real QEMU guests for VMIs, real live migration.

KubeVirt's own virt-launcher (libvirt + QEMU in a pod) and virt-handler are not run in the lab (see
lab/build/kubevirt/LAUNCHER-PROBE.md). This module does their least part with QEMU directly, so that "VM
running" means a guest booted and "migrated" means QEMU moved its memory:

- start one QEMU process for a VMI: vCPUs, memory and one disk taken from the VMI spec, the lab's test guest
  (lab/build/guest) as kernel and initramfs, the serial console to a log file, QMP on a unix socket;
- wait until the guest says it is ready on its console, read its counter, stop it;
- live-migrate it to a QEMU started with ``-incoming tcp:ADDR:PORT``, in this process or on another node
  (``migrate``, then ``query-migrate`` until it completes) and report QEMU's own total time and downtime. A
  migration that cannot complete (target unreachable, link cut, target killed mid-way) ends with the source
  running and MigrationError; migrate() also stops the target it was given.

Accelerator: KVM where the host's /dev/kvm runs a stock kernel. On a host whose /dev/kvm is PVM (kvm_pvm,
pagetable-based virtualisation without VMX/SVM, as on this project's machines) only PVM-enlightened guest
kernels run; a stock Debian kernel sits in KVM's instruction emulator for minutes. There the runner uses
QEMU's TCG (software emulation): the same guest, the same QMP and migration protocol, slower.

Python standard library only, so it can run inside a lab node later. The console protocol of the guest is
documented in lab/build/guest/init.sh.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

try:
    from . import LabError
except ImportError:  # installed on its own beside the virt-handler stand-in on a lab node (no package there)
    class LabError(Exception):
        """A failure the operator can act on."""

CACHE = Path(os.environ.get("TWINROOM_CACHE", "/var/cache/twinroom"))
QEMU = "qemu-system-x86_64"
# The process name each guest's QEMU carries (-name ...,process=), which /proc shows: one per VM, ever.
PROCESS_PREFIX = "twinroom-vm:"

_READY = re.compile(r"^TWINROOM-GUEST READY boot=(\S+)\s*$")
_COUNT = re.compile(r"^TWINROOM-GUEST COUNT (\d+) boot=(\S+) uptime=([0-9.]+)\s*$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_UNITS = {None: 1, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4,
          "k": 1000, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4}


class VmRunnerError(LabError):
    """The guest could not be started, did not become ready, or QEMU refused a command."""


class MigrationError(VmRunnerError):
    """A live migration did not complete; the message says where the guest still runs."""


# --- pure parts: VMI spec → QEMU command line, console lines, query-migrate answers -----------------------

def parse_quantity(text):
    """Bytes in a Kubernetes quantity ("128Mi", "1Gi", "268435456", "0.5Gi")."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise VmRunnerError("cannot read the memory quantity %r (expected e.g. 128Mi or 1Gi)" % (text,))
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def guest_shape(vmi, disk_paths=None):
    """{name, vcpus, memory_mib, disk} from a VMI dict.

    vCPUs: spec.domain.cpu cores x sockets x threads (each defaults to 1). Memory: spec.domain.memory.guest,
    else spec.domain.resources.requests.memory (KubeVirt's order). Disk: the first disk of
    spec.domain.devices.disks, through its volume: hostDisk.path, or a PVC's claimName looked up in
    disk_paths ({claimName: file}); None without disks.
    """
    meta, spec = vmi.get("metadata") or {}, vmi.get("spec") or {}
    domain = spec.get("domain") or {}
    name = meta.get("name")
    if not name:
        raise VmRunnerError("the VMI has no metadata.name")
    cpu = domain.get("cpu") or {}
    vcpus = int(cpu.get("cores") or 1) * int(cpu.get("sockets") or 1) * int(cpu.get("threads") or 1)
    memory = (domain.get("memory") or {}).get("guest") or \
        ((domain.get("resources") or {}).get("requests") or {}).get("memory")
    if not memory:
        raise VmRunnerError("VMI %s sets neither spec.domain.memory.guest nor "
                            "spec.domain.resources.requests.memory" % name)
    memory_mib = parse_quantity(memory) // (1024 * 1024)
    disk = None
    disks = (domain.get("devices") or {}).get("disks") or []
    if disks:
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        volume = volumes.get(disks[0].get("name"))
        if volume is None:
            raise VmRunnerError("VMI %s: disk %s has no volume of that name" % (name, disks[0].get("name")))
        if "hostDisk" in volume:
            disk = volume["hostDisk"].get("path")
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"].get("claimName")
            disk = (disk_paths or {}).get(claim)
            if not disk:
                raise VmRunnerError("VMI %s: no backing file known for PVC %s" % (name, claim))
        else:
            raise VmRunnerError("VMI %s: volume %s is neither hostDisk nor persistentVolumeClaim; the stand-in "
                                "boots the lab guest and attaches one file-backed disk" % (name, volume.get("name")))
    return {"name": name, "vcpus": vcpus, "memory_mib": memory_mib, "disk": disk}


def process_name(vmi):
    meta = vmi.get("metadata") or {}
    return "%s%s/%s" % (PROCESS_PREFIX, meta.get("namespace") or "default", meta.get("name"))


def qemu_argv(vmi, guest, console_log, qmp_socket, accel="kvm", incoming=None, disk_paths=None, qemu=QEMU):
    """The QEMU command line for vmi. guest: {kernel, initrd, cmdline} (guest_files()); incoming: "tcp:ADDR:PORT"
    for a migration target."""
    shape = guest_shape(vmi, disk_paths)
    argv = [
        qemu, "-name", "%s,process=%s" % (shape["name"], process_name(vmi)),
        "-nodefaults", "-no-user-config", "-machine", "pc,accel=%s" % accel,
        # -cpu host needs KVM; under TCG the default model migrates between any two QEMUs of one version.
        "-cpu", "host" if accel == "kvm" else "qemu64",
        "-smp", str(shape["vcpus"]), "-m", "%dM" % shape["memory_mib"],
        "-kernel", str(guest["kernel"]), "-initrd", str(guest["initrd"]), "-append", guest["cmdline"],
        "-serial", "file:%s" % console_log, "-display", "none", "-nic", "none", "-no-reboot",
        "-qmp", "unix:%s,server=on,wait=off" % qmp_socket,
    ]
    if shape["disk"]:
        # One backing file both rooms see: the stand-in for the replicated RWX volume. QEMU flushes it when a
        # migration hands the guest over, so the default cache mode is safe on one host.
        argv += ["-drive", "file=%s,format=raw,if=virtio,id=disk0" % shape["disk"]]
    if incoming:
        argv += ["-incoming", incoming]
    return argv


def read_console(text):
    """What a guest's console says so far: {ready, boot_id, count, uptime}; count None before the first."""
    state = {"ready": False, "boot_id": None, "count": None, "uptime": None}
    for line in text.splitlines():
        line = line.strip("\r\x00 ")
        match = _READY.match(line)
        if match:
            state.update(ready=True, boot_id=match.group(1), count=None, uptime=None)
            continue
        match = _COUNT.match(line)
        if match:
            # A migration target's console starts at a COUNT line: the guest was ready before it came.
            state.update(ready=True, count=int(match.group(1)), boot_id=match.group(2),
                         uptime=float(match.group(3)))
    return state


def migration_progress(answer):
    """{status, done, failed, total_ms, downtime_ms, transferred, remaining, error} from query-migrate."""
    status = answer.get("status", "none")
    ram = answer.get("ram") or {}
    return {
        "status": status,
        "done": status == "completed",
        "failed": status in ("failed", "cancelled"),
        "total_ms": answer.get("total-time"),
        "downtime_ms": answer.get("downtime"),
        "transferred": ram.get("transferred"),
        "remaining": ram.get("remaining"),
        "error": answer.get("error-desc"),
    }


def choose_accel(requested, kvm_device, pvm_host):
    """(accelerator, why) for requested "auto", "kvm" or "tcg"."""
    if requested == "tcg":
        return "tcg", "asked for TCG"
    if requested == "kvm":
        if not kvm_device:
            raise VmRunnerError("KVM asked for, but /dev/kvm is missing")
        return "kvm", "asked for KVM"
    if requested != "auto":
        raise VmRunnerError("unknown accelerator %r: choose auto, kvm or tcg" % requested)
    if not kvm_device:
        return "tcg", "no /dev/kvm"
    if pvm_host:
        return "tcg", ("/dev/kvm is PVM (kvm_pvm), which runs only PVM guest kernels; "
                       "the stock Debian guest kernel runs under TCG")
    return "kvm", "/dev/kvm"


def vm_processes(name, cmdlines):
    """The pids whose command line names QEMU process name (process_name()); cmdlines: {pid: [argv...]}."""
    wanted = ",process=%s" % name
    return sorted(pid for pid, argv in cmdlines.items()
                  if any(arg.endswith(wanted) for arg in argv[1:]) and "qemu" in Path(argv[0]).name)


# --- I/O: processes, QMP ---------------------------------------------------------------------------------

def host_accel(requested="auto"):
    return choose_accel(requested, os.path.exists("/dev/kvm"), os.path.isdir("/sys/module/kvm_pvm"))


def proc_cmdlines():
    """{pid: argv} of every process /proc shows."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if raw:
                found[int(entry.name)] = raw.rstrip(b"\0").decode(errors="replace").split("\0")
    return found


def guest_files(path=None):
    """{kernel, initrd, cmdline} of the built test guest: in directory path (a lab node, where the lab mounts it), else
    in the cache directory lab/versions.env names; VmRunnerError naming the build command if it is missing."""
    if path is not None:
        path = Path(path)
        if not (path / ".complete").exists():
            raise VmRunnerError("no built lab guest in %s (.complete missing)" % path)
        return {"kernel": path / "vmlinux", "initrd": path / "initramfs.cpio",
                "cmdline": (path / "cmdline").read_text().strip()}
    versions = {}
    for line in (Path(__file__).resolve().parents[1] / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            versions[key.strip()] = value.strip()
    path = CACHE / ("guest-%s-%s" % (versions["GUEST_KERNEL_ABI"], versions["GUEST_REVISION"]))
    if not (path / ".complete").exists():
        raise VmRunnerError("the lab guest is not built (%s): run `lab/build/build-binaries.sh guest`" % path)
    return {"kernel": path / "vmlinux", "initrd": path / "initramfs.cpio",
            "cmdline": (path / "cmdline").read_text().strip()}


class Qmp:
    """A QMP client on a unix socket: one command at a time, events skipped."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("r", encoding="utf-8")
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def _read(self):
        while True:
            line = self.reader.readline()
            if not line:
                raise VmRunnerError("QMP connection closed by QEMU")
            message = json.loads(line)
            if "event" not in message:
                return message

    def execute(self, command, **arguments):
        request = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall((json.dumps(request) + "\n").encode())
        answer = self._read()
        if "error" in answer:
            raise VmRunnerError("QMP %s: %s" % (command, answer["error"].get("desc")))
        return answer.get("return")

    def close(self):
        self.reader.close()
        self.sock.close()


class Guest:
    """One QEMU process for one VMI, its console log and QMP socket under workdir."""

    def __init__(self, vmi, workdir, accel="auto", disk_paths=None, incoming=None, say=print, guest=None):
        """guest: {kernel, initrd, cmdline} (guest_files()); the lab's build when None."""
        self.vmi, self.workdir, self.say = vmi, Path(workdir), say
        self.accel, self.accel_reason = host_accel(accel)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console = self.workdir / "console.log"
        self.qmp_path = self.workdir / "qmp.sock"
        for stale in (self.console, self.qmp_path):
            stale.unlink(missing_ok=True)
        self.argv = qemu_argv(vmi, guest or guest_files(), self.console, self.qmp_path, self.accel, incoming, disk_paths)
        self.stderr = open(self.workdir / "qemu.err", "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.stderr,  # pylint: disable=consider-using-with
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.qmp = self._connect(timeout=15.0)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def _died(self):
        return VmRunnerError("QEMU for %s exited with status %s: %s" % (
            process_name(self.vmi), self.proc.returncode, (self.workdir / "qemu.err").read_text().strip()[-400:]))

    def _connect(self, timeout):
        start = time.monotonic()
        while True:
            if not self.alive():
                raise self._died()
            try:
                return Qmp(self.qmp_path)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() - start > timeout:
                    raise VmRunnerError("QEMU for %s opened no QMP socket at %s within %.0fs"
                                        % (process_name(self.vmi), self.qmp_path, timeout)) from None
                time.sleep(0.1)

    def console_state(self):
        try:
            return read_console(self.console.read_text(errors="replace"))
        except FileNotFoundError:
            return read_console("")

    def status(self):
        return self.qmp.execute("query-status")["status"]

    def wait_for(self, what, done, timeout, report_every=10.0):
        """Poll the console until done(state); the state, or VmRunnerError with what the console said last."""
        start = time.monotonic()
        next_report = start + report_every
        while True:
            state = self.console_state()
            if done(state):
                return state
            if not self.alive():
                raise self._died()
            now = time.monotonic()
            if now - start > timeout:
                raise VmRunnerError("%s: gave up after %.0fs waiting for %s; console so far: %s"
                                    % (process_name(self.vmi), timeout, what, state))
            if now >= next_report:
                self.say("  ... %.0fs: %s waiting for %s (%s, %s)"
                         % (now - start, process_name(self.vmi), what, self.accel, state))
                next_report = now + report_every
            time.sleep(0.2)

    def wait_ready(self, timeout=120.0):
        """Wait for the guest's READY line; returns the seconds since QEMU started and the console state."""
        state = self.wait_for("the guest's READY line", lambda s: s["ready"], timeout)
        return time.monotonic() - self.started, state

    def wait_count(self, above, timeout=30.0):
        """Wait until the guest's counter is above `above`; the console state."""
        return self.wait_for("a counter above %s" % above, lambda s: (s["count"] or 0) > above, timeout)

    def stop(self, timeout=10.0):
        """Quit QEMU (the guest is powered off, not shut down) and reap it; SIGKILL if it does not go."""
        if self.alive():
            try:
                self.qmp.execute("quit")
            except (VmRunnerError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self.qmp.close()
        self.stderr.close()

    def kill(self):
        """Power cut: SIGKILL, as when a node loses power."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.qmp.close()
        self.stderr.close()


def migrate_out(source, address, timeout=120.0, max_bandwidth=None, say=print):
    """Send source's guest to the QEMU listening at address (``-incoming tcp:ADDRESS``, possibly on another node);
    QEMU's own figures.

    Success: the source QEMU has quit; returns {total_ms, downtime_ms, transferred, seconds}. Failure (refused,
    broken, or not done within timeout): the migration is cancelled, the source runs again (resumed if QEMU left
    it paused), and MigrationError says why; the target is not touched (it may be another node's).
    """
    name = process_name(source.vmi)
    if max_bandwidth:
        source.qmp.execute("migrate-set-parameters", **{"max-bandwidth": int(max_bandwidth)})
    start = time.monotonic()
    progress = {"status": "none", "error": None}
    try:
        source.qmp.execute("migrate", uri="tcp:%s" % address)
        next_report = start + 5.0
        while True:
            progress = migration_progress(source.qmp.execute("query-migrate"))
            if progress["done"] or progress["failed"]:
                break
            now = time.monotonic()
            if now - start > timeout:
                source.qmp.execute("migrate_cancel")
                progress["error"] = "not complete after %.0fs" % timeout
                break
            if now >= next_report:
                say("  ... %.0fs: migrating %s to %s: %s, %s bytes sent, %s to go" % (
                    now - start, name, address, progress["status"], progress["transferred"], progress["remaining"]))
                next_report = now + 5.0
            time.sleep(0.2)
    except VmRunnerError as exc:
        progress = {"status": "refused", "done": False, "error": str(exc)}
    if not progress.get("done"):
        if not source.alive():
            raise MigrationError("live migration of %s to %s failed (%s) and the source QEMU has exited too: the guest "
                                 "runs nowhere" % (name, address, progress.get("error") or progress["status"]))
        state = source.status()
        if state != "running":
            source.qmp.execute("cont")
            state = source.status()
        raise MigrationError("live migration of %s to %s did not complete (%s: %s); the guest keeps running on the "
                             "source (QEMU pid %d, %s)"
                             % (name, address, progress["status"], progress.get("error") or "no reason given",
                                source.pid, state))
    seconds = time.monotonic() - start
    source.stop()
    return {"total_ms": progress["total_ms"], "downtime_ms": progress["downtime_ms"],
            "transferred": progress["transferred"], "seconds": seconds}


def migrate(source, target, address, timeout=120.0, max_bandwidth=None, say=print):
    """Live-migrate source to target (a Guest started with incoming="tcp:ADDRESS") in this process: migrate_out(),
    and on failure the target QEMU is killed too before MigrationError goes up."""
    try:
        return migrate_out(source, address, timeout, max_bandwidth, say)
    except MigrationError as exc:
        target.kill()
        raise MigrationError("%s; the target QEMU was stopped" % exc) from None
