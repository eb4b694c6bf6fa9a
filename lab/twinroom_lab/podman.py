"""Thin wrappers around the podman CLI for the lab's containers. Every call has a time limit."""

import json
import os

from . import LabError, run_command

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The lab's podman settings (runc, rlimits this sandbox allows); scripts/devenv.sh exports the same.
LAB_CONTAINERS_CONF = os.path.join(LAB_DIR, "containers.conf")
TIMEOUT = 60


def _env():
    env = dict(os.environ)
    if not env.get("CONTAINERS_CONF") and os.path.exists(LAB_CONTAINERS_CONF):
        env["CONTAINERS_CONF"] = LAB_CONTAINERS_CONF
    return env


def run(*args, timeout=TIMEOUT, check=True):
    return run_command(["podman"] + list(args), timeout, check=check, env=_env(),
                       missing=" on PATH: the lab's nodes are podman containers")


def containers():
    """{name: {"state": "running"|"exited"|..., "networks": [names]}} for every container."""
    listing = json.loads(run("ps", "--all", "--format", "json").stdout or "[]")
    result = {}
    for entry in listing:
        for name in entry.get("Names") or []:
            result[name] = {"state": entry.get("State", "unknown"),
                            "networks": list(entry.get("Networks") or [])}
    return result


def state(container):
    """'running', 'exited', 'created', ... or 'missing' when there is no such container."""
    proc = run("container", "inspect", "--format", "{{.State.Status}}", container, check=False)
    if proc.returncode != 0:
        if "no such" in proc.stderr.lower():
            return "missing"
        raise LabError("podman cannot inspect container %s: %s" % (container, proc.stderr.strip()))
    return proc.stdout.strip()


def kill(names):
    """SIGKILL every named container in one podman call: power loss hits them at the same moment."""
    if names:
        run("kill", *names)


def start(name):
    run("start", name)
