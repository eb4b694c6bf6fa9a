"""The lab's VM guests as the nodes themselves see them: the QEMU processes the virt-handler stand-in started
(lab/twinroom_lab/virt_handler_standin.py; each carries ``-name <vm>,process=twinroom-vm:<namespace>/<vm>``)
and their serial consoles under /run/twinroom-vms in the node. Read through ``podman exec``, never through the API,
so "never two running guests of one VM" is checked where a guest would run, including on a node whose room the API
no longer shows. A powered-off node (container not running) runs no guest.

A live migration runs two QEMU processes by design: the source, and the target started with ``-incoming`` in
another node, which runs the guest only once QEMU has paused the source for good. Two processes of one VM on two
nodes, one of them started with ``-incoming``, are therefore counted as a migration pair, not a double; a drill
holds each pair to its migration's window (a pair that outlives its migration is a double by then)."""

import re
import threading
import time

from . import podman
from .vmrunner import PROCESS_PREFIX, read_console

# One line per process: its command line with NULs as spaces.
_LIST = "for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < \"$f\" 2>/dev/null; echo; done"
_PROCESS = re.compile(r"process=%s(\S+)" % re.escape(PROCESS_PREFIX))
WORKDIR = "/run/twinroom-vms"


def parse_processes(text, incoming=False):
    """{"<namespace>/<vm>": count} of QEMU processes in a node's process listing (_LIST's output); incoming: only
    those started as a migration's target (``-incoming``)."""
    found = {}
    for line in text.splitlines():
        if "qemu-system" not in line or (incoming and " -incoming " not in line + " "):
            continue
        match = _PROCESS.search(line)
        if match:
            found[match.group(1)] = found.get(match.group(1), 0) + 1
    return found


def node_processes(container):
    """({vm: count}, {vm: count started with -incoming}) in container; ({}, {}) when it does not run (no power)."""
    proc = podman.run("exec", container, "sh", "-c", _LIST, timeout=20, check=False)
    if proc.returncode != 0:
        if podman.state(container) != "running":
            return {}, {}
        raise podman.LabError("podman exec %s failed: %s" % (container, proc.stderr.strip()[-300:]))
    return parse_processes(proc.stdout), parse_processes(proc.stdout, incoming=True)


def node_guests(container):
    """{"<namespace>/<vm>": count} running in container; {} when the container does not run (no power)."""
    return node_processes(container)[0]


def guests_by_node(containers):
    """{container: {vm: count}} for each container."""
    return dict((container, node_guests(container)) for container in containers)


def _by_vm(sample):
    total = {}
    for container, found in sample.items():
        for vm, count in found.items():
            total.setdefault(vm, {})[container] = count
    return total


def _pair(vm, where, incoming):
    return (len(where) == 2 and sum(where.values()) == 2
            and any((incoming or {}).get(container, {}).get(vm) for container in where))


def doubles(sample, incoming=None):
    """[(vm, {container: count})] for each VM with more than one QEMU process over all containers of a sample, but
    for a migration pair (incoming: {container: {vm: count started with -incoming}})."""
    return sorted((vm, where) for vm, where in _by_vm(sample).items()
                  if sum(where.values()) > 1 and not _pair(vm, where, incoming))


def migration_pairs(sample, incoming):
    """[(vm, {container: 1})] for each VM that runs as a migration pair in this sample."""
    return sorted((vm, where) for vm, where in _by_vm(sample).items() if _pair(vm, where, incoming))


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
    the rounds, ``violations`` lists (time, vm, {container: count}) wherever one VM ran more than once, ``pairs``
    (time, vm, {container: 1}) wherever it ran as a live migration's pair."""

    def __init__(self, containers, interval=1.0):
        self.containers, self.interval = list(containers), interval
        self.samples, self.violations, self.pairs, self.errors = 0, [], [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guest-watch", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            try:
                read = dict((container, node_processes(container)) for container in self.containers)
            except podman.LabError as exc:
                self.errors.append(str(exc))
            else:
                self.samples += 1
                sample = dict((container, found[0]) for container, found in read.items())
                incoming = dict((container, found[1]) for container, found in read.items())
                for vm, where in doubles(sample, incoming):
                    self.violations.append((time.time(), vm, where))
                for vm, where in migration_pairs(sample, incoming):
                    self.pairs.append((time.time(), vm, where))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(60)
