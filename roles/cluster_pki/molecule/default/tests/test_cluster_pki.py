"""What cluster_pki leaves on the controller: every key private, the two CAs apart, each certificate for whom it
says."""
import os

import pytest

PKI = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "state", "pki")


def x509(host, name, *fields):
    return host.check_output("openssl x509 -noout %s -in %s" % (" ".join(fields), os.path.join(PKI, name + ".crt")))


def test_the_pki_directory_and_every_key_are_private(host):
    assert host.file(PKI).mode == 0o700
    keys = [name for name in host.file(PKI).listdir() if name.endswith(".key")]
    assert "ca.key" in keys and "datastore-ca.key" in keys and "kube-proxy.key" in keys, keys
    for name in keys:
        assert host.file(os.path.join(PKI, name)).mode == 0o600, name


@pytest.mark.parametrize("name, subject", [
    ("kube-proxy", "CN=system:kube-proxy"),
    ("kubelet-a-w1", "CN=system:node:a-w1,O=system:nodes"),
    ("admin", "CN=twinroom-admin,O=system:masters"),
])
def test_client_certificates_name_their_identity(host, name, subject):
    assert x509(host, name, "-subject", "-nameopt", "RFC2253") == "subject=" + subject
    assert host.run("openssl verify -CAfile %s/ca.crt %s/%s.crt" % (PKI, PKI, name)).rc == 0


def test_an_api_server_certificate_names_every_address_a_client_uses(host):
    sans = x509(host, "apiserver-a-cp1", "-ext", "subjectAltName")
    for address in ("IP Address:192.0.2.10", "IP Address:198.51.100.10", "IP Address:127.0.0.1", "IP Address:10.96.0.1",
                    "DNS:kubernetes.default.svc.cluster.local"):
        assert address in sans, sans


def test_the_datastore_has_a_ca_of_its_own(host):
    """A certificate of the cluster CA naming the same addresses cannot pass for PostgreSQL."""
    assert host.run("openssl verify -CAfile %s/datastore-ca.crt %s/datastore-b-cp1.crt" % (PKI, PKI)).rc == 0
    assert host.run("openssl verify -CAfile %s/ca.crt %s/datastore-b-cp1.crt" % (PKI, PKI)).rc != 0


def test_the_aggregation_layer_has_a_ca_of_its_own(host):
    """Extension API servers (KubeVirt's virt-api) trust request headers only from a client of the front-proxy CA."""
    assert x509(host, "front-proxy-client", "-subject", "-nameopt", "RFC2253") == "subject=CN=front-proxy-client"
    assert host.run("openssl verify -CAfile %s/front-proxy-ca.crt %s/front-proxy-client.crt" % (PKI, PKI)).rc == 0
    assert host.run("openssl verify -CAfile %s/ca.crt %s/front-proxy-client.crt" % (PKI, PKI)).rc != 0
