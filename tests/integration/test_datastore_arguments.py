"""Bad arguments to twinroom.ha.datastore fail before anything is read or changed, with a message
that names the problem. Runs the module through Ansible on the controller; no PostgreSQL needed,
because argument checks come first."""
import json
import os
import socket
import subprocess

import pytest

HOST = socket.gethostname()

CASES = [
    ("state=primary", "state is primary but all of the following are missing: peer_address"),
    ("state=sideways peer_address=192.0.2.10", "value of state must be one of: primary, standby, got: sideways"),
    ("", "one of the following is required: state, synchronous"),
    ("state=standby peer_address=192.0.2.10 synchronous=true",
     "synchronous cannot be combined with state: standby: it is a setting of the primary. "
     "Run it on the primary once %s streams." % HOST),
]


def run_module(args):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    result = subprocess.run(["ansible", "localhost", "-m", "twinroom.ha.datastore", "-a", args],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("args,message", CASES, ids=[c[0] or "no-arguments" for c in CASES])
def test_bad_arguments_fail_with_the_exact_message(args, message):
    returncode, report = run_module(args)
    task_result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert returncode != 0
    assert task_result["failed"] is True
    assert task_result["msg"] == message
    assert task_result.get("changed", False) is False
