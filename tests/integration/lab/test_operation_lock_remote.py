"""The operation lock on a host other than the controller, over the lab's SSH, as failover.yml and recover.yml take it
on the witness: there the module runs under a parent of its own that ends with the task. Without a lease the next
run finds that process gone and takes the lock over; on a lease it is refused until the lease ends, and the holder
renews and releases it by its holder_id from new processes.

The lock file lives in a directory of its own on a-cp1 (any lab node answers over SSH as a witness does), removed
by the finalizer."""
import json
import subprocess

import pytest

from playbook import REPO

pytestmark = pytest.mark.lab

HOST = "a-cp1"
LOCK_DIR = "/tmp/twinroom-test-operation-lock"
LOCK = LOCK_DIR + "/operation.lock"


def lock_module(holder, state="present", lease=None, lost_room="room_a"):
    """ansible HOST -m twinroom.ha.operation_lock: the module's parent on the node is the SSH session's shell."""
    args = dict(path=LOCK, state=state, holder_id=holder)
    if state == "present":
        args.update(operation="failover", room=lost_room)
    if lease is not None:
        args["lease_seconds"] = lease
    result = subprocess.run(
        ["ansible", HOST, "-i", str(REPO / "inventories/lab"), "-m", "twinroom.ha.operation_lock",
         "-a", json.dumps(args), "-o"],
        cwd=str(REPO), capture_output=True, text=True, timeout=120, check=False)
    return result.returncode, result.stdout + result.stderr


def read_lock():
    result = subprocess.run(["ansible", HOST, "-i", str(REPO / "inventories/lab"), "-m", "ansible.builtin.slurp",
                             "-a", "src=" + LOCK, "-o"], cwd=str(REPO), capture_output=True, text=True, timeout=120,
                            check=False)
    return result.returncode, result.stdout


@pytest.fixture
def lock_dir():
    yield LOCK_DIR
    subprocess.run(["ansible", HOST, "-i", str(REPO / "inventories/lab"), "-m", "ansible.builtin.file",
                    "-a", "path=%s state=absent" % LOCK_DIR], cwd=str(REPO), capture_output=True, timeout=120,
                   check=False)


def test_without_a_lease_the_next_run_takes_a_remote_lock_over(lock_dir):  # pylint: disable=redefined-outer-name,unused-argument
    """What a lease is for: the holder's process on the node is gone after its task."""
    code, text = lock_module("run-a")
    assert code == 0 and '"action": "take"' in text, text
    assert "no ansible-playbook or ansible-runner process runs above this module" in text, text
    code, text = lock_module("run-b", lost_room="room_b")
    assert code == 0 and '"action": "take_over"' in text, text
    assert "and that process has ended" in text, text


def test_on_a_lease_the_remote_lock_keeps_other_runs_out_until_released(lock_dir):  # pylint: disable=redefined-outer-name,unused-argument
    code, text = lock_module("run-a", lease=300)
    assert code == 0 and '"action": "take"' in text and '"expires": "' in text, text
    assert "no ansible-playbook" not in text, text

    code, text = lock_module("run-b", lease=300, lost_room="room_b")
    assert code != 0, text
    assert "refusing to start failover of room_b: a failover of room_a holds the lock since " in text, text
    assert "on a lease until " in text and "which that run renews while it works." in text, text

    code, text = lock_module("run-a", lease=600)
    assert code == 0 and '"action": "renew"' in text and '"renewed": "' in text, text
    assert '"lease_seconds": 600' in text, text

    code, text = lock_module("run-b", state="absent", lease=300)
    assert code == 0 and '"action": "leave"' in text, text
    assert read_lock()[0] == 0, "another run's release left the lock in place"

    code, text = lock_module("run-a", state="absent", lease=300)
    assert code == 0 and '"action": "release"' in text, text
    code, _text = read_lock()
    assert code != 0, "the holder's release removed the lock"
