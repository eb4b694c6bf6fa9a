"""The power bridge: turns the BMC emulators' power changes into podman actions on the nodes.

sushy's fake driver PUTs the whole system record (JSON) to EXTERNAL_NOTIFICATION_URL on every
change it stores, synchronously, from inside the Redfish request that caused it:
  - ComputerSystem.Reset stores `pending_power: {power_state, apply_time}` (1-11 s ahead) and
    notifies; `power_state` is still the old value then, except for a restart, where the driver
    drops power_state to "Off" at once;
  - the first read of the system after apply_time stores the new `power_state` with
    `pending_power: None` and notifies again.
Both ForceOff and GracefulShutdown become the same pending "Off" in the driver, so the bridge cannot
tell them apart: every Off is treated as power loss (podman kill), which is what fencing wants.
Because the notification is synchronous, a BMC reports Off only after the container has stopped.

A node can also stop by itself: its isolation guard powers it off (systemctl poweroff --force --force ends the
container's PID namespace), or it crashes. A real BMC then reports the host Off; the fake driver does not notice.
So the bridge also watches the containers (every SELF_OFF_INTERVAL s): a node container that stopped without the
bridge killing it, whose BMC still reports On, gets a ForceOff through that BMC, which then reports Off like a real
one (after the fake driver's usual delay). Stopped means exited or stopped in two listings in a row and in an
inspect just before the BMC is told, and not killed through apply() in the last OWN_KILL_GRACE seconds by any of the
lab's BMCs (KILL_MARKS, the one record of kills): the IPMI stand-in is another process, and a node it powered off and on again must not get
a late ForceOff from its Redfish emulator.

Run as a daemon by `twinroom-lab bmc start`; listens on 127.0.0.1 only.
"""

import argparse
import datetime
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import requests

from . import LabError, daemon, podman, topology, wait
from .redfish import Redfish

DEFAULT_PORT = 8400
SELF_OFF_INTERVAL = 2.0
OWN_KILL_GRACE = 60.0  # seconds after a lab BMC killed a container in which its stop is that BMC's own
STOPPED = ("exited", "stopped")  # what podman shows for a container whose processes have all ended
# Every kill through apply() - this bridge's and the IPMI stand-in's (lab/twinroom_lab/ipmi_bmc.py, another process)
# - leaves its time here: a node one of the lab's BMCs powered off did not stop by itself.
KILL_MARKS = "/run/twinroom-lab/power-kills"
KILL = "kill"
START = "start"
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Decision:
    action: Optional[str]  # KILL, START or None
    reason: str


def decide(note, last_power_state):
    """What a notification asks of the container, given the power state last reported for it."""
    state = note.get("power_state")
    pending = note.get("pending_power")
    if state not in ("On", "Off"):
        return Decision(None, "power_state %r is neither On nor Off: ignored" % (state,))
    if pending:
        target = pending.get("power_state") if isinstance(pending, dict) else pending
        if "Restart" in str(target) and state == "Off":
            return Decision(KILL, "reset %s: power dropped now, it returns when the reset applies" % target)
        return Decision(None, "pending change to %s: acting when it applies" % target)
    if state == last_power_state:
        return Decision(None, "power stays %s (another attribute changed)" % state)
    return Decision(KILL if state == "Off" else START, "power %s -> %s" % (last_power_state or "unknown", state))


# ---------------------------------------------------------------- applying a decision

def _wait_container(container, running, timeout):
    def check():
        current = podman.state(container)
        return (current == "running") == running, current
    return wait.wait_for("%s to be %s" % (container, "running" if running else "stopped"), check,
                         timeout=timeout, interval=0.2, say=lambda _: None)


def mark_kill(container, marks=KILL_MARKS):
    os.makedirs(marks, mode=0o700, exist_ok=True)
    with open(os.path.join(marks, container), "w") as handle:
        handle.write("%f\n" % time.time())


def kill_marks(marks=KILL_MARKS):
    """{container: epoch time one of the lab's BMCs (any process, through apply) last killed it}."""
    killed = {}
    try:
        names = os.listdir(marks)
    except OSError:
        return killed
    for name in names:
        try:
            with open(os.path.join(marks, name)) as handle:
                killed[name] = float(handle.read().strip())
        except (OSError, ValueError):
            continue
    return killed


def apply(container, action, timeout=30):
    """Make the container match the decision; idempotent. Returns what was done."""
    current = podman.state(container)
    if current == "missing":
        raise LabError("container %s does not exist" % container)
    if action == KILL:
        if current != "running":
            return "already stopped (%s)" % current
        started = time.monotonic()
        mark_kill(container)
        podman.kill([container])
        _wait_container(container, running=False, timeout=timeout)
        return "podman kill: stopped after %.2fs" % (time.monotonic() - started)
    if action == START:
        if current == "running":
            return "already running"
        started = time.monotonic()
        podman.start(container)
        _wait_container(container, running=True, timeout=timeout)
        return "podman start: running after %.2fs" % (time.monotonic() - started)
    return "nothing to do"


class Bridge:
    def __init__(self, state_dir, log):
        self.state_dir = state_dir
        self.log = log
        self.last = {}  # system uuid -> power_state last reported
        self.locks = {}
        self.guard = threading.Lock()

    def handle(self, note):
        """Returns (http status, result dict)."""
        if not isinstance(note, dict):
            return 400, {"error": "expected a JSON object (the fake driver's system record)"}
        topo = topology.load(self.state_dir)  # re-read: the lab may have been rebuilt meanwhile
        node = topo.node_by_system(system_id=note.get("uuid"), name=note.get("name"))
        if node is None:
            self.log("notification for unknown system %s (uuid %s): ignored"
                     % (note.get("name"), note.get("uuid")))
            return 404, {"error": "unknown system"}
        with self.guard:
            lock = self.locks.setdefault(node.container, threading.Lock())
        with lock:
            decision = decide(note, self.last.get(node.bmc.system_id))
            self.last[node.bmc.system_id] = note.get("power_state")
            label = "%s (%s)" % (node.name, node.container)
            if decision.action is None:
                self.log("%s: %s" % (label, decision.reason))
                return 200, {"action": None, "reason": decision.reason}
            try:
                result = apply(node.container, decision.action)
            except LabError as exc:
                self.log("%s: %s: %s FAILED: %s" % (label, decision.reason, decision.action, exc))
                return 500, {"action": decision.action, "error": str(exc)}
            self.log("%s: %s: %s" % (label, decision.reason, result))
            return 200, {"action": decision.action, "result": result}


def stopped_by_themselves(before, now, killed_at, clock_now, grace=OWN_KILL_GRACE):
    """Containers running in ``before`` and stopped (``STOPPED``) in ``now`` ({container: state}) that no lab BMC
    killed in the last ``grace`` seconds (``killed_at``: {container: time}, on ``clock_now``'s clock). A state podman
    shows in passing (missing, unknown, stopping) is not a stop."""
    return sorted(name for name, state in now.items()
                  if before.get(name) == "running" and state in STOPPED
                  and clock_now - killed_at.get(name, float("-inf")) > grace)


def still_stopped(suspects, now, killed_at, clock_now, grace=OWN_KILL_GRACE):
    """The ``suspects`` (stopped by themselves in the previous listing) still stopped in ``now`` and still not
    killed by a lab BMC meanwhile: the stops to tell their BMCs."""
    return sorted(name for name in suspects
                  if now.get(name) in STOPPED and clock_now - killed_at.get(name, float("-inf")) > grace)


class SelfOffWatcher(threading.Thread):
    """Tells the BMC of a node that stopped by itself that its host is off (see the module's docstring)."""

    def __init__(self, bridge, interval=SELF_OFF_INTERVAL):
        super().__init__(name="self-off-watcher", daemon=True)
        self.bridge, self.interval = bridge, interval
        self.stopping = threading.Event()

    def states(self):
        topo = topology.load(self.bridge.state_dir)
        listing = podman.containers()
        return topo, dict((node.container, (listing.get(node.container) or {}).get("state", "missing"))
                          for node in topo.bmc_nodes)

    def run(self):
        before, suspects = {}, []
        while not self.stopping.wait(self.interval):
            try:
                topo, now = self.states()
            except Exception as exc:  # pylint: disable=broad-except  # a lab being rebuilt: try again
                self.bridge.log("self-off watcher: cannot list the nodes: %s" % exc)
                continue
            killed, wall_now = kill_marks(), time.time()
            for container in still_stopped(suspects, now, killed, wall_now):
                node = next((n for n in topo.bmc_nodes if n.container == container), None)
                if node is not None and podman.state(container) in STOPPED:
                    self.tell_bmc(node)
            suspects = stopped_by_themselves(before, now, killed, wall_now)
            before = now

    def tell_bmc(self, node):
        from .bmc import tls_paths  # pylint: disable=import-outside-toplevel  # bmc imports this module's peers
        try:
            client = Redfish(node, cafile=tls_paths(self.bridge.state_dir)[0], timeout=5)
            reported = client.power_state()
            if reported != "On":
                self.bridge.log("%s (%s) stopped by itself; its BMC reports %s already" % (
                    node.name, node.container, reported))
                return
            client.reset("ForceOff")
            self.bridge.log("%s (%s) stopped by itself (its container exited): ForceOff sent, so its BMC reports "
                            "Off like a real BMC of a host that powered itself off" % (node.name, node.container))
        except LabError as exc:  # a dark BMC (power-off-room --bmc dark stops them) has nothing to report
            self.bridge.log("%s (%s) stopped by itself; its BMC was not told: %s" % (node.name, node.container, exc))


def make_handler(bridge):
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/healthz":
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"error": "PUT notifications to /power; GET /healthz"})

        def do_PUT(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"error": "body too large"})
                return
            try:
                note = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                self._reply(400, {"error": "body is not JSON"})
                return
            try:
                status, body = bridge.handle(note)
            except LabError as exc:
                bridge.log("error: %s" % exc)
                status, body = 500, {"error": str(exc)}
            self._reply(status, body)

        def log_message(self, fmt, *args):  # the bridge logs decisions itself
            pass

    return Handler


def log_path(state_dir):
    return os.path.join(state_dir, "power-bridge.log")


def pid_path(state_dir):
    return os.path.join(state_dir, "power-bridge.pid")


def serve(state_dir, port):
    lock = threading.Lock()

    def log(message):
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        with lock:
            print("%s %s" % (stamp, message), flush=True)

    bridge = Bridge(state_dir, log)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(bridge))
    server.daemon_threads = True
    log("power bridge listening on 127.0.0.1:%d, topology %s/topology.json" % (port, state_dir))
    watcher = SelfOffWatcher(bridge)
    watcher.start()
    try:
        server.serve_forever()
    finally:
        watcher.stopping.set()
        log("power bridge stopping")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m twinroom_lab.power_bridge")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(os.path.abspath(args.state_dir), args.port)


# ---------------------------------------------------------------- managing the daemon

def _marker(state_dir):
    return "twinroom_lab.power_bridge --state-dir %s " % os.path.abspath(state_dir)


def answers(port):
    try:
        session = requests.Session()
        session.trust_env = False
        return session.get("http://127.0.0.1:%d/healthz" % port, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def status(state_dir, port):
    pid = daemon.running_pid(pid_path(state_dir), _marker(state_dir))
    return {"pid": pid, "port": port, "answering": bool(pid) and answers(port), "log": log_path(state_dir)}


def ensure_running(state_dir, port, say=print):
    state_dir = os.path.abspath(state_dir)
    current = status(state_dir, port)
    if current["pid"] and current["answering"]:
        say("power bridge: already running (pid %s) on 127.0.0.1:%d" % (current["pid"], port))
        return
    if current["pid"]:
        say("power bridge: process %s does not answer on 127.0.0.1:%d: restarting it" % (current["pid"], port))
        daemon.stop(pid_path(state_dir), _marker(state_dir))
    if not daemon.port_free("127.0.0.1", port):
        raise LabError("127.0.0.1:%d is in use by another process: give the power bridge another port "
                       "(--bridge-port or TWINROOM_LAB_BRIDGE_PORT)" % port)
    lab_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = daemon.daemon_env({"PYTHONPATH": lab_dir, "PYTHONUNBUFFERED": "1", "TWINROOM_LAB_STATE": state_dir})
    # The marker's trailing space is matched against "--state-dir DIR --port N" in /proc/PID/cmdline.
    argv = [sys.executable, "-m", "twinroom_lab.power_bridge", "--state-dir", state_dir, "--port", str(port)]
    pid = daemon.spawn(argv, log_path(state_dir), pid_path(state_dir), env)

    def up():
        if not daemon.alive(pid, _marker(state_dir)):
            raise LabError("power bridge exited right after starting; see %s" % log_path(state_dir))
        return answers(port), "127.0.0.1:%d" % port

    seconds = wait.wait_for("the power bridge to answer", up, timeout=15, say=say)
    say("power bridge: started (pid %d) on 127.0.0.1:%d after %.1fs, log %s"
        % (pid, port, seconds, log_path(state_dir)))


def stop(state_dir, say=print):
    pid = daemon.stop(pid_path(state_dir), _marker(state_dir))
    say("power bridge: stopped (was pid %s)" % pid if pid else "power bridge: not running")


if __name__ == "__main__":
    main()
