"""failover.yml's refusals and its hardest cases, on the lab, each with the exact message.

- an unknown room is refused before anything is read or touched;
- with the inter-room link cut and both rooms powered, failing over the room that holds the datastore
  primary is refused (its BMCs report it on: it may be running behind the cut); forced, it is fenced
  through its BMCs, and every container of the room had stopped before the first out-of-service taint;
- with the room's BMCs dark, the failover is refused without confirm_room_down and proceeds with it.
Each case recovers the room afterwards, so the lab ends as site.yml builds it.
"""
import datetime
import json
import re
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from labutil import podman
from playbook import failed_tasks, flat, output, play_recap, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

TAINT = "node.kubernetes.io/out-of-service"


def nodes_of(room):
    return sorted(drill.room_nodes()[room])


def bmcs_of(room):
    topology = json.loads((drill.STATE / "topology.json").read_text())
    return dict((n["name"], n["bmc"]) for n in topology["nodes"] if n["room"] == room)


def taint_times(context, names):
    api = client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context=context))
    times = {}
    for node in api.list_node(_request_timeout=15).items:
        if node.metadata.name in names:
            for taint in node.spec.taints or ():
                if taint.key == TAINT:
                    times[node.metadata.name] = taint.time_added
    return times


def stopped_at(container):
    """When the container stopped (podman's FinishedAt, UTC), or None while it runs."""
    state = json.loads(podman("container", "inspect", "--format", "{{json .State}}", container).stdout)
    if state["Status"] == "running":
        return None
    # Go's time format: 2026-11-21T20:56:32.123456789Z or ...+01:00 (podman versions differ: ' ' or 'T').
    match = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?", state["FinishedAt"])
    zone = match.group(3) or "Z"
    zone = "+00:00" if zone == "Z" else (zone if ":" in zone else zone[:3] + ":" + zone[3:])
    stamp = datetime.datetime.fromisoformat("%sT%s%s" % (match.group(1), match.group(2), zone))
    return stamp.astimezone(datetime.timezone.utc)


def recover(room):
    result = run_playbook("playbooks/recover.yml", drill.INVENTORY, extra_vars={"lost_room": room})
    assert result.returncode == 0, failed_tasks(result)


def test_unknown_room_is_refused_before_anything():
    result = run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars={"lost_room": "room_c"})
    assert result.returncode != 0
    assert "Unknown room 'room_c': choose room_a or room_b (-e lost_room=room_a)." in output(result)
    recap = play_recap(output(result))
    assert all(counts["changed"] == 0 for counts in recap.values()), recap


def test_link_cut_refused_then_forced_fencing_stops_the_room_before_any_taint(lab_restored):  # pylint: disable=unused-argument
    lost = drill.primary_room(drill.datastore_roles())
    survivor = drill.OTHER[lost]
    drill.lab("cut-link")
    try:
        time.sleep(12)  # leases go stale on both sides of the cut
        refused = run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars={"lost_room": lost})
        assert refused.returncode != 0
        text = flat(refused)
        assert ("The API server of %s cannot read its datastore and the BMCs of %s report %s powered on: the room may "
                "be running behind a cut link. Refusing to fail it over; check the room, or run again with force: "
                "true to fence it anyway." % (survivor, lost, ", ".join(nodes_of(lost)))) in text, text[-3000:]
        assert all(stopped_at("twinroom-" + name) is None for name in nodes_of(lost)), "refused, yet a node stopped"

        forced = run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars={"lost_room": lost, "force": True})
        assert forced.returncode == 0, failed_tasks(forced)
        stops = dict((name, stopped_at("twinroom-" + name)) for name in nodes_of(lost))
        assert all(stops.values()), "fenced, yet still running: %s" % stops
        taints = taint_times(drill.ZONE[survivor], nodes_of(lost))
        assert sorted(taints) == nodes_of(lost), taints
        # Seconds resolution on both sides: a taint may carry the same second as the stop, never an earlier one.
        assert max(stops.values()) <= min(taints.values()), (stops, taints)
    finally:
        drill.lab("restore-link")
    recover(lost)


def test_dark_bmcs_refused_without_confirmation_then_confirmed(lab_restored):  # pylint: disable=unused-argument
    lost = drill.primary_room(drill.datastore_roles())
    drill.lab("power-off-room", lost, "--bmc", "dark")
    time.sleep(10)
    refused = run_playbook("playbooks/failover.yml", drill.INVENTORY, extra_vars={"lost_room": lost})
    assert refused.returncode != 0
    bmcs = bmcs_of(lost)
    dark = ", ".join("BMC %s:%s of node %s" % (bmcs[name]["address"], bmcs[name]["port"], name)
                     for name in nodes_of(lost)[:-1])
    last = nodes_of(lost)[-1]
    expected = ("%s and BMC %s:%s of node %s do not answer: refusing to fence %s without confirm_room_down: true."
                % (
                    dark, bmcs[last]["address"], bmcs[last]["port"], last, lost))
    assert expected in flat(refused), output(refused)[-3000:]

    confirmed = run_playbook("playbooks/failover.yml", drill.INVENTORY,
                             extra_vars={"lost_room": lost, "confirm_room_down": True})
    assert confirmed.returncode == 0, failed_tasks(confirmed)
    report = drill.newest_report(lost, time.time() - 600)
    assert {node["method"] for node in report["fenced"].values()} == {"confirmed-down"}, report["fenced"]

    drill.lab("power-on-room", lost)  # the room's power (and with it its BMCs) comes back
    recover(lost)
