"""Failover RTO on the lab: repeated room drills, growing the number of workloads.

Each run is `twinroom-lab drill ROOM` (lab/twinroom_lab/drill.py): deploy N single-pod workloads (half
homed in each room; StatefulSets and Deployments; real containers on the kubelet nodes, or with --kwok only on the
kwok stand-in nodes), power a room off with its BMCs
answering, run playbooks/failover.yml, verify, run playbooks/recover.yml with failback, and wait until every
workload runs at home again - with a never-twice watch (both API servers and the containers, every second)
and an acknowledged-write check throughout. Rooms alternate run by run, so a series of runs is also the
"consecutive failover/recover/failback cycles" acceptance. After the last run, site.yml is run once more and
must report changed=0.

Two clocks. The drill's own (columns "cut s" and "start s"): a poller twice a second from the power cut until it
sees every workload of the lost room Running and Ready in the other room, late replacements included; "cut s"
counts from the power cut, "start s" from the moment the drill starts failover.yml (at once, with the room dark).
The playbook's report ("RTO s"): from its first task (before inventory validation) to the last workload Running and
Ready after the settle check. Phases (playbook clock): fence (validation, pre-check, BMC power-off verified),
takeover (datastore promotion, kine repointed, write check), workloads (out-of-service taint, pod release,
rescheduling).

With --automatic nobody starts failover.yml: ansible-rulebook runs the automatic failover throughout (the lab's
site.yml configured it) and "start s" is empty; the line under the tables gives when failover.yml started after the
power cut (the detection).

usage: python benchmarks/failover_rto.py [--workloads 10 100] [--runs 3] [--automatic]   (after: source scripts/devenv.sh)
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from twinroom_lab import drill, workloads  # noqa: E402  pylint: disable=wrong-import-position


def spread(values):
    values = [float(v) for v in values if v is not None]
    if not values:
        return "%6s  %6s  %6s" % ("-", "-", "-")
    return "%6.1f  %6.1f  %6.1f" % (statistics.median(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, nargs="+", default=[10, 100],
                        help="workload counts to measure (default 10 100)")
    parser.add_argument("--runs", type=int, default=3, help="drills per workload count (default 3)")
    parser.add_argument("--first-room", default="room_a", choices=["room_a", "room_b"])
    parser.add_argument("--json", help="write every drill's result to this file")
    parser.add_argument("--storage-class", help="StatefulSet pods get a claim on this class (stand-in provisioner)")
    parser.add_argument("--kwok", action="store_true",
                        help="run the workloads on the kwok stand-in nodes only, for scale (default: kubelet nodes, real containers)")
    parser.add_argument("--no-site-check", action="store_true", help="skip the final site.yml changed=0 check")
    parser.add_argument("--automatic", action="store_true",
                        help="nobody runs failover.yml: ansible-rulebook runs the automatic failover's rulebook "
                             "throughout, and each drill waits for the failover it starts")
    args = parser.parse_args()
    if args.runs < 1 or any(n < 1 for n in args.workloads):
        parser.error("--runs and --workloads must be at least 1")

    results, room, failed = [], args.first_room, 0
    rulebook = drill.Rulebook(Path(args.json or "/tmp/failover_rto.json").with_suffix(".rulebook.log")) \
        if args.automatic else None
    if rulebook:
        rulebook.start()
    try:
        room, failed = run_drills(args, results, room, failed)
    finally:
        if rulebook:
            rulebook.stop()
    report_tables(args, results, failed)
    return finish(args, results, failed)


def run_drills(args, results, room, failed):
    # late: workloads replaced once more after failover.yml had seen them all run (the drill waits for them)
    print("%-5s %-6s %-7s %6s %7s %7s %7s %9s %10s %6s %7s %5s %5s" % (
        "count", "run", "lost", "cut s", "start s", "RTO s", "fence s", "takeover s", "workloads s", "twice", "acked",
        "lost", "late"), flush=True)
    for count in args.workloads:
        # A fresh set per count: the namespace is removed and the new count deployed by the first drill.
        workloads.remove(drill.KUBECONFIG, drill.ZONE[drill.OTHER[room]])
        for run in range(1, args.runs + 1):
            try:
                result = drill.room_drill(room, count=count, failback=True, storage_class=args.storage_class, kwok=args.kwok,
                                          say=lambda text: None, automatic=args.automatic)
            except drill.DrillError as exc:
                print("%-5d %-6d %-7s drill failed: %s" % (count, run, room, str(exc)[:2000]), flush=True)
                failed += 1
                break
            report = result["report"]
            results.append(dict(result, count=count, run=run))
            clock = result["drill_clock"]
            print("%-5d %-6d %-7s %6s %7s %7.1f %7.1f %9.1f %10.1f %6d %7d %5d %5d" % (
                count, run, room, clock["from_power_cut_s"], clock["from_failover_start_s"],
                float(report["rto_s"]), float(report["phases"]["fence_s"]),
                float(report["phases"]["takeover_s"]), float(report["phases"]["workloads_s"]),
                len(result["never_twice"]["violations"]), result["writes_acknowledged"],
                len(result["writes_lost"]), len(result["late"]["workloads"])), flush=True)
            room = drill.OTHER[room]
    return room, failed


def report_tables(args, results, failed):
    print()
    print("%-5s %-5s %-22s %-22s %-22s %-22s %-22s %-22s" % (
        "count", "runs", "cut s (med min max)", "start s", "RTO s (playbook)", "fence s", "takeover s", "workloads s"))
    for count in args.workloads:
        rows = [r for r in results if r["count"] == count]
        if not rows:
            continue
        phases = [r["report"]["phases"] for r in rows]
        clocks = [r["drill_clock"] for r in rows]
        print("%-5d %-5d %-22s %-22s %-22s %-22s %-22s %-22s" % (
            count, len(rows), spread([c["from_power_cut_s"] for c in clocks]),
            spread([c["from_failover_start_s"] for c in clocks]),
            spread([r["report"]["rto_s"] for r in rows]), spread([p["fence_s"] for p in phases]),
            spread([p["takeover_s"] for p in phases]), spread([p["workloads_s"] for p in phases])))
    twice = sum(len(r["never_twice"]["violations"]) for r in results)
    lost = sum(len(r["writes_lost"]) for r in results)
    samples = sum(r["never_twice"]["samples"] for r in results)
    print()
    late = sum(len(r["late"]["workloads"]) for r in results)
    apart = sum(len(r["never_twice"].get("apart", [])) for r in results)
    transient = sum(len(r["never_twice"].get("transient", [])) for r in results)
    print("cycles: %d completed, %d failed; never-twice samples %d, violations %d (not counted: pairs shown apart %d, "
          "seen in one merged sample only %d); acknowledged writes lost %d; workloads replaced again after the "
          "failover ended %d" % (len(results), failed, samples, twice, apart, transient, lost, late))
    detected = [r["detected_s"] for r in results]
    if detected:
        print("failover.yml started (its report's start, this machine's clock) after the power cut: median %.1f s, "
              "min %.1f, max %.1f%s" % (statistics.median(detected), min(detected), max(detected),
                                        " - the detection, by the automatic failover" if args.automatic else
                                        " - the drill starts it once the BMCs report the room off"))


def finish(args, results, failed):
    twice = sum(len(r["never_twice"]["violations"]) for r in results)
    lost = sum(len(r["writes_lost"]) for r in results)
    site_changed = None
    if not args.no_site_check and results:
        site = drill.run_playbook("playbooks/site.yml", timeout=1800)
        recap = [line for line in site.stdout.splitlines() if "changed=" in line and ":" in line]
        site_changed = sum(int(line.split("changed=")[1].split()[0]) for line in recap)
        print("site.yml afterwards: rc %d, changed=%d" % (site.returncode, site_changed))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 1 if failed or twice or lost or site_changed else 0


if __name__ == "__main__":
    sys.exit(main())
