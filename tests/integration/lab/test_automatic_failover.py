"""The automatic failover on the lab: the real ansible-rulebook runs extensions/eda/rulebooks/automatic_failover.yml
with the event source twinroom.ha.room_watch, configured by site.yml (twinroom_automatic_failover: true in the lab's
inventory), and nobody starts failover.yml.

- the inter-room link cut for longer than the detection time, both rooms powered: no failover;
- the room holding the datastore primary loses power, its BMCs answering: the rulebook runs failover.yml for it,
  once, and the report says so (trigger room_watch). The time from the power cut to the failover's end is printed
  by this test's own clock, not asserted (benchmarks/ is where RTO figures come from).
"""
import json
import sys
import time
from pathlib import Path

import pytest

from labutil import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab


def reports(room, since):
    return sorted(path for path in (drill.STATE / "reports").glob("failover-%s-*.json" % room)
                  if path.stat().st_mtime >= since)


@pytest.fixture
def rulebook(tmp_path, lab_restored):  # pylint: disable=unused-argument,redefined-outer-name
    """ansible-rulebook running the automatic failover's rulebook with what site.yml wrote, stopped afterwards
    (drill.Rulebook: the storm guard's memory removed before and after); lab_restored then recovers whatever room
    it failed over."""
    running = drill.Rulebook(tmp_path / "rulebook.log")
    try:
        running.start()
    except drill.DrillError as exc:
        pytest.fail(str(exc))
    try:
        yield running
    finally:
        running.stop()
        print("ansible-rulebook's output (end):\n%s" % running.output()[-2000:])


def test_a_cut_link_is_not_failed_over_and_a_lost_room_is(rulebook):  # pylint: disable=redefined-outer-name
    primary = drill.primary_room(drill.datastore_roles())
    since = time.time()
    time.sleep(6)  # a few observations of both rooms first

    # The link cut for three times the detection time: each room's API server loses the other room, the watch
    # still sees both: no failover.
    drill.lab("cut-link")
    try:
        time.sleep(30)
    finally:
        drill.lab("restore-link")
    assert rulebook.running(), rulebook.output()[-3000:]
    for room in drill.ZONE:
        assert reports(room, since) == [], "a cut link was failed over: %s" % reports(room, since)
    assert "PLAY [Start the failover clock]" not in rulebook.output(), rulebook.output()[-3000:]
    assert "The link between the rooms is cut" in " ".join(rulebook.output().split()), \
        "the watch raised no alarm for the cut link: %s" % rulebook.output()[-3000:]

    # Power lost in the room holding the datastore primary; nobody starts anything.
    time.sleep(15)  # the link's writes catch up and the leases renew before the room goes
    cut = time.monotonic()
    cut_at = time.time()
    drill.lab("power-off-room", primary, "--bmc", "answering")
    found = wait_for(lambda: [json.loads(path.read_text()) for path in reports(primary, cut_at)], 300,
                     "a failover report of %s written by the automatic failover" % primary)
    seen = time.monotonic() - cut
    report = found[0]
    assert report["trigger"] == "room_watch", report
    assert report["survivor"] == drill.OTHER[primary], report
    done_after_cut = float(report["started"]) + float(report["rto_s"]) - cut_at
    print("automatic failover of %s: report seen %.1f s after the power cut (this test's clock, looking every second); "
          "failover.yml's end %.1f s after the cut (its report's end against this test's cut time); "
          "failover.yml's own RTO %s s" % (primary, seen, done_after_cut, report["rto_s"]))

    # Never twice: the watch keeps running, the room stays lost, and no second failover starts.
    time.sleep(20)
    assert len(reports(primary, cut_at)) == 1, reports(primary, cut_at)
    assert rulebook.running(), rulebook.output()[-3000:]
