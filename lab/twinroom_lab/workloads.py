"""Workloads for drills: N single-pod workloads, half homed in each room, StatefulSets and Deployments.

Each carries the label twinroom.io/home-room and a preferred node affinity for its room's zone, as
twinroom's workloads do, so that a failover moves the lost room's half and a failback moves it home.
Their pods run real containers of the drill image on the kubelet nodes; with ``kwok`` (scale drills) only the kwok
stand-in nodes run them. No volumes unless a storage class is given: the lab has no CSI driver, so a
claim's pod runs on a kwok node and its PV comes from the stand-in provisioner.
"""

import time

from kubernetes import client, config

# The drill workload image (busybox-static, built by lab/build/build-binaries.sh node-images, imported into
# every kubelet node): it runs until stopped and stops at once on SIGTERM.
IMAGE = "localhost/twinroom-drill:1"
NAMESPACE = "twinroom-drill"
HOME_LABEL = "twinroom.io/home-room"
ZONE_LABEL = "topology.kubernetes.io/zone"
ZONES = {"room_a": "room-a", "room_b": "room-b"}


def apis(kubeconfig, context):
    api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
    return client.CoreV1Api(api_client), client.AppsV1Api(api_client)


def specs(count):
    """[(kind, name, home room)] for ``count`` workloads: rooms alternate, every third is a StatefulSet."""
    result = []
    for index in range(count):
        room = "room_a" if index % 2 == 0 else "room_b"
        kind = "StatefulSet" if index % 3 == 0 else "Deployment"
        result.append((kind, "%s-%03d" % ("db" if kind == "StatefulSet" else "web", index), room))
    return result


def _template(name, room, kwok=False):
    """A workload's pod: preferred in its home room's zone; on a kubelet node (a real container), or with ``kwok``
    only on the kwok stand-in nodes: a scale drill measures the control plane and the failover at a count of pods
    that two cores cannot start as real containers (500 real pod sandboxes made the lab's kubelets NotReady)."""
    labels = {"app": name, HOME_LABEL: room}
    required = client.V1NodeSelector(node_selector_terms=[client.V1NodeSelectorTerm(match_expressions=[
        client.V1NodeSelectorRequirement(key="type", operator="In" if kwok else "NotIn", values=["kwok"])])])
    affinity = client.V1Affinity(node_affinity=client.V1NodeAffinity(
        required_during_scheduling_ignored_during_execution=required,
        preferred_during_scheduling_ignored_during_execution=[client.V1PreferredSchedulingTerm(
            weight=100, preference=client.V1NodeSelectorTerm(match_expressions=[
                client.V1NodeSelectorRequirement(key=ZONE_LABEL, operator="In", values=[ZONES[room]])]))]))
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(
            affinity=affinity, termination_grace_period_seconds=5,
            containers=[client.V1Container(name="app", image=IMAGE,
                                           resources=client.V1ResourceRequirements(
                                               requests={"cpu": "10m", "memory": "16Mi"}))]))


def create_namespace(core, name):
    """Create namespace name through core (a CoreV1Api); one that exists already is fine."""
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)), _request_timeout=10)
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def deploy(kubeconfig, context, count, storage_class=None, kwok=False):
    """Create what is missing of the ``count`` workloads (existing ones are kept). Returns the specs.

    With ``storage_class``, each StatefulSet pod gets a 1Gi ReadWriteOnce claim on it (volumeClaimTemplates);
    on the lab, provisioner.StandInProvisioner provisions them.
    """
    core, apps = apis(kubeconfig, context)
    create_namespace(core, NAMESPACE)
    existing = set(d.metadata.name for d in apps.list_namespaced_deployment(NAMESPACE).items)
    existing |= set(s.metadata.name for s in apps.list_namespaced_stateful_set(NAMESPACE).items)
    wanted = specs(count)
    for kind, name, room in wanted:
        if name in existing:
            continue
        selector = client.V1LabelSelector(match_labels={"app": name})
        if kind == "StatefulSet":
            template = _template(name, room, kwok or bool(storage_class))
            claims = None
            if storage_class:
                claims = [client.V1PersistentVolumeClaim(
                    metadata=client.V1ObjectMeta(name="data"),
                    spec=client.V1PersistentVolumeClaimSpec(
                        access_modes=["ReadWriteOnce"], storage_class_name=storage_class,
                        resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"})))]
                template.spec.containers[0].volume_mounts = [client.V1VolumeMount(name="data", mount_path="/data")]
                # No Piraeus CSI driver here (no DRBD): a claim's pod runs on a kwok node (stand-in).
                template.spec.node_selector = {"type": "kwok"}
            apps.create_namespaced_stateful_set(NAMESPACE, client.V1StatefulSet(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1StatefulSetSpec(replicas=1, service_name=name, selector=selector,
                                              template=template, volume_claim_templates=claims)))
        else:
            apps.create_namespaced_deployment(NAMESPACE, client.V1Deployment(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1DeploymentSpec(replicas=1, selector=selector, template=_template(name, room, kwok))))
    return wanted


def remove(kubeconfig, context, timeout=300):
    """Delete the drill's namespace and wait until it is gone (a terminating namespace refuses new objects)."""
    core, _apps = apis(kubeconfig, context)
    return remove_namespace(core, NAMESPACE, timeout)


def remove_namespace(core, name, timeout=300):
    """Delete namespace name, wait until it is gone, then delete the stand-in provisioner's volumes of its claims (no
    CSI driver deletes them). Returns the seconds it took."""
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            core.read_namespace(name, _request_timeout=10)
        except client.ApiException as exc:
            if exc.status == 404:
                break
            raise
        time.sleep(2)
    else:
        raise RuntimeError("namespace %s still terminating after %ds" % (name, timeout))
    for volume in core.list_persistent_volume(label_selector="twinroom.io/stand-in=provisioner").items:
        if volume.spec.claim_ref and volume.spec.claim_ref.namespace == name:
            core.delete_persistent_volume(volume.metadata.name)
    return time.monotonic() - started


def serving(pod):
    """Running and Ready, not terminating."""
    ready = [c for c in (pod.status.conditions or ()) if c.type == "Ready"]
    return (pod.metadata.deletion_timestamp is None and pod.status.phase == "Running" and bool(ready)
            and ready[0].status == "True")


def placement(kubeconfig, context, node_rooms, timeout=15):
    """{workload name: room where its pod runs, Running and Ready (None if none does)}, from one listing."""
    core, _apps = apis(kubeconfig, context)
    result = {}
    for pod in core.list_namespaced_pod(NAMESPACE, _request_timeout=timeout).items:
        name = pod.metadata.labels.get("app")
        if serving(pod):
            result[name] = node_rooms.get(pod.spec.node_name)
        else:
            result.setdefault(name, None)
    return result


def wait_home(kubeconfig, context, wanted, node_rooms, timeout=600, say=None):
    """Wait until every workload runs in its home room; returns seconds waited, raises on timeout."""
    started = time.monotonic()
    missing = []
    while time.monotonic() - started < timeout:
        where = placement(kubeconfig, context, node_rooms)
        missing = [name for _kind, name, room in wanted if where.get(name) != room]
        if not missing:
            return time.monotonic() - started
        if say:
            say("  %d of %d workloads not yet running in their home room" % (len(missing), len(wanted)))
        time.sleep(3)
    raise RuntimeError("after %ds, %d workloads do not run in their home room: %s"
                       % (timeout, len(missing), ", ".join(missing[:10])))
