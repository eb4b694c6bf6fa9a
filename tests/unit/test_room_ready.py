"""Are a room's nodes Ready: the pure predicate (room_status.node_readiness / readiness) and room_info_runner's
bounded wait on a fake clock, which on timeout fails with the partial state."""
import pytest

from ansible_collections.twinroom.ha.plugins.module_utils import room_info_runner, room_status
from fakeclock import FakeClock


def node(name, status=None, reason=None, message=None):
    conditions = []
    if status is not None:
        condition = {"type": "Ready", "status": status}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        conditions.append({"type": "MemoryPressure", "status": "False"})
        conditions.append(condition)
    return {"metadata": {"name": name}, "status": {"conditions": conditions}}


@pytest.mark.parametrize("obj,expected", [
    (node("a-w1", "True"), (True, None)),
    (node("a-w1", "False", "KubeletNotReady", "container runtime is down"),
     (False, "Ready is False (KubeletNotReady - container runtime is down)")),
    (node("a-w1", "Unknown", "NodeStatusUnknown"), (False, "Ready is Unknown (NodeStatusUnknown)")),
    (node("a-w1"), (False, "no Ready condition yet (its kubelet has not reported)")),
    ({"metadata": {"name": "a-w1"}}, (False, "no Ready condition yet (its kubelet has not reported)")),
    (None, (False, "not registered with the API server (its kubelet has not joined)")),
])
def test_node_readiness(obj, expected):
    assert room_status.node_readiness(obj) == expected


def test_readiness_keeps_the_order_of_the_names_and_ignores_other_nodes():
    nodes = [node("b-w1", "False"), node("a-w1", "True"), node("a-cp1", "True"), node("c-x", "False")]
    assert room_status.readiness(nodes, ["a-cp1", "a-w1", "a-w2", "b-w1"]) == {
        "ready": ["a-cp1", "a-w1"],
        "not_ready": {"a-w2": "not registered with the API server (its kubelet has not joined)",
                      "b-w1": "Ready is False"}}


def test_wait_names():
    rooms = {"room_a": ["a-cp1", "a-w1"], "room_b": ["b-cp1"]}
    assert room_status.wait_names(rooms, ["room_b", "room_a"]) == ["b-cp1", "a-cp1", "a-w1"]
    with pytest.raises(room_status.RoomStatusError, match="wait_ready names room_c, not a room of rooms"):
        room_status.wait_names(rooms, ["room_c"])


def test_wait_returns_once_every_node_is_ready_and_says_how_long():
    clock = FakeClock(100.0)
    answers = iter([[node("a-w1", "Unknown")], [node("a-w1", "False")], [node("a-w1", "True")]])
    state = room_info_runner.wait_ready(lambda: next(answers), ["a-w1"], 60, clock=clock, sleep=clock.sleep)
    assert state == {"ready": ["a-w1"], "not_ready": {}, "waited_s": 4.0}


def test_wait_times_out_with_the_partial_state():
    clock = FakeClock(100.0)
    with pytest.raises(room_status.RoomStatusError) as raised:
        room_info_runner.wait_ready(lambda: [node("a-cp1", "True"), node("a-w1", "Unknown", "NodeStatusUnknown")],
                                    ["a-cp1", "a-w1"], 10, context="room-a", clock=clock, sleep=clock.sleep)
    assert raised.value.msg == ("a-w1 not Ready after 10 s (wait_timeout 10 s, context room-a): a-w1: Ready is Unknown "
                                "(NodeStatusUnknown). Ready: a-cp1.")
    assert raised.value.details["wait"] == {"ready": ["a-cp1"], "not_ready": {"a-w1": "Ready is Unknown (NodeStatusUnknown)"},
                                            "waited_s": 10.0}


class NewConnectionError(Exception):
    """Named like urllib3's: classify_api_error reads the class name."""


def test_an_api_server_not_answering_yet_is_asked_again():
    clock = FakeClock(100.0)
    answers = iter([NewConnectionError("connection refused"), [node("a-w1", "True")]])

    def read():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert room_info_runner.wait_ready(read, ["a-w1"], 60, clock=clock, sleep=clock.sleep)["ready"] == ["a-w1"]


def test_an_api_server_that_stays_down_is_named_in_the_timeout():
    clock = FakeClock(100.0)

    def read():
        raise NewConnectionError("connection refused")

    with pytest.raises(room_status.RoomStatusError) as raised:
        room_info_runner.wait_ready(read, ["a-w1"], 5, clock=clock, sleep=clock.sleep)
    assert raised.value.msg.endswith("The API server did not answer at the last try (down): connection refused.")
    assert raised.value.details["wait"] == {"ready": [], "not_ready": {"a-w1": "not read yet"}, "waited_s": 4.0,
                                            "api_state": "down", "api_error": "connection refused"}


def test_an_api_server_that_refuses_fails_at_once():
    clock = FakeClock(100.0)

    class Forbidden(Exception):
        status, reason = 403, "Forbidden"

    def read():
        raise Forbidden("Forbidden")

    with pytest.raises(room_status.RoomStatusError, match="cannot read the Nodes through context room-a: 403 Forbidden"):
        room_info_runner.wait_ready(read, ["a-w1"], 60, context="room-a", clock=clock, sleep=clock.sleep)
    assert clock.now == 100.0


PARAMS = dict(kubeconfig=None, context="room-a", rooms={"room_a": ["a-w1"], "room_b": ["b-w1"]}, lost_room=None,
              force=False, stale_after=10, api_timeout=4, max_clock_skew=5, nodes=None, wait_ready=["room_a"],
              wait_timeout=30)


def test_room_info_waits_then_reports_the_rooms():
    clock = FakeClock(100.0)
    answers = iter([[node("a-w1", "False")], [node("a-w1", "True")]])
    nodes = [dict(node("a-w1", "True"), lease_renewed=99.0), dict(node("b-w1", "True"), lease_renewed=99.5)]
    result = room_info_runner.run_room_info(PARAMS, read_api=lambda: (nodes, {"a-w1": 2}, None),
                                            read_node_list=lambda: next(answers), wall_clock=lambda: 100.0,
                                            clock=clock, sleep=clock.sleep)
    assert result["wait"] == {"ready": ["a-w1"], "not_ready": {}, "waited_s": 2.0}
    assert result["rooms"]["room_a"]["state"] == "healthy" and result["rooms"]["room_a"]["workloads"] == 2
    assert result["api_state"] == "answers" and "bmc" not in result


def test_room_info_reports_how_the_api_failed():
    def read_api():
        raise TimeoutError("read timed out")

    with pytest.raises(room_status.RoomStatusError) as raised:
        room_info_runner.run_room_info(dict(PARAMS, wait_ready=[], lost_room="room_b"), read_api=read_api)
    assert raised.value.details["api_state"] == "no_datastore"
    assert raised.value.msg == "cannot read the cluster through context room-a: read timed out"


def test_an_api_server_still_initializing_is_asked_again():
    clock = FakeClock(100.0)

    class TooManyRequests(Exception):
        status = 429

    answers = iter([TooManyRequests("storage is (re)initializing"), [node("a-w1", "True")]])

    def read():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert room_info_runner.wait_ready(read, ["a-w1"], 60, clock=clock, sleep=clock.sleep)["waited_s"] == 2.0
