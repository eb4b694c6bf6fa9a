"""The lab's virt-handler stand-in (lab/twinroom_lab/virt_handler_standin.py): which VMIs it reports
running, the patch it sends, and the kubeconfig it reads. The lab test with KubeVirt's own virt-controller
is tests/integration/lab/test_failover_vms.py."""
import base64
import io
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "lab" / "twinroom_lab" / "virt_handler_standin.py"
_spec = importlib.util.spec_from_file_location("virt_handler_standin", SCRIPT)
standin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(standin)


def vmi(name, phase, node, deleting=False, transitions=None):
    meta = {"namespace": "ns", "name": name, "resourceVersion": "42", "uid": "uid-" + name}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-22T01:00:00Z"
    status = {"phase": phase, "nodeName": node}
    if transitions is not None:
        status["phaseTransitionTimestamps"] = transitions
    return {"metadata": meta, "status": status}


def test_the_patch_appends_running_keeps_earlier_phases_and_is_bound_to_the_version_read():
    earlier = [{"phase": "Pending", "phaseTransitionTimestamp": "t1"},
               {"phase": "Scheduling", "phaseTransitionTimestamp": "t2"},
               {"phase": "Scheduled", "phaseTransitionTimestamp": "t3"}]
    patch = standin.running_patch(vmi("a", "Scheduled", "a-w1", transitions=earlier), "t4")
    assert patch == {"metadata": {"resourceVersion": "42"},
                     "status": {"phase": "Running", "selinuxContext": "none",
                                "phaseTransitionTimestamps": earlier + [{"phase": "Running",
                                                                         "phaseTransitionTimestamp": "t4"}]}}


def test_a_stale_running_transition_is_replaced_not_doubled():
    patch = standin.running_patch(vmi("a", "Scheduled", "a-w1",
                                      transitions=[{"phase": "Running", "phaseTransitionTimestamp": "old"}]), "new")
    assert patch["status"]["phaseTransitionTimestamps"] == [{"phase": "Running", "phaseTransitionTimestamp": "new"}]


def kubeconfig(tmp_path, drop=None):
    lines = {"server": "https://10.77.1.10:6443",
             "certificate-authority-data": base64.b64encode(b"CA").decode(),
             "client-certificate-data": base64.b64encode(b"CERT").decode(),
             "client-key-data": base64.b64encode(b"KEY").decode()}
    lines.pop(drop, None)
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nclusters:\n  - name: room\n    cluster:\n" +
                    "".join("      %s: %s\n" % item for item in lines.items()))
    return path


def test_reads_server_and_embedded_certificates_from_kwoks_kubeconfig(tmp_path):
    found = standin.read_kubeconfig(kubeconfig(tmp_path))
    assert found["server"] == "https://10.77.1.10:6443"
    assert base64.b64decode(found["client-key-data"]) == b"KEY"


def test_a_kubeconfig_without_embedded_data_is_refused_by_name(tmp_path):
    path = kubeconfig(tmp_path, drop="client-key-data")
    with pytest.raises(SystemExit) as raised:
        standin.read_kubeconfig(path)
    assert str(raised.value) == ("%s: no client-key-data (expected a kubeconfig with embedded certificate data)"
                                 % path)


# --- with guests (--guest-dir): one QEMU guest per VMI, Running only once it is ready --------------------------

def guest(alive=True, ready=False):
    return {"alive": alive, "ready": ready}


def names(found):
    return [v["metadata"]["name"] for v in found]


def test_a_scheduled_vmi_gets_a_guest_and_is_reported_running_only_once_the_guest_is_ready():
    vmis = [vmi("a", "Scheduled", "a-w2")]
    assert names(standin.hypervisor_plan(vmis, "a-w2", {})["start"]) == ["a"]
    booting = standin.hypervisor_plan(vmis, "a-w2", {"uid-a": guest(ready=False)})
    assert (booting["start"], booting["running"], booting["failed"], booting["stop"]) == ([], [], [], [])
    ready = standin.hypervisor_plan(vmis, "a-w2", {"uid-a": guest(ready=True)})
    assert names(ready["running"]) == ["a"] and ready["start"] == []


def test_a_running_vmi_with_its_guest_alive_is_left_alone():
    plan = standin.hypervisor_plan([vmi("a", "Running", "a-w2")], "a-w2", {"uid-a": guest(ready=True)})
    assert plan == {"start": [], "running": [], "failed": [], "stop": []}


def test_a_dead_guest_or_a_running_vmi_without_one_fails_the_vmi():
    vmis = [vmi("a", "Running", "a-w2"), vmi("b", "Scheduled", "a-w2"), vmi("c", "Running", "a-w2")]
    plan = standin.hypervisor_plan(vmis, "a-w2", {"uid-a": guest(alive=False, ready=True), "uid-b": guest(alive=False)})
    assert names(plan["failed"]) == ["a", "b", "c"]
    assert plan["start"] == [] and plan["stop"] == []


def test_the_guest_of_a_vmi_gone_deleted_finished_or_elsewhere_is_stopped():
    vmis = [vmi("b", "Running", "a-w2", deleting=True), vmi("c", "Failed", "a-w2"), vmi("d", "Running", "b-w2"),
            vmi("e", "Running", "a-w2")]
    guests = dict(("uid-" + n, guest(ready=True)) for n in "abcde")
    plan = standin.hypervisor_plan(vmis, "a-w2", guests)
    assert plan["stop"] == ["uid-a", "uid-b", "uid-c", "uid-d"]
    assert plan["start"] == plan["running"] == plan["failed"] == []


def test_a_pvc_disk_is_one_file_per_claim_the_same_in_both_rooms():
    spec = {"volumes": [{"name": "root", "persistentVolumeClaim": {"claimName": "vm-a-root"}},
                        {"name": "cloudinit", "cloudInitNoCloud": {}}]}
    found = standin.disk_paths({"metadata": {"namespace": "vms", "name": "vm-a"}, "spec": spec}, "/srv/disks")
    assert found == {"vm-a-root": "/srv/disks/vms_vm-a-root.raw"}


def test_the_failed_patch_is_bound_to_the_version_read():
    patch = standin.failed_patch(vmi("a", "Running", "a-w2", transitions=[
        {"phase": "Running", "phaseTransitionTimestamp": "t1"}]), "t2")
    assert patch == {"metadata": {"resourceVersion": "42"},
                     "status": {"phase": "Failed", "phaseTransitionTimestamps": [
                         {"phase": "Running", "phaseTransitionTimestamp": "t1"},
                         {"phase": "Failed", "phaseTransitionTimestamp": "t2"}]}}


# --- live migration: the nodes' part of KubeVirt's protocol ---------------------------------------------------

def migrating(name="m", node="b-w2", target="a-w2", **state):
    found = vmi(name, "Running", node)
    found["metadata"]["labels"] = {standin.MIGRATION_TARGET_LABEL: target}
    found["status"]["migrationState"] = dict({"migrationUid": "mig", "sourceNode": node, "targetNode": target},
                                             **state)
    return found


def waiting(migration="mig", port=49152, alive=True, arrived=False, advertised=False):
    return {"migration": migration, "port": port, "alive": alive, "arrived": arrived, "advertised": advertised}


def target_plan(targeted, incoming=None, recent=()):
    return standin.migration_plan(targeted, [], "a-w2", "10.77.0.12", incoming or {}, set(), recent)


def test_the_target_prepares_an_incoming_qemu_then_publishes_its_address_then_takes_the_guest_over():
    plan = target_plan([migrating()])
    assert [v["metadata"]["name"] for v in plan["prepare"]] == ["m"] and plan["abandon"] == []
    # Started, address not published yet (or another address, or not this port): publish.
    plan = target_plan([migrating()], {"uid-m": waiting()})
    assert [(v["metadata"]["name"], port) for v, port in plan["advertise"]] == [("m", 49152)]
    plan = target_plan([migrating(targetNodeAddress="10.77.0.12", targetDirectMigrationNodePorts={"49153": 0})],
                       {"uid-m": waiting()})
    assert [port for _v, port in plan["advertise"]] == [49152]
    # Published once: not again, though a listing from before does not show it yet.
    assert target_plan([migrating()], {"uid-m": waiting(advertised=True)})["advertise"] == []
    # Published: wait. The guest runs here now: take over.
    published = migrating(targetNodeAddress="10.77.0.12", targetDirectMigrationNodePorts={"49152": 0})
    assert target_plan([published], {"uid-m": waiting()}) == {
        "prepare": [], "advertise": [], "take_over": [], "abandon": [], "send": []}
    assert [v["metadata"]["name"] for v in target_plan([published], {"uid-m": waiting(arrived=True)})["take_over"]] \
        == ["m"]


@pytest.mark.parametrize("targeted, why", [
    ([], "the VMI is not migrating here any more"),
    ([migrating(failed=True)], "the migration failed"),
    ([migrating(completed=True)], "the migration completed"),
    ([migrating(target="b-w1")], "another node is the target"),
    ([migrating(migrationUid="mig-2")], "a newer migration of the same VMI"),
])
def test_an_incoming_qemu_whose_migration_ended_or_went_elsewhere_is_stopped(targeted, why):
    plan = target_plan(targeted, {"uid-m": waiting()})
    assert (plan["abandon"], plan["prepare"], plan["take_over"]) == (["uid-m"], [], []), why


def test_a_target_does_not_prepare_twice_for_a_vmi_it_has_just_taken_over():
    """The listing may still show the migration in flight for a moment after the take-over."""
    assert target_plan([migrating()], recent={"uid-m"})["prepare"] == []


def test_a_vmi_already_on_this_node_or_not_running_gets_no_incoming_qemu():
    assert target_plan([migrating(node="a-w2")])["prepare"] == []
    not_running = migrating()
    not_running["status"]["phase"] = "Failed"
    assert target_plan([not_running])["prepare"] == []


def source_plan(vmis, sending=(), recent=()):
    return standin.migration_plan([], vmis, "b-w2", "10.77.0.22", {}, set(sending), recent)["send"]


def test_the_source_sends_once_the_target_has_published_and_no_start_is_recorded():
    ready = dict(targetNodeAddress="10.77.0.12", targetDirectMigrationNodePorts={"49152": 0})
    assert [v["metadata"]["name"] for v in source_plan([migrating(**ready)])] == ["m"]
    assert source_plan([migrating()]) == []                                          # target not ready
    assert source_plan([migrating(startTimestamp="t", **ready)]) == []              # started already
    assert source_plan([migrating(**ready)], sending={"uid-m"}) == []               # being sent
    assert source_plan([migrating(failed=True, **ready)]) == []
    assert source_plan([migrating(node="a-w1", **ready)]) == []                     # not on this node


def test_a_guest_being_migrated_out_is_neither_failed_nor_stopped():
    on_node = [vmi("m", "Running", "b-w2")]
    assert standin.hypervisor_plan(on_node, "b-w2", {}, away={"uid-m"}) == {
        "start": [], "running": [], "failed": [], "stop": []}
    assert standin.hypervisor_plan(on_node, "b-w2", {"uid-m": {"alive": True, "ready": True}}, away={"uid-m"}) == {
        "start": [], "running": [], "failed": [], "stop": []}


@pytest.mark.parametrize("config, memory, expected", [
    ({}, "1Gi", (None, 150.0)),                                                  # KubeVirt's defaults
    ({"bandwidthPerMigration": "64Mi", "completionTimeoutPerGiB": 800}, "512Mi", (64 * 1024 ** 2, 400.0)),
    ({"bandwidthPerMigration": "0", "completionTimeoutPerGiB": 1}, "128Mi", (None, 10.0)),  # at least 10 s
])
def test_migration_limits_come_from_the_configuration_handed_off_with_the_migration(config, memory, expected):
    found = migrating(migrationConfiguration=config)
    found["spec"] = {"domain": {"memory": {"guest": memory}}}
    assert standin.migration_limits(found) == expected


class RefusingApi:
    as_handler = {}

    def __init__(self, code):
        self.code = code

    def request(self, method, path, body=None, headers=None):
        raise standin.urllib.error.HTTPError(path, self.code, "refused", {}, io.BytesIO(b'{"message": "no"}'))


def test_a_refused_patch_is_logged_and_skipped_but_a_server_error_ends_the_round(capsys):
    target = vmi("a", "Scheduled", "a-w2")
    assert standin.patch_vmi(RefusingApi(422), target, {"status": {}}) is False
    assert "VMI ns/a: the API server refused an update (HTTP 422 refused)" in capsys.readouterr().out
    assert standin.patch_vmi(RefusingApi(409), target, {"status": {}}) is False
    for code in (500, 429):
        with pytest.raises(standin.urllib.error.HTTPError):
            standin.patch_vmi(RefusingApi(code), target, {"status": {}})


class UpdatingApi:
    """KubeVirt's VMI as the API server keeps it: updates (PUT) only, resourceVersion honoured, the requests kept."""

    as_handler = standin.handler_identity("kubevirt", "a-w2")

    def __init__(self, stored):
        self.stored = stored
        self.requests = []

    def request(self, method, path, body=None, headers=None):
        self.requests.append((method, path, headers))
        if method == "GET":
            return dict(self.stored)
        assert method == "PUT", method
        if body["metadata"]["resourceVersion"] != self.stored["metadata"]["resourceVersion"]:
            raise standin.urllib.error.HTTPError(path, 409, "Conflict", {}, io.BytesIO(b"{}"))
        self.stored = dict(body, metadata=dict(body["metadata"], resourceVersion="9"))
        return {}


def test_vmis_are_written_as_virt_handler_on_its_node():
    """KubeVirt's webhook puts back a VMI status written by anyone but its own service accounts."""
    assert standin.handler_identity("kubevirt", "a-w2") == {
        "Impersonate-User": "system:serviceaccount:kubevirt:kubevirt-handler",
        "Impersonate-Extra-authentication.kubernetes.io%2Fnode-name": "a-w2"}


def test_a_merge_patch_applied_to_the_vmi_removes_null_keys_and_keeps_the_rest():
    found = {"metadata": {"labels": {"a": "1", "b": "2"}, "resourceVersion": "7"}, "status": {"phase": "Scheduled"}}
    assert standin.merged(found, {"metadata": {"labels": {"b": None, "c": "3"}}, "status": {"phase": "Running"}}) == {
        "metadata": {"labels": {"a": "1", "c": "3"}, "resourceVersion": "7"}, "status": {"phase": "Running"}}
    assert found["metadata"]["labels"] == {"a": "1", "b": "2"}, "the listed VMI is not changed"


def test_an_update_without_a_version_is_made_again_on_the_vmi_read_anew():
    listed = vmi("a", "Running", "a-w2")
    listed["metadata"]["resourceVersion"] = "7"
    api = UpdatingApi(dict(listed, metadata=dict(listed["metadata"], resourceVersion="8")))
    assert standin.patch_vmi(api, listed, {"metadata": {"labels": {"x": "1"}}}) is True
    assert [method for method, _path, _headers in api.requests] == ["PUT", "GET", "PUT"]
    assert all(headers == api.as_handler for method, _path, headers in api.requests if method == "PUT")
    assert api.stored["metadata"]["labels"]["x"] == "1"


def test_an_update_decided_on_a_version_is_refused_when_the_vmi_changed():
    listed = vmi("a", "Scheduled", "a-w2")
    listed["metadata"]["resourceVersion"] = "7"
    api = UpdatingApi(dict(listed, metadata=dict(listed["metadata"], resourceVersion="8")))
    assert standin.patch_vmi(api, listed, standin.running_patch(listed, "t1")) is False
    assert [method for method, _path, _headers in api.requests] == ["PUT"]
    assert api.stored["status"]["phase"] == "Scheduled"


def test_a_guest_on_its_way_out_is_not_stopped_once_its_vmi_is_listed_on_the_target():
    """The target takes the VMI over as soon as its QEMU runs the guest, which can be before the source's migration
    thread has seen QEMU report the migration done: stopping the source then closed the QMP socket under the thread
    (OSError 9, the migration reported failed after it had completed)."""
    plan = standin.hypervisor_plan([], "a-w2", {"uid-a": guest(ready=True)}, away={"uid-a"})
    assert plan == {"start": [], "running": [], "failed": [], "stop": []}
    assert standin.hypervisor_plan([], "a-w2", {"uid-a": guest(ready=True)})["stop"] == ["uid-a"]
