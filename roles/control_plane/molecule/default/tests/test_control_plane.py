"""What control_plane leaves on a pair of machines with the datastore: an API server, controller-manager and scheduler
in each room on the one datastore through kine over TLS, what one room writes the other reads, and every key and
kubeconfig readable by root alone."""
import os
import uuid

import pytest
from kubernetes import client, config

PRIMARY = "a-cp1"
ADMIN = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "state", "admin.kubeconfig")
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def name(host):
    return host.backend.get_hostname()


def core(context):
    return client.CoreV1Api(config.new_client_from_config(config_file=ADMIN, context=context))


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_runs_as_a_service(host, component):
    assert host.service(component).is_running
    assert host.service(component).is_enabled


def test_the_api_server_is_ready_and_stores_through_kine_over_tls(host):
    assert host.check_output("curl -sS --cacert /etc/kubernetes/pki/ca.crt https://127.0.0.1:6443/readyz") == "ok"
    unit = host.check_output("systemctl cat kube-apiserver")
    assert "--etcd-servers=https://127.0.0.1:2379" in unit, unit


def test_what_one_room_writes_the_other_reads(host):
    if name(host) != PRIMARY:
        pytest.skip("the controller asks both rooms once")
    written = "molecule-%s" % uuid.uuid4().hex[:8]
    core("room-a").create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=written), data={"room": "a"}), _request_timeout=10)
    try:
        assert core("room-b").read_namespaced_config_map(written, "default", _request_timeout=10).data == {"room": "a"}
    finally:
        core("room-b").delete_namespaced_config_map(written, "default", _request_timeout=10)


def test_the_controller_manager_and_scheduler_hold_their_leases(host):
    if name(host) != PRIMARY:
        pytest.skip("the leases are read once, through the controller")
    leases = client.CoordinationV1Api(config.new_client_from_config(config_file=ADMIN, context="room-a"))
    holders = dict((lease.metadata.name, lease.spec.holder_identity)
                   for lease in leases.list_namespaced_lease("kube-system", _request_timeout=10).items)
    assert holders.get("kube-controller-manager") and holders.get("kube-scheduler"), holders


def test_every_key_and_kubeconfig_is_roots_alone(host):
    for path in host.check_output("ls /etc/kubernetes/pki/*.key /etc/kubernetes/*.kubeconfig").split():
        secret = host.file(path)
        assert (secret.user, secret.mode) == ("root", 0o600), path
    assert host.check_output("find /etc/kubernetes -xdev -type f -perm -o=r \\( -name '*.key' -o -name '*.kubeconfig' \\)") == ""


def test_the_administrators_kubeconfig_on_the_controller_is_private(host):
    if name(host) != PRIMARY:
        pytest.skip("the controller's file is read once")
    assert oct(os.stat(ADMIN).st_mode & 0o777) == oct(0o600)
