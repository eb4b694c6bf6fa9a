"""A live migration that cannot complete, on the lab: recover.yml's failback live-migrates a VM home, the link
between the rooms is cut while its memory is on the way, and the migration must fail with a clear error while the
VM keeps running where it was, its guest never rebooted and never run twice.

The VM is homed in the room holding the datastore primary (so that room's API server, which recover.yml asks, keeps
answering through the cut) and started in the other room (the home room's VM node cordoned meanwhile). A
MigrationPolicy for the test's namespace allows 8 MiB/s and 30 s per GiB: the guest's 512 MiB take about 70 MB
and 9 s to send, within the 15 s the policy allows, unless the link is cut. The successful failback migration runs
in test_failover_vms.py, after an automatic failover.

Real: KubeVirt's virt-controller (the migration, its target pod, the hand-off, failing the migration), the
MigrationPolicy matching, kube-scheduler, recover.yml and twinroom.ha.failback, QEMU's live migration between two
nodes over the lab's inter-room link. Stand-ins: kwok runs the launcher pods, roles/kubevirt/files/
virt_handler_standin.py does virt-handler's and virt-launcher's part with QEMU.
"""
import sys
import threading
import time
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from labutil import wait_for
from playbook import run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill, guests, topology, vms  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

NAMESPACE = "twinroom-drill-migrate"
POLICY = "twinroom-drill-migrate"
SLOW = {"twinroom.io/drill": "slow-migration"}
SCHEDULABLE = "kubevirt.io/schedulable=true"
ZONE_LABEL = "topology.kubernetes.io/zone"


def vm_nodes(core):
    """{zone: the node that takes VMs there} (the nodes the virt-handler stand-in labelled schedulable)."""
    return dict((node.metadata.labels[ZONE_LABEL], node.metadata.name)
                for node in core.list_node(label_selector=SCHEDULABLE, _request_timeout=10).items)


@pytest.fixture
def away_from_home(lab_restored):  # pylint: disable=unused-argument
    """(home room, its VM node, the other room's VM node): vm-a homed in the room of the datastore primary, running
    in the other room; the slow MigrationPolicy in place. Removed afterwards, once the lab is whole again."""
    home = drill.primary_room(drill.datastore_roles())
    zone = drill.ZONE[home]
    core, custom = vms.apis(drill.KUBECONFIG, zone)
    nodes = vm_nodes(core)
    home_node, away_node = nodes[zone], nodes[drill.ZONE[drill.OTHER[home]]]
    try:
        core.patch_node(home_node, {"spec": {"unschedulable": True}})
        try:
            vms.deploy(drill.KUBECONFIG, zone, NAMESPACE, {"vm-a": zone}, memory="512Mi", timeout=180)
            wait_for(lambda: vms.running_in(vms.vm_state(drill.KUBECONFIG, zone, NAMESPACE), [away_node]), 180,
                     "vm-a Running on %s" % away_node)
        finally:
            core.patch_node(home_node, {"spec": {"unschedulable": False}})
        core.patch_namespace(NAMESPACE, {"metadata": {"labels": SLOW}})
        custom.create_cluster_custom_object("migrations.kubevirt.io", "v1alpha1", "migrationpolicies", {
            "apiVersion": "migrations.kubevirt.io/v1alpha1", "kind": "MigrationPolicy", "metadata": {"name": POLICY},
            "spec": {"bandwidthPerMigration": "8Mi", "completionTimeoutPerGiB": 30,
                     "selectors": {"namespaceSelector": SLOW}}})
        yield home, home_node, away_node
    finally:  # also when the set-up failed: the lab as it was, its namespace and policy gone
        drill.lab("restore-link")
        core, custom = vms.apis(drill.KUBECONFIG, drill.ZONE[drill.primary_room(drill.datastore_roles())])
        try:
            custom.delete_cluster_custom_object("migrations.kubevirt.io", "v1alpha1", "migrationpolicies", POLICY)
        except ApiException as exc:
            if exc.status != 404:
                raise
        vms.remove(drill.KUBECONFIG, drill.ZONE[drill.primary_room(drill.datastore_roles())], NAMESPACE,
                   drill.STATE / "vm-disks")


def started_migration(custom):
    """The VMI's migration state once a failback migration of it has started (its start recorded), else None."""
    migrations = custom.list_namespaced_custom_object("kubevirt.io", "v1", NAMESPACE, "virtualmachineinstancemigrations",
                                                      _request_timeout=10)["items"]
    vmi = custom.get_namespaced_custom_object("kubevirt.io", "v1", NAMESPACE, "virtualmachineinstances", "vm-a",
                                              _request_timeout=10)
    state = (vmi.get("status") or {}).get("migrationState") or {}
    uids = [m["metadata"]["uid"] for m in migrations if m["metadata"]["name"].startswith("failback-vm-a-")]
    return state if state.get("migrationUid") in uids and state.get("startTimestamp") else None


def test_a_migration_cut_by_the_link_fails_and_the_vm_keeps_running_where_it_was(away_from_home):  # pylint: disable=redefined-outer-name
    home, home_node, away_node = away_from_home
    core, custom = vms.apis(drill.KUBECONFIG, drill.ZONE[home])
    containers = dict((node.name, node.container) for node in topology.load().room_nodes()
                      if node.name in (home_node, away_node))
    before = vms.vm_state(drill.KUBECONFIG, drill.ZONE[home], NAMESPACE)["vm-a"]
    console = guests.console(containers[away_node], NAMESPACE, "vm-a")
    assert console is not None and console["ready"], console

    result = {}
    failback = {"lost_room": home, "failback": True, "failback_batch": 1}
    recover = threading.Thread(target=lambda: result.update(run=run_playbook(
        "playbooks/recover.yml", drill.INVENTORY, extra_vars=failback)), daemon=True)
    watch = guests.GuestWatch(containers.values(), interval=1.0).start()
    try:
        recover.start()
        state = wait_for(lambda: started_migration(custom), 240, "the failback's migration of vm-a to start")
        time.sleep(2)  # memory on the way
        drill.lab("cut-link")
        try:
            time.sleep(25)  # past the policy's 15 s: the source gives up while the link is cut
        finally:
            drill.lab("restore-link")
        recover.join(300)
        assert not recover.is_alive(), "recover.yml did not end within 300 s of the link coming back"
        time.sleep(3)  # the guest keeps counting where it was
    finally:
        watch.stop()
    run = result["run"]
    output = " ".join((run.stdout + run.stderr).split())
    print("migration %s started %s; recover.yml rc %d; guest watch %d samples, pairs %d, violations %s"
          % (state["migrationUid"], state["startTimestamp"], run.returncode, watch.samples, len(watch.pairs),
             watch.violations))
    assert run.returncode != 0, "recover.yml succeeded though the migration was cut"
    expected = ("live migration of vm %s/vm-a back to %s failed (live migration of twinroom-vm:%s/vm-a to "
                % (NAMESPACE, home, NAMESPACE))
    assert expected in output, output[-3000:]
    assert ("did not complete (active: not complete after 15s); the guest keeps running on the source (QEMU pid"
            in output), output[-3000:]
    assert ("); it keeps running on %s: stopped failback there. Check the link between the rooms and the migration's "
            "events, and run again." % away_node) in output, output[-3000:]

    # Where it was, the same VMI, one launcher pod, one QEMU process; its guest not rebooted and still counting.
    after = vms.vm_state(drill.KUBECONFIG, drill.ZONE[home], NAMESPACE)["vm-a"]
    assert (after[0], after[1], after[2]) == ("Running", away_node, before[2]), after
    wait_for(lambda: [(p[1], p[2], p[3]) for p in vms.vm_state(drill.KUBECONFIG, drill.ZONE[home], NAMESPACE)["vm-a"][3]]
             == [(away_node, "Running", False)], 60, "only the source's launcher pod")
    migration = custom.list_namespaced_custom_object("kubevirt.io", "v1", NAMESPACE,
                                                     "virtualmachineinstancemigrations", _request_timeout=10)["items"]
    assert [m["status"]["phase"] for m in migration] == ["Failed"], migration
    assert guests.guests_by_node(containers.values()) == {containers[home_node]: {},
                                                          containers[away_node]: {"%s/vm-a" % NAMESPACE: 1}}
    now = guests.console(containers[away_node], NAMESPACE, "vm-a")
    assert now["boot_id"] == console["boot_id"] and now["count"] > console["count"], (console, now)
    assert watch.violations == []
    assert watch.samples >= 10, "the guest watch read too rarely to be evidence: %s" % watch.errors[:3]
