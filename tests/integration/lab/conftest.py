"""Lab-test fixtures: whatever a test does to the rooms, its finalizer leaves the lab as site.yml built it."""
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from playbook import failed_tasks, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill, podman, topology  # noqa: E402  pylint: disable=wrong-import-position

FENCED = "twinroom.io/fenced"
TAINT = "node.kubernetes.io/out-of-service"


def _marked_rooms(rooms):
    """Rooms with a node still fenced or marked out of service, read through whichever room's API answers."""
    for context in drill.ZONE.values():
        try:
            api = client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context=context))
            items = api.list_node(_request_timeout=10).items
        except Exception:  # pylint: disable=broad-except  # that room's API does not answer: ask the other
            continue
        marked = {n.metadata.name for n in items
                  if FENCED in (n.metadata.annotations or {}) or any(t.key == TAINT for t in n.spec.taints or ())}
        return sorted(room for room, names in rooms.items() if marked & set(names))
    return sorted(rooms)  # neither API answers: recover both, which also restarts the datastore


def _wait_ready(names, seconds=240):
    """Until every named node is Ready in some room's API (bounded); a node powered on takes a while to report."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for context in drill.ZONE.values():
            try:
                api = client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context=context))
                ready = {n.metadata.name for n in api.list_node(_request_timeout=10).items
                         if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or ())}
            except Exception:  # pylint: disable=broad-except  # that room's API does not answer: ask the other
                continue
            if set(names) <= ready:
                return True
        time.sleep(2)
    return False


def restore_lab():
    """Link restored, every room powered on, every fenced room recovered; returns what it had to do."""
    done = []
    topo = topology.load(str(drill.STATE))
    drill.lab("restore-link")
    states = podman.containers()
    rooms = {room: [n.name for n in topo.room_nodes(room)] for room in topo.rooms}
    powered = []
    for room in topo.rooms:
        if any(states.get(n.container, {}).get("state") != "running" for n in topo.room_nodes(room)):
            drill.lab("power-on-room", room)
            done.append("power-on-room %s" % room)
            powered.append(room)
    if powered:
        _wait_ready([name for names in rooms.values() for name in names])
    # A room powered back on needs recover.yml even when nothing fenced it: its PostgreSQL does not start at boot,
    # so while it held the synchronous standby every write of the cluster waits for it.
    for room in sorted(set(_marked_rooms(rooms)) | set(powered)):
        result = run_playbook("playbooks/recover.yml", drill.INVENTORY, extra_vars={"lost_room": room})
        done.append("recover.yml %s: rc %d" % (room, result.returncode))
        if result.returncode != 0:
            done.append(failed_tasks(result))
    return done


@pytest.fixture
def lab_restorer():
    """restore_lab itself, for a fixture that must put the lab back before its own clean-up."""
    return restore_lab


@pytest.fixture
def lab_restored():
    """For tests that power rooms off, cut the link or fail rooms over: restores the lab afterwards, passed or
    failed, so one failure does not leave a room off for every later test."""
    yield
    done = restore_lab()
    if done:
        print("lab restored: %s" % "; ".join(done))


@pytest.fixture
def automatic_failover(tmp_path, lab_restored):  # pylint: disable=unused-argument,redefined-outer-name
    """ansible-rulebook running the collection's automatic failover with what site.yml wrote (drill.Rulebook: the
    storm guard's memory removed before and after), stopped afterwards - before lab_restored recovers whatever room
    it failed over."""
    running = drill.Rulebook(tmp_path / "rulebook.log")
    try:
        running.start()
    except drill.DrillError as exc:
        pytest.fail(str(exc))
    try:
        yield running
    finally:
        running.stop()
        print("ansible-rulebook's output (end):\n%s" % running.output()[-1500:])
