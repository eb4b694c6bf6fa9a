"""What isolation_guard leaves on a machine of each room (no witness, room A preferred): the guard running under
systemd's watchdog, its configuration checked and written, each guard seeing the other room; then room A cut off from
b-w1: b-w1's guard powers its node off (the container ends) within isolation_seconds and a few rounds, and a-w1,
in the preferred room, stays up."""
import json
import os
import subprocess
import time

import pytest

PREFERRED, OTHER = "a-w1", "b-w1"
ISOLATION_SECONDS = 12  # molecule.yml's twinroom_isolation_seconds


def name(host):
    return host.backend.get_hostname()


def state(host):
    return json.loads(host.check_output("cat /run/twinroom/isolation-guard.json"))


def running(container):
    inspected = subprocess.run(["podman", "inspect", "--format", "{{.State.Running}}", container],
                               capture_output=True, text=True, timeout=30, check=True)
    return inspected.stdout.strip() == "true"


def test_the_guard_runs_under_the_watchdog_and_starts_at_boot(host):
    guard = host.service("twinroom-isolation-guard")
    assert guard.is_running and guard.is_enabled
    unit = host.check_output("systemctl show twinroom-isolation-guard -p Type -p WatchdogUSec -p Restart")
    assert unit.splitlines() == ["Type=notify", "Restart=always", "WatchdogUSec=10s"], unit


def test_the_code_and_configuration_are_roots(host):
    for path, mode in (("/usr/local/sbin/twinroom-isolation-guard", 0o755), ("/etc/twinroom", 0o700),
                       ("/etc/twinroom/isolation-guard.json", 0o644)):
        found = host.file(path)
        assert (found.user, found.group, found.mode) == ("root", "root", mode), path
    config = json.loads(host.check_output("cat /etc/twinroom/isolation-guard.json"))
    assert config["own_room"] == ("room_a" if name(host) == PREFERRED else "room_b")
    assert config["witness_url"] is None
    assert config["settings"]["preferred_room"] == "room_a"


def test_each_guard_sees_the_other_room(host):
    read = state(host)
    assert read["status"] == ("never" if name(host) == PREFERRED else "contact"), read
    assert read["isolate"] is False, read
    other = "room_b" if name(host) == PREFERRED else "room_a"
    assert read["seen_now"] == {other: True, "witness": None}, read
    assert [target["answered"] for target in read["targets"]] == [True], read


def test_the_node_outside_the_preferred_room_powers_itself_off_when_it_loses_that_room(host):
    # Last in the run: testinfra runs every test for a-w1, then for b-w1, and this one ends b-w1.
    if name(host) != OTHER:
        pytest.skip("room A is cut off from b-w1 once, after b-w1's other tests")
    preferred = host.get_host("ansible://" + PREFERRED, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])
    assert state(host)["status"] == "contact"
    preferred.run_expect([0], "systemctl stop ssh.socket ssh.service")  # what the guards probe (port 22)
    cut = time.monotonic()
    try:
        deadline = cut + ISOLATION_SECONDS + 30
        while running(OTHER) and time.monotonic() < deadline:
            time.sleep(1)
        off_after = time.monotonic() - cut
        assert not running(OTHER), "b-w1 still runs %.0f s after it lost room A" % off_after
        # Not before isolation_seconds: it must not go down while the other side may not have declared it lost.
        assert off_after >= ISOLATION_SECONDS - 1, "b-w1 went down %.1f s after the cut" % off_after
        assert running(PREFERRED)
        assert state(preferred)["status"] == "never"
    finally:
        preferred.run("systemctl start ssh.service")
