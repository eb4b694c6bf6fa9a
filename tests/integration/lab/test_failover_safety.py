"""Failovers that must not happen, on the lab, each with its exact refusal and proof that nothing changed.

- a room lost while the other is still coming back: its stale former primary is not taken over, and the
  newest data comes back with the room that holds it (an independent writer checks every acknowledged write);
- failover.yml --check on a lost room decides and reports, changes nothing and waits for nothing;
- the inter-room link cut: the room whose BMCs report it on is not failed over without force, nothing powers off;
- a room with one stale node is not lost.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from labutil import podman, wait_for
from playbook import failed_tasks, output, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.writer import Writer, ensure_namespace, missing_acknowledged  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

TAINT = "node.kubernetes.io/out-of-service"
CP = {"room_a": "a-cp1", "room_b": "b-cp1"}


def join(names):
    return names[0] if len(names) == 1 else "%s and %s" % (", ".join(names[:-1]), names[-1])


def changed_tasks(result):
    """Names of the tasks that reported a change, in order."""
    names, task = [], None
    for line in output(result).splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].rsplit("]", 1)[0]
        elif line.startswith("changed: ") and task not in names:
            names.append(task)
    return names


def flat(result):
    return " ".join(output(result).split())


def container_states(room):
    return {name: podman("container", "inspect", "--format", "{{.State.Status}}", "twinroom-" + name).stdout.strip()
            for name in sorted(drill.room_nodes()[room])}


def out_of_service(context):
    api = client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context=context))
    return sorted(n.metadata.name for n in api.list_node(_request_timeout=15).items
                  if any(t.key == TAINT for t in n.spec.taints or ()))


def history():
    path = drill.STATE / "datastore-history.json"
    return json.loads(path.read_text()) if path.exists() else []


def failover(room, **extra):
    return run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars=dict(lost_room=room, **extra),
                        timeout=900)


def test_a_room_lost_during_recovery_is_not_taken_over_by_stale_data(lab_restored):  # pylint: disable=unused-argument
    first = drill.primary_room(drill.datastore_roles())
    second = drill.OTHER[first]
    ensure_namespace(drill.KUBECONFIG, drill.ZONE[second])
    writer = Writer(drill.KUBECONFIG, drill.ZONE[second], prefix="stale-%d" % time.time()).start()
    try:
        wait_for(lambda: writer.acked, 30, "a first acknowledged write")
        drill.lab("power-off-room", first, "--bmc", "answering")

        # --check decides and reports without waiting for anything, and changes nothing.
        started = time.monotonic()
        checked = run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars={"lost_room": first},
                               check=True, timeout=120)
        check_seconds = time.monotonic() - started
        assert checked.returncode == 0, failed_tasks(checked)
        assert "Check mode: %s would be failed over to %s. Nothing was changed." % (first, second) in output(checked)
        print("failover.yml --check on a lost room: %.1f s" % check_seconds)
        assert set(container_states(first).values()) == {"exited"}
        assert history()[-1]["node"] == CP[first], "--check recorded a promotion"

        done = failover(first)
        assert done.returncode == 0, failed_tasks(done)
        promoted = history()[-1]
        assert (promoted["event"], promoted["node"]) == ("primary", CP[second]), promoted
        wait_for(lambda: len(writer.acked) > 20 and writer.acked[-1][1] > time.monotonic() - 2, 60,
                 "writes acknowledged by the new primary")
    finally:
        writer.stop()
    acknowledged = len(writer.acked)

    # The first room powers back on, but before its control-plane node rejoins, the second room is lost too.
    drill.lab("power-on-room", first)
    drill.lab("power-off-room", second, "--bmc", "answering")
    refused = failover(second)
    assert refused.returncode != 0
    expected = ("refusing to make %s primary: %s was primary on timeline %d with no synchronous standby (recorded %s, "
                "LSN %s), and %s is stopped as primary on timeline %d"
                % (CP[first], CP[second], promoted["timeline"], promoted["at"], promoted["lsn"], CP[first],
                   promoted["timeline"] - 1))
    assert expected in flat(refused), failed_tasks(refused)
    assert history()[-1] == promoted, "the refused takeover changed the history"

    # The second room holds the newest data: once it is back, the datastore is its, with every write acknowledged.
    drill.lab("power-on-room", second)
    for room in (second, first):
        recovered = run_playbook("playbooks/recover.yml", drill.INVENTORY, extra_vars={"room": room})
        assert recovered.returncode == 0, failed_tasks(recovered)
    roles = drill.datastore_roles()
    assert roles == {CP[second]: ("primary", "sync"), CP[first]: ("standby", "none")} or \
        roles[CP[second]][0] == "primary" and roles[CP[first]][0] == "standby", roles
    assert missing_acknowledged(drill.KUBECONFIG, drill.ZONE[second], [writer]) == [], \
        "acknowledged writes lost (%d acknowledged)" % acknowledged
    assert out_of_service(drill.ZONE[second]) == []


def test_a_cut_link_is_not_a_lost_room(lab_restored):  # pylint: disable=unused-argument
    primary = drill.primary_room(drill.datastore_roles())
    other = drill.OTHER[primary]
    before = drill.datastore_roles()
    drill.lab("cut-link")
    time.sleep(12)  # the other room's leases go stale as the primary's API sees them
    refused = failover(other)
    drill.lab("restore-link")
    assert refused.returncode != 0
    text = flat(refused)
    assert "%s is not lost: the BMCs of %s report them powered on, yet their leases are stale" % (
        other, join(sorted(drill.room_nodes()[other]))) in text, failed_tasks(refused)
    assert "Refusing to fail it over without force: true." in text
    assert set(container_states(other).values()) == {"running"}, "refused, yet a node of %s stopped" % other
    assert drill.datastore_roles() == before
    assert changed_tasks(refused) == [], changed_tasks(refused)


def bmc_power(node, action):
    """The lab's own BMC emulator, as tests/integration/lab/test_lab_bed.py drives it (lab credentials)."""
    bmc = node["bmc"]
    argv = ["fence_redfish", "--ip=%s" % bmc["address"], "--ipport=%d" % bmc["port"], "--username=%s" % bmc["username"],
            "--password=%s" % bmc["password"], "--ssl-insecure",
            "--systems-uri=/redfish/v1/Systems/%s" % bmc["system_id"], "--action=%s" % action]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_room_with_one_stale_node_is_not_lost(nodes, lab_restored):  # pylint: disable=unused-argument
    room = drill.OTHER[drill.primary_room(drill.datastore_roles())]
    worker = sorted(n for n in drill.room_nodes()[room] if "-w" in n)[-1]
    bmc_power(nodes[worker], "off")  # one node loses power; its BMC answers and reports it off
    time.sleep(12)
    refused = failover(room)
    assert refused.returncode != 0
    up = sorted(set(drill.room_nodes()[room]) - {worker})
    assert ("%s is not lost: %s still renew their leases (down: %s)." % (room, join(up), worker)) in flat(refused), \
        failed_tasks(refused)
    others = sorted(set(drill.room_nodes()[room]) - {worker})
    assert all(container_states(room)[name] == "running" for name in others)
    assert out_of_service(drill.ZONE[room]) == []


def test_a_second_operation_is_refused_while_one_runs():
    lock = drill.STATE / "operation.lock"
    holder = subprocess.Popen(["ansible-playbook", "-i", drill.INVENTORY, "tests/integration/fixtures/hold_operation_lock.yml",
                               "-e", "hold_seconds=120"], cwd=str(drill.REPO), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: lock.exists() and json.loads(lock.read_text()).get("holder_id") == "hold-operation-lock-test",
                 60, "the holder to take the lock")
        record = json.loads(lock.read_text())
        refused = failover("room_b")
        assert refused.returncode != 0
        assert ("refusing to start failover of room_b: a recovery of room_a holds the lock since %s (%s@%s, pid %s), "
                "and that process still runs on this controller." % (
                    record["started"], record["user"], record["host"], record["pid"])) in flat(refused), \
            failed_tasks(refused)
        assert set(container_states("room_b").values()) == {"running"}
        assert json.loads(lock.read_text()) == record, "the refused run touched the lock"
    finally:
        holder.terminate()
        holder.wait(timeout=30)
    # The holder was stopped before it released the lock: the next run takes the stale lock over.
    assert lock.exists()


WRONG_BMC_PLAYBOOK = """
- name: Fence a node through the BMC of another
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the module with a copy-pasted BMC
      twinroom.ha.fence:
        state: fenced
        room: "{{ fence_room }}"
        nodes: "{{ fence_nodes }}"
        fence_method: redfish
        bmc_username: "{{ twinroom_bmc_username }}"
        bmc_password: "{{ twinroom_bmc_password }}"
        validate_certs: false
        bmc_bindings: "{{ twinroom_state_dir }}/bmc-bindings.json"
        kubeconfig: "{{ twinroom_kubeconfig }}"
        context: "{{ fence_context }}"
"""


def test_a_bmc_that_belongs_to_another_node_powers_nothing_off(nodes, tmp_path):
    room = drill.OTHER[drill.primary_room(drill.datastore_roles())]
    victim, owner = sorted(n for n in drill.room_nodes()[room] if "-w" in n)[:2]
    bmc = nodes[owner]["bmc"]
    bindings = json.loads((drill.STATE / "bmc-bindings.json").read_text())
    playbook = tmp_path / "wrong-bmc.yml"
    playbook.write_text(WRONG_BMC_PLAYBOOK)
    result = run_playbook(str(playbook), drill.INVENTORY, extra_vars={
        "fence_room": room, "fence_context": drill.ZONE[drill.OTHER[room]],
        "fence_nodes": [{"name": victim, "bmc_address": bmc["address"], "bmc_port": bmc["port"],
                         "bmc_systems_uri": "/redfish/v1/Systems/%s" % bmc["system_id"]}]})
    assert result.returncode != 0
    expected = ("The BMC %s:%s of node %s reports machine %s, but %s is machine %s (bound by site.yml): it is another "
                "machine's BMC. Check twinroom_bmc_address of %s: refusing to fence %s, nothing was powered off."
                % (bmc["address"], bmc["port"], victim, bindings[owner]["machine_id"], victim,
                   bindings[victim]["machine_id"], victim, room))
    assert expected in flat(result), failed_tasks(result)
    assert container_states(room)[victim] == "running" and container_states(room)[owner] == "running"
    assert out_of_service(drill.ZONE[drill.OTHER[room]]) == []


def test_a_wrong_bmc_password_is_refused_before_any_taint(lab_restored):  # pylint: disable=unused-argument
    room = drill.OTHER[drill.primary_room(drill.datastore_roles())]
    drill.lab("power-off-room", room, "--bmc", "answering")
    time.sleep(12)
    refused = failover(room, twinroom_bmc_password="not-the-password")
    assert refused.returncode != 0
    text = flat(refused)
    names = sorted(drill.room_nodes()[room])
    for name in names:
        assert "of node %s answers but its power state cannot be read" % name in text, failed_tasks(refused)
    assert ("refusing to fence %s, since a node is tainted only once its BMC reports its power off. Check the BMC "
            "credentials and systems URI." % room) in text
    assert "not-the-password" not in output(refused)
    assert out_of_service(drill.ZONE[drill.OTHER[room]]) == []
