"""Failovers that must not happen, on the lab, each with its exact refusal and proof that nothing changed.

- a room lost while the other is still coming back: its stale former primary is not taken over, and the
  newest data comes back with the room that holds it (an independent writer checks every acknowledged write);
- failover.yml --check on a lost room decides and reports, changes nothing and waits for nothing;
- the inter-room link cut: the room whose BMCs report it on is not failed over without force, nothing powers off;
- a room with one stale node is not lost;
- a survivor whose API server does not answer is not failed over to, even with force;
- a room that loses power again in the middle of recover.yml: the run stops, the room stays fenced, failing it over
  again works, and no acknowledged write is lost and no workload runs twice.
"""
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from labutil import delete_namespace_and_wait, node_exec, podman, wait_for
from labutil import out_of_service as labutil_out_of_service
from playbook import failed_tasks, flat, output, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.workloads import IMAGE  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.twinwatch import TwinWatch  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.writer import Writer, ensure_namespace, missing_acknowledged  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

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


def container_states(room):
    return {name: podman("container", "inspect", "--format", "{{.State.Status}}", "twinroom-" + name).stdout.strip()
            for name in sorted(drill.room_nodes()[room])}


def out_of_service(context):
    return labutil_out_of_service(drill.KUBECONFIG, context)


def history():
    path = drill.STATE / "datastore-history.json"
    return json.loads(path.read_text()) if path.exists() else []


def failover(room, **extra):
    return run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars=dict(lost_room=room, **extra),
                        timeout=900)


def api_port_open(room):
    """True once the room's API server accepts TCP connections on the address its kubeconfig context names."""
    server = config.new_client_from_config(config_file=drill.KUBECONFIG, context=drill.ZONE[room]).configuration.host
    host, port = server.split("://", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def failover_once_answering(lost, survivor, attempts=4):
    """failover.yml for the lost room, refused; returned once the refusal is not that the survivor's API server
    does not answer.

    An API server whose datastore is gone restarts (kine exits without its PostgreSQL, and the API server without
    kine), so a run can reach it between two starts and is refused for that: a refusal too, with nothing changed,
    asserted here. Bounded: after `attempts` such refusals the test fails.
    """
    not_answering = "refusing to fail %s over: the API server of the surviving room does not answer" % lost
    for attempt in range(1, attempts + 1):
        wait_for(lambda: api_port_open(survivor), 180, "%s's API server accepting connections" % survivor)
        refused = failover(lost)
        assert refused.returncode != 0, "failover.yml of %s was not refused" % lost
        if not_answering not in flat(refused):
            return refused
        assert changed_tasks(refused) == [], changed_tasks(refused)
        assert set(container_states(lost).values()) == {"exited"}
        print("attempt %d: refused as the API server of %s was between two starts" % (attempt, survivor))
    pytest.fail("failover.yml of %s was refused %d times because %s's API server did not answer"
                % (lost, attempts, survivor))


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

    # The first room powers back on, but before its control-plane node rejoins, the second room is lost too. Its
    # API server must be up (answering without its datastore): one that does not answer at all is refused earlier,
    # for that reason, and this test is about the stale data; failover_once_answering runs again while it restarts.
    drill.lab("power-on-room", first)
    wait_for(lambda: api_port_open(first), 180, "%s's API server accepting connections after power-on" % first)
    drill.lab("power-off-room", second, "--bmc", "answering")
    refused = failover_once_answering(second, first)
    expected = ("refusing to make %s primary: %s was primary on timeline %d with no synchronous standby (recorded %s, "
                "LSN %s), and %s is stopped as primary on timeline %d"
                % (CP[first], CP[second], promoted["timeline"], promoted["at"], promoted["lsn"], CP[first],
                   promoted["timeline"] - 1))
    assert expected in flat(refused), failed_tasks(refused)
    assert history()[-1] == promoted, "the refused takeover changed the history"

    # The second room holds the newest data: once it is back, the datastore is its, with every write acknowledged.
    drill.lab("power-on-room", second)
    for room in (second, first):
        recovered = run_playbook("playbooks/recover.yml", drill.INVENTORY, extra_vars={"lost_room": room})
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


def api_answers(context):
    try:
        client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context=context)).list_node(
            _request_timeout=5)
    except Exception:  # pylint: disable=broad-except  # not yet
        return False
    return True


def node_systemctl(node, *args):
    result = podman("exec", "twinroom-" + node, "systemctl", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_survivor_that_cannot_serve_the_cluster_is_not_failed_over_to(lab_restored):  # pylint: disable=unused-argument
    # The surviving room's API server is down: after a takeover the cluster would be served through it, so the
    # failover is refused before anything is powered off - even with force, on a room that is up.
    lost = drill.primary_room(drill.datastore_roles())
    survivor = drill.OTHER[lost]
    before = drill.datastore_roles()
    # As if it had crashed: a graceful stop would wait for open requests to drain (a minute on the lab).
    # Killed, then stopped before systemd restarts it (RestartSec=2).
    killed = node_exec("twinroom-" + CP[survivor],
                       "systemctl kill --signal=SIGKILL kube-apiserver && systemctl stop kube-apiserver")
    assert killed.returncode == 0, killed.stdout + killed.stderr
    try:
        wait_for(lambda: podman("exec", "twinroom-" + CP[survivor], "systemctl", "is-active", "kube-apiserver",
                                check=False).stdout.strip() in ("inactive", "failed"), 60, "the API server stopped")
        refused = failover(lost, force=True)
    finally:
        node_systemctl(CP[survivor], "start", "kube-apiserver")
        wait_for(lambda: api_answers(drill.ZONE[survivor]), 120, "the API server of %s answering" % survivor)
    assert refused.returncode != 0
    expected = ("refusing to fail %s over: the API server of the surviving room does not answer through context %s "
                "(Failed to establish a new connection: [Errno 111] Connection refused). After the takeover the "
                "cluster is served through it, so fencing %s now would leave no cluster at all. Start the API server "
                "of the surviving room (and its kine), then run again. Nothing was powered off."
                % (lost, drill.ZONE[survivor], lost))
    assert expected in flat(refused), failed_tasks(refused)
    assert set(container_states(lost).values()) == {"running"}, "refused, yet a node of %s stopped" % lost
    assert changed_tasks(refused) == [], changed_tasks(refused)
    wait_for(lambda: drill.datastore_roles() == before, 60, "the datastore roles as they were")


INTERRUPTED = "twinroom-interrupted"


@pytest.fixture
def interrupted_workloads():
    """A StatefulSet of two pods spread over the rooms (kwok runs them), deleted once the lab is restored."""
    context = drill.ZONE[drill.primary_room(drill.datastore_roles())]
    api_client = config.new_client_from_config(config_file=drill.KUBECONFIG, context=context)
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=INTERRUPTED)), _request_timeout=15)
    labels = {"app": "db"}
    spread = [client.V1TopologySpreadConstraint(max_skew=1, topology_key="topology.kubernetes.io/zone",
                                                when_unsatisfiable="ScheduleAnyway",
                                                label_selector=client.V1LabelSelector(match_labels=labels))]
    apps.create_namespaced_stateful_set(INTERRUPTED, client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1StatefulSetSpec(
            replicas=2, service_name="db", pod_management_policy="Parallel",
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(
                containers=[client.V1Container(name="db", image=IMAGE)],
                topology_spread_constraints=spread)))), _request_timeout=15)
    wait_for(lambda: len([p for p in core.list_namespaced_pod(INTERRUPTED, _request_timeout=10).items
                          if p.status.phase == "Running"]) == 2, 120, "both db pods running")
    yield
    context = drill.ZONE[drill.primary_room(drill.datastore_roles())]
    delete_namespace_and_wait(client.CoreV1Api(config.new_client_from_config(
        config_file=drill.KUBECONFIG, context=context)), INTERRUPTED)


def test_power_lost_again_in_the_middle_of_recovery(interrupted_workloads, lab_restored, tmp_path):  # pylint: disable=unused-argument,redefined-outer-name
    survivor = drill.primary_room(drill.datastore_roles())
    lost = drill.OTHER[survivor]
    ensure_namespace(drill.KUBECONFIG, drill.ZONE[survivor])
    writer = Writer(drill.KUBECONFIG, drill.ZONE[survivor], prefix="midrecover-%d" % time.time()).start()
    watch = TwinWatch(drill.KUBECONFIG, list(drill.ZONE.values()), namespace=INTERRUPTED, interval=0.5).start()
    try:
        wait_for(lambda: writer.acked, 30, "a first acknowledged write")
        drill.lab("power-off-room", lost, "--bmc", "answering")
        first = failover(lost)
        assert first.returncode == 0, failed_tasks(first)

        # The room comes back; while its control-plane node rejoins the datastore, it loses power again.
        drill.lab("power-on-room", lost)
        log = tmp_path / "recover.log"
        with open(log, "w") as sink:
            recovery = subprocess.Popen(
                ["ansible-playbook", "-i", drill.INVENTORY, "playbooks/recover.yml", "-e", "lost_room=%s" % lost],
                cwd=str(drill.REPO), stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                wait_for(lambda: "PLAY [Rejoin the datastore pair]" in log.read_text() or recovery.poll() is not None,
                         420, "recover.yml to reach the datastore rejoin")
                assert recovery.poll() is None, log.read_text()[-3000:]
                drill.lab("power-off-room", lost, "--bmc", "answering")
                recovery.wait(timeout=600)
            finally:
                if recovery.poll() is None:
                    recovery.kill()
        text = log.read_text()
        assert recovery.returncode != 0, text[-3000:]
        # It stopped after the step that lost its node, said so, and never cleared a taint. Either the rejoin failed
        # on the surviving node too (any_errors_fatal ends the run there), or only the lost node dropped out
        # (unreachable), and the check after the rejoin names it.
        flat_text = " ".join(text.split())
        assert ("NO MORE HOSTS LEFT" in text or
                "recover.yml stopped: %s" % CP[lost] in flat_text and
                "did not answer, or did not finish the datastore rejoin" in flat_text and
                "Nothing was returned to service: the room stays fenced and marked out of service." in flat_text), \
            text[-3000:]
        assert "PLAY [Clear the out-of-service taints" not in text
        assert out_of_service(drill.ZONE[survivor]) == sorted(drill.room_nodes()[lost])

        # Failing the room over again works, and loses nothing.
        again = failover(lost)
        assert again.returncode == 0, failed_tasks(again)
        wait_for(lambda: writer.acked and writer.acked[-1][1] > time.monotonic() - 2, 120,
                 "writes acknowledged after the second failover")
    finally:
        writer.stop()
        watch.stop()
    assert missing_acknowledged(drill.KUBECONFIG, drill.ZONE[survivor], [writer]) == [], \
        "acknowledged writes lost (%d acknowledged)" % len(writer.acked)
    summary = watch.summary()
    assert summary["samples"] > 20, summary
    # The nodes' own container lists were read too (crictl on each running kubelet node), not only the API.
    assert summary["node_reads"] > summary["samples"], summary
    assert summary["violations"] == [], summary["violations"]


PG = "/var/lib/postgresql/15/kine"
PG_CONF = "/etc/postgresql/15/kine"
ASIDE = "/var/lib/twinroom-test-aside"


def system_identifier(node):
    result = node_exec("twinroom-" + node, "/usr/lib/postgresql/15/bin/pg_controldata %s "
                                           "| sed -n 's/^Database system identifier: *//p'" % PG)
    return result.stdout.strip()


@pytest.fixture
def rebuilt_primary():
    """The primary's node comes back from a rebuild: its datastore moved aside (kept, to be put back), and a new,
    empty cluster of the same name in its place. Afterwards the empty one goes and the real one comes back."""
    node = CP[drill.primary_room(drill.datastore_roles())]
    container = "twinroom-" + node
    kept = system_identifier(node)
    paths = dict(aside=ASIDE, pg=PG, conf=PG_CONF)
    script = ("set -e; systemctl stop postgresql@15-kine; rm -rf %(aside)s; mkdir -p %(aside)s; "
              "mv %(pg)s %(aside)s/data; mv %(pg)s.history.json %(aside)s/history.json; mv %(conf)s %(aside)s/conf; "
              "pg_createcluster 15 kine --port 5432 >/dev/null; echo manual > %(conf)s/start.conf" % paths)
    result = node_exec(container, script, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    yield node, kept
    script = ("set -e; pg_dropcluster --stop 15 kine 2>/dev/null || true; rm -rf %(pg)s %(conf)s; "
              "mv %(aside)s/data %(pg)s; mv %(aside)s/history.json %(pg)s.history.json; mkdir -p /etc/postgresql/15; "
              "mv %(aside)s/conf %(conf)s; "
              "rmdir %(aside)s; systemctl start postgresql@15-kine" % paths)
    result = node_exec(container, script, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(lambda: drill.datastore_roles()[node][0] == "primary", 120, "%s primary again" % node)


def test_a_rebuilt_primary_node_is_not_made_primary_over_the_datastore(rebuilt_primary):  # pylint: disable=redefined-outer-name
    node, kept = rebuilt_primary
    standby = CP[drill.OTHER["room_a" if node == CP["room_a"] else "room_b"]]
    empty = system_identifier(node)
    assert empty and empty != kept
    last = history()[-1]
    refused = run_playbook("playbooks/site.yml", drill.INVENTORY, timeout=900)
    assert refused.returncode != 0
    empty_state = node_exec("twinroom-" + node, "/usr/lib/postgresql/15/bin/pg_controldata %s | sed -n "
                                                "'s/^Latest checkpoint location: *//p'" % PG).stdout.strip()
    expected = ("%s cannot be the datastore primary (refusing to make %s primary: its PostgreSQL cluster (system %s, "
                "stopped as primary on timeline 1 at LSN %s) is not the datastore's (system %s, last primary %s on "
                "timeline %d): it was rebuilt or created anew, and making it primary would replace the datastore by an "
                "empty or foreign one. Keep the node that holds system %s; remove %s's data directory only to re-clone "
                "it from there.), and %s, its synchronous standby, holds every write it acknowledged but is a standby. "
                "Nothing was changed. Promote %s by hand (pg_ctlcluster <version> <cluster> start, then pg_ctlcluster "
                "<version> <cluster> promote), then run site.yml again: %s is then rejoined as its standby."
                % (node, node, empty, empty_state, kept, last["node"], last["timeline"], kept, node, standby, standby,
                   node))
    text = " ".join(flat(refused).replace("''", "'").split())
    assert expected in text, failed_tasks(refused)
    # The run stopped there: nothing was created, cloned or started anywhere.
    assert changed_tasks(refused) == [], changed_tasks(refused)
    assert system_identifier(standby) == kept
    assert drill.datastore_roles()[standby][0] == "standby"
    assert node_exec("twinroom-" + node, "test -f %s/data/PG_VERSION" % ASIDE).returncode == 0
    assert history()[-1] == last
