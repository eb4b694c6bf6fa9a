import json
import time

import pytest

from twinroom_lab import power_bridge
from twinroom_lab.power_bridge import KILL, START, decide

UUID = "f5765943-94aa-59cd-97fc-916ad94b2749"


def note(power_state, pending=None, **extra):
    """A notification as sushy's fake driver sends it: the whole stored system record."""
    record = {"uuid": UUID, "name": "a-cp1", "power_state": power_state, "external_notifier": True, "nics": []}
    if pending is not None:
        record["pending_power"] = {"power_state": pending, "apply_time": 1795275300}
    else:
        record["pending_power"] = None
    record.update(extra)
    return record


@pytest.mark.parametrize("notification, last, action, reason", [
    # Reset ForceOff / GracefulShutdown / On: first only announced, power_state unchanged.
    (note("On", pending="Off"), None, None, "pending change to Off: acting when it applies"),
    (note("On", pending="Off"), "On", None, "pending change to Off: acting when it applies"),
    (note("Off", pending="On"), "Off", None, "pending change to On: acting when it applies"),
    # ... then applied on the next read of the system.
    (note("Off"), "On", KILL, "power On -> Off"),
    (note("On"), "Off", START, "power Off -> On"),
    # The bridge restarted and missed the announcement: converge the container to the BMC.
    (note("Off"), None, KILL, "power unknown -> Off"),
    (note("On"), None, START, "power unknown -> On"),
    # Boot device, boot mode, ... changed: power_state repeats the last one.
    (note("On", boot_device="Pxe"), "On", None, "power stays On (another attribute changed)"),
    (note("Off", boot_device="Pxe"), "Off", None, "power stays Off (another attribute changed)"),
    # Restart: the driver drops power_state to Off at once and brings it back On when it applies.
    (note("Off", pending="ForceRestart"), "On", KILL,
     "reset ForceRestart: power dropped now, it returns when the reset applies"),
    (note("Off", pending="GracefulRestart"), None, KILL,
     "reset GracefulRestart: power dropped now, it returns when the reset applies"),
    (note("PoweringOn"), "Off", None, "power_state 'PoweringOn' is neither On nor Off: ignored"),
    ({"name": "a-cp1"}, None, None, "power_state None is neither On nor Off: ignored"),
])
def test_decide(notification, last, action, reason):
    decision = decide(notification, last)
    assert (decision.action, decision.reason) == (action, reason)


@pytest.fixture
def bridge(tmp_path, topology_data, monkeypatch):
    (tmp_path / "topology.json").write_text(json.dumps(topology_data))
    applied, logged = [], []
    monkeypatch.setattr(power_bridge, "apply",
                        lambda container, action: applied.append((container, action)) or "done")
    b = power_bridge.Bridge(str(tmp_path), logged.append)
    b.applied, b.logged = applied, logged
    return b


def test_bridge_acts_only_when_a_pending_change_applies(bridge):
    assert bridge.handle(note("On", pending="Off")) == (
        200, {"action": None, "reason": "pending change to Off: acting when it applies"})
    assert bridge.applied == []
    assert bridge.handle(note("Off")) == (200, {"action": KILL, "result": "done"})
    assert bridge.applied == [("twinroom-a-cp1", KILL)]
    assert bridge.logged == ["a-cp1 (twinroom-a-cp1): pending change to Off: acting when it applies",
                             "a-cp1 (twinroom-a-cp1): power On -> Off: done"]


def test_bridge_maps_by_name_when_uuid_is_unknown(bridge):
    status, body = bridge.handle(dict(note("On"), uuid="not-a-known-uuid", name="b-w1"))
    assert (status, body["action"]) == (200, START)
    assert bridge.applied == [("twinroom-b-w1", START)]


def test_bridge_rejects_unknown_systems_and_bad_bodies(bridge):
    assert bridge.handle(dict(note("Off"), uuid="x", name="nobody")) == (404, {"error": "unknown system"})
    assert bridge.handle(["not", "a", "record"])[0] == 400
    assert bridge.applied == []
    assert bridge.logged == ["notification for unknown system nobody (uuid x): ignored"]


def test_bridge_reports_a_failed_action(bridge, monkeypatch):
    def fail(container, action):
        raise power_bridge.LabError("container %s does not exist" % container)
    monkeypatch.setattr(power_bridge, "apply", fail)
    status, body = bridge.handle(note("Off"))
    assert (status, body["error"]) == (500, "container twinroom-a-cp1 does not exist")
    assert bridge.logged == ["a-cp1 (twinroom-a-cp1): power unknown -> Off: kill FAILED: "
                             "container twinroom-a-cp1 does not exist"]


def test_a_node_that_stopped_by_itself_is_told_to_its_bmc_and_the_bridges_own_kills_are_not():
    before = {"twinroom-a-w1": "running", "twinroom-a-w2": "running", "twinroom-b-w1": "running",
              "twinroom-b-w2": "exited"}
    now = {"twinroom-a-w1": "exited", "twinroom-a-w2": "exited", "twinroom-b-w1": "running",
           "twinroom-b-w2": "exited"}
    # a-w2 was killed by the bridge 10 s ago (fencing); a-w1 stopped by itself; b-w2 was already off.
    assert power_bridge.stopped_by_themselves(before, now, {"twinroom-a-w2": 90.0}, 100.0) == ["twinroom-a-w1"]
    # A kill longer ago than the grace no longer explains a stop.
    assert power_bridge.stopped_by_themselves(before, now, {"twinroom-a-w2": 10.0}, 100.0) == [
        "twinroom-a-w1", "twinroom-a-w2"]
    # The first listing after the bridge starts has nothing before it: nothing is told.
    assert power_bridge.stopped_by_themselves({}, now, {}, 100.0) == []


def test_a_state_podman_shows_in_passing_is_not_a_stop():
    before = {"twinroom-a-w1": "running", "twinroom-a-w2": "running", "twinroom-b-w1": "running",
              "twinroom-b-w2": "running"}
    now = {"twinroom-a-w1": "stopping", "twinroom-a-w2": "missing", "twinroom-b-w1": "unknown",
           "twinroom-b-w2": "stopped"}
    assert power_bridge.stopped_by_themselves(before, now, {}, 100.0) == ["twinroom-b-w2"]


def test_a_stop_is_told_only_when_the_next_listing_still_shows_it_and_the_bridge_did_not_kill_it_meanwhile():
    suspects = ["twinroom-a-w1", "twinroom-a-w2", "twinroom-b-w1"]
    now = {"twinroom-a-w1": "exited", "twinroom-a-w2": "running", "twinroom-b-w1": "exited"}
    # a-w2 runs again (a listing taken in passing); b-w1 was killed by the bridge 1 s ago (a fence applied).
    assert power_bridge.still_stopped(suspects, now, {"twinroom-b-w1": 99.0}, 100.0) == ["twinroom-a-w1"]
    assert power_bridge.still_stopped([], now, {}, 100.0) == []


def test_a_kill_by_any_of_the_labs_bmcs_is_marked_for_the_watcher(tmp_path):
    """The IPMI stand-in is another process: its kills reach the watcher through the marks apply() leaves."""
    marks = str(tmp_path / "kills")
    assert power_bridge.kill_marks(marks=marks) == {}
    power_bridge.mark_kill("twinroom-a-w2", marks=marks)
    killed, now = power_bridge.kill_marks(marks=marks), time.time()
    assert set(killed) == {"twinroom-a-w2"} and now - 5 <= killed["twinroom-a-w2"] <= now
    before = {"twinroom-a-w1": "running", "twinroom-a-w2": "running"}
    stopped = {"twinroom-a-w1": "exited", "twinroom-a-w2": "exited"}
    assert power_bridge.stopped_by_themselves(before, stopped, killed, now) == ["twinroom-a-w1"]
    assert power_bridge.stopped_by_themselves(before, stopped, killed, now + power_bridge.OWN_KILL_GRACE + 1) == [
        "twinroom-a-w1", "twinroom-a-w2"]
