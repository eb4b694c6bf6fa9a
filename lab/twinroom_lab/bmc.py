"""One sushy-tools Redfish emulator (fake driver) per lab node, on the node's loopback BMC address.

Layout in the state directory:
  bmc/tls.crt, bmc/tls.key      one self-signed certificate naming every BMC address (IP SANs)
  bmc/<node>/htpasswd           bcrypt entry for the node's BMC user (sushy accepts bcrypt only)
  bmc/<node>/emulator.conf      sushy-emulator config (Python syntax), rewritten on every start
  bmc/<node>/emulator.pid|.log  the daemon
  bmc/<node>/sushy-state/       the fake driver's sqlite store, wiped on every start

The fake driver persists its systems in SUSHY_EMULATOR_STATE_DIR and, when a system is already
stored, ignores the power_state of the config. Each start wipes that store, so a (re)started BMC
reports the container's real state instead of whatever it believed before.
"""

import os
import re
import shutil
import subprocess
import sys

from . import LabError, daemon, podman, wait
from .redfish import Redfish

BRIDGE_PATH = "/power"


class Layout:
    def __init__(self, state_dir, name):
        self.root = os.path.join(state_dir, "bmc")
        self.dir = os.path.join(self.root, name)
        self.config = os.path.join(self.dir, "emulator.conf")
        self.htpasswd = os.path.join(self.dir, "htpasswd")
        self.pid = os.path.join(self.dir, "emulator.pid")
        self.log = os.path.join(self.dir, "emulator.log")
        self.sushy_state = os.path.join(self.dir, "sushy-state")


def tls_paths(state_dir):
    root = os.path.join(state_dir, "bmc")
    return os.path.join(root, "tls.crt"), os.path.join(root, "tls.key")


def notification_url(bridge_port):
    return "http://127.0.0.1:%d%s" % (bridge_port, BRIDGE_PATH)


def power_state_of(container_state):
    return "On" if container_state == "running" else "Off"


# ---------------------------------------------------------------- pure: what the files contain

def render_config(node, power_state, layout, cert, key, notify_url):
    """The emulator's config file: Python assignments, read by flask's config.from_pyfile."""
    settings = [
        ("SUSHY_EMULATOR_LISTEN_IP", node.bmc.address),
        ("SUSHY_EMULATOR_LISTEN_PORT", node.bmc.port),
        ("SUSHY_EMULATOR_SSL_CERT", cert),
        ("SUSHY_EMULATOR_SSL_KEY", key),
        ("SUSHY_EMULATOR_AUTH_FILE", layout.htpasswd),
        ("SUSHY_EMULATOR_STATE_DIR", layout.sushy_state),
        ("SUSHY_EMULATOR_FAKE_DRIVER", True),
        ("SUSHY_EMULATOR_FAKE_SYSTEMS", [{
            "uuid": node.bmc.system_id,
            "name": node.name,
            "power_state": power_state,
            "external_notifier": True,
            "nics": [],
        }]),
        ("EXTERNAL_NOTIFICATION_URL", notify_url),
    ]
    lines = ["# sushy-emulator config for lab node %s, written by twinroom-lab on every start." % node.name,
             "# Credentials are in SUSHY_EMULATOR_AUTH_FILE (bcrypt), never here."]
    lines += ["%s = %r" % pair for pair in settings]
    return "\n".join(lines) + "\n"


def htpasswd_entry(username, password, rounds=10):
    bcrypt = _bcrypt()
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds, prefix=b"2b"))
    return "%s:%s\n" % (username, digest.decode())


def htpasswd_matches(content, username, password):
    bcrypt = _bcrypt()
    for line in content.splitlines():
        user, separator, digest = line.strip().partition(":")
        if separator and user == username and digest.startswith(("$2b$", "$2y$", "$2a$")):
            return bcrypt.checkpw(password.encode(), digest.encode())
    return False


def _bcrypt():
    # sushy-tools' basic auth checks passwords with this very module (bcrypt only, no apr1/sha1),
    # so wherever sushy-emulator runs it is installed.
    try:
        import bcrypt
    except ImportError:
        raise LabError("python module 'bcrypt' is missing: it comes with sushy-tools; run from the "
                       "venv of scripts/devenv.sh") from None
    return bcrypt


# ---------------------------------------------------------------- I/O

def emulator_executable():
    candidates = [os.environ.get("TWINROOM_SUSHY_EMULATOR"), shutil.which("sushy-emulator"),
                  os.path.join(os.path.dirname(sys.executable), "sushy-emulator")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LabError("sushy-emulator not found: source scripts/devenv.sh (its venv has sushy-tools) "
                   "or set TWINROOM_SUSHY_EMULATOR to its path")


def ensure_certificate(state_dir, addresses):
    """Create bmc/tls.{crt,key} unless the existing certificate already names every address."""
    cert, key = tls_paths(state_dir)
    wanted = sorted(set(addresses) | {"127.0.0.1"})
    if os.path.exists(cert) and os.path.exists(key) and set(wanted) <= set(_certificate_ips(cert)):
        return False
    os.makedirs(os.path.dirname(cert), mode=0o700, exist_ok=True)
    san = ",".join("IP:" + ip for ip in wanted)
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "3650", "-subj", "/CN=twinroom-lab BMC", "-addext",
            "subjectAltName=" + san, "-keyout", key + ".tmp", "-out", cert + ".tmp"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        raise LabError("openssl not found: it is needed once to create the BMC certificate") from None
    if proc.returncode != 0:
        raise LabError("openssl could not create the BMC certificate: %s" % proc.stderr.strip())
    os.chmod(key + ".tmp", 0o600)
    os.replace(key + ".tmp", key)
    os.replace(cert + ".tmp", cert)
    return True


def _certificate_ips(cert):
    proc = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", cert],
                          capture_output=True, text=True, timeout=30, check=False)
    return re.findall(r"IP Address:([0-9.]+)", proc.stdout)


def _write_private(path, content):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(tmp, path)


def _ensure_htpasswd(layout, bmc):
    """Rewrite only when the stored entry no longer matches; sushy re-reads the file per request."""
    try:
        with open(layout.htpasswd) as handle:
            if htpasswd_matches(handle.read(), bmc.username, bmc.password):
                return
    except FileNotFoundError:
        pass
    _write_private(layout.htpasswd, htpasswd_entry(bmc.username, bmc.password))


def _tail(path, lines=5):
    try:
        with open(path, errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.readlines()[-lines:])
    except OSError:
        return "(no log)"


def _config_current(layout, node, cert, key, bridge_port):
    """The running emulator's config is what we would write now, whatever power state it holds."""
    try:
        with open(layout.config) as handle:
            existing = handle.read()
    except FileNotFoundError:
        return False
    return existing in [render_config(node, power, layout, cert, key, notification_url(bridge_port))
                        for power in ("On", "Off")]


def _client(node, state_dir):
    return Redfish(node, cafile=tls_paths(state_dir)[0], timeout=3)


def start(topo, state_dir, bridge_port, names=None, say=print):
    """Start the BMC of every selected node that is not already running and answering."""
    nodes = [n for n in topo.bmc_nodes if names is None or n.name in names]
    if not nodes:
        return
    ensure_certificate(state_dir, [n.bmc.address for n in topo.bmc_nodes])
    cert, key = tls_paths(state_dir)
    executable = emulator_executable()
    containers = podman.containers()
    started = []
    for node in nodes:
        layout = Layout(state_dir, node.name)
        os.makedirs(layout.dir, mode=0o700, exist_ok=True)
        _ensure_htpasswd(layout, node.bmc)
        pid = daemon.running_pid(layout.pid, layout.config)
        if pid and not _config_current(layout, node, cert, key, bridge_port):
            say("%s: BMC settings changed since pid %s started: restarting it" % (node.name, pid))
            daemon.stop(layout.pid, layout.config)
            pid = None
        if pid:
            try:
                wait.wait_for("BMC of %s to answer" % node.name,
                              lambda: (_client(node, state_dir).answers(), node.bmc.url), timeout=5, say=say)
                say("%s: BMC already running (pid %s) at %s" % (node.name, pid, node.bmc.url))
                continue
            except LabError:
                say("%s: BMC process %s does not answer at %s: restarting it" % (node.name, pid, node.bmc.url))
                daemon.stop(layout.pid, layout.config)
        if not daemon.port_free(node.bmc.address, node.bmc.port):
            raise LabError("%s:%d (BMC of %s) is already in use by a process that is not this lab's "
                           "emulator for it: stop that process or change the BMC port"
                           % (node.bmc.address, node.bmc.port, node.name))
        container_state = containers.get(node.container, {}).get("state", "missing")
        if container_state == "missing":
            say("%s: warning: container %s does not exist; its BMC reports power Off"
                % (node.name, node.container))
        power = power_state_of(container_state)
        _write_private(layout.config, render_config(node, power, layout, cert, key,
                                                    notification_url(bridge_port)))
        shutil.rmtree(layout.sushy_state, ignore_errors=True)
        argv = [executable, "--config", layout.config,
                "--interface", node.bmc.address, "--port", str(node.bmc.port)]
        env = daemon.daemon_env()
        env.pop("SUSHY_EMULATOR_CONFIG", None)
        pid = daemon.spawn(argv, layout.log, layout.pid, env)
        started.append((node, layout, pid, power))

    def all_answer():
        missing = []
        for node, layout, pid, _power in started:
            if not daemon.alive(pid, layout.config):
                raise LabError("BMC of %s exited right after starting; its log %s ends: %s"
                               % (node.name, layout.log, _tail(layout.log)))
            if not _client(node, state_dir).answers():
                missing.append(node.name)
        return not missing, ", ".join(missing)

    if started:
        seconds = wait.wait_for("the new BMCs to answer", all_answer, timeout=30, say=say)
        for node, _layout, pid, power in started:
            say("%s: BMC started at %s (pid %s, power %s)" % (node.name, node.bmc.url, pid, power))
        say("  (%d BMC(s) answering after %.1fs)" % (len(started), seconds))


def stop(state_dir, names=None, say=print):
    """Stop the named BMCs, or every BMC this state directory has a pid file for."""
    root = os.path.join(state_dir, "bmc")
    if names is None:
        names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))) \
            if os.path.isdir(root) else []
    for name in names:
        layout = Layout(state_dir, name)
        pid = daemon.stop(layout.pid, layout.config)
        if pid:
            say("%s: BMC stopped (was pid %s)" % (name, pid))
        else:
            say("%s: BMC not running" % name)


def status(topo, state_dir, names=None):
    """One record per BMC: process, whether it answers, the power state it reports."""
    records = []
    for node in topo.bmc_nodes:
        if names is not None and node.name not in names:
            continue
        layout = Layout(state_dir, node.name)
        pid = daemon.running_pid(layout.pid, layout.config)
        record = {"node": node.name, "room": node.room, "url": node.bmc.url,
                  "systems_uri": node.bmc.systems_uri, "pid": pid, "answering": False,
                  "power_state": None, "error": None}
        client = _client(node, state_dir)
        if client.answers():
            record["answering"] = True
            try:
                record["power_state"] = client.power_state()
            except LabError as exc:
                record["error"] = str(exc)
        records.append(record)
    return records
