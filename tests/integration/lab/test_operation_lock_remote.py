"""The operation lock on a host other than the controller, over the lab's SSH, as failover.yml and recover.yml take it
on the witness: there the module runs under a parent of its own that ends with the task. Without a lease the next
run finds that process gone and takes the lock over; on a lease it is refused until the lease ends, and the holder
renews and releases it by its holder_id from new processes.

The lock file lives in a directory of its own on a-cp1 (any lab node answers over SSH as a witness does), removed
by the finalizer."""
import json
import os
import subprocess

import pytest

from playbook import REPO

pytestmark = pytest.mark.lab

HOST = "a-cp1"
LOCK_DIR = "/tmp/twinroom-test-operation-lock"
LOCK = LOCK_DIR + "/operation.lock"


def ansible(module, args):
    """ansible HOST -m module: (return code, the host's result as a dict, the whole output for messages). The json
    callback puts the task's module name in the result's ``action``, so the tests read the lock itself."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    result = subprocess.run(["ansible", HOST, "-i", str(REPO / "inventories/lab"), "-m", module, "-a", args],
                            cwd=str(REPO), capture_output=True, text=True, timeout=120, check=False, env=env)
    text = result.stdout + result.stderr
    outcome = json.loads(result.stdout[result.stdout.index("{"):])["plays"][0]["tasks"][0]["hosts"][HOST]
    return result.returncode, outcome, text


def lock_module(holder, state="present", lease=None, lost_room="room_a"):
    """twinroom.ha.operation_lock on HOST: the module's parent on the node is the SSH session's shell."""
    args = dict(path=LOCK, state=state, holder_id=holder)
    if state == "present":
        args.update(operation="failover", room=lost_room)
    if lease is not None:
        args["lease_seconds"] = lease
    return ansible("twinroom.ha.operation_lock", json.dumps(args))


def lock_exists():
    return ansible("ansible.builtin.stat", "path=" + LOCK)[1]["stat"]["exists"]


@pytest.fixture
def lock_dir():
    yield LOCK_DIR
    subprocess.run(["ansible", HOST, "-i", str(REPO / "inventories/lab"), "-m", "ansible.builtin.file",
                    "-a", "path=%s state=absent" % LOCK_DIR], cwd=str(REPO), capture_output=True, timeout=120,
                   check=False)


def test_without_a_lease_the_next_run_takes_a_remote_lock_over(lock_dir):  # pylint: disable=redefined-outer-name,unused-argument
    """What a lease is for: the holder's process on the node is gone after its task."""
    code, taken, text = lock_module("run-a")
    assert code == 0 and taken["held"] and taken["broken"] is None and taken["lock"]["holder_id"] == "run-a", text
    assert "no ansible-playbook or ansible-runner process runs above this module" in " ".join(taken["warnings"]), text
    code, second, text = lock_module("run-b", lost_room="room_b")
    assert code == 0 and second["lock"]["holder_id"] == "run-b", text
    assert second["broken"]["holder_id"] == "run-a", text
    assert "and that process has ended." in second["warnings"][0], text


def test_on_a_lease_the_remote_lock_keeps_other_runs_out_until_released(lock_dir):  # pylint: disable=redefined-outer-name,unused-argument
    code, taken, text = lock_module("run-a", lease=300)
    assert code == 0 and taken["broken"] is None and taken["lock"]["expires"], text
    assert not taken.get("warnings"), text

    code, refused, text = lock_module("run-b", lease=300, lost_room="room_b")
    assert code != 0, text
    assert refused["msg"].startswith("refusing to start failover of room_b: a failover of room_a holds the lock since "
                                     "%s (root@a-cp1, pid %d) on a lease until %s, which that run renews while it "
                                     "works." % (taken["lock"]["started"], taken["lock"]["pid"],
                                                 taken["lock"]["expires"])), text

    code, renewed, text = lock_module("run-a", lease=600)
    assert code == 0 and renewed["changed"] and renewed["lock"]["holder_id"] == "run-a", text
    assert renewed["lock"]["lease_seconds"] == 600 and renewed["lock"]["renewed"], text
    assert renewed["lock"]["expires"] > taken["lock"]["expires"], text

    code, left, text = lock_module("run-b", state="absent", lease=300)
    assert code == 0 and not left["changed"] and not left["held"] and left["lock"]["holder_id"] == "run-a", text
    assert lock_exists(), "another run's release left the lock in place"

    code, released, text = lock_module("run-a", state="absent", lease=300)
    assert code == 0 and released["changed"] and released["lock"] is None, text
    assert not lock_exists(), "the holder's release removed the lock"
