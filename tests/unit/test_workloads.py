"""Which workloads of a lost room still wait to run in the surviving room."""
from ansible_collections.twinroom.ha.plugins.module_utils.workloads import workloads_waiting


def pod(name, node, kind="ReplicaSet", owner="web-1", phase="Running", ns="app", deleting=False, ready=None):
    meta = {"name": name, "namespace": ns, "ownerReferences": [{"kind": kind, "name": owner, "controller": True}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-21T16:00:00Z"
    ready = phase == "Running" if ready is None else ready
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase, "conditions": conditions}}


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


def test_a_running_pod_that_is_not_ready_does_not_count():
    now = [pod("web-b", "b-w1"), pod("web-new", "b-w2", ready=False),
           pod("db-0", "b-w1", kind="StatefulSet", owner="db")]
    assert workloads_waiting(BEFORE, now, LOST) == ["app/ReplicaSet/web-1: 1 of 2 running"]


def test_workloads_only_in_the_surviving_room_and_daemonsets_are_not_waited_for():
    before = [pod("api-b", "b-w2", owner="api-1"), pod("log-a", "a-w1", kind="DaemonSet", owner="log")]
    assert workloads_waiting(before, [], LOST) == []


def ready_at(p, when, start=None):
    p = dict(p, status=dict(p["status"], conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": when}]))
    if start:
        p["status"]["startTime"] = start
    return p


STARTED = 1795275600.0  # 2026-11-21T15:40:00Z


def test_timeline_is_when_the_last_needed_pod_was_ready():
    from ansible_collections.twinroom.ha.plugins.module_utils.workloads import workloads_timeline
    now = [ready_at(pod("web-b", "b-w1"), "2026-11-21T15:30:00Z"),          # never moved: ready long before
           ready_at(pod("web-new", "b-w2"), "2026-11-21T15:40:12Z"),
           ready_at(pod("db-0", "b-w1", kind="StatefulSet", owner="db"), "2026-11-21T15:40:20.5Z"),
           pod("api-b", "b-w2", owner="api-1")]
    assert workloads_timeline(BEFORE, now, LOST, STARTED) == [
        {"workload": "app/ReplicaSet/web-1", "pods": 2, "moved": 1, "running_after_s": 12.0},
        {"workload": "app/StatefulSet/db", "pods": 1, "moved": 1, "running_after_s": 20.0},
    ]


def test_timeline_marks_a_workload_still_short_and_falls_back_to_start_time():
    from ansible_collections.twinroom.ha.plugins.module_utils.workloads import workloads_timeline
    started_pod = pod("web-new", "b-w2")
    started_pod["status"]["startTime"] = "2026-11-21T15:40:03Z"  # Ready, but its transition time is missing
    now = [ready_at(pod("web-b", "b-w1"), "2026-11-21T15:30:00Z"), started_pod]
    assert workloads_timeline(BEFORE, now, LOST, STARTED) == [
        {"workload": "app/ReplicaSet/web-1", "pods": 2, "moved": 1, "running_after_s": 3.0},
        {"workload": "app/StatefulSet/db", "pods": 1, "moved": 1, "running_after_s": None},
    ]


def test_a_pod_already_terminating_before_the_failover_is_not_waited_for():
    """Its workload was being removed (a namespace being deleted when the room was lost): nothing will
    replace it, so waiting for it would never end."""
    before = BEFORE + [pod("gone-0", "a-w1", kind="StatefulSet", owner="gone", deleting=True)]
    assert workloads_waiting(before, [], LOST) == [
        "app/ReplicaSet/web-1: 0 of 2 running",
        "app/StatefulSet/db: 0 of 1 running",
    ]
