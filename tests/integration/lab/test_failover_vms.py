"""VMs through a room failover on the lab, with KubeVirt's own virt-controller.

Two VMs, built by twinroom.ha.vm's own builder (runStrategy Always, LiveMigrate, a home room each), with a
ReadWriteMany block PVC on the VM StorageClass. Real: virt-controller (VM -> VMI -> virt-launcher pod, and
the replacement of a VMI whose launcher pod is gone), kube-scheduler (the home-room affinity), the
PersistentVolume controller (binding). Stand-ins, at the hardware boundary: kwok reports the launcher pod
running (no container runtime), lab/twinroom_lab/virt_handler_standin.py boots a real QEMU guest (the lab's
test guest) for each VMI in the node it is scheduled on and reports the VMI running once the guest is ready (in
place of virt-handler and virt-launcher), and lab/twinroom_lab/provisioner.py creates each PV in place of
LINSTOR's CSI provisioner (no DRBD here); the guest's disk is one file both rooms' nodes see.

Nobody runs failover.yml: the real ansible-rulebook runs the collection's automatic failover
(extensions/eda/rulebooks/automatic_failover.yml, its event source twinroom.ha.room_watch configured by site.yml).
First the inter-room link is cut for twice the detection time with both rooms powered: an alarm, no failover. Then
the room holding the datastore primary loses power; the automatic failover must bring the VM that lived there up in
the other room, once, while the other VM keeps running untouched, and no VM may ever have two live launcher pods
(the drill's never-twice watch, every half second from before the cut to the end) and no VM may ever have two QEMU
processes over the nodes (lab/twinroom_lab/guests.py, read in the nodes themselves). recover.yml -e failback=true then
brings the room back and live-migrates the moved VM home: the same VMI, its guest not rebooted (same boot id, the
counter went on), one launcher pod and one QEMU process after, two QEMU processes only as the migration's source and
-incoming target within its window (that site.yml reports no change after a recovery is test_failover.py's check). The operator's own failover.yml
runs in test_failover.py, test_failover_ipmi.py and the refusal tests.
"""
import calendar
import sys
import time
from pathlib import Path

import pytest

from labutil import wait_for
from playbook import failed_tasks, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill, guests, topology, vms  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.twinwatch import TwinWatch  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

NAMESPACE = "twinroom-drill-vms"


def _epoch(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def apis(context):
    return vms.apis(drill.KUBECONFIG, context)


def vm_state(context):
    return vms.vm_state(drill.KUBECONFIG, context, NAMESPACE)


def containers():
    """{node name: its container} of every room node."""
    return dict((node.name, node.container) for node in topology.load().room_nodes())


def guests_now(where):
    """{vm name: [node names running a QEMU process of it]}, read in every room node (where: {node: container})."""
    found = {}
    for name, container in where.items():
        for vm, count in guests.node_guests(container).items():
            if vm.startswith(NAMESPACE + "/"):
                found.setdefault(vm.split("/", 1)[1], []).extend([name] * count)
    return found


def both_running(context, nodes):
    """vm_state(context) once both VMIs run on nodes, else None."""
    state = vm_state(context)
    return state if len(vms.running_in(state, nodes)) == 2 else None


@pytest.fixture
def homes():
    """{vm name: home zone}: vm-a homed in room-a, vm-b in room-b, each with its claim (vms.deploy: the lab's stand-in
    for the LINSTOR CSI provisioner creates their PVs once the scheduler has placed the launcher pods)."""
    wanted = {"vm-a": "room-a", "vm-b": "room-b"}
    vms.deploy(drill.KUBECONFIG, "room-a", NAMESPACE, wanted, memory="1Gi", anti_affinity_group="drill-pair",
               timeout=180)
    yield wanted
    vms.remove(drill.KUBECONFIG, drill.ZONE[drill.primary_room(drill.datastore_roles())], NAMESPACE,
               drill.STATE / "vm-disks")


def test_a_vm_fails_over_by_itself_to_the_other_room_and_never_runs_twice(homes, automatic_failover):  # pylint: disable=redefined-outer-name
    rulebook = automatic_failover
    where = containers()  # {node: its container}; the lab's topology does not change during the test
    nodes = drill.room_nodes()
    zone_room = {zone: room for room, zone in drill.ZONE.items()}
    # Each VM starts in its home room: the VM module's preferred node affinity, honoured by kube-scheduler.
    deadline, state = time.monotonic() + 240, None
    while not state and time.monotonic() < deadline:
        state = both_running("room-a", set().union(*nodes.values())) or time.sleep(1)
    if not state:
        pytest.fail("both VMIs not Running after 240 s (virt-controller, kube-scheduler, kwok, the stand-in): %s; "
                    "the stand-ins said last: %s" % (vm_state("room-a"), dict(
                        (container, drill.journal(container, "twinroom-virt-handler-standin")[-8:])
                        for container in where.values())))
    for name, zone in homes.items():
        assert state[name][1] in nodes[zone_room[zone]], "%s is not in its home room %s: %s" % (name, zone, state)
        assert [(p[2], p[3]) for p in state[name][3]] == [("Running", False)], state[name]
    # Running means a guest booted: one QEMU process per VM, in the node of its VMI, whose console says READY.
    before = guests_now(where)
    assert before == dict((name, [state[name][1]]) for name in homes), (before, state)
    boots = {}
    for name in homes:
        console = guests.console(where[state[name][1]], NAMESPACE, name)
        assert console is not None and console["ready"], (name, console)
        boots[name] = console["boot_id"]

    lost = drill.primary_room(drill.datastore_roles())
    survivor = drill.OTHER[lost]
    moved = next(name for name, zone in homes.items() if zone_room[zone] == lost)
    stayed = next(name for name in homes if name != moved)
    started = time.time()
    # The drill's never-twice watch: a VM is live where its launcher pod is Running, not terminating, on a
    # node whose container runs, in either room's view.
    watch = TwinWatch(drill.KUBECONFIG, list(drill.ZONE.values()), namespace=NAMESPACE, interval=0.5).start()
    guest_watch = guests.GuestWatch(where.values(), interval=1.0).start()
    try:
        # The link cut for twice the detection time, both rooms powered: each room's API server loses the other,
        # the watch raises an alarm and nobody is failed over.
        drill.lab("cut-link")
        try:
            time.sleep(20)
        finally:
            drill.lab("restore-link")
        time.sleep(10)  # the standby catches up and the leases are renewed before the room goes
        assert drill.reports_since(lost, started) == [] and drill.reports_since(survivor, started) == [], \
            "a cut link was failed over"
        assert "The link between the rooms is cut" in " ".join(rulebook.output().split()), \
            "the watch raised no alarm for the cut link: %s" % rulebook.output()[-3000:]
        assert "PLAY [Start the failover clock]" not in rulebook.output(), rulebook.output()[-3000:]

        # Power lost in the room holding the datastore primary and VM's home; nobody starts anything.
        cut_at, cut = time.time(), time.monotonic()
        drill.lab("power-off-room", lost, "--bmc", "answering")
        report = drill.wait_for_report(lost, cut_at)
        assert report is not None, "no automatic failover of %s within 300 s: %s" % (lost, rulebook.output()[-3000:])
        after = wait_for(lambda: both_running(drill.ZONE[survivor], nodes[survivor]), 60,
                         "both VMIs Running in %s after the automatic failover" % survivor)
        running_after = time.monotonic() - cut
        # The moved VM's guest booted again in the survivor's node, from the disk the lost one wrote to.
        moved_console = wait_for(lambda: guests.console(where[after[moved][1]], NAMESPACE, moved), 60,
                                 "the console of %s's new guest" % moved)
        time.sleep(10)  # the watch keeps running, the room stays lost: no second failover
    finally:
        watch.stop()
        guest_watch.stop()
    print("never-twice watch: %d samples, unanswered %s, violations %s, shown apart %s"
          % (watch.samples, watch.unanswered, watch.violations, watch.apart))
    print("guest watch (QEMU processes in the nodes): %d samples, violations %s, errors %s"
          % (guest_watch.samples, guest_watch.violations, guest_watch.errors[:3]))
    timeline = [item for item in report["timeline"] if item["workload"].endswith("/" + moved)]
    print("automatic failover of %s: failover.yml started %.1f s after the power cut (its report's start), both VMIs "
          "Running in %s %.1f s after the power cut (this test's clock, asked every second); failover.yml's own RTO %s s, phases "
          "%s, %s" % (lost, float(report["started"]) - cut_at, survivor, running_after, report.get("rto_s"),
                      report.get("phases"), timeline))
    assert report["trigger"] == "room_watch", report
    # The decision it ran for, with its votes, in the report; the failover and the decision as Kubernetes Events.
    assert report["decision"]["method"] == "bmc-off", report["decision"]
    assert report["decision"]["votes"][survivor] == "lost", report["decision"]
    assert report["event_written"] is True, report.get("event_error")
    core, _custom = apis(drill.ZONE[survivor])
    failed_over = core.list_namespaced_event("kube-system", field_selector="reason=RoomFailedOver",
                                             _request_timeout=10).items
    assert report["event"] in ["kube-system/%s" % event.metadata.name for event in failed_over], report["event"]
    # The watch decided while no API server took writes (the survivor's waited for the datastore takeover): it
    # offers the decision's Event again until one does, every 3 s.
    wait_for(lambda: [event.message for event in core.list_namespaced_event(
        "kube-system", field_selector="reason=RoomFailoverDecided", _request_timeout=10).items
        if event.message.startswith("Failover of %s decided (bmc-off)." % lost)], 60,
        "the watch's RoomFailoverDecided Event in %s" % survivor)
    assert len(drill.reports_since(lost, cut_at)) == 1, drill.reports_since(lost, cut_at)
    assert watch.violations == []
    assert watch.samples >= 10, "the watch read too rarely to be evidence"
    assert guest_watch.violations == []
    assert guest_watch.samples >= 10, "the guest watch read too rarely to be evidence: %s" % guest_watch.errors[:3]
    assert guests_now(where) == {moved: [after[moved][1]], stayed: [state[stayed][1]]}
    assert moved_console["ready"] and moved_console["boot_id"] != boots[moved], moved_console
    assert boots[moved] in (moved_console["disk_last"] or ""), \
        "the new guest of %s did not find the lost guest's last write on its disk: %s" % (moved, moved_console)
    assert guests.console(where[state[stayed][1]], NAMESPACE, stayed)["boot_id"] == boots[stayed]
    assert after[moved][2] != state[moved][2], "the VMI of %s was not replaced" % moved
    assert after[stayed][2] == state[stayed][2], "%s, in the surviving room, was disturbed" % stayed
    assert "VirtualMachineInstance/%s" % moved in rulebook.output(), "failover.yml did not wait for %s" % moved
    _core, custom = apis(drill.ZONE[survivor])
    vm = custom.get_namespaced_custom_object("kubevirt.io", "v1", NAMESPACE, "virtualmachines", moved)
    assert vm["status"].get("printableStatus") == "Running", vm["status"]

    # recover.yml with failback: the room comes back and the moved VM is live-migrated home, its guest not rebooted.
    last = guests.console(where[after[moved][1]], NAMESPACE, moved)
    back_watch = guests.GuestWatch(where.values(), interval=1.0).start()
    try:
        recover = run_playbook("playbooks/recover.yml", drill.INVENTORY,
                               extra_vars={"lost_room": lost, "failback": True, "failback_batch": 1})
    finally:
        back_watch.stop()
    assert recover.returncode == 0, failed_tasks(recover)
    home = wait_for(lambda: both_running(drill.ZONE[lost], set().union(*nodes.values())), 60, "both VMIs Running")
    assert home[moved][1] in nodes[lost], "%s was not moved home to %s: %s" % (moved, lost, home)
    assert home[moved][2] == after[moved][2], "%s was restarted, not live-migrated: a new VMI" % moved
    assert [(p[1], p[2], p[3]) for p in home[moved][3]] == [(home[moved][1], "Running", False)], home[moved]
    migrated = guests.console(where[home[moved][1]], NAMESPACE, moved)
    assert migrated["boot_id"] == moved_console["boot_id"], "the guest rebooted: %s, then %s" % (last, migrated)
    assert migrated["count"] > last["count"] and migrated["uptime"] > last["uptime"], (last, migrated)
    assert guests_now(where) == {moved: [home[moved][1]], stayed: [state[stayed][1]]}
    assert guests.console(where[state[stayed][1]], NAMESPACE, stayed)["boot_id"] == boots[stayed]
    _core, custom = apis(drill.ZONE[lost])
    vmi = custom.get_namespaced_custom_object("kubevirt.io", "v1", NAMESPACE, "virtualmachineinstances", moved)
    migration = vmi["status"]["migrationState"]
    assert migration.get("completed") is True and not migration.get("failed"), migration
    window = (_epoch(migration["startTimestamp"]) - 2, _epoch(migration["endTimestamp"]) + 3)
    sent = [line for line in drill.journal(where[after[moved][1]], "twinroom-virt-handler-standin")
            if "guest sent to %s" % home[moved][1] in line and "%s/%s" % (NAMESPACE, moved) in line]
    print("failback: %s live-migrated %s -> %s, %s to %s by the nodes' clocks; %s; guest watch %d samples, "
          "migration pairs %s, violations %s"
          % (moved, after[moved][1], home[moved][1], migration["startTimestamp"], migration["endTimestamp"],
             sent[-1:] or "no stand-in line", back_watch.samples, back_watch.pairs, back_watch.violations))
    assert back_watch.violations == []
    assert back_watch.samples >= 10, "the guest watch read too rarely to be evidence: %s" % back_watch.errors[:3]
    assert all(vm == "%s/%s" % (NAMESPACE, moved) and window[0] <= at <= window[1] for at, vm, _where in back_watch.pairs), \
        "two QEMU processes outside the migration's window %s: %s" % (window, back_watch.pairs)
