"""twinroom-lab: drills on the lab bed (BMCs, room power, inter-room link).

Exit status: 0 done (also when already in the wanted state), 1 the action failed, 2 bad input.
"""

import argparse
import functools
import json
import os
import sys

from . import LabError, UsageError, bmc, disaster, disk, power_bridge, routes, topology

EPILOG = """\
rooms: room_a or a, room_b or b.
state directory: --state-dir, else $TWINROOM_LAB_STATE, else %s (topology.json, BMC certificate,
pid files, logs). Power bridge port: --bridge-port, else $TWINROOM_LAB_BRIDGE_PORT, else %d.
""" % (topology.DEFAULT_STATE_DIR, power_bridge.DEFAULT_PORT)


def build_parser():
    # Accepted before or after the command; SUPPRESS keeps a later default from hiding an earlier value.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=argparse.SUPPRESS, help="lab state directory")
    common.add_argument("--bridge-port", type=_port, default=argparse.SUPPRESS,
                        help="power bridge port on 127.0.0.1")
    parser = argparse.ArgumentParser(prog="twinroom-lab", description=__doc__.splitlines()[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = functools.partial(commands.add_parser, parents=[common])

    bmc_parser = add("bmc", help="start, stop or show the BMC emulators and the power bridge")
    bmc_parser.add_argument("action", choices=["start", "stop", "status"])
    bmc_parser.add_argument("--json", action="store_true", help="status: print machine-readable state")

    off = add("power-off-room", help="a room loses power: its containers are killed")
    off.add_argument("room")
    off.add_argument("--bmc", required=True, choices=[disaster.ANSWERING, disaster.DARK],
                     help="answering: BMCs still answer and report Off; dark: BMCs are gone too")

    on = add("power-on-room", help="power a room back on through its BMCs")
    on.add_argument("room")

    for name, text in (("cut-link", "cut the room's nodes off from the other room on the inter-room link"),
                       ("restore-link", "let the room's nodes reach the other room on the link again")):
        link = add(name, help=text + " (default: every room)")
        link.add_argument("room", nargs="?")

    add("status", help="table of nodes: container, BMC, power, link")
    add("check-routes", help="refuse (exit 1) unless every node address routes through a lab bridge; "
                             "blackholes the lab range so lab traffic can never leave the machine")
    disk_parser = add("check-disk", help="refuse (exit 1) unless the filesystem of the nodes' disks has the "
                                         "kubelet's 15%% free plus --reserve-gib (no topology needed)")
    disk_parser.add_argument("--reserve-gib", type=_reserve, default=disk.DEFAULT_RESERVE_GIB,
                             help="GiB the lab needs above the kubelet's threshold (default %d)"
                                  % disk.DEFAULT_RESERVE_GIB)

    drill = add("drill", help="power a room off, fail it over, verify, recover and fail back; print the timeline "
                              "(needs the lab up with site.yml run: make lab)")
    drill.add_argument("room")
    drill.add_argument("--workloads", type=int, default=10, help="single-pod workloads, half homed in each room "
                                                                 "(default 10)")
    drill.add_argument("--no-failback", action="store_true", help="recover only; leave workloads where they run")
    drill.add_argument("--storage-class", help="give each StatefulSet pod a claim on this class (the lab's stand-in "
                                               "provisioner binds them), e.g. twinroom-vm-replicated")
    drill.add_argument("--automatic", action="store_true",
                       help="nobody runs failover.yml: ansible-rulebook runs the automatic failover site.yml configured "
                            "(its output in <state>/room-watch/drill-rulebook.log)")
    drill.add_argument("--json", action="store_true", help="also print the whole result as JSON")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    say = functools.partial(print, flush=True)
    try:
        state_dir = os.path.abspath(getattr(args, "state_dir", None) or topology.state_dir())
        port = getattr(args, "bridge_port", None) or _env_port()
        return run(args, state_dir, port, say)
    except UsageError as exc:
        print("twinroom-lab: error: %s" % exc, file=sys.stderr)
        return 2
    except LabError as exc:
        print("twinroom-lab: failed: %s" % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("twinroom-lab: interrupted", file=sys.stderr)
        return 130


def _port(text):
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError("must be a port number 1-65535, got %r" % text)
    return int(text)


def _env_port():
    text = os.environ.get("TWINROOM_LAB_BRIDGE_PORT")
    if not text:
        return power_bridge.DEFAULT_PORT
    try:
        return _port(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError("TWINROOM_LAB_BRIDGE_PORT %s" % exc) from None


def _reserve(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError("must be a whole number of GiB, got %r" % text)
    return int(text)


def run(args, state_dir, port, say):
    if args.command == "check-disk":
        # Before the nodes exist: no topology.json yet.
        disk.verify(args.reserve_gib, say=say)
        return 0
    if args.command == "bmc" and args.action == "stop":
        # Works from pid files alone, so a broken or missing topology.json cannot block a teardown.
        bmc.stop(state_dir, say=say)
        power_bridge.stop(state_dir, say=say)
        return 0

    topo = topology.load(state_dir)
    if args.command == "bmc" and args.action == "start":
        power_bridge.ensure_running(state_dir, port, say=say)
        bmc.start(topo, state_dir, port, say=say)
    elif args.command == "bmc":
        print_bmc_status(topo, state_dir, port, args.json, say)
    elif args.command == "power-off-room":
        disaster.power_off_room(topo, topo.resolve_room(args.room), args.bmc, state_dir, port, say=say)
    elif args.command == "power-on-room":
        disaster.power_on_room(topo, topo.resolve_room(args.room), state_dir, port, say=say)
    elif args.command in ("cut-link", "restore-link"):
        room = topo.resolve_room(args.room) if args.room else None
        disaster.set_link(topo, room, connect=args.command == "restore-link", say=say)
    elif args.command == "drill":
        return run_drill(topo.resolve_room(args.room), args, say)
    elif args.command == "check-routes":
        if routes.guard():
            say("routes: blackhole %s added (lab traffic fails here when no bridge carries it)" % routes.LAB_RANGE)
        routes.verify(topo, say=say)
    elif args.command == "status":
        bridge = power_bridge.status(state_dir, port)
        say("power bridge: %s" % _bridge_text(bridge))
        say(disaster.format_table(("NODE", "ROOM", "CONTAINER", "BMC", "LINK"),
                                  disaster.status_rows(topo, state_dir)))
    return 0


def run_drill(room, args, say):
    from . import drill  # pylint: disable=import-outside-toplevel  # needs the kubernetes library
    if args.workloads < 1:
        raise UsageError("--workloads must be at least 1, got %d" % args.workloads)
    say("drill: lose %s with %d workloads%s" % (room, args.workloads, "" if args.no_failback else ", then fail back"))
    rulebook = drill.Rulebook(drill.STATE / "room-watch" / "drill-rulebook.log") if args.automatic else None
    try:
        if rulebook:
            rulebook.start()
            say("ansible-rulebook runs the automatic failover (output: %s)" % rulebook.log)
        result = drill.room_drill(room, count=args.workloads, failback=not args.no_failback,
                                  storage_class=args.storage_class, say=say, automatic=args.automatic)
    except drill.DrillError as exc:
        raise LabError(str(exc)) from None
    finally:
        if rulebook:
            rulebook.stop()
    report = result["report"]
    say("")
    clock = result.get("drill_clock") or {}
    say("drill clock: every workload of %s Running and Ready in the other room %s s after the power cut, %s s after "
        "failover.yml started" % (room, clock.get("from_power_cut_s"), clock.get("from_failover_start_s")))
    say("failover.yml started %s s after the power cut (its report's start%s)"
        % (result["detected_s"], ": the detection" if args.automatic else ""))
    say("playbook report: RTO %s s from failover.yml's first task to the last workload Running and Ready (fence %s s, "
        "takeover %s s, workloads %s s)"
        % (report["rto_s"], report["phases"]["fence_s"], report["phases"]["takeover_s"],
           report["phases"]["workloads_s"]))
    twice = result["never_twice"]["violations"]
    verdict = "VIOLATED %d times" % len(twice) if twice else "held"
    say("never twice: %s (%d samples)" % (verdict, result["never_twice"]["samples"]))
    say("acknowledged writes: %d, lost: %d" % (result["writes_acknowledged"], len(result["writes_lost"])))
    if args.json:
        say(json.dumps(result, indent=2, default=str))
    return 1 if twice or result["writes_lost"] else 0


def _bridge_text(bridge):
    if not bridge["pid"]:
        return "not running"
    return "running (pid %s) on 127.0.0.1:%s%s" % (
        bridge["pid"], bridge["port"], "" if bridge["answering"] else ", NOT ANSWERING")


def print_bmc_status(topo, state_dir, port, as_json, say):
    bridge = power_bridge.status(state_dir, port)
    records = bmc.status(topo, state_dir)
    if as_json:
        say(json.dumps({"state_dir": state_dir, "power_bridge": bridge, "bmcs": records}, indent=2))
        return
    say("power bridge: %s" % _bridge_text(bridge))
    rows = [(r["node"], r["room"], r["url"], r["pid"] or "-", "yes" if r["answering"] else "no",
             r["power_state"] or r["error"] or "-") for r in records]
    say(disaster.format_table(("NODE", "ROOM", "BMC", "PID", "ANSWERS", "POWER"), rows))
