"""Never twice: watch, throughout a drill, that no StatefulSet pod and no VM has two live instances.

An instance is live when a pod of that identity is Running, not terminating, in the view of an API
server that answers, on a node whose container is running. Both rooms' API servers are asked (with the
link cut, each room has its own view and the one that is not fenced must not go on running what the other
room restarts); a node that is powered off (its container stopped) runs nothing, whatever its last pod
status says. Identities: a StatefulSet pod's namespace/name; a VM's namespace/VirtualMachineInstance
name (its virt-launcher pod). Deployment replicas are interchangeable, so they are not identities.

Sampling, not watching: every `interval` seconds one podman listing and one pod listing per room, each
bounded by a short timeout. A sample in which an API server does not answer only counts what the other
one says.
"""

import threading
import time

from kubernetes import client, config

from . import podman

CONTAINER_PREFIX = "twinroom-"


def identity(pod):
    """'namespace/StatefulSet/name' or 'namespace/VM/name' for the pods that must never run twice; else None."""
    meta = pod.metadata
    for ref in meta.owner_references or ():
        if ref.controller and ref.kind == "StatefulSet":
            return "%s/StatefulSet/%s" % (meta.namespace, meta.name)
        if ref.controller and ref.kind == "VirtualMachineInstance":
            return "%s/VM/%s" % (meta.namespace, ref.name)
    return None


def live_instances(pods_by_view, running_nodes):
    """{identity: {(pod uid, node)}} of the instances that run: pod Running, not terminating, on a node
    whose container runs. ``pods_by_view``: {view name: [V1Pod]} (the same pod seen twice counts once)."""
    live = {}
    for pods in pods_by_view.values():
        for pod in pods:
            key = identity(pod)
            if key is None or pod.metadata.deletion_timestamp is not None:
                continue
            if (pod.status.phase if pod.status else None) != "Running":
                continue
            node = pod.spec.node_name
            if node not in running_nodes:
                continue
            live.setdefault(key, set()).add((pod.metadata.uid, node))
    return live


class TwinWatch:
    """Samples in a thread until stopped; ``violations`` lists every sample with an identity live twice."""

    def __init__(self, kubeconfig, contexts, namespace=None, interval=1.0, timeout=2.0):
        self.apis = {}
        for context in contexts:
            api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
            self.apis[context] = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.interval = interval
        self.timeout = timeout
        self.samples = 0
        self.unanswered = dict((context, 0) for context in contexts)
        self.violations = []  # (wall time, identity, [(uid, node)])
        self.max_live = {}    # identity -> most live instances seen in one sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="twinwatch")

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=self.timeout * (len(self.apis) + 2) + 30)
        return self

    def _list(self, api):
        if self.namespace:
            return api.list_namespaced_pod(self.namespace, _request_timeout=self.timeout).items
        return api.list_pod_for_all_namespaces(_request_timeout=self.timeout).items

    def sample(self):
        running_nodes = set(name[len(CONTAINER_PREFIX):] for name, info in podman.containers().items()
                            if name.startswith(CONTAINER_PREFIX) and info["state"] == "running")
        views = {}
        for context, api in self.apis.items():
            try:
                views[context] = self._list(api)
            except Exception:  # pylint: disable=broad-except  # a room without an answering API server
                self.unanswered[context] += 1
        live = live_instances(views, running_nodes)
        for key, instances in live.items():
            self.max_live[key] = max(self.max_live.get(key, 0), len(instances))
            if len(instances) > 1:
                self.violations.append((time.time(), key, sorted(instances)))
        self.samples += 1

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sample()
            except Exception:  # pylint: disable=broad-except  # podman hiccup: the next sample counts
                pass
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def summary(self):
        return {"samples": self.samples, "identities": len(self.max_live),
                "violations": [{"at": at, "identity": key, "instances": [list(i) for i in inst]}
                               for at, key, inst in self.violations],
                "unanswered": dict(self.unanswered)}
