"""Fixtures shared by the lab's integration tests.

The lab is brought up by `make lab` (playbooks/lab.yml + site.yml); these tests assert on it and never
start it themselves, so a missing lab is an error that says what to run, not a silent skip.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("TWINROOM_LAB_STATE", "/var/lib/twinroom-lab"))


@pytest.fixture(scope="session")
def topology():
    path = STATE / "topology.json"
    if not path.exists():
        pytest.fail("The lab is not up (%s missing): run `make lab` first." % path)
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def nodes(topology):
    return {n["name"]: n for n in topology["nodes"]}


@pytest.fixture(scope="session")
def lab_cli():
    def run(*args, timeout=180):
        return subprocess.run([str(REPO / "lab" / "bin" / "twinroom-lab"), *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
    return run


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    """A real kube-apiserver (kine on SQLite, loopback) with the KubeVirt and CDI CRDs installed.

    For module tests that need API validation and server-side dry run but no rooms: see apiserver.py.
    Its kubeconfig is `api.kubeconfig`. It is stopped at the end of the session.
    """
    from apiserver import ApiServer, crd_files
    with ApiServer(tmp_path_factory.mktemp("apiserver")) as server:
        for path in crd_files():
            server.install_crds(path)
        yield server
