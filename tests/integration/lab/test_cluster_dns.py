"""The cluster DNS keeps a replica in each room: after a room returned with every CoreDNS replica in the other room
(what a failover leaves), recover.yml's spread step moves one and each room has one again; when each room has one,
the step changes nothing."""
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from labutil import SPREAD_PLAYBOOK, wait_for
from playbook import failed_tasks, flat, output, play_recap, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

# A drill (make drills): it reshapes the cluster DNS under every other test's feet, and its last version was not run
# on the lab before it was marked so.
pytestmark = [pytest.mark.lab, pytest.mark.drill]

ROOM_B = ("b-cp1", "b-w1", "b-w2")


def apis():
    api_client = config.new_client_from_config(config_file=drill.KUBECONFIG, context="room-a")
    return client.CoreV1Api(api_client), client.AppsV1Api(api_client)


def dns_rooms(core):
    """{pod: room letter} of the running CoreDNS replicas."""
    pods = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns", _request_timeout=10).items
    return dict((p.metadata.name, p.spec.node_name[0]) for p in pods
                if p.status.phase == "Running" and p.metadata.deletion_timestamp is None)


def rolled_into_room_a(core, apps):
    """Every replica in room A: room B's nodes cordoned while CoreDNS is rolled (a new value each time, so that a
    second run on the same lab rolls it too)."""
    for name in ROOM_B:
        core.patch_node(name, {"spec": {"unschedulable": True}}, _request_timeout=10)
    apps.patch_namespaced_deployment("coredns", "kube-system", {"spec": {"template": {"metadata": {"annotations": {
        "twinroom.test/rolled": "room-a-only-%d" % time.time()}}}}}, _request_timeout=10)
    wait_for(lambda: sorted(dns_rooms(core).values()) == ["a", "a"], 120, "both CoreDNS replicas in room A")


@pytest.fixture
def spread_playbook(tmp_path):
    """A playbook running the spread step; room B schedulable again afterwards, passed or failed."""
    playbook = Path(drill.REPO) / "playbooks" / (".test-spread-%s.yml" % tmp_path.name)
    playbook.write_text(SPREAD_PLAYBOOK)
    core, _apps = apis()
    try:
        yield str(playbook.relative_to(drill.REPO))
    finally:
        playbook.unlink()
        for name in ROOM_B:
            core.patch_node(name, {"spec": {"unschedulable": None}}, _request_timeout=10)


def test_coredns_is_spread_over_the_rooms_again(spread_playbook):
    core, apps = apis()
    rolled_into_room_a(core, apps)
    for name in ROOM_B:
        core.patch_node(name, {"spec": {"unschedulable": None}}, _request_timeout=10)

    rehearsed = run_playbook(spread_playbook, drill.INVENTORY, check=True)
    assert rehearsed.returncode == 0, failed_tasks(rehearsed)
    assert "would be moved so that room-b has one again" in flat(rehearsed), output(rehearsed)[-3000:]
    assert sorted(dns_rooms(core).values()) == ["a", "a"], "check mode moved a replica: %s" % dns_rooms(core)

    spread = run_playbook(spread_playbook, drill.INVENTORY)
    assert spread.returncode == 0, failed_tasks(spread)
    assert play_recap(output(spread))["localhost"]["changed"] == 1, output(spread)[-3000:]
    assert "moved so that room-b has one again" in flat(spread), output(spread)[-3000:]
    assert sorted(dns_rooms(core).values()) == ["a", "b"], dns_rooms(core)

    again = run_playbook(spread_playbook, drill.INVENTORY)
    assert again.returncode == 0, failed_tasks(again)
    assert play_recap(output(again))["localhost"]["changed"] == 0, output(again)[-3000:]
    assert "CoreDNS answers in room-a and room-b" in flat(again), output(again)[-3000:]
