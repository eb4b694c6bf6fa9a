"""Failback decisions: what is away from its home room, in which batches, and where it landed."""
import pytest

from ansible_collections.twinroom.ha.plugins.module_utils import failback
from ansible_collections.twinroom.ha.plugins.module_utils.failback import FailbackError

ROOMS = {"room_a": ["a-w1", "a-w2"], "room_b": ["b-w1", "b-w2"]}


def pod(name, node, home="room_a", kind="ReplicaSet", owner="web-1", phase="Running", ns="shop", uid=None,
        deleting=False):
    meta = {"name": name, "namespace": ns, "uid": uid or "u-" + name, "labels": {"twinroom.io/home-room": home},
            "ownerReferences": [{"kind": kind, "name": owner, "controller": True}] if kind else []}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-21T16:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase}}


PODS = [
    pod("web-1-x", "b-w1"),                                              # away: move
    pod("web-1-y", "a-w1"),                                              # home already
    pod("db-0", "b-w2", kind="StatefulSet", owner="db"),                 # away: move
    pod("virt-launcher-vm1-abc", "b-w1", kind="VirtualMachineInstance", owner="vm1"),  # VM away: migrate
    pod("api-1-z", "b-w1", home="room_b"),                               # homed in room_b: stays
    pod("lonely", "b-w1", kind=None),                                    # no controller: never touched
    pod("web-1-p", "b-w1", phase="Pending"),                             # not running: not moved
    pod("web-1-t", "b-w2", deleting=True),                               # terminating: not moved
    pod("web-1-q", "gone-node"),                                         # unknown node: not moved
]


def test_plan_moves_running_controlled_pods_and_vms_away_from_home():
    assert failback.plan(PODS, ROOMS, "room_a") == [
        {"kind": "pod", "namespace": "shop", "name": "db-0", "node": "b-w2", "owner": "StatefulSet/db"},
        {"kind": "pod", "namespace": "shop", "name": "web-1-x", "node": "b-w1", "owner": "ReplicaSet/web-1"},
        {"kind": "vm", "namespace": "shop", "name": "vm1", "node": "b-w1", "owner": "VirtualMachineInstance/vm1"},
    ]


def test_home_values_name_the_room_by_its_zone_too():
    vm_pod = pod("virt-launcher-vm2-x", "b-w2", home="room-a", kind="VirtualMachineInstance", owner="vm2")
    assert failback.plan([vm_pod], ROOMS, "room_a") == []
    assert [m["name"] for m in failback.plan([vm_pod], ROOMS, "room_a", home_values=["room_a", "room-a"])] == ["vm2"]


def test_nothing_to_move_when_everything_is_home():
    assert failback.plan([pod("web-1-y", "a-w1"), pod("api-1-z", "b-w1", home="room_b")], ROOMS, "room_a") == []


def test_unknown_room_is_refused_with_the_known_ones():
    with pytest.raises(FailbackError) as caught:
        failback.plan(PODS, ROOMS, "room_c")
    assert caught.value.msg == "Unknown room 'room_c': the rooms are room_a, room_b."


def test_a_node_in_two_rooms_is_refused():
    with pytest.raises(FailbackError) as caught:
        failback.plan(PODS, {"room_a": ["a-w1"], "room_b": ["a-w1"]}, "room_a")
    assert caught.value.msg == "node a-w1 is listed in rooms room_a and room_b: a node lives in one room."


@pytest.mark.parametrize("size, expected", [(1, [[1], [2], [3]]), (2, [[1, 2], [3]]), (5, [[1, 2, 3]])])
def test_batches(size, expected):
    assert failback.batches([1, 2, 3], size) == expected


def test_batch_below_one_is_refused():
    with pytest.raises(FailbackError) as caught:
        failback.batches([1], 0)
    assert caught.value.msg == "batch must be at least 1, got 0."


MOVE_RS = {"kind": "pod", "namespace": "shop", "name": "web-1-x", "node": "b-w1", "owner": "ReplicaSet/web-1"}
MOVE_STS = {"kind": "pod", "namespace": "shop", "name": "db-0", "node": "b-w2", "owner": "StatefulSet/db"}
MOVE_VM = {"kind": "vm", "namespace": "shop", "name": "vm1", "node": "b-w1", "owner": "VirtualMachineInstance/vm1"}
BEFORE = {"u-web-1-x", "u-web-1-y", "u-db-0", "u-virt-launcher-vm1-abc"}


@pytest.mark.parametrize("move, now, expected", [
    (MOVE_RS, [pod("web-1-y", "a-w1")], None),                                      # only the old pods: waiting
    (MOVE_RS, [pod("web-1-n", "a-w2", uid="new")], "home"),
    (MOVE_RS, [pod("web-1-n", "b-w2", uid="new")], "away"),
    (MOVE_RS, [pod("web-1-n", "a-w2", uid="new", phase="Pending")], None),
    (MOVE_STS, [pod("db-0", "b-w2", kind="StatefulSet", owner="db")], None),       # same pod, same uid
    (MOVE_STS, [pod("db-0", "a-w1", kind="StatefulSet", owner="db", uid="new")], "home"),
    (MOVE_VM, [pod("virt-launcher-vm1-t", "a-w1", kind="VirtualMachineInstance", owner="vm1", uid="t")], "home"),
    (MOVE_VM, [pod("virt-launcher-vm2-t", "a-w1", kind="VirtualMachineInstance", owner="vm2", uid="t")], None),
], ids=["waiting", "rs-home", "rs-away", "rs-pending", "sts-old", "sts-home", "vm-home", "other-vm"])
def test_landed(move, now, expected):
    assert failback.landed(move, now, ROOMS, "room_a", BEFORE) == expected


class FakeCluster:
    """Plays the API: deleting a pod makes its controller's replacement appear in the home room."""

    def __init__(self, pods):
        self.pods_now = [dict(p) for p in pods]
        self.moved = []

    def pods(self, label_selector=None):
        key, values = label_selector.split(" in ")
        values = values.strip("()").split(",")
        return [p for p in self.pods_now if p["metadata"]["labels"].get(key) in values]

    def move(self, move):
        self.moved.append(move["name"])
        self.pods_now = [p for p in self.pods_now if p["metadata"]["name"] != move["name"]]
        kind, owner = move["owner"].split("/")
        self.pods_now.append(pod(move["name"] + "-new", "a-w1", kind=kind, owner=owner, uid="new-" + move["name"]))


PARAMS = {"room": "room_a", "rooms": ROOMS, "home_label": "twinroom.io/home-room", "batch": 2, "pause": 0,
          "timeout": 5}


def test_run_moves_in_batches_and_a_second_run_changes_nothing():
    cluster = FakeCluster([pod("web-1-x", "b-w1"), pod("web-2-x", "b-w2", owner="web-2"), pod("web-1-y", "a-w1")])
    result = failback.run_failback(PARAMS, cluster=cluster, sleep=lambda s: None)
    assert (result["changed"], result["batches"], cluster.moved) == (True, 1, ["web-1-x", "web-2-x"])
    assert [m["name"] for m in result["moved"]] == ["web-1-x", "web-2-x"] and result["not_running"] == []
    again = failback.run_failback(PARAMS, cluster=cluster, sleep=lambda s: None)
    assert (again["changed"], again["moves"]) == (False, [])


def test_check_mode_moves_nothing():
    cluster = FakeCluster([pod("web-1-x", "b-w1")])
    result = failback.run_failback(PARAMS, check_mode=True, cluster=cluster, sleep=lambda s: None)
    assert result["changed"] is True and len(result["moves"]) == 1 and cluster.moved == []


def test_a_batch_that_does_not_come_back_stops_the_failback():
    class Stuck(FakeCluster):
        def move(self, move):
            self.moved.append(move["name"])
            self.pods_now = [p for p in self.pods_now if p["metadata"]["name"] != move["name"]]

    clock = iter(range(0, 1000, 3))
    cluster = Stuck([pod("web-1-x", "b-w1"), pod("web-2-x", "b-w2", owner="web-2"), pod("web-3-x", "b-w2", owner="web-3")])
    with pytest.raises(FailbackError) as caught:
        failback.run_failback(PARAMS, cluster=cluster, clock=lambda: next(clock), sleep=lambda s: None)
    assert caught.value.msg == ("pod shop/web-1-x, pod shop/web-2-x did not run again within 5s of being moved: "
                                "stopped failback there. Check the workloads and run again.")
    assert cluster.moved == ["web-1-x", "web-2-x"]  # the second batch was never started


def test_a_cluster_that_watches_is_waited_on_through_its_watch():
    """The replacement arrives as a watch event: failback lists once per batch wait, then follows the watch."""
    class Watching(FakeCluster):
        listed = 0

        def move(self, move):
            self.moved.append(move["name"])
            self.pods_now = [p for p in self.pods_now if p["metadata"]["name"] != move["name"]]

        def watched_pods(self, selector):
            def list_objects():
                self.listed += 1
                return self.pods(selector), "7"

            def watch_events(version, seconds):
                yield "ADDED", pod("web-1-new", "a-w2", owner="web-1", uid="new-web-1")
            return list_objects, watch_events

    cluster = Watching([pod("web-1-x", "b-w1")])
    result = failback.run_failback(dict(PARAMS, batch=1), cluster=cluster, sleep=lambda s: None)
    assert [m["name"] for m in result["moved"]] == ["web-1-x"] and result["not_running"] == []
    assert cluster.listed == 1


def test_a_vm_with_two_launcher_pods_during_a_migration_is_one_move():
    pods = [pod("virt-launcher-vm1-a", "b-w1", kind="VirtualMachineInstance", owner="vm1"),
            pod("virt-launcher-vm1-b", "b-w2", kind="VirtualMachineInstance", owner="vm1", uid="second")]
    assert [m["name"] for m in failback.plan(pods, ROOMS, "room_a")] == ["vm1"]


def migration(phase, uid="mig-uid", **state):
    return {"metadata": {"name": "failback-vm1-x", "uid": uid},
            "status": {"phase": phase, "migrationState": dict({"migrationUid": uid}, **state)}}


def vmi_on(node, **state):
    return {"status": {"nodeName": node, "migrationState": dict({"migrationUid": "mig-uid"}, **state)}}


@pytest.mark.parametrize("found, expected", [
    ((migration("Running"), vmi_on("b-w1")), None),
    ((migration("Succeeded"), vmi_on("a-w2")), "home"),
    ((migration("Succeeded"), vmi_on("b-w2")), "away"),
    ((migration("Failed"), vmi_on("b-w1")), "failed"),
    ((None, vmi_on("b-w1")), "failed"),
], ids=["running", "home", "away", "failed", "gone"])
def test_a_live_migrated_vm_is_back_once_its_migration_succeeded_on_a_home_node(found, expected):
    assert failback.migration_landed(found[0], found[1], ROOMS, "room_a") == expected


def test_the_report_of_a_migration_takes_the_reason_of_this_migration_and_its_duration():
    vmi = vmi_on("b-w1", failed=True, failureReason="link cut", startTimestamp="2026-12-05T10:00:01Z",
                 endTimestamp="2026-12-05T10:00:31Z")
    failed = failback.migration_report(migration("Failed"), vmi)
    assert failed == {"node": "b-w1", "reason": "link cut", "seconds": 30.0}
    other = failback.migration_report(migration("Failed"), {"status": {"nodeName": "b-w1", "migrationState": {
        "migrationUid": "an-older-one", "failureReason": "not this one"}}})
    assert other == {"node": "b-w1", "reason": "KubeVirt gives no reason: see the events of the migration",
                     "seconds": None}


class MigratingCluster(FakeCluster):
    """A VM's launcher pod away from home; moving it creates a migration that ends as ``outcome`` says."""

    def __init__(self, pods, outcome):
        super().__init__(pods)
        self.outcome, self.reads = outcome, 0

    def move(self, move):
        self.moved.append(move["name"])
        return "failback-%s-x" % move["name"]

    def migration(self, move):
        self.reads += 1
        if self.reads < 3:
            return migration("Running"), vmi_on("b-w1", startTimestamp="2026-12-05T10:00:01Z")
        return self.outcome


def test_a_vm_is_live_migrated_home_and_reported_with_its_migration_time():
    cluster = MigratingCluster([pod("virt-launcher-vm1-abc", "b-w1", kind="VirtualMachineInstance", owner="vm1")],
                               (migration("Succeeded"), vmi_on("a-w2", startTimestamp="2026-12-05T10:00:01Z",
                                                               endTimestamp="2026-12-05T10:00:09Z", completed=True)))
    result = failback.run_failback(PARAMS, cluster=cluster, sleep=lambda s: None)
    assert cluster.moved == ["vm1"] and cluster.reads == 3
    assert [(m["name"], m["migration"], m["now_on"], m["migration_seconds"]) for m in result["moved"]] == [
        ("vm1", "failback-vm1-x", "a-w2", 8.0)]
    assert result["failed_migrations"] == [] and result["not_running"] == []


def test_a_failed_live_migration_stops_the_failback_with_kubevirts_reason_and_where_the_vm_runs():
    cluster = MigratingCluster([pod("virt-launcher-vm1-abc", "b-w1", kind="VirtualMachineInstance", owner="vm1"),
                                pod("virt-launcher-vm2-abc", "b-w1", kind="VirtualMachineInstance", owner="vm2")],
                               (migration("Failed"), vmi_on("b-w1", failed=True, failureReason="not complete after 30s")))
    with pytest.raises(FailbackError) as caught:
        failback.run_failback(dict(PARAMS, batch=1), cluster=cluster, sleep=lambda s: None)
    assert caught.value.msg == (
        "live migration of vm shop/vm1 back to room_a failed (not complete after 30s); it keeps running on b-w1: "
        "stopped failback there. Check the link between the rooms and the migration's events, and run again.")
    assert cluster.moved == ["vm1"]  # vm2's batch was never started


def test_a_migration_still_under_way_at_the_timeout_is_named_as_such_not_as_a_vm_that_does_not_run():
    class Slow(MigratingCluster):
        def migration(self, move):
            return migration("Running"), vmi_on("b-w1", startTimestamp="2026-12-05T10:00:01Z")

    clock = iter(range(0, 1000, 3))
    cluster = Slow([pod("virt-launcher-vm1-abc", "b-w1", kind="VirtualMachineInstance", owner="vm1")], None)
    with pytest.raises(FailbackError) as caught:
        failback.run_failback(PARAMS, cluster=cluster, clock=lambda: next(clock), sleep=lambda s: None)
    assert caught.value.msg == (
        "live migration of vm shop/vm1 (failback-vm1-x) still under way after 5s: stopped failback there; the VM "
        "keeps running and its migration ends on its own (kubectl get vmim -n <namespace> <migration>). For large "
        "VMs raise failback_timeout, then run again.")
