"""The failover job template run as AWX runs it (ansible-runner, AWX's private data directory, the credentials'
injectors) against the lab: the survey's answers and the injected kubeconfig, BMC login and datastore passwords
carry the failover as far as its decision, which refuses to fail over a healthy room and changes nothing."""
import sys
from pathlib import Path

import pytest

import awx_job
from labutil import out_of_service

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab


def lab_credentials():
    """The lab's kubeconfig, BMC login and datastore passwords, as an operator would enter them into AWX."""
    secrets = drill.STATE / "credentials"
    return {
        "bmc": {"username": "admin", "password": "twinroom-lab-bmc"},
        "kubeconfig": {"kubeconfig": Path(drill.KUBECONFIG).read_text()},
        "datastore": {"password": (secrets / "kine-db").read_text().strip(),
                      "replication_password": (secrets / "replication").read_text().strip()},
    }


def test_the_failover_job_refuses_a_healthy_room_through_the_injected_credentials(tmp_path):
    template = awx_job.template("failover")
    answers = {"lost_room": "room_a", "confirm_room_down": "", "force": "false", "failover_settle_seconds": 3,
               "discard_newer_writes": ""}
    job = awx_job.run(awx_job.private_data_dir(tmp_path, template, drill.INVENTORY, answers=answers,
                                               credentials=lab_credentials()), template)
    text = " ".join(awx_job.stdout(job).split())
    assert (job.status, job.rc) == ("failed", 2), text[-3000:]
    # The decision read the rooms through the survivor's API server, with the kubeconfig the credential wrote.
    assert "room_a looks healthy" in text, text[-3000:]
    assert out_of_service(drill.KUBECONFIG, "room-b") == []
    assert "twinroom-lab-bmc" not in text
