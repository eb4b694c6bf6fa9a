"""Control-plane takeover on the lab's real PostgreSQL, kine and kube-apiservers.

The tests run in file order and leave the lab as site.yml builds it: a cut link is refused and
restored; then (the drills, `make drills`) the room holding the primary is lost and taken over by the other
room, and returns; then again the other way round. Throughout, a writer records every write the API server acknowledged;
each must still be there afterwards.
"""
import sys
import time
from pathlib import Path

import pytest

from playbook import failed_tasks, output, play_recap, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position
from twinroom_lab.writer import Writer, ensure_namespace  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab


def test_takeover_is_refused_without_fencing_while_the_link_is_cut(lab_cli, lab_restored):  # pylint: disable=unused-argument
    ensure_namespace(drill.KUBECONFIG, drill.ZONE["room_a"])
    roles = drill.datastore_roles()
    primary = drill.primary_room(roles)
    cut = lab_cli("cut-link")
    try:
        assert cut.returncode == 0, cut.stdout + cut.stderr
        # Neither side accepts writes: the primary waits for its synchronous standby, the standby
        # side's kine cannot reach the primary.
        writers = [Writer(drill.KUBECONFIG, zone, prefix="cut-%s" % zone).start() for zone in drill.ZONE.values()]
        time.sleep(8)
        for writer in writers:
            writer.stop()
        assert [len(w.acked) for w in writers] == [0, 0], "a side accepted writes with the link cut"
        refused = drill.takeover(primary, fenced=False)
        assert refused.returncode != 0
        assert "cannot tell a dead primary from a cut link" in output(refused), output(refused)[-3000:]
    finally:
        restore = lab_cli("restore-link")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert drill.datastore_roles() == roles, "the refused takeover changed the datastore"


# Four to five minutes each: `make drills` runs them. make test keeps the link-cut refusal above; the loss of the
# primary room with a writer checking every acknowledged write is in make test through failover.yml
# (test_failover_safety.py, the room lost during recovery).
@pytest.mark.drill
@pytest.mark.parametrize("order", ["first", "second"])
def test_losing_the_primary_room_keeps_every_acknowledged_write(order, lab_restored):  # pylint: disable=unused-argument
    lost = drill.primary_room(drill.datastore_roles())
    result = drill.lose_room(lost)
    print("%s loss of %s: write gap %.1f s, %.1f s from the takeover's start, %d writes acknowledged"
          % (order, lost, result["gap"], result["from_takeover"], result["acknowledged"]))
    assert result["lost"] == [], "acknowledged writes lost: %s" % result["lost"][:10]

    rejoin = drill.bring_back(lost)
    assert rejoin.returncode == 0, failed_tasks(rejoin)
    roles = drill.datastore_roles()
    assert sorted(role for role, _mode in roles.values()) == ["primary", "standby"], roles
    assert [mode for role, mode in roles.values() if role == "primary"] == ["sync"], roles
    assert drill.primary_room(roles) == drill.OTHER[lost], "the returned room took the primary back"
    site = run_playbook("playbooks/site.yml", drill.INVENTORY, timeout=900)
    assert site.returncode == 0, failed_tasks(site)
    changed = {host: counts["changed"] for host, counts in play_recap(output(site)).items() if counts["changed"]}
    assert changed == {}, "site.yml after the rejoin changed: %s" % changed
