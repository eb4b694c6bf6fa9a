"""Control-plane drills on the lab: lose the room holding the datastore primary, take over, measure,
bring the room back. Used by the integration tests and by benchmarks/control_plane_write_gap.py.

Every step is the real thing: the room's containers are killed and its BMCs report Off; the takeover
is playbooks/control_plane_takeover.yml; the rejoin is playbooks/control_plane_rejoin.yml.
"""

import json
import os
import subprocess
import threading
import time
from pathlib import Path

from . import podman
from .writer import Writer, ensure_namespace, missing_acknowledged

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("TWINROOM_LAB_STATE", "/var/lib/twinroom-lab"))
KUBECONFIG = str(STATE / "admin.kubeconfig")
INVENTORY = "inventories/lab"
ZONE = {"room_a": "room-a", "room_b": "room-b"}
OTHER = {"room_a": "room_b", "room_b": "room_a"}


class DrillError(RuntimeError):
    pass


def wait(what, check, seconds, interval=0.5):
    """check()'s first truthy value, asked every interval seconds; DrillError naming what after seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise DrillError("%s: not after %d s" % (what, seconds))


def run_playbook(playbook, extra_vars=None, timeout=900):
    command = ["ansible-playbook", "-i", INVENTORY, playbook]
    if extra_vars:
        command += ["--extra-vars", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def lab(*args, timeout=300):
    result = subprocess.run([str(REPO / "lab" / "bin" / "twinroom-lab"), *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    if result.returncode != 0:
        raise DrillError("twinroom-lab %s failed: %s" % (" ".join(args), (result.stdout + result.stderr)[-2000:]))
    return result


def journal(container, unit, since=None):
    """The lines unit wrote to the journal of the node in container (its messages only), since the epoch second
    since if given; [] when it is off."""
    window = ["--since", "@%d" % int(since)] if since is not None else []
    proc = podman.run("exec", container, "journalctl", "--no-pager", "-o", "cat", "-u", unit, *window, timeout=30,
                      check=False)
    return proc.stdout.splitlines() if proc.returncode == 0 else []


def datastore_roles():
    """{control-plane host: (role, replication mode)} from twinroom.ha.datastore_info."""
    result = run_playbook("tests/integration/fixtures/datastore_roles.yml", timeout=300)
    roles = {}
    for line in (result.stdout + result.stderr).splitlines():
        if "DATASTORE_ROLE" in line:
            host, role, mode = line.split("DATASTORE_ROLE", 1)[1].strip().strip("'\"").split(":")
            roles[host] = (role, mode)
    return roles


def primary_room(roles):
    primary = [host for host, (role, _mode) in roles.items() if role == "primary"]
    if len(primary) != 1:
        raise DrillError("expected exactly one datastore primary, found %s" % roles)
    return "room_a" if primary[0].startswith("a-") else "room_b"


def takeover(lost_room, fenced):
    return run_playbook("playbooks/control_plane_takeover.yml",
                        extra_vars={"lost_room": lost_room, "lost_room_fenced": fenced}, timeout=600)


def lose_room(lost_room, warmup=3.0, settle=3.0):
    """Power the room off (BMCs answering), take over in the other room, and measure.

    Returns a dict: lost_room, gap (s, last acknowledged write before the loss to the first after the
    takeover), from_takeover (s, takeover start to first acknowledged write), takeover_run (s, the
    playbook's duration), acknowledged, lost (acknowledged writes missing afterwards).
    """
    survivor = OTHER[lost_room]
    ensure_namespace(KUBECONFIG, ZONE[survivor])
    writer = Writer(KUBECONFIG, ZONE[survivor], prefix="drill-%s-%d" % (lost_room.replace("_", ""), time.time()))
    writer.start()
    time.sleep(warmup)
    if not writer.acked:
        writer.stop()
        raise DrillError("the writer could not write through %s before the room loss" % ZONE[survivor])
    lost_at = time.monotonic()
    lab("power-off-room", lost_room, "--bmc", "answering")
    takeover_start = time.monotonic()
    taken = takeover(lost_room, fenced=True)
    takeover_end = time.monotonic()
    if taken.returncode != 0:
        writer.stop()
        raise DrillError("takeover failed:\n%s" % (taken.stdout + taken.stderr)[-3000:])
    time.sleep(settle)
    writer.stop()
    outage = writer.outage(lost_at)
    if outage is None:
        raise DrillError("no write was acknowledged after the takeover")
    last_before, first_after = outage
    missing = missing_acknowledged(KUBECONFIG, ZONE[survivor], [writer])
    return {
        "lost_room": lost_room,
        "gap": first_after - last_before,
        "from_takeover": first_after - takeover_start,
        "takeover_run": takeover_end - takeover_start,
        "acknowledged": len(writer.acked),
        "lost": missing,
    }


def bring_back(room):
    """Power the room on and rejoin its control-plane node; returns the rejoin playbook's result."""
    lab("power-on-room", room)
    return run_playbook("playbooks/control_plane_rejoin.yml", timeout=900)


# ---------------------------------------------------------------------------------------------
# Room drill: power off -> failover.yml -> verify -> recover.yml with failback, never twice throughout
# ---------------------------------------------------------------------------------------------

ROOM_NODES_CACHE = {}
LATE_LIMIT = 60  # s: how long a workload replaced after failover.yml ended may take to run again


def room_nodes():
    """{room: [node names]} from the lab's topology.json."""
    if not ROOM_NODES_CACHE:
        topology = json.loads((STATE / "topology.json").read_text())
        for node in topology["nodes"]:
            if node["room"] in ZONE:
                ROOM_NODES_CACHE.setdefault(node["room"], []).append(node["name"])
    return ROOM_NODES_CACHE


def newest_report(room, since):
    reports = sorted((STATE / "reports").glob("failover-%s-*.json" % room), key=lambda p: p.stat().st_mtime)
    reports = [p for p in reports if p.stat().st_mtime >= since]
    return json.loads(reports[-1].read_text()) if reports else None


def reports_since(room, since):
    """The names of the failover reports of ``room`` written after ``since`` (epoch), oldest first."""
    return sorted(path.name for path in (STATE / "reports").glob("failover-%s-*.json" % room)
                  if path.stat().st_mtime >= since)


class Stopwatch:
    """Polls (every 0.5 s) until every (workload, room) pair runs there, Running and Ready; keeps the time of
    the last poll that saw one missing and the first that saw none, after the power cut. Marks are monotonic."""

    def __init__(self, wanted, context, node_room, interval=0.5):
        self.wanted, self.context, self.node_room, self.interval = wanted, context, node_room, interval
        self.marks = {}
        self.done_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="drill-stopwatch")

    def start(self):
        self._thread.start()
        return self

    def mark(self, name):
        self.marks[name] = time.monotonic()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        return self

    def _run(self):
        from . import workloads  # pylint: disable=import-outside-toplevel
        while not self._stop.is_set():
            asked = time.monotonic()
            try:
                where = workloads.placement(KUBECONFIG, self.context, self.node_room, timeout=3)
            except Exception:  # pylint: disable=broad-except  # no API answer is "not yet"
                where = {}
            if "power_cut" in self.marks and asked > self.marks["power_cut"]:
                if all(where.get(name) == room for name, room in self.wanted):
                    if self.done_at is None:
                        self.done_at = asked
                else:
                    self.done_at = None  # a workload went missing again (a late replacement): not done yet
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - asked)))

    def figures(self):
        def since(name):
            if self.done_at is None or name not in self.marks:
                return None
            return round(self.done_at - self.marks[name], 1)
        return dict(from_power_cut_s=since("power_cut"), from_failover_start_s=since("failover_started"),
                    resolution_s=self.interval)


class Rulebook(object):
    """ansible-rulebook running the collection's automatic failover (extensions/eda/rulebooks/automatic_failover.yml)
    with the variables site.yml wrote into the lab's state directory (twinroom_automatic_failover: true in the lab's
    inventory), as an operator starts it; its output goes to ``log``. The storm guard's memory is removed before it
    starts and after it stops, so each drill starts from nothing."""

    def __init__(self, log, env=None):
        self.log = Path(log)
        self.variables = STATE / "room-watch" / "room-watch-vars.yml"
        self.process = None
        self.env = dict(env or {})  # added to its environment (and so to failover.yml's, which it runs)

    def _state(self):
        import yaml  # pylint: disable=import-outside-toplevel
        config = Path(yaml.safe_load(self.variables.read_text())["twinroom_watch_config"])
        return Path(json.loads(config.read_text())["state_file"])

    def start(self, timeout=120):
        if not self.variables.exists():
            raise DrillError("site.yml did not write %s (twinroom_automatic_failover: true)" % self.variables)
        if self._state().exists():
            self._state().unlink()
        with open(self.log, "w") as stream:
            self.process = subprocess.Popen(
                ["ansible-rulebook", "--rulebook", "twinroom.ha.automatic_failover", "-i", str(REPO / INVENTORY),
                 "--vars", str(self.variables), "-v"],
                cwd=str(self.log.parent), stdout=stream, stderr=subprocess.STDOUT, start_new_session=True,
                env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **self.env))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DrillError("ansible-rulebook ended (rc %s): %s" % (self.process.returncode, self.output()[-3000:]))
            if "load source twinroom.ha.room_watch" in self.output():
                return self
            time.sleep(1)
        self.stop()
        raise DrillError("ansible-rulebook did not load the room watch in %d s: %s" % (timeout, self.output()[-3000:]))

    def output(self):
        return self.log.read_text() if self.log.exists() else ""

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        import signal  # pylint: disable=import-outside-toplevel
        if self.running():
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self.variables.exists() and self._state().exists():
            self._state().unlink()


def watched(context, prefix):
    """An acknowledged writer (through ``context``, its keys named after ``prefix`` and the time) and the never-twice
    watch (both rooms' API servers and the nodes' own container lists, every half second), both started; the caller
    stops them."""
    from . import workloads  # pylint: disable=import-outside-toplevel
    from .twinwatch import TwinWatch  # pylint: disable=import-outside-toplevel
    ensure_namespace(KUBECONFIG, context)
    writer = Writer(KUBECONFIG, context, prefix="%s-%d" % (prefix, time.time()))
    watch = TwinWatch(KUBECONFIG, [ZONE["room_a"], ZONE["room_b"]], namespace=workloads.NAMESPACE, interval=0.5)
    writer.start()
    watch.start()
    return writer, watch


def wait_for_report(room, since, timeout=300):
    """The failover report of ``room`` written after ``since`` (epoch), looked for every second; None at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = newest_report(room, since)
        if report is not None:
            return report
        time.sleep(1)
    return None


def room_drill(lost_room, count=10, failback=True, storage_class=None, kwok=False, say=print, automatic=False):
    """One drill on the lab; returns its timeline and checks. Raises DrillError when a step fails.

    Steps: deploy ``count`` workloads (half homed in each room) and wait until each runs at home; start a
    writer (acknowledged ConfigMap writes through the surviving room) and the never-twice watch (both
    rooms' API servers and the containers, every second); power the room off (BMCs answering); run
    failover.yml; run recover.yml (with failback unless told not to) and wait until every workload runs at
    home again; stop both watchers and check: no acknowledged write lost, no identity live twice.

    automatic: nobody runs failover.yml - the caller runs the automatic failover (:class:`Rulebook`), and the drill
    waits for the report of the failover.yml it starts; the drill's clock then has no "failover started" mark.
    """
    from . import workloads  # pylint: disable=import-outside-toplevel
    from .provisioner import StandInProvisioner  # pylint: disable=import-outside-toplevel

    survivor = OTHER[lost_room]
    rooms = room_nodes()
    node_room = dict((node, room) for room, nodes in rooms.items() for node in nodes)
    timeline = []
    origin = time.monotonic()

    def mark(text):
        timeline.append((round(time.monotonic() - origin, 1), text))
        say("  +%6.1f s  %s" % (timeline[-1][0], text))

    provisioner = None
    if storage_class:
        provisioner = StandInProvisioner(KUBECONFIG, ZONE[survivor], storage_class).start()
    try:
        wanted = workloads.deploy(KUBECONFIG, ZONE[survivor], count, storage_class=storage_class, kwok=kwok)
        workloads.wait_home(KUBECONFIG, ZONE[survivor], wanted, node_room, timeout=600)
    finally:
        if provisioner:
            provisioner.stop()
    mark("%d workloads run in their home rooms (%d in %s)" % (
        len(wanted), sum(1 for w in wanted if w[2] == lost_room), lost_room))
    writer, watch = watched(ZONE[survivor], "room-drill-%s" % lost_room.replace("_", ""))
    result = dict(lost_room=lost_room, workloads=len(wanted), timeline=timeline)
    stopwatch = None
    try:
        time.sleep(2)
        started_wall = time.time()
        # The drill's own clock, not the playbook's: from the moment the power is cut until it sees every workload
        # of the lost room Running and Ready in the other room (polled twice a second from the survivor's API).
        stopwatch = Stopwatch([(name, survivor) for _kind, name, room in wanted if room == lost_room],
                              ZONE[survivor], node_room).start()
        stopwatch.mark("power_cut")  # power-off-room kills the containers first, then waits for the BMCs to agree
        lab("power-off-room", lost_room, "--bmc", "answering")
        mark("%s powered off (containers killed, BMCs answer Off)" % lost_room)
        if automatic:
            report = wait_for_report(lost_room, started_wall)
            if report is None:
                raise DrillError("the automatic failover wrote no report for %s within 300 s" % lost_room)
            if report.get("trigger") != "room_watch":
                raise DrillError("the failover of %s was not the automatic one: %s" % (lost_room, report.get("trigger")))
        else:
            stopwatch.mark("failover_started")
            failover = run_playbook("playbooks/failover.yml", extra_vars={"lost_room": lost_room}, timeout=1200)
            if failover.returncode != 0:
                raise DrillError("failover.yml failed:\n%s" % (failover.stdout + failover.stderr)[-4000:])
            report = newest_report(lost_room, started_wall)
            if report is None:
                raise DrillError("failover.yml wrote no report for %s" % lost_room)
        result["detected_s"] = round(float(report["started"]) - started_wall, 1)
        result["report"] = report
        mark("failover.yml done: RTO %s s (fence %s, takeover %s, workloads %s)" % (
            report["rto_s"], report["phases"]["fence_s"], report["phases"]["takeover_s"],
            report["phases"]["workloads_s"]))
        # failover.yml saw every workload run (and still run a moment later). A controller acting on a stale
        # view can still replace a pod after that (seen with 500 workloads: a throttled StatefulSet controller
        # deleted a replacement by name 26 s after it ran). Such late replacements are counted and reported,
        # and waited for (bounded); a workload that does not run again in time fails the drill.
        verified = time.monotonic()
        late = set()
        while True:
            where = workloads.placement(KUBECONFIG, ZONE[survivor], node_room)
            away = [name for _kind, name, _room in wanted if where.get(name) != survivor]
            late.update(away)
            if not away:
                break
            if time.monotonic() - verified > LATE_LIMIT:
                raise DrillError("after the failover, %d workloads do not run in %s after %d s more: %s"
                                 % (len(away), survivor, LATE_LIMIT, ", ".join(away[:10])))
            time.sleep(1)
        result["late"] = dict(workloads=sorted(late), seconds=round(time.monotonic() - verified, 1))
        result["drill_clock"] = stopwatch.stop().figures()
        mark("drill clock: every lost-room workload Running and Ready %s s after the power cut, %s s after "
             "failover.yml started" % (result["drill_clock"]["from_power_cut_s"],
                                       result["drill_clock"]["from_failover_start_s"]))
        mark("verified: all %d workloads run in %s%s" % (
            len(wanted), survivor, "" if not late else " (%d replaced again after failover.yml ended, running %.1f s "
            "later: %s)" % (len(late), result["late"]["seconds"], ", ".join(sorted(late)[:10]))))
        recover = run_playbook("playbooks/recover.yml",
                               extra_vars={"lost_room": lost_room, "failback": failback, "failback_batch": 5},
                               timeout=1800)
        if recover.returncode != 0:
            raise DrillError("recover.yml failed:\n%s" % (recover.stdout + recover.stderr)[-4000:])
        mark("recover.yml done (power on, rejoin, unfence%s)" % (", failback" if failback else ""))
        if failback:
            workloads.wait_home(KUBECONFIG, ZONE[survivor], wanted, node_room, timeout=600)
            mark("verified: every workload runs in its home room again")
    finally:
        if stopwatch:
            stopwatch.stop()
        time.sleep(2)
        watch.stop()
        writer.stop()
    result["never_twice"] = watch.summary()
    result["writes_acknowledged"] = len(writer.acked)
    result["writes_lost"] = missing_acknowledged(KUBECONFIG, ZONE[survivor], [writer])
    mark("checks: %d samples, %d identities, %d live twice; %d writes acknowledged, %d lost" % (
        watch.samples, len(watch.max_live), len(watch.violations), len(writer.acked), len(result["writes_lost"])))
    return result
