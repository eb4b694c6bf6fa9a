"""What node_agent leaves on a machine of each room: containerd, the kubelet, kube-proxy and the pod routes running as
services, the node Ready in its room with the control-plane taint, a pod in each room running from the imported image,
one room's pod reached from the other room's machine over the pod routes, and every key readable by root alone."""
import os
import time
import uuid

import pytest
from kubernetes import client, config
from kubernetes.stream import stream

PRIMARY = "a-cp1"
ROOMS = {"a-cp1": "room-a", "b-cp1": "room-b"}
ADMIN = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "state", "admin.kubeconfig")
SERVICES = ("containerd", "kubelet", "kube-proxy", "twinroom-pod-routes")
IMAGE = "localhost/twinroom-drill:1"


def name(host):
    return host.backend.get_hostname()


def core(context="room-a"):
    return client.CoreV1Api(config.new_client_from_config(config_file=ADMIN, context=context))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_and_starts_at_boot(host, service):
    assert host.service(service).is_running
    assert host.service(service).is_enabled


def test_the_node_is_ready_in_its_room_with_the_control_plane_taint(host):
    node = core(ROOMS[name(host)]).read_node(name(host), _request_timeout=10)
    ready = [c.status for c in node.status.conditions if c.type == "Ready"]
    assert ready == ["True"], node.status.conditions
    assert node.metadata.labels["topology.kubernetes.io/zone"] == ROOMS[name(host)]
    assert node.metadata.labels["node-role.kubernetes.io/control-plane"] == ""
    assert [(t.key, t.effect) for t in node.spec.taints or []] == [
        ("node-role.kubernetes.io/control-plane", "NoSchedule")]


def test_the_image_archives_are_in_containerd(host):
    images = host.check_output("ctr --namespace k8s.io images list --quiet")
    assert IMAGE in images.split(), images
    assert "registry.k8s.io/pause:3.10.2" in images.split(), images


def test_no_key_or_kubeconfig_is_readable_by_anyone_but_root(host):
    listed = host.check_output(
        "find /etc/kubernetes \\( -name '*.key' -o -name '*.kubeconfig' \\) -printf '%u %m %p\\n'").splitlines()
    assert listed, "no key or kubeconfig under /etc/kubernetes"
    assert [line for line in listed if not line.startswith("root 600 ")] == [], listed


def _pod(node, command):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="molecule-%s-%s" % (node, uuid.uuid4().hex[:6])),
        spec=client.V1PodSpec(
            node_name=node, restart_policy="Never", termination_grace_period_seconds=1,
            tolerations=[client.V1Toleration(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")],
            containers=[client.V1Container(name="app", image=IMAGE, image_pull_policy="Never",
                                           command=["/bin/sh", "-c", command])]))


def _wait_running(api, pod, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        read = api.read_namespaced_pod(pod, "default", _request_timeout=10)
        if read.status.phase == "Running" and read.status.pod_ip:
            return read
        assert read.status.phase in ("Pending", "Running"), read.status
        time.sleep(2)
    raise AssertionError("pod %s not Running after %d s: %s" % (pod, timeout, read.status))


def test_a_pod_in_one_room_is_reached_from_the_other_room_over_the_pod_routes(host):
    if name(host) != PRIMARY:
        pytest.skip("the controller places one pod in each room once")
    api = core()
    served = api.create_namespaced_pod("default", _pod(
        "b-cp1", "echo served-by-room-b > /index.html; exec httpd -f -p 8080 -h /"), _request_timeout=10)
    asking = api.create_namespaced_pod("default", _pod("a-cp1", "trap 'exit 0' TERM; while :; do sleep 1; done"),
                                       _request_timeout=10)
    try:
        target = _wait_running(api, served.metadata.name)
        # Each node has a /24 of its own: room B's pod is not on room A's subnet.
        asked_from = _wait_running(api, asking.metadata.name).status.pod_ip
        assert target.status.pod_ip.rsplit(".", 1)[0] != asked_from.rsplit(".", 1)[0], (target.status.pod_ip, asked_from)
        # From room A's machine, through its route to room B's pod subnet.
        assert host.check_output("curl -sS -m 5 http://%s:8080/index.html", target.status.pod_ip) == "served-by-room-b"
        # And from room A's pod: its own network namespace, the cni0 bridge, then the same route (the API server
        # reaches the pod through room A's kubelet). nc, not wget: the image's static busybox wget crashes (139).
        answer = stream(api.connect_get_namespaced_pod_exec, asking.metadata.name, "default",
                        command=["sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 5 %s 8080"
                                 % target.status.pod_ip],
                        stderr=True, stdout=True, stdin=False, tty=False, _request_timeout=30)
        lines = answer.strip().splitlines()
        assert lines and lines[0].strip() == "HTTP/1.1 200 OK" and lines[-1] == "served-by-room-b", answer
    finally:
        for pod in (served, asking):
            api.delete_namespaced_pod(pod.metadata.name, "default", grace_period_seconds=0, _request_timeout=10)
