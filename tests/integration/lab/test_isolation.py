"""A cut link under the automatic failover, without a witness: the room that is not preferred isolates itself, and
its workloads are failed over to the preferred room, with nobody at the keyboard.

The isolation guard (role isolation_guard, installed on every node by site.yml) of room_b's nodes is configured
through the role with twinroom_preferred_room=room_a; the real ansible-rulebook runs the collection's automatic
failover throughout. The inter-room link is cut and stays cut. Real: each guard's probes, its decision (room_vote's
isolate) and `systemctl poweroff --force --force`, which ends the node's container as it would power a machine off;
the room watch's votes; failover.yml. Stand-ins: the node containers as machines, and the BMC emulators, which the
lab's power bridge tells when a node stopped by itself (as a real BMC sees its host power off).

Asserted: every node of room_b powered itself off and every node of room_a still runs; room_b was failed over once,
by the room watch (the report's trigger and decision), while the link was still cut; every workload runs in room_a;
never two live instances of a workload (API and the nodes' own container lists, every half second); no acknowledged
write lost. The finalizer restores the link, brings room_b back (recover.yml) and gives its guards their inventory
configuration again (no preferred room), passed or failed.
"""
import sys
import time
from pathlib import Path

import pytest

from labutil import wait_for
from playbook import REPO

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill, podman, topology, workloads  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.writer import missing_acknowledged  # noqa: E402  pylint: disable=wrong-import-position

# A long drill (about 6-9 minutes: two guard reconfigurations, 30 s isolation, the failover and recover.yml): it runs
# in make drills; make test covers the automatic failover and the cut-link alarm in test_failover_vms.py.
pytestmark = [pytest.mark.lab, pytest.mark.drill]

ISOLATED, PREFERRED = "room_b", "room_a"


def configure_guards(room, preferred=None):
    """The isolation_guard role on ``room``'s nodes, as site.yml runs it, with twinroom_preferred_room given or not."""
    import subprocess  # pylint: disable=import-outside-toplevel
    command = ["ansible", "-i", drill.INVENTORY, room, "-m", "ansible.builtin.include_role",
               "-a", "name=twinroom.ha.isolation_guard", "-e", "twinroom_automatic_failover=true"]
    if preferred:
        command += ["-e", "twinroom_preferred_room=%s" % preferred]
    return subprocess.run(command, cwd=str(REPO), capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture
def guards_prefer_room_a(automatic_failover, lab_restorer):  # pylint: disable=redefined-outer-name
    """room_b's guards isolate their nodes once they have not seen room_a for twinroom_isolation_seconds; afterwards
    the lab is restored (room_b back through recover.yml) and the guards get the inventory's configuration again."""
    configured = configure_guards(ISOLATED, PREFERRED)
    assert configured.returncode == 0, (configured.stdout + configured.stderr)[-3000:]
    try:
        yield
    finally:
        automatic_failover.stop()  # nothing may fail a room over while the lab is put back
        print("lab restored: %s" % "; ".join(lab_restorer()))
        again = configure_guards(ISOLATED)
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]


def test_a_cut_link_isolates_the_room_that_is_not_preferred_and_fails_it_over(
        automatic_failover, guards_prefer_room_a):
    # pylint: disable=unused-argument,redefined-outer-name
    topo = topology.load(str(drill.STATE))
    nodes = dict((room, topo.room_nodes(room)) for room in drill.ZONE)
    node_room = dict((node.name, room) for room, members in nodes.items() for node in members)
    context = drill.ZONE[PREFERRED]
    wanted = workloads.deploy(drill.KUBECONFIG, context, 4)
    try:
        workloads.wait_home(drill.KUBECONFIG, context, wanted, node_room, timeout=300)
        writer, watch = drill.watched(context, "isolation")
        try:
            time.sleep(3)
            cut_at, cut = time.time(), time.monotonic()
            drill.lab("cut-link")
            report = drill.wait_for_report(ISOLATED, cut_at, timeout=300)
            assert report is not None, "no automatic failover of %s within 300 s of the cut: %s" % (
                ISOLATED, automatic_failover.output()[-3000:])
            failed_over = time.monotonic() - cut
            states = podman.containers()
            running = dict((node.name, states.get(node.container, {}).get("state")) for members in nodes.values()
                           for node in members)
            wait_for(lambda: _all_in(context, wanted, node_room, PREFERRED), 120,
                     "every workload Running and Ready in %s" % PREFERRED)
            ran_after = time.monotonic() - cut
            time.sleep(10)  # the watch keeps running, the link stays cut: no second failover, nothing of room_a's
        finally:
            drill.lab("restore-link")
            time.sleep(2)
            watch.stop()
            writer.stop()
        lost_writes = missing_acknowledged(drill.KUBECONFIG, context, [writer])
    finally:
        workloads.remove(drill.KUBECONFIG, context)
    print("cut link: %s failed over by the room watch %.1f s after the cut (failover.yml's RTO %s s), every workload "
          "running in %s %.1f s after the cut; nodes %s; never-twice %d samples; %d writes acknowledged"
          % (ISOLATED, failed_over, report.get("rto_s"), PREFERRED, ran_after, running, watch.samples,
             len(writer.acked)))
    assert [name for name in running if node_room[name] == ISOLATED and running[name] == "running"] == [], running
    assert [name for name in running if node_room[name] == PREFERRED and running[name] != "running"] == [], running
    assert report["trigger"] == "room_watch", report
    assert report["decision"]["votes"] == {PREFERRED: "lost", ISOLATED: "absent"}, report["decision"]
    assert len(drill.reports_since(ISOLATED, cut_at)) == 1 and drill.reports_since(PREFERRED, cut_at) == []
    assert watch.violations == [], watch.violations
    assert watch.samples >= 20, "the never-twice watch read too rarely to be evidence (%d samples)" % watch.samples
    assert writer.acked, "no write was acknowledged: nothing shows the datastore kept them"
    assert lost_writes == [], lost_writes


def _all_in(context, wanted, node_room, room):
    where = workloads.placement(drill.KUBECONFIG, context, node_room)
    return all(where.get(name) == room for _kind, name, _room in wanted)
