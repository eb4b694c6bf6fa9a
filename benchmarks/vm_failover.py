"""VM RTO to guest ready on the lab, and the live failback home: the room holding the datastore primary loses power
with N VMs homed there; recover.yml brings it back and live-migrates the VMs home.

Each run: N VMs made by twinroom.ha.vm's builder (lab/twinroom_lab/vms.py), all homed in the room that holds the
datastore primary, each booting a real QEMU guest in its node (the virt-handler stand-in reports a VMI Running only
after its guest's READY line); the room is powered off with its BMCs answering; failover.yml runs at once; the drill
polls the survivor's API every 0.5 s until every VM's new VMI is Running in the survivor; recover.yml with
failback=true (failback_batch, default 2) brings the room back and live-migrates every VM home; the VMs are deleted.
A guest watch reads the QEMU processes in every node once a second throughout (never two of one VM, checked in the
nodes themselves; a live migration's source and -incoming target count as a pair, held to that migration's window).

Clocks: the drill's own. "cut s": from the power cut to the last VM's guest ready (its VMI Running) in the survivor;
"start s": from the moment failover.yml was started. Both include the fencing, the datastore takeover, the release
of the launcher pods, virt-controller's new VMIs, scheduling and the guests' boot (TCG on this machine); they
exclude recover.yml. Failback, per VM: "migration s" from the drill first seeing its VirtualMachineInstanceMigration to
seeing it Succeeded (polled every 0.5 s: target pod, target QEMU, the memory copy, the take-over); "QEMU ms" and
"downtime ms" are QEMU's own figures, as the source node's stand-in logged them; "in flight" is the most migrations
the drill saw under way at once (failback_batch bounds it); "same boot" counts the VMs whose guest in the home node
has the boot id it had in the survivor and a counter that went on.

usage: python benchmarks/vm_failover.py [--vms 1 10] [--runs 5] [--batch 2]
       (after: source scripts/devenv.sh and make lab)
"""
import argparse
import os
import re
import statistics
import sys
import threading
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


_SENT = re.compile(r"VMI (\S+) \(uid \S+\): guest sent to (\S+): QEMU total (\d+) ms, downtime (\d+) ms")


class MigrationWatch(object):
    """Reads the namespace's VirtualMachineInstanceMigrations every 0.5 s in a thread: for each, when the drill first
    saw it and when it first saw it Succeeded or Failed (monotonic), and its phase."""

    def __init__(self, context):
        self.context, self.seen, self.errors = context, {}, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        _core, custom = vms.apis(drill.KUBECONFIG, self.context)
        while not self._stop.is_set():
            try:
                items = custom.list_namespaced_custom_object("kubevirt.io", "v1", NAMESPACE,
                                                             "virtualmachineinstancemigrations",
                                                             _request_timeout=10)["items"]
            except Exception as exc:  # pylint: disable=broad-except  # that room's API does not answer now
                self.errors.append(str(exc)[:200])
                items = []
            now = time.monotonic()
            for item in items:
                entry = self.seen.setdefault(item["metadata"]["name"], {"vm": item["spec"]["vmiName"], "first": now,
                                                                        "end": None, "phase": None})
                phase = (item.get("status") or {}).get("phase")
                entry["phase"] = phase
                if phase in ("Succeeded", "Failed") and entry["end"] is None:
                    entry["end"] = now
            self._stop.wait(0.5)

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def in_flight(self):
        """The most migrations under way at once, as seen."""
        edges = sorted([(e["first"], 1) for e in self.seen.values()]
                       + [(e["end"] if e["end"] is not None else float("inf"), -1) for e in self.seen.values()],
                       key=lambda edge: (edge[0], edge[1]))
        most = now = 0
        for _at, step in edges:
            now += step
            most = max(most, now)
        return most


def failback(lost, survivor, names, containers, batch, say):
    """recover.yml with failback: per-VM migration times, QEMU's figures, the most in flight, same-boot count."""
    where = dict((node.name, node.container) for node in topology.load().room_nodes())
    state = vms.vm_state(drill.KUBECONFIG, drill.ZONE[survivor], NAMESPACE)
    boots = dict((name, guests.console(where[state[name][1]], NAMESPACE, name)) for name in names)
    migrations = MigrationWatch(drill.ZONE[survivor]).start()
    watch = guests.GuestWatch(containers, interval=1.0).start()
    since = time.time() - 1
    try:
        recover = drill.run_playbook("playbooks/recover.yml", extra_vars={
            "lost_room": lost, "failback": True, "failback_batch": batch}, timeout=1800)
    finally:
        watch.stop()
        migrations.stop()
    if recover.returncode != 0:
        raise drill.DrillError("recover.yml failed:\n%s" % (recover.stdout + recover.stderr)[-3000:])
    state = vms.vm_state(drill.KUBECONFIG, drill.ZONE[lost], NAMESPACE)
    rooms = drill.room_nodes()
    home = [name for name in names if state[name][0] == "Running" and state[name][1] in rooms[lost]]
    same = 0
    for name in home:
        now = guests.console(where[state[name][1]], NAMESPACE, name)
        if now and boots[name] and now["boot_id"] == boots[name]["boot_id"] and now["count"] > boots[name]["count"]:
            same += 1
    qemu = [_SENT.search(line) for container in containers
            for line in drill.journal(container, "twinroom-virt-handler-standin", since)]
    qemu = [m for m in qemu if m and m.group(1).startswith(NAMESPACE + "/")]
    seconds = [e["end"] - e["first"] for e in migrations.seen.values() if e["end"] is not None]
    result = {"home": len(home), "same_boot": same, "in_flight": migrations.in_flight(),
              "migration_s": seconds, "qemu_ms": [int(m.group(3)) for m in qemu],
              "downtime_ms": [int(m.group(4)) for m in qemu], "pairs": len(watch.pairs),
              "samples": watch.samples, "violations": len(watch.violations),
              "failed": [n for n, e in migrations.seen.items() if e["phase"] != "Succeeded"]}
    say("  failback: %d of %d VMs home (%d with the same boot), %d migrations, at most %d in flight (batch %d); "
        "guest watch %d samples, %d pairs, %d violations"
        % (len(home), len(names), same, len(migrations.seen), result["in_flight"], batch, watch.samples,
           len(watch.pairs), len(watch.violations)))
    return result


def one_run(count, say, batch=2):
    lost = drill.primary_room(drill.datastore_roles())
    survivor = drill.OTHER[lost]
    rooms = drill.room_nodes()
    names = ["vm-%02d" % i for i in range(count)]
    containers = [node.container for node in topology.load().room_nodes()]
    vms.deploy(drill.KUBECONFIG, drill.ZONE[survivor], NAMESPACE, dict((name, drill.ZONE[lost]) for name in names),
               memory="256Mi")
    try:
        drill.wait("%d VMs with their guests ready in %s" % (count, lost),
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
            drill.wait("every VM's guest ready in %s" % survivor, moved, 600)
            ready = time.monotonic()
            time.sleep(3)
        finally:
            watch.stop()
        result = {"lost": lost, "cut_s": round(ready - cut, 1), "start_s": round(ready - started, 1),
                  "samples": watch.samples, "violations": len(watch.violations)}
        say("  guests ready in %s: %.1f s after the cut, %.1f s after failover.yml started; guest watch %d samples, "
            "%d violations" % (survivor, result["cut_s"], result["start_s"], watch.samples, len(watch.violations)))
        result["failback"] = failback(lost, survivor, names, containers, batch, say)
        return result
    finally:
        vms.remove(drill.KUBECONFIG, drill.ZONE[drill.primary_room(drill.datastore_roles())], NAMESPACE,
                   drill.STATE / "vm-disks")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, nargs="+", default=[1, 10], help="VM counts to measure (default 1 10)")
    parser.add_argument("--runs", type=int, default=5, help="runs per VM count (default 5)")
    parser.add_argument("--batch", type=int, default=2, help="recover.yml's failback_batch (default 2)")
    args = parser.parse_args()
    if args.runs < 1 or args.batch < 1 or any(n < 1 for n in args.vms):
        parser.error("--runs, --batch and --vms must be at least 1")
    rows = []
    for count in args.vms:
        for run in range(args.runs):
            print("run %d of %d with %d VMs" % (run + 1, args.runs, count), flush=True)
            rows.append((count, one_run(count, lambda line: print(line, flush=True), args.batch)))
    print()
    print("VM failover to guest ready (median  min  max, seconds; the drill's clock)")
    print("%4s  %4s  %-22s  %-22s  %s" % ("VMs", "runs", "from the power cut", "from failover.yml start",
                                          "QEMU twice (samples)"))
    for count in args.vms:
        mine = [r for c, r in rows if c == count]
        print("%4d  %4d  %-22s  %-22s  %d (%d)" % (
            count, len(mine), spread(r["cut_s"] for r in mine), spread(r["start_s"] for r in mine),
            sum(r["violations"] for r in mine), sum(r["samples"] for r in mine)))
    print()
    print("Live failback home with recover.yml -e failback=true -e failback_batch=%d (median  min  max, per VM)" % args.batch)
    print("%4s  %4s  %-22s  %-22s  %-22s  %-9s  %-9s  %s" % ("VMs", "runs", "migration s (drill)", "QEMU total ms",
                                                             "QEMU downtime ms", "in flight", "same boot",
                                                             "QEMU twice (samples)"))
    for count in args.vms:
        mine = [r["failback"] for c, r in rows if c == count]
        print("%4d  %4d  %-22s  %-22s  %-22s  %-9s  %-9s  %d (%d)" % (
            count, len(mine), spread(s for r in mine for s in r["migration_s"]),
            spread(s for r in mine for s in r["qemu_ms"]), spread(s for r in mine for s in r["downtime_ms"]),
            "%d" % max(r["in_flight"] for r in mine), "%d/%d" % (sum(r["same_boot"] for r in mine), count * len(mine)),
            sum(r["violations"] for r in mine), sum(r["samples"] for r in mine)))
    bad = [r for _c, r in rows if r["violations"] or r["failback"]["violations"] or r["failback"]["failed"]
           or r["failback"]["in_flight"] > args.batch]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
