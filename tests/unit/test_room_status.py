"""Room status and the failover pre-check: parametrized over tests/unit/fixtures/room_status/failover.yml."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils import room_status

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "room_status" / "failover.yml").read_text())


def status_of(rooms, lease_age=None):
    """Node summaries as node_summary makes them: alive is Ready with a lease younger than 10 s."""
    summaries = {}
    for nodes in rooms.values():
        for name, ready in nodes.items():
            age = (lease_age or {}).get(name, 1.0)
            summaries[name] = {"name": name, "ready": ready, "lease_age": age, "alive": ready and age < 10}
    return room_status.rooms_status({room: list(nodes) for room, nodes in rooms.items()}, summaries)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_check_failover(case):
    status = status_of(case["rooms"], case.get("lease_age"))
    if "error" in case:
        with pytest.raises(room_status.RoomStatusError) as raised:
            room_status.check_failover(case["lost_room"], status, force=case.get("force", False))
        assert str(raised.value) == case["error"].strip()
    else:
        assert room_status.check_failover(case["lost_room"], status, force=case.get("force", False)) == case["survivor"]


def test_node_summary_reads_readiness_lease_taint_and_fencing_record():
    node = {
        "metadata": {"name": "a-w1", "labels": {"topology.kubernetes.io/zone": "room-a"},
                     "annotations": {"twinroom.io/fenced": "{}"}},
        "spec": {"taints": [{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]},
        "lease_renewed": 100.0,
    }
    assert room_status.node_summary(node, now=130.25) == {
        "name": "a-w1", "zone": "room-a", "ready": False, "alive": False, "lease_age": 30.2,
        "out_of_service": True, "fenced": True}


@pytest.mark.parametrize("lease_age,alive", [(1.0, True), (9.9, True), (10.0, False), (None, False)])
def test_a_ready_node_with_a_stale_lease_is_not_alive(lease_age, alive):
    node = {"metadata": {"name": "a-w1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            "lease_renewed": None if lease_age is None else 100.0}
    now = 100.0 + (lease_age or 0)
    assert room_status.node_summary(node, now=now, stale_after=10)["alive"] is alive


def test_room_states_and_workload_counts():
    status = room_status.rooms_status(
        {"room_a": ["a-cp1", "a-w1"], "room_b": ["b-cp1"]},
        {"a-cp1": {"name": "a-cp1", "ready": True}, "a-w1": {"name": "a-w1", "ready": False}},
        pods_by_node={"a-w1": 3, "b-cp1": 1})
    assert [(r, s["state"], s["ready"], s["total"], s["workloads"]) for r, s in sorted(status.items())] == [
        ("room_a", "degraded", 1, 2, 3), ("room_b", "down", 0, 1, 1)]
    assert status["room_b"]["nodes"][0]["missing"] is True


def test_status_table():
    status = room_status.rooms_status({"room_a": ["a-cp1"], "room_b": ["b-cp1"]},
                                      {"a-cp1": {"name": "a-cp1", "ready": True},
                                       "b-cp1": {"name": "b-cp1", "ready": False}})
    assert room_status.status_table(status) == [
        "ROOM    STATE     READY  WORKLOADS NODES",
        "room_a  healthy   1/1    0         a-cp1",
        "room_b  down      0/1    0         b-cp1(NotReady)",
    ]
