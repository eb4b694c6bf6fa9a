"""Never twice: watch, throughout a drill, that no StatefulSet pod and no VM has two live instances, and that no
Deployment runs more pods than it asks for.

An instance is live when a pod of that identity is Running, not terminating, in the view of an API
server that answers, on a node whose container is running. Both rooms' API servers are asked (with the
link cut, each room has its own view and the one that is not fenced must not go on running what the other
room restarts); a node that is powered off (its container stopped) runs nothing, whatever its last pod
status says. Identities: a StatefulSet pod's namespace/name; a VM's namespace/VirtualMachineInstance
name (its virt-launcher pod); a Deployment's ReplicaSet (namespace/name), whose replicas are interchangeable:
it may have as many live instances as its ``spec.replicas`` (the most either API server says), not more.

Sampling, not watching: every `interval` seconds one podman listing and, per room, one pod listing and one
ReplicaSet listing, each bounded by a short timeout. A sample in which an API server does not answer only
counts what the other one says.

The nodes are asked too: on every running node that has a kubelet, its own container list (``crictl pods`` and
``crictl ps``) is read. A pod the node still runs counts as an instance whatever the API says - a pod force-deleted
from the API (after its node was fenced) that its node's kubelet starts again once powered back on is exactly the
double this watch exists for. Such a pod is known by its uid when an API server still lists it (a terminating pod
does not count, as in the API view), else by its sandbox's labels (a StatefulSet's pod name, a ReplicaSet's
template hash).

The two rooms' listings are taken one after the other (with 500 pods, about a second apart). One API server
cannot hold two pods of one name, so two instances of an identity in one sample always come from the two
listings, and a pod deleted and recreated between them would look like two. Each instance is therefore
kept with the listing that saw it. An identity over its limit within one listing (one consistent snapshot) is a
violation. Over it only across the two listings, it is ``apart`` when the older pod's listing ended before the
newer pod was created (creationTimestamp, truncated to the second), and otherwise a violation only if the same
instances are over the limit again in the next sample: a pod replaced between two listings half a second apart
is gone by then, two instances that really run at once are not. Those seen once are reported as ``transient``.
"""

import calendar
import json
import threading
import time

from kubernetes import client, config

from . import podman

CONTAINER_PREFIX = "twinroom-"


def identity(pod):
    """'namespace/StatefulSet/name' or 'namespace/VM/name' for the pods that must never run twice,
    'namespace/ReplicaSet/name' for a Deployment's pods (limited to its replicas); else None."""
    meta = pod.metadata
    for ref in meta.owner_references or ():
        if ref.controller and ref.kind == "StatefulSet":
            return "%s/StatefulSet/%s" % (meta.namespace, meta.name)
        if ref.controller and ref.kind == "VirtualMachineInstance":
            return "%s/VM/%s" % (meta.namespace, ref.name)
        if ref.controller and ref.kind == "ReplicaSet":
            return "%s/ReplicaSet/%s" % (meta.namespace, ref.name)
    return None


def replica_limits(replicasets_by_view):
    """{'namespace/ReplicaSet/name': replicas} - the most any view asks for (a scale-down seen by one API server
    first must not count as a violation). ``replicasets_by_view``: {view: [V1ReplicaSet]}."""
    limits = {}
    for replicasets in replicasets_by_view.values():
        for rs in replicasets:
            key = "%s/ReplicaSet/%s" % (rs.metadata.namespace, rs.metadata.name)
            limits[key] = max(limits.get(key, 0), (rs.spec.replicas if rs.spec else None) or 0)
    return limits


def limit_of(key, limits):
    """How many live instances an identity may have: 1, or a ReplicaSet's replicas (None when no API server listed
    it: a ReplicaSet being deleted with its pods, which is not a second instance of anything)."""
    return limits.get(key) if "/ReplicaSet/" in key else 1


def per_view_excess(pods_by_view, running_nodes, limits):
    """{identity: view} for identities over their limit within one API server's listing: one consistent snapshot,
    so such an excess is a violation whatever the other listing says."""
    excess = {}
    for view, pods in pods_by_view.items():
        for key, instances in live_instances({view: pods}, running_nodes).items():
            limit = limit_of(key, limits)
            if limit is not None and len(instances) > limit:
                excess.setdefault(key, view)
    return excess


def judge(key, instances, limit, single_view, suspected_before):
    """What one sample says of an identity over its limit: 'violation', 'apart', 'transient' or None (not over).

    Over its limit within one listing (``single_view``): a violation. Over it only when the two rooms' listings are
    merged (taken one after the other, so a pod replaced in between is seen twice): 'apart' when the timestamps
    show the older pod's listing ended before the newer pod was created; else a violation only if the same
    instances were already suspected in the previous sample (a real double lasts; a listing skew is gone by the
    next sample), and 'transient' the first time."""
    counted, seen = over_limit(instances, limit)
    if seen <= limit:
        return None
    if single_view:
        return 'violation'
    if counted <= limit:
        return 'apart'
    return 'violation' if (key, frozenset(instances)) in suspected_before else 'transient'


def over_limit(instances, limit):
    """(counted, all): live instances counted against ``limit`` - those not shown older than, and apart from, a
    newer one (see shown_apart) - and all of them. ``instances``: {uid: (node, view, listing end, created)}."""
    items = list(instances.values())
    counted = [a for a in items if not any(b is not a and shown_apart(a, b) and a[3] < b[3] for b in items)]
    return len(counted), len(items)


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


def node_instances(sandboxes, running_sandbox_ids, pods_by_uid, replicaset_names):
    """{identity: {uid: created}} of the pods a node's own runtime runs: a ready sandbox with a running container.

    ``sandboxes``: crictl's ``items`` of ``crictl pods -o json``; ``running_sandbox_ids``: the podSandboxId of every
    running container; ``pods_by_uid``: {uid: V1Pod} from every API listing of this sample; ``replicaset_names``:
    {namespace: [ReplicaSet names]}. A pod an API server lists is identified as there, and not counted while
    terminating; a pod no API server lists is identified by its sandbox labels."""
    found = {}
    for box in sandboxes:
        if box.get("state") != "SANDBOX_READY" or box.get("id") not in running_sandbox_ids:
            continue
        meta = box.get("metadata") or {}
        uid, namespace = meta.get("uid"), meta.get("namespace")
        labels = box.get("labels") or {}
        pod = pods_by_uid.get(uid)
        if pod is not None:
            if pod.metadata.deletion_timestamp is not None:
                continue
            key = identity(pod)
        elif labels.get("statefulset.kubernetes.io/pod-name"):
            key = "%s/StatefulSet/%s" % (namespace, labels["statefulset.kubernetes.io/pod-name"])
        elif labels.get("pod-template-hash"):
            owners = [name for name in replicaset_names.get(namespace, ())
                      if name.endswith("-" + labels["pod-template-hash"])]
            key = "%s/ReplicaSet/%s" % (namespace, owners[0]) if owners else None
        else:
            key = None
        if key is None:
            continue
        created = box.get("createdAt")
        found.setdefault(key, {})[uid] = int(created) // 10**9 if created else None
    return found


def read_node_runtime(container, timeout):
    """(sandboxes, running sandbox ids) from a node's crictl, or None when the node has no kubelet runtime."""
    proc = podman.run("exec", container, "sh", "-c",
                      "command -v crictl >/dev/null || exit 3; crictl pods -o json && echo '%%' && "
                      "crictl ps --state running -o json", timeout=timeout, check=False)
    if proc.returncode == 3 or "%%" not in proc.stdout:
        return None
    pods_json, ps_json = proc.stdout.split("%%", 1)
    sandboxes = json.loads(pods_json).get("items") or []
    running = set(c.get("podSandboxId") for c in json.loads(ps_json).get("containers") or [])
    return sandboxes, running


def _epoch(stamp):
    """A creationTimestamp (datetime from the client, or None) in epoch seconds, truncated to the second."""
    if stamp is None:
        return None
    return calendar.timegm(stamp.utctimetuple())


def instance_evidence(pods_by_view, running_nodes, listed_until):
    """{identity: {uid: (node, view, listing end, created)}} of the live instances (see live_instances).

    ``listed_until``: {view: epoch seconds when its listing returned}."""
    evidence = {}
    for view, pods in pods_by_view.items():
        by_uid = dict((pod.metadata.uid, pod) for pod in pods)
        for key, instances in live_instances({view: pods}, running_nodes).items():
            for uid, node in instances:
                pod = by_uid[uid]
                evidence.setdefault(key, {}).setdefault(
                    uid, (node, view, listed_until[view], _epoch(pod.metadata.creation_timestamp)))
    return evidence


def shown_apart(first, second):
    """Two instances (node, view, listing end, created): True when they provably did not run at once -
    seen by different listings, and the older one's listing ended before the newer one was created."""
    if first[1] == second[1] or first[3] is None or second[3] is None or first[3] == second[3]:
        return False
    older, newer = (first, second) if first[3] < second[3] else (second, first)
    return older[2] < newer[3]


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
        self.apps = dict((context, client.AppsV1Api(api.api_client)) for context, api in self.apis.items())
        self.samples = 0
        self.unanswered = dict((context, 0) for context in contexts)
        self.violations = []  # (wall time, identity, [(uid, node, view, listing end, created)])
        self.apart = []       # the same, for pairs shown not to have run at once (see the module's doc)
        self.transient = []   # the same, for pairs seen in one merged sample only, gone by the next (see judge)
        self._suspected = set()
        self.node_reads = 0    # node runtime listings read
        self.node_only = []    # (wall time, identity, uid, node): an instance only a node's own runtime showed
        self._no_runtime = set()  # nodes without a kubelet runtime (kwok): not asked again
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

    def _replicasets(self, apps):
        if self.namespace:
            return apps.list_namespaced_replica_set(self.namespace, _request_timeout=self.timeout).items
        return apps.list_replica_set_for_all_namespaces(_request_timeout=self.timeout).items

    def sample(self):
        running_nodes = set(name[len(CONTAINER_PREFIX):] for name, info in podman.containers().items()
                            if name.startswith(CONTAINER_PREFIX) and info["state"] == "running")
        views, listed_until, replicasets = {}, {}, {}
        for context, api in self.apis.items():
            try:
                replicasets[context] = self._replicasets(self.apps[context])
                views[context] = self._list(api)
                listed_until[context] = time.time()
            except Exception:  # pylint: disable=broad-except  # a room without an answering API server
                self.unanswered[context] += 1
        limits = replica_limits(replicasets)
        excess = per_view_excess(views, running_nodes, limits)
        evidence = instance_evidence(views, running_nodes, listed_until)
        self._add_node_evidence(evidence, views, replicasets, running_nodes)
        suspected = set()
        for key, instances in evidence.items():
            self.max_live[key] = max(self.max_live.get(key, 0), len(instances))
            limit = limit_of(key, limits)
            if limit is None:
                continue
            verdict = judge(key, instances, limit, key in excess, self._suspected)
            if verdict is None:
                continue
            found = sorted((uid,) + item for uid, item in instances.items())
            if verdict == 'transient':
                suspected.add((key, frozenset(instances)))
            {'violation': self.violations, 'apart': self.apart, 'transient': self.transient}[verdict].append(
                (time.time(), key, found))
        self._suspected = suspected
        self.samples += 1

    def _add_node_evidence(self, evidence, views, replicasets, running_nodes):
        """Add to ``evidence`` what each running kubelet node's own runtime runs (see node_instances)."""
        pods_by_uid = {}
        for pods in views.values():
            for pod in pods:
                pods_by_uid.setdefault(pod.metadata.uid, pod)
        names = {}
        for listing in replicasets.values():
            for rs in listing:
                names.setdefault(rs.metadata.namespace, []).append(rs.metadata.name)
        for node in sorted(running_nodes - self._no_runtime):
            try:
                runtime = read_node_runtime(CONTAINER_PREFIX + node, self.timeout)
            except Exception:  # pylint: disable=broad-except  # node stopping: the next sample asks again
                continue
            if runtime is None:
                self._no_runtime.add(node)
                continue
            self.node_reads += 1
            listed = time.time()
            for key, pods in node_instances(runtime[0], runtime[1], pods_by_uid, names).items():
                if self.namespace and not key.startswith(self.namespace + "/"):
                    continue
                for uid, created in pods.items():
                    if uid not in evidence.get(key, {}):
                        self.node_only.append((listed, key, uid, node))
                    evidence.setdefault(key, {}).setdefault(uid, (node, "node:" + node, listed, created))

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
                "apart": [{"at": at, "identity": key, "instances": [list(i) for i in inst]}
                          for at, key, inst in self.apart],
                "transient": [{"at": at, "identity": key, "instances": [list(i) for i in inst]}
                              for at, key, inst in self.transient],
                "unanswered": dict(self.unanswered),
                "node_reads": self.node_reads,
                "node_only": [{"at": at, "identity": key, "uid": uid, "node": node}
                              for at, key, uid, node in self.node_only]}
