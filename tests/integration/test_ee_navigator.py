"""The execution environment (execution-environment.yml, built by scripts/build-ee.sh) runs the collection's
playbooks under ansible-navigator as AWX would run them in it: the collection, ansible-core and every Python and
system dependency come from the image, nothing from this machine's virtualenv.

Run by `make ee`, which builds the image first; not part of `make test` (the cold build downloads and installs the
image's packages). The lab tests need the lab (`make lab`)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labutil import out_of_service

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))
from twinroom_lab import drill, routes, topology  # noqa: E402  pylint: disable=wrong-import-position

GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
IMAGE = "localhost/twinroom-ha-ee:%s" % GALAXY["version"]
PINNED = dict((name, "sha256:" + "0" * 64) for name in (
    "kine_datastore_kine_checksum", "storage_layer_piraeus_operator_checksum", "kubevirt_operator_checksum",
    "kubevirt_cdi_operator_checksum"))
EXAMPLE_BMC = dict(("vault_twinroom_bmc_%s_%s" % (what, room), "fencer-%s-%s" % (what, room))
                   for what in ("username", "password") for room in ("room_a", "room_b"))

pytestmark = pytest.mark.ee


@pytest.fixture(scope="module")
def image():
    navigator = shutil.which("ansible-navigator")
    assert navigator, "ansible-navigator is not installed: pip install -r requirements.txt"
    found = subprocess.run(["podman", "image", "exists", IMAGE], check=False)
    assert found.returncode == 0, "%s is not built: run scripts/build-ee.sh (make ee does)" % IMAGE
    return IMAGE


def navigator_run(tmp_path, playbook, inventory, extra_vars=None, state_dir=None):
    """ansible-navigator run in stdout mode inside the EE, with the host's network (the lab's addresses are routed
    through its bridges) and, for the lab, its state directory (kubeconfig, PKI, SSH key) mounted where the lab's
    inventory names it, with the build cache its binary sources point into. The playbook and inventory come from this
    checkout, the collection from the image."""
    argv = [shutil.which("ansible-navigator"), "run", playbook, "-i", inventory, "--mode", "stdout",
            "--execution-environment", "true", "--container-engine", "podman",
            "--execution-environment-image", IMAGE, "--pull-policy", "never",
            "--playbook-artifact-enable", "false", "--log-file", str(tmp_path / "navigator.log"),
            "--container-options=--net=host"]
    if state_dir:
        # The lab's state (kubeconfig, PKI, SSH key) and its binary sources (file:// URLs into the build cache, where
        # a site names its mirror), at the paths the lab's inventory gives.
        cache = os.environ.get("TWINROOM_CACHE", "/var/cache/twinroom")
        argv += ["--execution-environment-volume-mounts", "%s:%s:Z" % (state_dir, state_dir),
                 "--execution-environment-volume-mounts", "%s:%s:ro" % (cache, cache)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    ran = subprocess.run(argv, cwd=REPO, env=navigator_env(tmp_path), capture_output=True, text=True, timeout=900,
                         check=False)
    return ran.returncode, ran.stdout + ran.stderr


def navigator_env(tmp_path):
    """No ANSIBLE_* setting of this machine's virtualenv, and a PATH without it: ansible-navigator is started by its
    full path, and no ansible-playbook of this machine could run the playbook."""
    env = dict((key, value) for key, value in os.environ.items()
               if not key.startswith("ANSIBLE_") and key not in ("VIRTUAL_ENV", "PATH"))
    env.update(PATH="/usr/sbin:/usr/bin:/sbin:/bin", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NAVIGATOR_CONFIG=str(tmp_path / "navigator.yml"))
    (tmp_path / "navigator.yml").write_text("---\nansible-navigator: {}\n")
    assert shutil.which("ansible-playbook", path=env["PATH"]) is None
    return env


def recap(text):
    """host -> its PLAY RECAP counters."""
    hosts = {}
    for line in text.split("PLAY RECAP")[-1].splitlines():
        if " : ok=" in line:
            host, counters = line.split(" : ", 1)
            hosts[host.strip()] = dict((k, int(v)) for k, v in (item.split("=") for item in counters.split()))
    return hosts


def test_the_ee_holds_the_collection_and_its_own_python(image, tmp_path):
    argv = [shutil.which("ansible-navigator"), "exec", "--mode", "stdout", "--container-engine", "podman",
            "--execution-environment-image", image, "--pull-policy", "never", "--log-file", str(tmp_path / "nav.log"),
            "--", "ansible-galaxy collection list twinroom.ha; python3 --version; cat /etc/debian_version; "
            "command -v fence_redfish fence_ipmilan ipmitool"]
    ran = subprocess.run(argv, cwd=REPO, env=navigator_env(tmp_path), capture_output=True, text=True, timeout=300,
                         check=False)
    text = ran.stdout + ran.stderr
    assert ran.returncode == 0, text[-2000:]
    assert "# /usr/share/ansible/collections/ansible_collections" in text, text
    assert re.search(r"^twinroom\.ha\s+%s\s*$" % re.escape(GALAXY["version"]), text, re.M), text
    assert re.search(r"^Python 3\.11\.", text, re.M) and re.search(r"^12\.\d+$", text, re.M), text
    for tool in ("fence_redfish", "fence_ipmilan", "ipmitool"):
        assert re.search(r"^/usr/s?bin/%s$" % tool, text, re.M), text


def test_validate_runs_in_the_ee_on_the_example_inventory(image, tmp_path):
    del image
    rc, text = navigator_run(tmp_path, "playbooks/validate.yml", "inventories/example", dict(PINNED, **EXAMPLE_BMC))
    assert rc == 0, text[-3000:]
    assert list(recap(text)) == ["localhost"], text[-2000:]
    assert "fencer-password-room_a" not in text


def test_validate_in_the_ee_refuses_the_example_inventory_as_shipped(image, tmp_path):
    del image
    rc, text = navigator_run(tmp_path, "playbooks/validate.yml", "inventories/example")
    assert rc == 2, text[-3000:]
    flat = " ".join(text.split())
    assert "kine_datastore_kine_checksum is empty (a placeholder to fill in)" in flat, flat[-3000:]
    assert "('vault_twinroom_bmc_password_room_a' is undefined)" in flat, flat[-3000:]


@pytest.mark.lab
def test_failover_in_the_ee_reads_the_lab_and_refuses_a_healthy_room(image, tmp_path):
    """From inside the EE: the lab's API servers, its BMCs (fence agents of the image) and its datastore are
    reached, and the decision refuses to fail over a room that answers. Nothing changes."""
    del image
    routes.verify(topology.load(), say=lambda line: None)
    rc, text = navigator_run(tmp_path, "playbooks/failover.yml", drill.INVENTORY,
                             {"lost_room": "room_a", "failover_settle_seconds": 3}, state_dir=str(drill.STATE))
    flat = " ".join(text.split())
    assert rc == 2, flat[-3000:]
    assert "room_a looks healthy" in flat, flat[-3000:]
    assert out_of_service(drill.KUBECONFIG, "room-b") == []


@pytest.mark.lab
def test_recover_in_the_ee_on_a_healthy_lab_changes_nothing(image, tmp_path):
    """recover.yml for room_a from inside the EE, over SSH to every node (the lab's key from its state directory),
    through the BMCs, the API servers and the datastore: with both rooms up there is nothing to bring back."""
    del image
    routes.verify(topology.load(), say=lambda line: None)
    rc, text = navigator_run(tmp_path, "playbooks/recover.yml", drill.INVENTORY, {"lost_room": "room_a"},
                             state_dir=str(drill.STATE))
    assert rc == 0, text[-3000:]
    counts = recap(text)
    assert set(counts) >= {"localhost", "a-cp1", "b-cp1"}, text[-2000:]
    assert all(c["failed"] == 0 and c["unreachable"] == 0 and c["changed"] == 0 for c in counts.values()), counts
