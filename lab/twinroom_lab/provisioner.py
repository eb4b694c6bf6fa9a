"""A stand-in for the LINSTOR CSI provisioner, for drills on the lab.

The lab has no LINSTOR controller, no DRBD and no CSI driver, so nothing would provision the PVCs of the
replicated StorageClass. This thread does the provisioner's API part only: for every PVC of the class
that the scheduler has placed (annotation volume.kubernetes.io/selected-node, WaitForFirstConsumer), it
creates a PersistentVolume for driver linstor.csi.linbit.com bound to that claim, with no node affinity
(a replicated volume is reachable from both rooms, as with allowRemoteVolumeAccess). Kubernetes does the
rest for real: the PV controller binds the claim, the scheduler waits for it (WaitForFirstConsumer) and
binds the pod, and after a failover the StatefulSet's new pod in the other room mounts the same claim.
No data exists behind the volume, and no VolumeAttachment is made (no CSI node plugin registers on the
kwok nodes), so the attach/detach side of a failover is not exercised; kwok runs the pods.
"""

import threading

from kubernetes import client, config

DRIVER = "linstor.csi.linbit.com"
SELECTED_NODE = "volume.kubernetes.io/selected-node"


def pv_for(pvc):
    """The PersistentVolume a provisioner would create for ``pvc`` (a V1PersistentVolumeClaim)."""
    meta, spec = pvc.metadata, pvc.spec
    return client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name="pvc-%s" % meta.uid,
                                     annotations={"pv.kubernetes.io/provisioned-by": DRIVER},
                                     labels={"twinroom.io/stand-in": "provisioner"}),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": spec.resources.requests["storage"]},
            access_modes=spec.access_modes, volume_mode=spec.volume_mode or "Filesystem",
            storage_class_name=spec.storage_class_name, persistent_volume_reclaim_policy="Delete",
            claim_ref=client.V1ObjectReference(api_version="v1", kind="PersistentVolumeClaim",
                                               namespace=meta.namespace, name=meta.name, uid=meta.uid),
            csi=client.V1CSIPersistentVolumeSource(driver=DRIVER, volume_handle="pvc-%s" % meta.uid,
                                                   fs_type="ext4" if spec.volume_mode != "Block" else None)))


class StandInProvisioner:
    """Polls every ``interval`` seconds until stopped; ``provisioned`` counts the PVs it created."""

    def __init__(self, kubeconfig, context, storage_class, interval=1.0):
        self.api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=context))
        self.storage_class = storage_class
        self.interval = interval
        self.provisioned = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stand-in-provisioner")

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        return self

    def provision_once(self):
        claims = self.api.list_persistent_volume_claim_for_all_namespaces(_request_timeout=10).items
        for pvc in claims:
            if pvc.spec.storage_class_name != self.storage_class or pvc.spec.volume_name:
                continue
            if SELECTED_NODE not in (pvc.metadata.annotations or {}):
                continue  # WaitForFirstConsumer: not placed yet
            try:
                self.api.create_persistent_volume(pv_for(pvc), _request_timeout=10)
                self.provisioned += 1
            except client.ApiException as exc:
                if exc.status != 409:  # 409: created on an earlier round, not bound yet
                    raise

    def _run(self):
        while not self._stop.is_set():
            try:
                self.provision_once()
            except Exception:  # pylint: disable=broad-except  # an API hiccup during a drill: next round
                self.errors += 1
            self._stop.wait(self.interval)
