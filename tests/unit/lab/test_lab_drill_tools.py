"""Pure parts of the drill tools: the stand-in provisioner's PV, the never-twice count, the drill workloads."""
from kubernetes import client

from twinroom_lab import provisioner, twinwatch, workloads


def claim(mode=None):
    return client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data-db-000-0", namespace="twinroom-drill", uid="u1",
                                     annotations={provisioner.SELECTED_NODE: "a-w1"}),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], storage_class_name="twinroom-vm-replicated", volume_mode=mode,
            resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"})))


def test_stand_in_pv_is_bound_to_the_claim_and_reachable_from_both_rooms():
    pv = provisioner.pv_for(claim())
    assert pv.metadata.name == "pvc-u1"
    assert pv.spec.claim_ref.uid == "u1" and pv.spec.claim_ref.name == "data-db-000-0"
    assert (pv.spec.csi.driver, pv.spec.csi.fs_type, pv.spec.volume_mode) == ("linstor.csi.linbit.com", "ext4",
                                                                              "Filesystem")
    assert pv.spec.node_affinity is None
    assert pv.metadata.labels == {"twinroom.io/stand-in": "provisioner"}


def test_stand_in_pv_for_a_block_claim_has_no_filesystem():
    pv = provisioner.pv_for(claim("Block"))
    assert (pv.spec.volume_mode, pv.spec.csi.fs_type) == ("Block", None)


def pod(name, node, uid, owner_kind="StatefulSet", owner="db", phase="Running", deleting=False):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace="ns", uid=uid,
                                     deletion_timestamp="2026-11-21T18:00:00Z" if deleting else None,
                                     owner_references=[client.V1OwnerReference(
                                         api_version="v1", kind=owner_kind, name=owner, uid="o", controller=True)]),
        spec=client.V1PodSpec(node_name=node, containers=[]), status=client.V1PodStatus(phase=phase))


def test_an_instance_counts_as_live_only_on_a_running_node():
    views = {"room-a": [pod("db-0", "a-w1", "old")], "room-b": [pod("db-0", "b-w1", "new")]}
    assert twinwatch.live_instances(views, {"b-w1"}) == {"ns/StatefulSet/db-0": {("new", "b-w1")}}
    twice = twinwatch.live_instances(views, {"a-w1", "b-w1"})
    assert twice == {"ns/StatefulSet/db-0": {("old", "a-w1"), ("new", "b-w1")}}


def test_the_same_pod_seen_by_both_api_servers_counts_once_and_replicas_count_per_replicaset():
    same = pod("db-0", "b-w1", "u")
    views = {"room-a": [same, pod("web-x", "b-w1", "w", owner_kind="ReplicaSet", owner="web-5d8")], "room-b": [same]}
    assert twinwatch.live_instances(views, {"b-w1"}) == {"ns/StatefulSet/db-0": {("u", "b-w1")},
                                                         "ns/ReplicaSet/web-5d8": {("w", "b-w1")}}


def replicaset(name, replicas):
    return client.V1ReplicaSet(metadata=client.V1ObjectMeta(name=name, namespace="ns"),
                               spec=client.V1ReplicaSetSpec(replicas=replicas, selector=client.V1LabelSelector()))


def test_a_replicaset_may_run_as_many_pods_as_its_replicas_and_no_more():
    limits = twinwatch.replica_limits({"room-a": [replicaset("web-5d8", 2)], "room-b": [replicaset("web-5d8", 3)]})
    assert limits == {"ns/ReplicaSet/web-5d8": 3}
    assert twinwatch.limit_of("ns/ReplicaSet/web-5d8", limits) == 3
    assert twinwatch.limit_of("ns/ReplicaSet/gone", limits) is None
    assert twinwatch.limit_of("ns/StatefulSet/db-0", limits) == 1
    # Four live pods of a ReplicaSet of three, all seen in one listing: one too many.
    four = dict((uid, ("b-w1", "room-b", 100.0, 90)) for uid in "wxyz")
    assert twinwatch.over_limit(four, 3) == (4, 4)
    # The old pod was listed (room-a, until 95.0) before its replacement was created (at 96): apart, not counted.
    moved = {"old": ("a-w1", "room-a", 95.0, 80), "new": ("b-w1", "room-b", 100.0, 96)}
    assert twinwatch.over_limit(moved, 1) == (1, 2)


def test_terminating_or_pending_pods_are_not_live_and_vms_are_identities():
    views = {"room-a": [pod("db-0", "a-w1", "1", deleting=True), pod("db-1", "a-w1", "2", phase="Pending"),
                        pod("virt-launcher-vm1-x", "a-w1", "3", owner_kind="VirtualMachineInstance", owner="vm1")]}
    assert twinwatch.live_instances(views, {"a-w1"}) == {"ns/VM/vm1": {("3", "a-w1")}}


def test_drill_workloads_alternate_rooms_and_every_third_is_a_statefulset():
    assert workloads.specs(4) == [("StatefulSet", "db-000", "room_a"), ("Deployment", "web-001", "room_b"),
                                  ("Deployment", "web-002", "room_a"), ("StatefulSet", "db-003", "room_b")]


def test_a_pair_counts_as_apart_only_when_the_older_listing_ended_before_the_newer_pod_existed():
    # (node, view, listing end, created)
    old = ("a-w1", "room-a", 1000.4, 900)
    assert twinwatch.shown_apart(old, ("b-w1", "room-b", 1001.2, 1001))       # old listed before new existed
    assert not twinwatch.shown_apart(old, ("b-w1", "room-b", 1001.2, 1000))   # new created in old's listing second
    assert not twinwatch.shown_apart(old, ("b-w1", "room-a", 1001.2, 1001))   # one listing: both at once
    assert not twinwatch.shown_apart(("a-w1", "room-a", 1003.0, 1001), ("b-w1", "room-b", 1003.5, 1002))
    assert not twinwatch.shown_apart(old, ("b-w1", "room-b", 1001.2, None))


def test_evidence_keeps_the_listing_that_saw_each_instance():
    import datetime
    old, new = pod("db-0", "a-w1", "old"), pod("db-0", "b-w1", "new")
    old.metadata.creation_timestamp = datetime.datetime(2026, 11, 21, 22, 0, 0, tzinfo=datetime.timezone.utc)
    new.metadata.creation_timestamp = datetime.datetime(2026, 11, 21, 22, 0, 5, tzinfo=datetime.timezone.utc)
    evidence = twinwatch.instance_evidence({"room-a": [old], "room-b": [new]}, {"a-w1", "b-w1"},
                                           {"room-a": 1795298402.5, "room-b": 1795298406.0})
    assert evidence == {"ns/StatefulSet/db-0": {
        "old": ("a-w1", "room-a", 1795298402.5, 1795298400),
        "new": ("b-w1", "room-b", 1795298406.0, 1795298405),
    }}
    instances = list(evidence["ns/StatefulSet/db-0"].values())
    assert twinwatch.shown_apart(*instances)


def test_judge_counts_a_double_in_one_listing_at_once_and_a_merged_one_only_when_it_lasts():
    # Old pod seen by room-a's listing (ended 480.3), its replacement created at 480.x seen by room-b's (480.9):
    # the creation second cannot order them.
    pair = {"old": ("b-w1", "room-a", 480.3, 394), "new": ("a-w2", "room-b", 480.9, 480)}
    key = "ns/ReplicaSet/web-5d8"
    assert twinwatch.judge(key, pair, 1, single_view=False, suspected_before=set()) == "transient"
    assert twinwatch.judge(key, pair, 1, single_view=False,
                           suspected_before={(key, frozenset(pair))}) == "violation"
    assert twinwatch.judge(key, pair, 1, single_view=True, suspected_before=set()) == "violation"
    apart = {"old": ("b-w1", "room-a", 479.5, 394), "new": ("a-w2", "room-b", 480.9, 480)}
    assert twinwatch.judge(key, apart, 1, single_view=False, suspected_before=set()) == "apart"
    assert twinwatch.judge(key, {"only": ("a-w2", "room-b", 480.9, 480)}, 1, False, set()) is None


def test_per_view_excess_reads_each_listing_alone():
    views = {"room-a": [pod("web-x", "a-w1", "1", owner_kind="ReplicaSet", owner="web-5d8"),
                        pod("web-y", "a-w2", "2", owner_kind="ReplicaSet", owner="web-5d8")],
             "room-b": [pod("db-0", "b-w1", "3")]}
    limits = {"ns/ReplicaSet/web-5d8": 1}
    assert twinwatch.per_view_excess(views, {"a-w1", "a-w2", "b-w1"}, limits) == {"ns/ReplicaSet/web-5d8": "room-a"}
    assert twinwatch.per_view_excess(views, {"a-w1", "a-w2", "b-w1"}, {"ns/ReplicaSet/web-5d8": 2}) == {}


def sandbox(box_id, uid, name, labels, state="SANDBOX_READY", created=1700000000123456789):
    return {"id": box_id, "state": state, "createdAt": str(created), "labels": labels,
            "metadata": {"name": name, "namespace": "ns", "uid": uid}}


def test_a_node_runtime_counts_a_pod_the_api_no_longer_lists_by_its_sandbox_labels():
    boxes = [sandbox("s1", "gone-uid", "db-0", {"statefulset.kubernetes.io/pod-name": "db-0"}),
             sandbox("s2", "gone-rs", "web-5d8-abcde", {"pod-template-hash": "5d8"}),
             sandbox("s3", "no-owner", "lonely", {}),
             sandbox("s4", "stopped", "db-1", {"statefulset.kubernetes.io/pod-name": "db-1"}),
             sandbox("s5", "notready", "db-2", {"statefulset.kubernetes.io/pod-name": "db-2"}, state="SANDBOX_NOTREADY")]
    found = twinwatch.node_instances(boxes, {"s1", "s2", "s3", "s5"}, {}, {"ns": ["web-5d8", "api-77f"]})
    assert found == {"ns/StatefulSet/db-0": {"gone-uid": 1700000000}, "ns/ReplicaSet/web-5d8": {"gone-rs": 1700000000}}


def test_a_node_runtime_pod_the_api_lists_takes_its_api_identity_and_not_while_terminating():
    boxes = [sandbox("s1", "u1", "db-0", {}), sandbox("s2", "u2", "db-1", {})]
    by_uid = {"u1": pod("db-0", "a-w1", "u1"), "u2": pod("db-1", "a-w1", "u2", deleting=True)}
    assert twinwatch.node_instances(boxes, {"s1", "s2"}, by_uid, {}) == {"ns/StatefulSet/db-0": {"u1": 1700000000}}
