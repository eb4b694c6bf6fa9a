"""Room status and the failover pre-check: parametrized over tests/unit/fixtures/room_status/failover.yml."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils import room_info_runner, room_status

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "room_status" / "failover.yml").read_text())


def status_of(rooms, lease_age=None, power=None):
    """Node summaries as node_summary makes them: alive is Ready with a lease younger than 10 s; with ``power``
    ({node: on|off|unknown}), those nodes' BMC readings added as room_info adds them."""
    summaries = {}
    for nodes in rooms.values():
        for name, ready in nodes.items():
            age = (lease_age or {}).get(name, 1.0)
            summaries[name] = {"name": name, "ready": ready, "lease_age": age, "alive": ready and age < 10}
    status = room_status.rooms_status({room: list(nodes) for room, nodes in rooms.items()}, summaries)
    return room_status.power_summary(status, dict((name, {"power_state": state}) for name, state in (power or {}).items()))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_check_failover(case):
    status = status_of(case["rooms"], case.get("lease_age"), case.get("power"))
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
        "ROOM    STATE     READY  WORKLOADS BMC-POWER NODES",
        "room_a  healthy   1/1    0         -         a-cp1",
        "room_b  down      0/1    0         -         b-cp1(NotReady)",
    ]


def test_bmc_power_states_are_added_per_node_and_counted_per_room():
    status = status_of({"room_a": {"a-cp1": False, "a-w1": False}, "room_b": {"b-cp1": True}})
    observed = [{"name": "a-cp1", "power_state": "off", "bmc_reachable": True, "bmc_error": None},
                {"name": "a-w1", "power_state": "unknown", "bmc_reachable": False, "bmc_error": "refused"},
                {"name": "b-cp1"}]  # asked the API only
    power = room_status.bmc_power(observed)
    assert power == {"a-cp1": {"power_state": "off", "bmc_reachable": True, "bmc_error": None},
                     "a-w1": {"power_state": "unknown", "bmc_reachable": False, "bmc_error": "refused"}}
    room_status.power_summary(status, power)
    assert status["room_a"]["power"] == {"off": 1, "unknown": 1}
    assert status["room_b"]["power"] is None
    assert [n.get("power_state") for n in status["room_a"]["nodes"]] == ["off", "unknown"]
    table = room_status.status_table(status)
    assert table[0].split() == ["ROOM", "STATE", "READY", "WORKLOADS", "BMC-POWER", "NODES"]
    assert table[1] == "room_a  down      0/2    0         1 off,1 unknown a-cp1(NotReady) a-w1(NotReady)"
    assert table[2] == "room_b  healthy   1/1    0         -         b-cp1"


def test_the_bmcs_are_asked_while_the_api_server_hangs():
    """An API server that cannot read its datastore answers only with its timeout: the BMCs' answer must not
    wait for it - both are asked at once, and the API's failure is handed back, not raised."""
    import threading
    bmc_asked = threading.Event()

    def read_api():
        # Blocks until the BMCs were asked: with the two asked one after the other, this would time out.
        assert bmc_asked.wait(5), "the BMCs were not asked while the API request was pending"
        raise TimeoutError("read timed out")

    def read_bmcs():
        bmc_asked.set()
        return [{"name": "a-w1", "power_state": "on", "bmc_reachable": True, "bmc_error": None}]

    cluster, api_error, observed = room_info_runner.read_rooms(read_api, read_bmcs)
    assert cluster is None
    assert str(api_error) == "read timed out"
    assert room_status.classify_api_error(api_error) == room_status.API_NO_DATASTORE
    assert observed[0]["power_state"] == "on"


def test_a_bmc_failure_is_raised_and_no_bmc_means_none_observed():
    def failing_bmcs():
        raise RuntimeError("fence_redfish is not installed")

    with pytest.raises(RuntimeError, match="fence_redfish is not installed"):
        room_info_runner.read_rooms(lambda: ([], {}), failing_bmcs)
    assert room_info_runner.read_rooms(lambda: (["n"], {}), None) == ((["n"], {}), None, None)


# --- how an API read failed --------------------------------------------------------------------------------------

class NewConnectionError(Exception):
    """Named like urllib3's: the class name is what classify_api_error reads."""


class ReadTimeoutError(Exception):
    pass


class MaxRetryError(Exception):
    def __init__(self, message, reason):
        super(MaxRetryError, self).__init__(message)
        self.reason = reason


class ApiException(Exception):
    def __init__(self, status):
        super(ApiException, self).__init__("(%d) Reason: x" % status)
        self.status = status


REFUSED = MaxRetryError(
    "HTTPSConnectionPool(host='10.77.2.10', port=6443): Max retries exceeded with url: /api/v1/nodes",
    NewConnectionError("<urllib3.connection.HTTPSConnection object at 0x7f3a>: Failed to establish a new "
                       "connection: [Errno 111] Connection refused"))


REFUSED_NEWER = MaxRetryError(
    "HTTPSConnectionPool(host='10.77.2.10', port=6443): Max retries exceeded with url: /api/v1/nodes",
    NewConnectionError("HTTPSConnection(host='10.77.2.10', port=6443): Failed to establish a new connection: "
                       "[Errno 111] Connection refused"))


@pytest.mark.parametrize("error, state", [
    (REFUSED, room_status.API_DOWN),
    (REFUSED_NEWER, room_status.API_DOWN),
    (MaxRetryError("pool", ReadTimeoutError("Read timed out. (read timeout=4)")), room_status.API_NO_DATASTORE),
    (ApiException(504), room_status.API_NO_DATASTORE),
    (ApiException(503), room_status.API_NO_DATASTORE),
    (ApiException(401), room_status.API_ERROR),
    (ValueError("Invalid kube-config file"), room_status.API_ERROR),
])
def test_classify_api_error(error, state):
    assert room_status.classify_api_error(error) == state


@pytest.mark.parametrize("error", [REFUSED, REFUSED_NEWER])
def test_a_surviving_api_server_that_does_not_answer_refuses_the_failover(error):
    assert room_status.api_failure_message("room-b", error, room_status.API_DOWN, "room_a") == (
        "refusing to fail room_a over: the API server of the surviving room does not answer through context room-b "
        "(Failed to establish a new connection: [Errno 111] Connection refused). After the takeover the cluster is "
        "served through it, so fencing room_a now would leave no cluster at all. Start the API server of the surviving "
        "room (and its kine), then run again. Nothing was powered off.")


def test_other_api_failures_are_reported_as_they_came():
    timeout = ReadTimeoutError("Read timed out. (read timeout=4)")
    assert room_status.api_failure_message("room-b", timeout, room_status.API_NO_DATASTORE, "room_a") == (
        "cannot read the cluster through context room-b: Read timed out. (read timeout=4)")
    assert room_status.api_failure_message("room-b", REFUSED, room_status.API_DOWN).startswith(
        "cannot read the cluster through context room-b: HTTPSConnectionPool")


# --- clocks ------------------------------------------------------------------------------------------------------

def test_api_skew_from_the_date_header():
    # Sent at ...00.0, answered at ...00.2 by a server whose clock said 12:00:03 (so 12:00:03.5 +/- 0.5).
    sent = 1796299200.0  # 2026-12-03T12:00:00Z
    assert room_status.api_skew(sent, sent + 0.2, "Thu, 03 Dec 2026 12:00:03 GMT") == (3.4, 0.6)
    assert room_status.api_skew(sent, sent + 0.2, None) is None
    assert room_status.api_skew(sent, sent + 0.2, "not a date") is None


def _status(**ages):
    return {"room_a": {"nodes": [{"name": name, "lease_age": age} for name, age in sorted(ages.items())]}}


def test_clocks_within_the_bound_pass():
    room_status.check_clocks(_status(a_w1=1.0, a_w2=-0.3), (0.4, 0.5), 5)
    room_status.check_clocks(_status(a_w1=None), None, 5)


def test_a_controller_clock_off_by_more_than_the_bound_is_refused():
    with pytest.raises(room_status.RoomStatusError) as caught:
        room_status.check_clocks(_status(a_w1=1.0), (-42.3, 0.6), 5, "room-b")
    assert str(caught.value) == (
        "The controller's clock and the API server's (context room-b) differ by -42.3 s (+/- 0.6 s), more than "
        "max_clock_skew (5 s): lease ages cannot be trusted, and a failover decided on them could fence a running "
        "room. Synchronise the clocks (chrony or NTP on the controller and every node), then run again.")


def test_a_node_clock_running_ahead_is_refused():
    with pytest.raises(room_status.RoomStatusError) as caught:
        room_status.check_clocks(_status(a_w1=-30.0, a_w2=2.0), (0.0, 0.5), 5)
    assert str(caught.value) == (
        "a_w1 renews its lease from a clock running ahead of the API server's (a_w1 by 30.0 s), by more than "
        "max_clock_skew (5 s): a lease from such a clock looks fresh after the node has stopped. Synchronise the "
        "clocks (chrony or NTP on every node), then run again.")
