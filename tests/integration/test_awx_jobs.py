"""The validate and drill job templates run as AWX runs them (ansible-runner, AWX's private data directory, the
credentials' injectors) on the example inventory, contacting no node. tests/integration/lab/test_awx_failover_job.py
runs the failover template against the lab."""
import awx_job

# What the credentials would hold in AWX; the secrets must never reach the job's output.
CREDENTIALS = {
    "bmc": {"username": "fence", "password": "bmc-secret-1f3a"},
    "kubeconfig": {"kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"},
    "datastore": {"password": "kine-secret-77c2", "replication_password": "replication-secret-0b9d"},
}
SECRETS = ("bmc-secret-1f3a", "kine-secret-77c2", "replication-secret-0b9d")
# The example inventory leaves these empty on purpose (validate refuses until a site pins what it verified).
EXAMPLE_CHECKSUMS = ("kine_datastore_kine_checksum", "storage_layer_piraeus_operator_checksum",
                     "kubevirt_operator_checksum", "kubevirt_cdi_operator_checksum")


def test_the_validate_job_refuses_the_example_inventory_as_shipped_naming_the_placeholders(tmp_path):
    template = awx_job.template("validate")
    job = awx_job.run(awx_job.private_data_dir(tmp_path, template, "inventories/example", credentials=CREDENTIALS),
                      template)
    text = " ".join(awx_job.stdout(job).split())
    assert (job.status, job.rc) == ("failed", 2), text[-2000:]
    for name in EXAMPLE_CHECKSUMS:
        assert "%s is empty (a placeholder to fill in)" % name in text, text[-3000:]


def test_the_validate_job_passes_with_the_checksums_pinned_and_shows_no_secret(tmp_path):
    template = awx_job.template("validate")
    pinned = dict((name, "sha256:" + "0" * 64) for name in EXAMPLE_CHECKSUMS)
    job = awx_job.run(awx_job.private_data_dir(tmp_path, template, "inventories/example", answers=pinned,
                                               credentials=CREDENTIALS), template)
    text = awx_job.stdout(job)
    assert (job.status, job.rc) == ("successful", 0), text[-3000:]
    assert list(job.stats["ok"]) == ["localhost"], job.stats
    assert not [secret for secret in SECRETS if secret in text]


def test_the_drill_job_refuses_a_room_the_inventory_does_not_have_before_anything_is_asked(tmp_path):
    """AWX itself keeps a survey's answer among its choices; an answer edited in the template's extra vars, or a
    survey left behind by a renamed room, still reaches the playbook, which refuses before asking any node or BMC."""
    template = awx_job.template("drill")
    pinned = dict((name, "sha256:" + "0" * 64) for name in EXAMPLE_CHECKSUMS)
    job = awx_job.run(awx_job.private_data_dir(tmp_path, template, "inventories/example",
                                               answers=dict(pinned, lost_room="room_c", force="true"),
                                               credentials=CREDENTIALS), template)
    text = " ".join(awx_job.stdout(job).split())
    assert (job.status, job.rc) == ("failed", 2), text[-2000:]
    assert "Unknown room 'room_c': choose room_a or room_b (-e lost_room=room_a)." in text, text[-2000:]
    assert list(job.stats["processed"]) == ["localhost"], job.stats
