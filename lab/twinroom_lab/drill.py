"""Control-plane drills on the lab: lose the room holding the datastore primary, take over, measure,
bring the room back. Used by the integration tests and by benchmarks/control_plane_write_gap.py.

Every step is the real thing: the room's containers are killed and its BMCs report Off; the takeover
is playbooks/control_plane_takeover.yml; the rejoin is playbooks/control_plane_rejoin.yml.
"""

import json
import os
import subprocess
import time
from pathlib import Path

from .writer import Writer, ensure_namespace, missing_acknowledged

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("TWINROOM_LAB_STATE", "/var/lib/twinroom-lab"))
KUBECONFIG = str(STATE / "admin.kubeconfig")
INVENTORY = "inventories/lab"
ZONE = {"room_a": "room-a", "room_b": "room-b"}
OTHER = {"room_a": "room_b", "room_b": "room_a"}


class DrillError(RuntimeError):
    pass


def run_playbook(playbook, extra_vars=None, timeout=900):
    command = ["ansible-playbook", "-i", INVENTORY, playbook]
    if extra_vars:
        command += ["--extra-vars", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def lab(*args, timeout=300):
    result = subprocess.run([str(REPO / "lab" / "bin" / "twinroom-lab"), *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    if result.returncode != 0:
        raise DrillError("twinroom-lab %s failed: %s" % (" ".join(args), (result.stdout + result.stderr)[-2000:]))
    return result


def datastore_roles():
    """{control-plane host: (role, replication mode)} from twinroom.ha.datastore_info."""
    result = run_playbook("tests/integration/fixtures/datastore_roles.yml", timeout=300)
    roles = {}
    for line in (result.stdout + result.stderr).splitlines():
        if "DATASTORE_ROLE" in line:
            host, role, mode = line.split("DATASTORE_ROLE", 1)[1].strip().strip("'\"").split(":")
            roles[host] = (role, mode)
    return roles


def primary_room(roles):
    primary = [host for host, (role, _mode) in roles.items() if role == "primary"]
    if len(primary) != 1:
        raise DrillError("expected exactly one datastore primary, found %s" % roles)
    return "room_a" if primary[0].startswith("a-") else "room_b"


def takeover(lost_room, fenced):
    return run_playbook("playbooks/control_plane_takeover.yml",
                        extra_vars={"lost_room": lost_room, "lost_room_fenced": fenced}, timeout=600)


def lose_room(lost_room, warmup=3.0, settle=3.0):
    """Power the room off (BMCs answering), take over in the other room, and measure.

    Returns a dict: lost_room, gap (s, last acknowledged write before the loss to the first after the
    takeover), from_takeover (s, takeover start to first acknowledged write), takeover_run (s, the
    playbook's duration), acknowledged, lost (acknowledged writes missing afterwards).
    """
    survivor = OTHER[lost_room]
    ensure_namespace(KUBECONFIG, ZONE[survivor])
    writer = Writer(KUBECONFIG, ZONE[survivor], prefix="drill-%s-%d" % (lost_room.replace("_", ""), time.time()))
    writer.start()
    time.sleep(warmup)
    if not writer.acked:
        writer.stop()
        raise DrillError("the writer could not write through %s before the room loss" % ZONE[survivor])
    lost_at = time.monotonic()
    lab("power-off-room", lost_room, "--bmc", "answering")
    takeover_start = time.monotonic()
    taken = takeover(lost_room, fenced=True)
    takeover_end = time.monotonic()
    if taken.returncode != 0:
        writer.stop()
        raise DrillError("takeover failed:\n%s" % (taken.stdout + taken.stderr)[-3000:])
    time.sleep(settle)
    writer.stop()
    outage = writer.outage(lost_at)
    if outage is None:
        raise DrillError("no write was acknowledged after the takeover")
    last_before, first_after = outage
    missing = missing_acknowledged(KUBECONFIG, ZONE[survivor], [writer])
    return {
        "lost_room": lost_room,
        "gap": first_after - last_before,
        "from_takeover": first_after - takeover_start,
        "takeover_run": takeover_end - takeover_start,
        "acknowledged": len(writer.acked),
        "lost": missing,
    }


def bring_back(room):
    """Power the room on and rejoin its control-plane node; returns the rejoin playbook's result."""
    lab("power-on-room", room)
    return run_playbook("playbooks/control_plane_rejoin.yml", timeout=900)
