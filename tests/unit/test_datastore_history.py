"""The datastore history: merging copies, recording what a run left, and refusing promotions that lose writes."""
import pytest

from ansible_collections.twinroom.ha.plugins.module_utils import datastore_history as history_mod
from ansible_collections.twinroom.ha.plugins.module_utils.datastore_history import HistoryError

SYNC_B_TL2 = dict(event="synchronous", node="b-cp1", standby="a-cp1", timeline=2, system_identifier="7",
                  lsn="0/4000000", at="2026-12-03T06:00:00Z")
PROMOTED_A_TL3 = dict(event="primary", node="a-cp1", timeline=3, system_identifier="7", lsn="0/5000000",
                      at="2026-12-03T07:00:00Z")
SYNC_A_TL3 = dict(event="synchronous", node="a-cp1", standby="b-cp1", timeline=3, system_identifier="7",
                  lsn="0/5000100", at="2026-12-03T07:05:00Z")


def test_merge_keeps_each_event_once_oldest_first():
    merged = history_mod.merge([SYNC_B_TL2, PROMOTED_A_TL3], [SYNC_B_TL2], [SYNC_A_TL3, PROMOTED_A_TL3])
    assert merged == [SYNC_B_TL2, PROMOTED_A_TL3, SYNC_A_TL3]
    assert history_mod.latest(merged) == SYNC_A_TL3


def test_merge_orders_by_timeline_before_time():
    # A node whose clock is behind still cannot put an older timeline after a newer one.
    skewed = dict(PROMOTED_A_TL3, at="2026-12-01T00:00:00Z")
    assert history_mod.latest([SYNC_B_TL2, skewed]) == skewed


def test_a_malformed_entry_is_an_error_naming_it():
    with pytest.raises(HistoryError) as raised:
        history_mod.merge([SYNC_B_TL2, {"event": "elected", "node": "x"}])
    assert raised.value.msg == (
        "datastore history entry 1 is not an event ({'event': 'elected', 'node': 'x'}): expected event (primary or "
        "synchronous), node, timeline. Restore the history file from another copy (each control-plane node and the "
        "controller keep one).")


@pytest.mark.parametrize("state, expected", [
    ({"role": "standby", "timeline": 3}, None),
    ({"role": "primary", "timeline": 3, "system_identifier": 7, "lsn": "0/5000000", "synchronous_standby_names": ""},
     PROMOTED_A_TL3),
    ({"role": "primary", "timeline": 3, "system_identifier": "7", "lsn": "0/5000100",
      "synchronous_standby_names": '"b-cp1"',
      "standbys": [{"application_name": "b-cp1", "state": "streaming", "sync_state": "sync"}]}, SYNC_A_TL3),
    # Named synchronous but not streaming: commits wait for it, but it holds nothing yet; no sync event.
    ({"role": "primary", "timeline": 3, "system_identifier": "7", "lsn": "0/5000000",
      "synchronous_standby_names": '"b-cp1"',
      "standbys": [{"application_name": "b-cp1", "state": "catchup", "sync_state": "potential"}]}, PROMOTED_A_TL3),
], ids=["standby records nothing", "primary alone", "primary with a synchronous standby", "standby still catching up"])
def test_current_event(state, expected):
    at = (expected or {}).get("at", "now")
    assert history_mod.current_event("a-cp1", state, at) == expected


def test_record_appends_only_a_change():
    events = history_mod.record([SYNC_B_TL2], PROMOTED_A_TL3)
    assert events == [SYNC_B_TL2, PROMOTED_A_TL3]
    assert history_mod.record(events, dict(PROMOTED_A_TL3, at="2026-12-03T08:00:00Z", lsn="0/6000000")) == events
    assert history_mod.record(events, None) == events


@pytest.mark.parametrize("node, local, history", [
    ("a-cp1", {"role": "standby", "timeline": 2}, []),
    ("a-cp1", {"role": "standby", "timeline": 2, "system_identifier": "7"}, [SYNC_B_TL2]),
    ("b-cp1", {"role": "stopped", "stopped_as": "primary", "timeline": 2, "system_identifier": "7"}, [SYNC_B_TL2]),
    ("b-cp1", {"role": "standby", "timeline": 3, "system_identifier": "7"}, [SYNC_B_TL2, PROMOTED_A_TL3, SYNC_A_TL3]),
    # A standby reports its last restartpoint's timeline while its WAL receiver is down (seen on the lab).
    ("b-cp1", {"role": "standby", "timeline": 2, "lsn": "0/5000200", "system_identifier": "7"},
     [SYNC_B_TL2, PROMOTED_A_TL3, SYNC_A_TL3]),
], ids=["no history", "the synchronous standby", "the last primary restarting", "standby of the new primary",
        "synchronous standby reporting an older timeline"])
def test_promotion_allowed(node, local, history):
    history_mod.check_promotion(node, local, history)


def test_a_former_primary_is_refused_after_the_other_was_promoted():
    # The interrupted recovery: b-cp1 stopped as primary on timeline 2, a-cp1 promoted to 3 and acknowledged writes.
    local = {"role": "stopped", "stopped_as": "primary", "timeline": 2, "lsn": "0/4000000", "system_identifier": "7"}
    with pytest.raises(HistoryError) as raised:
        history_mod.check_promotion("b-cp1", local, [SYNC_B_TL2, PROMOTED_A_TL3])
    assert raised.value.msg == (
        "refusing to make b-cp1 primary: a-cp1 was primary on timeline 3 with no synchronous standby (recorded "
        "2026-12-03T07:00:00Z, LSN 0/5000000), and b-cp1 is stopped as primary on timeline 2 at LSN 0/4000000, so it "
        "lacks writes a-cp1 acknowledged. Promoting it would lose them. Bring a-cp1 back (power its room on, run "
        "recover.yml) so b-cp1 can rejoin it; if a-cp1 is gone for good and those writes may be lost, say so with "
        "discard_newer_writes: true.")


def test_a_standby_whose_rejoin_never_finished_is_refused():
    # Rewound onto timeline 3, but a-cp1 never named it synchronous: it may lack acknowledged writes.
    local = {"role": "standby", "timeline": 3, "lsn": "0/5000000", "system_identifier": "7"}
    with pytest.raises(HistoryError) as raised:
        history_mod.check_promotion("b-cp1", local, [SYNC_B_TL2, PROMOTED_A_TL3])
    assert "a-cp1 was primary on timeline 3 with no synchronous standby" in raised.value.msg
    assert "b-cp1 is standby on timeline 3 at LSN 0/5000000" in raised.value.msg


def test_a_cluster_with_another_system_identifier_is_refused():
    local = {"role": "stopped", "stopped_as": "primary", "timeline": 1, "lsn": "0/1000000", "system_identifier": "99"}
    with pytest.raises(HistoryError) as raised:
        history_mod.check_promotion("a-cp1", local, [SYNC_B_TL2, PROMOTED_A_TL3])
    assert raised.value.msg == (
        "refusing to make a-cp1 primary: its PostgreSQL cluster (system 99, stopped as primary on timeline 1 at LSN "
        "0/1000000) is not the datastore's (system 7, last primary a-cp1 on timeline 3): it was rebuilt or created "
        "anew, and making it primary would replace the datastore by an empty or foreign one. Keep the node that holds "
        "system 7; remove a-cp1's data directory only to re-clone it from there.")
