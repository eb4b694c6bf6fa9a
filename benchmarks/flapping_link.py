"""A flapping inter-room link under the automatic failover: at most one failover, never two of anything.

ansible-rulebook runs the collection's automatic failover (extensions/eda/rulebooks/automatic_failover.yml, with the
room watch site.yml configured) throughout. With N workloads (half homed in each room, real containers) running, an
acknowledged writer and the never-twice watch (both API servers and the nodes' own container lists) running, the
link between the rooms is cut and restored every --period seconds for --minutes minutes
(`twinroom-lab cut-link` / `restore-link`). Then the link stays up and the benchmark waits until every workload runs
again, Running and Ready.

It prints one line per run and a table: link cuts, failover.yml runs the rulebook started (each writes a report),
the watch's alarms (decisions printed by the rulebook), never-twice samples and violations, acknowledged writes and
writes lost, and how long after the last restore every workload ran again (the drill's own clock). Each run must
show at most one failover, 0 violations and 0 writes lost; the script exits 1 otherwise.

usage: python benchmarks/flapping_link.py [--runs 1] [--minutes 2] [--period 10] [--workloads 10]
       (after: source scripts/devenv.sh, on a lab built by make lab)
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from twinroom_lab import drill, workloads  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.twinwatch import TwinWatch  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.writer import Writer, ensure_namespace, missing_acknowledged  # noqa: E402  pylint: disable=wrong-import-position


def reports_since(since):
    """Failover reports (both rooms) written after ``since`` (epoch)."""
    return sorted(path.name for path in (drill.STATE / "reports").glob("failover-*.json")
                  if path.stat().st_mtime >= since)


def alarms(output):
    """The decisions with action alarm that the rulebook printed (print_event, pretty)."""
    return output.count("'action': 'alarm'") + output.count('"action": "alarm"')


def flap(minutes, period, say):
    """Cut and restore the link every ``period`` seconds for ``minutes``; the link is up when it returns."""
    cuts = 0
    deadline = time.monotonic() + minutes * 60
    try:
        while time.monotonic() < deadline:
            drill.lab("cut-link")
            cuts += 1
            say("  link cut (%d)" % cuts)
            time.sleep(period)
            drill.lab("restore-link")
            time.sleep(period)
    finally:
        drill.lab("restore-link")
    return cuts


def one_run(args, number, say):
    rooms = drill.room_nodes()
    node_room = dict((node, room) for room, nodes in rooms.items() for node in nodes)
    context = drill.ZONE["room_a"]
    wanted = workloads.deploy(drill.KUBECONFIG, context, args.workloads)
    workloads.wait_home(drill.KUBECONFIG, context, wanted, node_room, timeout=600)
    ensure_namespace(drill.KUBECONFIG, context)
    writer = Writer(drill.KUBECONFIG, context, prefix="flapping-link-%d-%d" % (number, time.time()))
    watch = TwinWatch(drill.KUBECONFIG, [drill.ZONE["room_a"], drill.ZONE["room_b"]], namespace=workloads.NAMESPACE,
                      interval=0.5)
    rulebook = drill.Rulebook(Path(args.log_dir) / ("flapping-link-%d.rulebook.log" % number)).start()
    started = time.time()
    writer.start()
    watch.start()
    try:
        cuts = flap(args.minutes, args.period, say)
        restored = time.monotonic()
        # After the last restore: every workload Running and Ready again, wherever it runs (a room failed over
        # keeps its workloads in the other room until recover.yml).
        deadline = restored + 600
        while True:
            where = workloads.placement(drill.KUBECONFIG, context, node_room)
            if all(where.get(name) for _kind, name, _room in wanted):
                break
            if time.monotonic() > deadline:
                raise drill.DrillError("%d workloads not running 600 s after the link came back"
                                       % sum(1 for _k, name, _r in wanted if not where.get(name)))
            time.sleep(1)
        settled = round(time.monotonic() - restored, 1)
        time.sleep(args.period)  # a failover decided just before the last restore writes its report a little later
    finally:
        time.sleep(2)
        watch.stop()
        writer.stop()
        rulebook.stop()
    failovers = reports_since(started)
    result = dict(run=number, cuts=cuts, failovers=failovers, alarms=alarms(rulebook.output()),
                  never_twice=watch.summary(), writes_acknowledged=len(writer.acked),
                  writes_lost=missing_acknowledged(drill.KUBECONFIG, context, [writer]), settled_s=settled)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=2)
    parser.add_argument("--period", type=float, default=10, help="seconds the link stays cut, then up (default 10)")
    parser.add_argument("--workloads", type=int, default=10)
    parser.add_argument("--log-dir", default="/tmp", help="where the rulebook's output of each run goes")
    parser.add_argument("--json", help="write every run's result to this file")
    args = parser.parse_args()
    if args.runs < 1 or args.workloads < 2 or args.minutes <= 0 or args.period <= 0:
        parser.error("--runs at least 1, --workloads at least 2, --minutes and --period above 0")
    results = []
    try:
        for number in range(1, args.runs + 1):
            print("run %d: %d workloads, link cut/restored every %g s for %g min" % (
                number, args.workloads, args.period, args.minutes), flush=True)
            results.append(one_run(args, number, print))
    finally:
        workloads.remove(drill.KUBECONFIG, drill.ZONE["room_a"])
    print()
    print("%-4s %5s %9s %6s %8s %10s %7s %5s %9s"
          % ("run", "cuts", "failovers", "alarms", "samples", "violations", "acked", "lost", "settled s"))
    for result in results:
        twice = result["never_twice"]
        print("%-4d %5d %9d %6d %8d %10d %7d %5d %9.1f" % (
            result["run"], result["cuts"], len(result["failovers"]), result["alarms"], twice["samples"],
            len(twice["violations"]), result["writes_acknowledged"], len(result["writes_lost"]), result["settled_s"]))
    if len(results) > 1:
        print("settled after the last restore: median %.1f s" % statistics.median(r["settled_s"] for r in results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    bad = [r for r in results if len(r["failovers"]) > 1 or r["never_twice"]["violations"] or r["writes_lost"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
