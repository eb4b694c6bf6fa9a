"""The lab guest on this host: boot to ready, and live migration over 127.0.0.1 (QEMU's own total time and downtime).

Each run boots a fresh guest (lab/twinroom_lab/vmrunner.py, the virt-handler/virt-launcher stand-in) with a
shared-disk stand-in file, waits for its READY line, lets it count, migrates it to a second QEMU listening on
127.0.0.1, checks that the counter continues with the same boot id, and stops it. No lab bed needed: QEMU only,
loopback only. Builds the guest first if it is missing (lab/build/build-binaries.sh guest).

usage: python benchmarks/vm_guest.py [--runs 5] [--memory 128Mi] [--accel auto|kvm|tcg]
"""
import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
from twinroom_lab import vmrunner  # noqa: E402  pylint: disable=wrong-import-position


def spread(values):
    return "%8.2f %8.2f %8.2f" % (statistics.median(values), min(values), max(values))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_run(work, memory, accel):
    disk = work / "disk.raw"
    with open(disk, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    vmi = {"metadata": {"name": "bench", "namespace": "bench"},
           "spec": {"domain": {"cpu": {"cores": 1}, "memory": {"guest": memory},
                               "devices": {"disks": [{"name": "root"}]}},
                    "volumes": [{"name": "root", "hostDisk": {"path": str(disk)}}]}}
    source = vmrunner.Guest(vmi, work / "a", accel=accel, say=lambda _line: None)
    target = None
    try:
        boot, ready = source.wait_ready(timeout=180)
        before = source.wait_count(0)
        port = free_port()
        target = vmrunner.Guest(vmi, work / "b", accel=accel, incoming="tcp:127.0.0.1:%d" % port)
        result = vmrunner.migrate(source, target, "127.0.0.1:%d" % port, timeout=120, say=lambda _line: None)
        after = target.wait_count(before["count"])
        if after["boot_id"] != ready["boot_id"]:
            raise vmrunner.VmRunnerError("the guest rebooted during the migration")
        return {"boot": boot, "total": result["total_ms"] / 1000.0, "downtime": result["downtime_ms"] / 1000.0,
                "wall": result["seconds"], "mib": result["transferred"] / 1048576.0, "accel": source.accel,
                "why": source.accel_reason}
    finally:
        for guest in (target, source):
            if guest is not None and guest.alive():
                guest.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="guests to boot and migrate (default 5)")
    parser.add_argument("--memory", default="128Mi", help="guest memory (default 128Mi)")
    parser.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"])
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    subprocess.run([str(REPO / "lab" / "build" / "build-binaries.sh"), "guest"], check=True, stdout=subprocess.DEVNULL)
    rows = []
    print("%-4s %10s %12s %14s %10s %10s" % ("run", "ready (s)", "migrate (s)", "downtime (ms)", "wall (s)", "sent MiB"))
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="twinroom-vm-bench-") as work:
            row = one_run(Path(work), args.memory, args.accel)
        rows.append(row)
        print("%-4d %10.2f %12.3f %14.0f %10.2f %10.1f" % (
            run, row["boot"], row["total"], row["downtime"] * 1000, row["wall"], row["mib"]), flush=True)
    print()
    print("accelerator: %s (%s); guest memory %s; %d runs" % (rows[0]["accel"], rows[0]["why"], args.memory, len(rows)))
    print("%-34s %8s %8s %8s" % ("", "median", "min", "max"))
    print("%-34s %s" % ("boot to READY (s, from QEMU start)", spread([r["boot"] for r in rows])))
    print("%-34s %s" % ("migration total (s, QEMU)", spread([r["total"] for r in rows])))
    print("%-34s %s" % ("migration downtime (s, QEMU)", spread([r["downtime"] for r in rows])))
    print("%-34s %s" % ("migration wall (s, runner)", spread([r["wall"] for r in rows])))


if __name__ == "__main__":
    main()
