"""A room that loses its power and its BMCs at once, under the automatic failover with a preferred room: nobody confirms
anything, the room watch fails it over by isolation once its time has come, and failover.yml takes that decision as
the confirmation that the room is down.

The inventory's twinroom_preferred_room names the room that keeps the datastore primary (TWINROOM_LAB_PREFERRED_ROOM,
read by the lab's inventory: the room watch's configuration, the guards and failover.yml take it alike); the real
ansible-rulebook runs the collection's automatic failover. The other room is powered off with its BMCs dark
(`twinroom-lab power-off-room --bmc dark`). Real: the room watch's votes and its decision (method isolation, not
before the room's last contact + twinroom_isolation_seconds + twinroom_margin_seconds), failover.yml's check of that
decision, the fence (confirmed-down, confirmed_by isolation; each node's lease must be stale). Stand-ins: the node
containers as machines, the BMC emulators (dark: they stop answering).

Asserted: one failover of the dark room, by the room watch, with method isolation, started no earlier than the
decision's not_before; the fenced record of every node of the room says confirmed_by isolation; every workload runs
in the preferred room; never two live instances of a workload (API and the nodes' own container lists); no
acknowledged write lost. The finalizer stops the watch, powers the room on (its BMCs back), runs recover.yml, and
writes the watch's and the guards' configuration again without a preferred room, passed or failed.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from labutil import wait_for
from playbook import REPO

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill, workloads  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.writer import missing_acknowledged  # noqa: E402  pylint: disable=wrong-import-position

# A long drill (about 5-7 minutes: the isolation wait, the failover and recover.yml): it runs in make drills.
pytestmark = [pytest.mark.lab, pytest.mark.drill]

PREFERRED_ENV = "TWINROOM_LAB_PREFERRED_ROOM"


def configure(preferred=None):
    """The room watch's configuration (role automatic_failover) and every node's guard (role isolation_guard), as
    site.yml writes them (playbooks/ as the playbook directory: the rulebook runs failover.yml from there), with the
    inventory's preferred room given or not."""
    env = dict((key, value) for key, value in os.environ.items() if key != PREFERRED_ENV)
    if preferred:
        env[PREFERRED_ENV] = preferred
    results = []
    for hosts, role in (("localhost", "twinroom.ha.automatic_failover"), ("room_a:room_b", "twinroom.ha.isolation_guard")):
        results.append(subprocess.run(
            ["ansible", "-i", drill.INVENTORY, hosts, "--playbook-dir", str(REPO / "playbooks"), "-m", "ansible.builtin.include_role",
             "-a", "name=%s" % role],
            cwd=str(REPO), capture_output=True, text=True, timeout=600, check=False, env=env))
    return results


@pytest.fixture
def watch_with_preferred_room(tmp_path, lab_restorer):
    """The survivor-to-be (the room with the datastore primary) preferred; ansible-rulebook running with it. After the
    test: the watch stopped, the lab restored (the dark room powered on and recovered), the configuration again
    without a preferred room."""
    preferred = drill.primary_room(drill.datastore_roles())
    running = drill.Rulebook(tmp_path / "rulebook.log", env={PREFERRED_ENV: preferred})
    try:
        for result in configure(preferred):
            assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        running.start()
        yield preferred, running
    finally:
        running.stop()
        print("ansible-rulebook's output (end):\n%s" % running.output()[-3000:])
        print("lab restored: %s" % "; ".join(lab_restorer()))
        again = configure()
        assert all(result.returncode == 0 for result in again), [(r.stdout + r.stderr)[-2000:] for r in again]


def test_a_dark_room_is_failed_over_by_isolation_with_nobody_at_the_keyboard(watch_with_preferred_room):
    # pylint: disable=redefined-outer-name,too-many-locals
    preferred, running = watch_with_preferred_room
    lost = drill.OTHER[preferred]
    rooms = drill.room_nodes()
    node_room = dict((node, room) for room, nodes in rooms.items() for node in nodes)
    context = drill.ZONE[preferred]
    wanted = workloads.deploy(drill.KUBECONFIG, context, 4)
    try:
        workloads.wait_home(drill.KUBECONFIG, context, wanted, node_room, timeout=300)
        writer, watch = drill.watched(context, "dark-room")
        try:
            time.sleep(3)
            cut_at, cut = time.time(), time.monotonic()
            drill.lab("power-off-room", lost, "--bmc", "dark")
            report = drill.wait_for_report(lost, cut_at, timeout=300)
            assert report is not None, "no automatic failover of %s within 300 s of the power cut: %s" % (
                lost, running.output()[-3000:])
            failed_over = time.monotonic() - cut
            wait_for(lambda: all(workloads.placement(drill.KUBECONFIG, context, node_room).get(name) == preferred
                                 for _kind, name, _room in wanted), 120,
                     "every workload Running and Ready in %s" % preferred)
            ran_after = time.monotonic() - cut
            time.sleep(10)  # the watch keeps running, the room stays dark: no second failover
        finally:
            time.sleep(2)
            watch.stop()
            writer.stop()
        lost_writes = missing_acknowledged(drill.KUBECONFIG, context, [writer])
        api = client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context=context))
        records = dict((name, json.loads(api.read_node(name, _request_timeout=10).metadata.annotations
                                         .get("twinroom.io/fenced", "{}"))) for name in rooms[lost])
    finally:
        workloads.remove(drill.KUBECONFIG, context)
    decision = report["decision"]
    figures = (lost, decision["method"], failed_over, report.get("rto_s"), decision["not_before"] - cut_at, preferred,
               ran_after, watch.samples, len(writer.acked))
    print("dark room: %s failed over by the room watch (method %s) %.1f s after the power cut (failover.yml's RTO %s "
          "s, not before %.1f s after the cut), every workload running in %s %.1f s after the cut; never-twice %d "
          "samples; %d writes acknowledged" % figures)
    assert report["trigger"] == "room_watch", report
    assert decision["method"] == "isolation", decision
    assert float(report["started"]) >= decision["not_before"], (report["started"], decision)
    assert dict((name, (record.get("method"), record.get("confirmed_by"))) for name, record in records.items()) == \
        dict((name, ("confirmed-down", "isolation")) for name in rooms[lost])
    assert len(drill.reports_since(lost, cut_at)) == 1 and drill.reports_since(preferred, cut_at) == []
    assert watch.violations == [], watch.violations
    assert watch.samples >= 20, "the never-twice watch read too rarely to be evidence (%d samples)" % watch.samples
    assert writer.acked, "no write was acknowledged: nothing shows the datastore kept them"
    assert lost_writes == [], lost_writes
