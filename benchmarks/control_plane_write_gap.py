"""Control-plane write gap on the lab: how long the API accepts no write when the room holding the
datastore primary is lost, and how quickly writes resume once the takeover starts.

Each run: a writer creates ConfigMaps through the surviving room's API server; the room holding the
primary is powered off (containers killed, BMCs report Off); playbooks/control_plane_takeover.yml
runs; the writer's acknowledgements give the gap; the room is powered on and rejoined. Rooms
alternate, since the primary moves each time. Needs the lab up (make lab).

usage: python benchmarks/control_plane_write_gap.py [--runs N]   (after: source scripts/devenv.sh)
"""
import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position


def spread(values):
    return "median %.1f s  (min %.1f, max %.1f)" % (statistics.median(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="drills to run (default 5)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    rows = []
    print("%-4s %-7s %9s %16s %14s %6s %5s" % ("run", "lost", "gap (s)", "from takeover (s)", "takeover (s)", "acked", "lost"))
    for run in range(1, args.runs + 1):
        lost = drill.primary_room(drill.datastore_roles())
        result = drill.lose_room(lost)
        rows.append(result)
        print("%-4d %-7s %9.1f %16.1f %14.1f %6d %5d" % (
            run, lost, result["gap"], result["from_takeover"], result["takeover_run"], result["acknowledged"],
            len(result["lost"])), flush=True)
        rejoin = drill.bring_back(lost)
        if rejoin.returncode != 0:
            sys.exit("rejoin after run %d failed:\n%s" % (run, (rejoin.stdout + rejoin.stderr)[-3000:]))
    print()
    print("write gap (last ack before the loss -> first ack after): " + spread([r["gap"] for r in rows]))
    print("from the takeover's start -> first ack:                  " + spread([r["from_takeover"] for r in rows]))
    print("takeover playbook duration:                              " + spread([r["takeover_run"] for r in rows]))
    print("acknowledged writes lost: %d" % sum(len(r["lost"]) for r in rows))
    return 1 if any(r["lost"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
