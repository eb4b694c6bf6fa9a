"""Leader leases: the plan (which are stale) from tests/unit/fixtures/leader_lease/plan.yml, and the runner's
release against a fake API (409 is a candidate taking the lease, check mode asks for a dry run)."""
import datetime
from pathlib import Path

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils import leader_lease, leader_lease_runner

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "leader_lease" / "plan.yml").read_text())
NOW = 1796317200.0  # 2026-12-03T17:00:00Z


def lease(name, holder=None, renewed=None, duration=None, version="7"):
    spec = {}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = renewed
    if duration is not None:
        spec["leaseDurationSeconds"] = duration
    return {"metadata": {"name": name, "namespace": "kube-system", "resourceVersion": version}, "spec": spec}


def leases_of(case):
    return [lease(name, **fields) for name, fields in case["leases"].items()]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_plan(case):
    judged = leader_lease.plan(leases_of(case), NOW, margin=case.get("margin", leader_lease.DEFAULT_MARGIN))
    assert [entry["name"] for entry in judged] == list(leader_lease.LEADER_LEASES)
    states = dict((entry["name"], entry["state"]) for entry in judged)
    for name, state in case["expect"].items():
        assert states[name] == state
    for entry in judged:
        assert entry["release"] is (entry["state"] == leader_lease.STALE)


@pytest.mark.parametrize("stamp,seconds", [
    ("2026-12-03T17:00:00Z", NOW),
    ("2026-12-03T17:00:00.250000Z", NOW + 0.25),
    ("2026-12-03T19:00:00+02:00", NOW),
    ("2026-12-03T16:00:00-0100", NOW),
    ("2026-12-03T17:00:00", NOW),
    (datetime.datetime(2026, 12, 3, 17, 0, 0, 500000, tzinfo=datetime.timezone.utc), NOW + 0.5),
    ("yesterday", None),
    (None, None),
])
def test_epoch_seconds(stamp, seconds):
    assert leader_lease.epoch_seconds(stamp) == seconds


def test_judge_reports_holder_age_and_version():
    entry = leader_lease.judge(lease("kube-scheduler", "a-cp1_x", "2026-12-03T16:59:00Z", 15, "42"), NOW)
    assert entry == {"name": "kube-scheduler", "holder": "a-cp1_x", "renewed": "2026-12-03T16:59:00Z", "duration": 15,
                     "age": 60.0, "state": "stale", "resource_version": "42"}


def test_a_negative_margin_is_refused():
    with pytest.raises(leader_lease.LeaderLeaseError):
        leader_lease.plan([], NOW, margin=-1)


@pytest.mark.parametrize("status,outcome", [(None, "released"), (409, "taken"), (404, "taken"), (403, None), (500, None)])
def test_outcome_of_delete(status, outcome):
    assert leader_lease.outcome_of_delete(status) == outcome


class FakeAccess(object):
    """The API as the runner sees it: leases to list, an answer per delete."""

    def __init__(self, leases, answers=None, skew=None):
        self.leases, self.answers, self.skew = leases, answers or {}, skew
        self.deleted = []

    def list(self, namespace):
        assert namespace == "kube-system"
        return self.leases, self.skew

    def delete(self, namespace, name, resource_version, dry_run=False):
        self.deleted.append((name, resource_version, dry_run))
        return self.answers.get(name)


PARAMS = dict(kubeconfig=None, context="room-b", names=list(leader_lease.LEADER_LEASES), namespace="kube-system",
              margin=5, api_timeout=4, state="released")
LOST = [lease("kube-controller-manager", "a-cp1_1", "2026-12-03T16:59:55Z", 15, "10"),  # fresh
        lease("kube-scheduler", "a-cp1_2", "2026-12-03T16:58:00Z", 15, "11")]           # stale


def test_only_the_stale_lease_is_released_on_its_resource_version():
    access = FakeAccess(LOST)
    result = leader_lease_runner.run_leader_lease(PARAMS, diff=True, access=access, clock=lambda: NOW)
    assert access.deleted == [("kube-scheduler", "11", False)]
    assert result["changed"] is True
    assert [(e["name"], e["holder"], e["age"], e["released"], e["outcome"]) for e in result["leases"]] == [
        ("kube-controller-manager", "a-cp1_1", 5.0, False, "fresh"),
        ("kube-scheduler", "a-cp1_2", 120.0, True, "released")]
    assert result["diff"]["before"].keys() == {"kube-controller-manager", "kube-scheduler"}
    assert list(result["diff"]["after"]) == ["kube-controller-manager"]


def test_a_conflict_is_a_candidate_taking_the_lease_and_not_a_change():
    access = FakeAccess(LOST, answers={"kube-scheduler": 409})
    result = leader_lease_runner.run_leader_lease(PARAMS, access=access, clock=lambda: NOW)
    assert result["changed"] is False
    assert result["leases"][1]["outcome"] == "taken" and result["leases"][1]["released"] is False


def test_check_mode_asks_for_a_dry_run():
    access = FakeAccess(LOST)
    result = leader_lease_runner.run_leader_lease(PARAMS, check_mode=True, access=access, clock=lambda: NOW)
    assert access.deleted == [("kube-scheduler", "11", True)]
    assert result["changed"] is True


def test_ages_are_on_the_api_servers_clock():
    # The controller's clock is 30 s behind the API server's: the scheduler's lease is 90 s old on the server's.
    access = FakeAccess(LOST, skew=(30.0, 0.5))
    result = leader_lease_runner.run_leader_lease_info(PARAMS, access=access, clock=lambda: NOW - 30.0)
    assert [e["age"] for e in result["leases"]] == [5.0, 120.0]
    assert result["clock_skew"] == {"offset_s": 30.0, "uncertainty_s": 0.5}
    assert access.deleted == []


def test_a_refused_delete_fails_with_the_leases_so_far():
    access = FakeAccess(LOST, answers={"kube-scheduler": 403})
    with pytest.raises(leader_lease.LeaderLeaseError) as raised:
        leader_lease_runner.run_leader_lease(PARAMS, access=access, clock=lambda: NOW)
    assert raised.value.msg.startswith("cannot release the leader lease kube-system/kube-scheduler (held by a-cp1_2, "
                                       "not renewed for 120.0 s, longer than its 15 s): the API server answered 403.")
    assert raised.value.details["leases"][1]["released"] is False


def test_an_unreadable_api_fails_with_how():
    class Down(FakeAccess):
        def list(self, namespace):
            raise ConnectionRefusedError("connection refused")

    with pytest.raises(leader_lease.LeaderLeaseError) as raised:
        leader_lease_runner.run_leader_lease(PARAMS, access=Down([]), clock=lambda: NOW)
    assert raised.value.details == {"api_state": "down"}
    assert "context room-b (down): connection refused" in raised.value.msg
