"""Control-plane takeover on the lab's real PostgreSQL, kine and kube-apiservers.

The tests run in file order and leave the lab as site.yml builds it: a cut link is refused and
restored; then room A (holding the primary) is lost and taken over by room B, room A returns and
rejoins; then room B (now holding the primary) is lost and taken over by room A, and returns.
Throughout, a writer records every write the API server acknowledged; each must still be there.
"""
import os
import sys
import time
from pathlib import Path

import pytest

from playbook import output, play_recap, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab.writer import Writer, ensure_namespace, missing_acknowledged  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

INVENTORY = "inventories/lab"
STATE = Path(os.environ.get("TWINROOM_LAB_STATE", "/var/lib/twinroom-lab"))
KUBECONFIG = str(STATE / "admin.kubeconfig")
ZONE = {"room_a": "room-a", "room_b": "room-b"}
OTHER = {"room_a": "room_b", "room_b": "room_a"}


def datastore_roles():
    """{control-plane host: role} as twinroom.ha.datastore_info reports it."""
    result = run_playbook("tests/integration/fixtures/datastore_roles.yml", INVENTORY, timeout=300)
    roles = {}
    for line in output(result).splitlines():
        if "DATASTORE_ROLE" in line:
            host, role, mode = line.split("DATASTORE_ROLE", 1)[1].strip().strip('"').split(":")
            roles[host] = (role, mode)
    return roles


def primary_room(roles):
    primary = [host for host, (role, _) in roles.items() if role == "primary"]
    assert len(primary) == 1, roles
    return "room_a" if primary[0].startswith("a-") else "room_b"


def takeover(lost_room, fenced):
    return run_playbook("playbooks/control_plane_takeover.yml", INVENTORY,
                        extra_vars={"lost_room": lost_room, "lost_room_fenced": fenced}, timeout=600)


def lose_room_and_take_over(lab_cli, lost_room):
    survivor = OTHER[lost_room]
    writer = Writer(KUBECONFIG, ZONE[survivor], prefix="loss-%s-%d" % (lost_room.replace("_", ""), time.time())).start()
    time.sleep(3)
    assert writer.acked, "the writer could not write before the room loss"
    lost_at = time.monotonic()
    off = lab_cli("power-off-room", lost_room, "--bmc", "answering")
    assert off.returncode == 0, off.stdout + off.stderr
    taken = takeover(lost_room, fenced=True)
    assert taken.returncode == 0, output(taken)[-3000:]
    time.sleep(3)
    writer.stop()
    last_before, first_after = writer.gap_around(lost_at)
    assert first_after is not None, "no write was acknowledged after the takeover"
    missing = missing_acknowledged(KUBECONFIG, ZONE[survivor], [writer])
    assert missing == [], "acknowledged writes lost: %s" % missing[:10]
    return first_after - last_before


def bring_back(lab_cli, room):
    on = lab_cli("power-on-room", room)
    assert on.returncode == 0, on.stdout + on.stderr
    rejoin = run_playbook("playbooks/control_plane_rejoin.yml", INVENTORY, timeout=900)
    assert rejoin.returncode == 0, output(rejoin)[-3000:]
    roles = datastore_roles()
    assert sorted(role for role, _ in roles.values()) == ["primary", "standby"], roles
    assert [mode for role, mode in roles.values() if role == "primary"] == ["sync"], roles
    site = run_playbook("playbooks/site.yml", INVENTORY, timeout=900)
    assert site.returncode == 0, output(site)[-3000:]
    changed = {host: counts["changed"] for host, counts in play_recap(output(site)).items() if counts["changed"]}
    assert changed == {}, "site.yml after rejoin changed: %s" % changed


def test_takeover_is_refused_without_fencing_while_the_link_is_cut(lab_cli):
    ensure_namespace(KUBECONFIG, ZONE["room_a"])
    roles = datastore_roles()
    standby_room = OTHER[primary_room(roles)]
    cut = lab_cli("cut-link")
    try:
        assert cut.returncode == 0, cut.stdout + cut.stderr
        # Neither side accepts writes: the primary waits for its synchronous standby, the standby
        # side's kine cannot reach the primary.
        writers = [Writer(KUBECONFIG, zone, prefix="cut-%s" % zone, timeout=2).start() for zone in ZONE.values()]
        time.sleep(8)
        for w in writers:
            w.stop()
        assert [len(w.acked) for w in writers] == [0, 0], "a side accepted writes with the link cut"
        refused = takeover(OTHER[standby_room], fenced=False)
        assert refused.returncode != 0
        assert "cannot tell a dead primary from a cut link" in output(refused), output(refused)[-3000:]
    finally:
        restore = lab_cli("restore-link")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert datastore_roles() == roles, "the refused takeover changed the datastore"


@pytest.mark.parametrize("order", ["first", "second"])
def test_losing_the_primary_room_keeps_every_acknowledged_write(lab_cli, order):
    lost = primary_room(datastore_roles())
    gap = lose_room_and_take_over(lab_cli, lost)
    print("write gap after losing %s: %.1f s" % (lost, gap))
    bring_back(lab_cli, lost)
