"""Which workloads of a lost room still wait to run in the surviving room."""
from ansible_collections.twinroom.ha.plugins.module_utils.workloads import workloads_waiting


def pod(name, node, kind="ReplicaSet", owner="web-1", phase="Running", ns="app", deleting=False):
    meta = {"name": name, "namespace": ns, "ownerReferences": [{"kind": kind, "name": owner, "controller": True}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-21T16:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase}}


BEFORE = [pod("web-a", "a-w1"), pod("web-b", "b-w1"),
          pod("db-0", "a-w2", kind="StatefulSet", owner="db"),
          pod("log-a", "a-w1", kind="DaemonSet", owner="log"),
          pod("api-b", "b-w2", owner="api-1")]
LOST = ["a-cp1", "a-w1", "a-w2"]


def test_right_after_the_loss_every_affected_controller_waits():
    assert workloads_waiting(BEFORE, BEFORE, LOST) == ["app/ReplicaSet/web-1: 1 of 2 running",
                                                       "app/StatefulSet/db: 0 of 1 running"]


def test_terminating_and_pending_replacements_do_not_count():
    now = [pod("web-b", "b-w1"), pod("web-new", "b-w2", phase="Pending"),
           pod("db-0", "a-w2", kind="StatefulSet", owner="db", deleting=True)]
    assert workloads_waiting(BEFORE, now, LOST) == ["app/ReplicaSet/web-1: 1 of 2 running",
                                                    "app/StatefulSet/db: 0 of 1 running"]


def test_done_when_everything_runs_in_the_surviving_room():
    now = [pod("web-b", "b-w1"), pod("web-new", "b-w2"), pod("db-0", "b-w1", kind="StatefulSet", owner="db"),
           pod("api-b", "b-w2", owner="api-1")]
    assert workloads_waiting(BEFORE, now, LOST) == []


def test_workloads_only_in_the_surviving_room_and_daemonsets_are_not_waited_for():
    before = [pod("api-b", "b-w2", owner="api-1"), pod("log-a", "a-w1", kind="DaemonSet", owner="log")]
    assert workloads_waiting(before, [], LOST) == []
