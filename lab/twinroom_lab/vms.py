"""VMs for the lab's drills: built by twinroom.ha.vm's own builder (runStrategy Always, LiveMigrate, a home room),
their root disk a ReadWriteMany block PVC on the VM StorageClass instead of a CDI DataVolume (the lab has no CDI
controller to fill one). The lab's stand-in for the LINSTOR CSI provisioner (provisioner.py) creates their PVs; the
virt-handler stand-in in the kwok nodes boots one guest per VMI (lab/twinroom_lab/virt_handler_standin.py) and
reports the VMI Running once the guest is ready. The VMs are kept on the kwok nodes (KWOK_NODES): their disks are the
stand-in's files, which KubeVirt's own virt-handler on the kubelet nodes cannot attach."""

import time

from kubernetes import client, config

from ansible_collections.twinroom.ha.plugins.module_utils import kubevirt_vm

from . import LabError
from .provisioner import StandInProvisioner
from .workloads import create_namespace, remove_namespace

STORAGE_CLASS = kubevirt_vm.DEFAULT_STORAGE_CLASS
VM_NAME_LABEL = "vm.kubevirt.io/name"  # virt-controller's label on a VM's launcher pods
KWOK_NODES = {"type": "kwok"}  # node_agent's label on a kwok node, where the virt-handler stand-in runs


def apis(kubeconfig, context):
    api_client = config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False)
    return client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)


def vm_manifest(name, namespace, home_zone, memory="1Gi", anti_affinity_group=None):
    """twinroom.ha.vm's VM for these options, its root disk the PVC <name>-root, kept on the kwok nodes."""
    params = dict(name=name, namespace=namespace, home_room=home_zone, state="present", cpu_cores=1,
                  memory=memory, anti_affinity_group=anti_affinity_group, run_strategy=None, eviction_strategy=None,
                  labels=None, annotations=None, source=None, cloud_init_user_data=None, disk_size=None,
                  storage_class=None, anti_affinity_required=False)
    vm = kubevirt_vm.build_vm(params)
    vm["spec"].pop("dataVolumeTemplates")
    template = vm["spec"]["template"]["spec"]
    template["volumes"] = [{"name": kubevirt_vm.ROOT_DISK, "persistentVolumeClaim": {"claimName": name + "-root"}}]
    template["nodeSelector"] = dict(KWOK_NODES)
    return vm


def claim(name):
    """The VM's root disk claim: ReadWriteMany block on the VM StorageClass (WaitForFirstConsumer)."""
    return client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=name + "-root"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteMany"], volume_mode="Block", storage_class_name=STORAGE_CLASS,
            resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"})))


def deploy(kubeconfig, context, namespace, homes, memory="1Gi", anti_affinity_group=None, timeout=300):
    """Create namespace, and for {vm name: home zone} each VM with its claim; returns once the stand-in provisioner
    has made every claim's PV (the launcher pods placed)."""
    core, custom = apis(kubeconfig, context)
    create_namespace(core, namespace)
    provisioner = StandInProvisioner(kubeconfig, context, STORAGE_CLASS).start()
    try:
        for name, zone in homes.items():
            core.create_namespaced_persistent_volume_claim(namespace, claim(name))
            custom.create_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines",
                                                   vm_manifest(name, namespace, zone, memory, anti_affinity_group))
        deadline = time.monotonic() + timeout
        while provisioner.provisioned < len(homes):
            if time.monotonic() > deadline:
                raise LabError("%d of %d VM claims provisioned after %d s" % (provisioner.provisioned, len(homes),
                                                                              timeout))
            time.sleep(1)
    finally:
        provisioner.stop()


def vm_state(kubeconfig, context, namespace):
    """{vm name: (VMI phase, VMI node, VMI uid, [(launcher pod, node, phase, terminating)])}."""
    core, custom = apis(kubeconfig, context)
    vmis = custom.list_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachineinstances",
                                                _request_timeout=10)["items"]
    pods = core.list_namespaced_pod(namespace, _request_timeout=10).items
    state = {}
    for vmi in vmis:
        status = vmi.get("status") or {}
        state[vmi["metadata"]["name"]] = (status.get("phase"), status.get("nodeName"), vmi["metadata"]["uid"], [])
    for pod in pods:
        name = (pod.metadata.labels or {}).get(VM_NAME_LABEL)
        if name in state:
            state[name][3].append((pod.metadata.name, pod.spec.node_name, pod.status.phase,
                                   pod.metadata.deletion_timestamp is not None))
    return state


def running_in(state, nodes):
    """{vm name: node} of the VMIs Running on one of nodes."""
    return {name: info[1] for name, info in state.items() if info[0] == "Running" and info[1] in nodes}


def remove(kubeconfig, context, namespace, disk_dir, timeout=300):
    """Delete namespace and wait until it is gone, with the stand-in provisioner's PVs of its claims
    (workloads.remove_namespace), then the files behind its guests' disks in disk_dir (a pathlib.Path)."""
    core, _custom = apis(kubeconfig, context)
    remove_namespace(core, namespace, timeout)
    for disk in disk_dir.glob("%s_*.raw" % namespace):
        disk.unlink()
