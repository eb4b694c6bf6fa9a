"""The API servers run the aggregation layer: an extension API server (KubeVirt's virt-api, metrics-server) finds in
kube-system/extension-apiserver-authentication the CA whose clients may pass a user in request headers, and that CA
is the front-proxy CA, not the cluster CA. virt-api refuses to start without it
("requestheader-client-ca-file not found in extension-apiserver-authentication ConfigMap")."""
import json
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("context", ["room-a", "room-b"])
def test_extension_api_servers_learn_the_front_proxy_ca_from_each_rooms_api_server(context):
    core = client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context=context))
    data = core.read_namespaced_config_map("extension-apiserver-authentication", "kube-system",
                                           _request_timeout=10).data
    pki = drill.STATE / "pki"
    assert (data.get("requestheader-client-ca-file") or "").strip() == (pki / "front-proxy-ca.crt").read_text().strip()
    assert (pki / "ca.crt").read_text().strip() not in data["requestheader-client-ca-file"]
    assert json.loads(data["requestheader-allowed-names"]) == ["front-proxy-client"]
    assert json.loads(data["requestheader-username-headers"]) == ["X-Remote-User"]
    assert json.loads(data["requestheader-group-headers"]) == ["X-Remote-Group"]
    assert json.loads(data["requestheader-extra-headers-prefix"]) == ["X-Remote-Extra-"]
