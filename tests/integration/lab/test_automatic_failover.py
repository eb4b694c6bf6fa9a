"""The automatic failover on the lab: the real ansible-rulebook runs extensions/eda/rulebooks/automatic_failover.yml
with the event source twinroom.ha.room_watch, configured by site.yml (twinroom_automatic_failover: true in the lab's
inventory), and nobody starts failover.yml.

- the inter-room link cut for longer than the detection time, both rooms powered: no failover;
- the room holding the datastore primary loses power, its BMCs answering: the rulebook runs failover.yml for it,
  once, and the report says so (trigger room_watch). The time from the power cut to the failover's end is printed
  by this test's own clock, not asserted (benchmarks/ is where RTO figures come from).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from labutil import wait_for
from playbook import REPO

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

WATCH_DIR = drill.STATE / "room-watch"


def reports(room, since):
    return sorted(path for path in (drill.STATE / "reports").glob("failover-%s-*.json" % room)
                  if path.stat().st_mtime >= since)


@pytest.fixture
def rulebook(tmp_path, lab_restored):  # pylint: disable=unused-argument,redefined-outer-name
    """ansible-rulebook running the automatic failover's rulebook with what site.yml wrote; stopped afterwards, its
    storm-guard memory removed (lab_restored then recovers whatever room it failed over)."""
    variables = WATCH_DIR / "room-watch-vars.yml"
    assert variables.exists(), "site.yml did not write %s (twinroom_automatic_failover: true)" % variables
    state = Path(yaml.safe_load(variables.read_text())["twinroom_watch_config"])
    state = Path(json.loads(state.read_text())["state_file"])
    if state.exists():
        state.unlink()
    log = tmp_path / "rulebook.log"
    with open(log, "w") as stream:
        process = subprocess.Popen(
            ["ansible-rulebook", "--rulebook", "twinroom.ha.automatic_failover", "-i", str(REPO / drill.INVENTORY),
             "--vars", str(variables), "-v"],
            cwd=str(tmp_path), stdout=stream, stderr=subprocess.STDOUT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
            start_new_session=True)
    try:
        wait_for(lambda: "load source twinroom.ha.room_watch" in log.read_text() or process.poll() is not None, 120,
                 "ansible-rulebook loading the room watch")
        assert process.poll() is None, "ansible-rulebook ended: %s" % log.read_text()[-3000:]
        yield process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        print("ansible-rulebook's log (end):\n%s" % log.read_text()[-2000:])
        if state.exists():
            state.unlink()


def test_a_cut_link_is_not_failed_over_and_a_lost_room_is(rulebook):  # pylint: disable=redefined-outer-name
    process, log = rulebook
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
    assert process.poll() is None, log.read_text()[-3000:]
    for room in drill.ZONE:
        assert reports(room, since) == [], "a cut link was failed over: %s" % reports(room, since)
    assert "run_playbook" not in log.read_text() or "failover.yml" not in log.read_text(), log.read_text()[-3000:]

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
    assert process.poll() is None, log.read_text()[-3000:]
