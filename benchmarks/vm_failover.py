"""VM RTO to guest ready on the lab: the room holding the datastore primary loses power with N VMs homed there.

Each run: N VMs made by twinroom.ha.vm's builder (lab/twinroom_lab/vms.py), all homed in the room that holds the
datastore primary, each booting a real QEMU guest in its node (the virt-handler stand-in reports a VMI Running only
after its guest's READY line); the room is powered off with its BMCs answering; failover.yml runs at once; the drill
polls the survivor's API every 0.5 s until every VM's new VMI is Running in the survivor; recover.yml brings the room
back; the VMs are deleted. A guest watch reads the QEMU processes in every node once a second throughout (never two
of one VM, checked in the nodes themselves).

Clocks: the drill's own. "cut s": from the power cut to the last VM's guest ready (its VMI Running) in the survivor;
"start s": from the moment failover.yml was started. Both include the fencing, the datastore takeover, the release
of the launcher pods, virt-controller's new VMIs, scheduling and the guests' boot (TCG on this machine); they
exclude recover.yml.

usage: python benchmarks/vm_failover.py [--vms 1 10] [--runs 5]   (after: source scripts/devenv.sh and make lab)
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
sys.path[:0] = [p for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p and p not in sys.path]
from twinroom_lab import drill, guests, topology, vms  # noqa: E402  pylint: disable=wrong-import-position

NAMESPACE = "twinroom-bench-vms"


def spread(values):
    values = [float(v) for v in values if v is not None]
    if not values:
        return "%6s  %6s  %6s" % ("-", "-", "-")
    return "%6.1f  %6.1f  %6.1f" % (statistics.median(values), min(values), max(values))


def wait(what, check, seconds, interval=0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise drill.DrillError("%s: not after %d s" % (what, seconds))


def one_run(count, say):
    lost = drill.primary_room(drill.datastore_roles())
    survivor = drill.OTHER[lost]
    rooms = drill.room_nodes()
    names = ["vm-%02d" % i for i in range(count)]
    containers = [node.container for node in topology.load().room_nodes()]
    vms.deploy(drill.KUBECONFIG, drill.ZONE[survivor], NAMESPACE, dict((name, drill.ZONE[lost]) for name in names),
               memory="256Mi")
    try:
        wait("%d VMs with their guests ready in %s" % (count, lost),
             lambda: len(vms.running_in(vms.vm_state(drill.KUBECONFIG, drill.ZONE[survivor], NAMESPACE),
                                        set(rooms[lost]))) == count, 600)
        before = vms.vm_state(drill.KUBECONFIG, drill.ZONE[survivor], NAMESPACE)
        watch = guests.GuestWatch(containers, interval=1.0).start()
        try:
            cut = time.monotonic()
            drill.lab("power-off-room", lost, "--bmc", "answering")
            say("  %s powered off with %d VMs; failover.yml" % (lost, count))
            started = time.monotonic()
            failover = drill.run_playbook("playbooks/failover.yml", extra_vars={"lost_room": lost}, timeout=1200)
            if failover.returncode != 0:
                raise drill.DrillError("failover.yml failed:\n%s" % (failover.stdout + failover.stderr)[-3000:])

            def moved():
                state = vms.vm_state(drill.KUBECONFIG, drill.ZONE[survivor], NAMESPACE)
                running = vms.running_in(state, set(rooms[survivor]))
                return len(running) == count and all(state[n][2] != before[n][2] for n in names)
            wait("every VM's guest ready in %s" % survivor, moved, 600)
            ready = time.monotonic()
            time.sleep(3)
        finally:
            watch.stop()
        result = {"lost": lost, "cut_s": round(ready - cut, 1), "start_s": round(ready - started, 1),
                  "samples": watch.samples, "violations": len(watch.violations)}
        say("  guests ready in %s: %.1f s after the cut, %.1f s after failover.yml started; guest watch %d samples, "
            "%d violations" % (survivor, result["cut_s"], result["start_s"], watch.samples, len(watch.violations)))
        recover = drill.run_playbook("playbooks/recover.yml", extra_vars={"lost_room": lost}, timeout=1800)
        if recover.returncode != 0:
            raise drill.DrillError("recover.yml failed:\n%s" % (recover.stdout + recover.stderr)[-3000:])
        return result
    finally:
        vms.remove(drill.KUBECONFIG, drill.ZONE[drill.primary_room(drill.datastore_roles())], NAMESPACE,
                   drill.STATE / "vm-disks")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, nargs="+", default=[1, 10], help="VM counts to measure (default 1 10)")
    parser.add_argument("--runs", type=int, default=5, help="runs per VM count (default 5)")
    args = parser.parse_args()
    if args.runs < 1 or any(n < 1 for n in args.vms):
        parser.error("--runs and --vms must be at least 1")
    rows = []
    for count in args.vms:
        for run in range(args.runs):
            print("run %d of %d with %d VMs" % (run + 1, args.runs, count), flush=True)
            rows.append((count, one_run(count, lambda line: print(line, flush=True))))
    print()
    print("VM failover to guest ready (median  min  max, seconds; the drill's clock)")
    print("%4s  %4s  %-22s  %-22s  %s" % ("VMs", "runs", "from the power cut", "from failover.yml start",
                                          "QEMU twice (samples)"))
    for count in args.vms:
        mine = [r for c, r in rows if c == count]
        print("%4d  %4d  %-22s  %-22s  %d (%d)" % (
            count, len(mine), spread(r["cut_s"] for r in mine), spread(r["start_s"] for r in mine),
            sum(r["violations"] for r in mine), sum(r["samples"] for r in mine)))
    return 1 if any(r["violations"] for _c, r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
