"""The lab's VM guests as the nodes themselves see them: the QEMU processes the virt-handler stand-in started
(roles/kubevirt/files/virt_handler_standin.py; each carries ``-name <vm>,process=twinroom-vm:<namespace>/<vm>``)
and their serial consoles under /run/twinroom-vms in the node. Read through ``podman exec``, never through the API,
so "never two running guests of one VM" is checked where a guest would run, including on a node whose room the API
no longer shows. A powered-off node (container not running) runs no guest."""

import re
import threading
import time

from . import podman
from .vmrunner import PROCESS_PREFIX, read_console

# One line per process: its command line with NULs as spaces.
_LIST = "for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < \"$f\" 2>/dev/null; echo; done"
_PROCESS = re.compile(r"process=%s(\S+)" % re.escape(PROCESS_PREFIX))
WORKDIR = "/run/twinroom-vms"


def parse_processes(text):
    """{"<namespace>/<vm>": count} of QEMU processes in a node's process listing (_LIST's output)."""
    found = {}
    for line in text.splitlines():
        if "qemu-system" not in line:
            continue
        match = _PROCESS.search(line)
        if match:
            found[match.group(1)] = found.get(match.group(1), 0) + 1
    return found


def node_guests(container):
    """{"<namespace>/<vm>": count} running in container; {} when the container does not run (no power)."""
    proc = podman.run("exec", container, "sh", "-c", _LIST, timeout=20, check=False)
    if proc.returncode != 0:
        if podman.state(container) != "running":
            return {}
        raise podman.LabError("podman exec %s failed: %s" % (container, proc.stderr.strip()[-300:]))
    return parse_processes(proc.stdout)


def guests_by_node(containers):
    """{container: {vm: count}} for each container."""
    return dict((container, node_guests(container)) for container in containers)


def doubles(sample):
    """[(vm, {container: count})] for each VM with more than one QEMU process over all containers of a sample."""
    total = {}
    for container, found in sample.items():
        for vm, count in found.items():
            total.setdefault(vm, {})[container] = count
    return sorted((vm, where) for vm, where in total.items() if sum(where.values()) > 1)


def console(container, namespace, name):
    """What the console of the guest of VM namespace/name in container says (read_console()), from its newest
    run directory there; None when it has none."""
    proc = podman.run("exec", container, "sh", "-c",
                      "ls -t %s/%s_%s_*/console.log 2>/dev/null | head -1 | xargs -r cat" % (WORKDIR, namespace, name),
                      timeout=20, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    state = read_console(proc.stdout)
    disk = re.search(r"^TWINROOM-GUEST DISK \S+ last=(.*)$", proc.stdout, re.M)
    state["disk_last"] = disk.group(1).strip() if disk else None
    return state


class GuestWatch(object):
    """Samples every container's guests every ``interval`` seconds in a thread until stop(); ``samples`` counts
    the rounds, ``violations`` lists (time, vm, {container: count}) wherever one VM ran more than once."""

    def __init__(self, containers, interval=1.0):
        self.containers, self.interval = list(containers), interval
        self.samples, self.violations, self.errors = 0, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guest-watch", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            try:
                sample = guests_by_node(self.containers)
            except podman.LabError as exc:
                self.errors.append(str(exc))
            else:
                self.samples += 1
                for vm, where in doubles(sample):
                    self.violations.append((time.time(), vm, where))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(60)
