#!/usr/bin/env bash
# Probe (issue 14): KubeVirt's own virt-handler and virt-launcher on the lab's real-kubelet nodes, by hand, on a
# running lab (make lab). Not part of the lab, site.yml or make test: it changes the running lab as described below
# and `make lab-fresh` undoes all of it. Results: LAUNCHER-PROBE.md.
#
#   handler-probe.sh NODE...        e.g. handler-probe.sh a-w1 b-w1
#
# Cluster: a kubevirt-ca ConfigMap (a CA made here), the KubeVirt CR's useEmulation, the Root gate and a status phase
# ("Deploying": virt-controller and virt-handler read the CR's configuration only once it has a phase, and the
# workload updater acts only on "Deployed"), virt-controller's --launcher-image, and the VMI CRD's kernelBootStatus
# checksums widened from int32 to int64 (see LAUNCHER-PROBE.md).
# Each node: the launcher image and the guest's kernelBoot image imported into containerd, node-labeller.sh run
# from the launcher image (privileged, as virt-handler's init container), the qemu user 107, /pods (a bind mount of the
# kubelet's pods directory), virt-handler and virt-chroot, its server and client certificates, the admin kubeconfig, and
# virt-handler started as the transient unit twinroom-virt-handler-probe. The node gets the label
# twinroom.io/kubevirt-probe=true for the probe's VMs to select.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../versions.env
. "$here/../../versions.env"
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
state=${TWINROOM_LAB_STATE:-/var/lib/twinroom-lab}
bin="$cache/probe/kubevirt-launcher-$KUBEVIRT_VERSION"
guest="$cache/guest-$GUEST_KERNEL_ABI-$GUEST_REVISION"
launcher_image=localhost/twinroom-virt-launcher:$KUBEVIRT_VERSION
kernel_image=localhost/twinroom-guest-kernel:$GUEST_REVISION
work=$(mktemp -d /tmp/twinroom-handler-probe.XXXXXX)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/../../containers.conf} KUBECONFIG=$state/admin.kubeconfig
log() { printf '[handler-probe %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
[ $# -gt 0 ] || { echo "usage: handler-probe.sh NODE..." >&2; exit 2; }
for f in virt-handler virt-chroot virt-launcher virt-launcher-monitor virt-tail virt-probe virt-freezer; do
  [ -x "$bin/$f" ] || { log "missing $bin/$f: run launcher-probe.sh first" >&2; exit 1; }
done

log "images: $launcher_image (VIRTQEMUD_SHIM=true, FROM ${LAUNCHER_BASE:-localhost/twinroom-base:bookworm}), $kernel_image"
# LAUNCHER_BASE: the launcher image's Debian base (bookworm: libvirt 9.0, QEMU 7.2; trixie: libvirt 11.3, QEMU 10.0).
"$here/launcher-image/build.sh" "$launcher_image" "${LAUNCHER_BASE:-localhost/twinroom-base:bookworm}" true
mkdir -p "$work/kernel/boot"
cp "$guest/vmlinux" "$guest/initramfs.cpio" "$work/kernel/boot/"
printf 'FROM scratch\nCOPY boot /boot\n' > "$work/kernel/Containerfile"
podman build -q -t "$kernel_image" "$work/kernel" >/dev/null
podman save -q --format docker-archive -o "$work/launcher.tar" "$launcher_image"
podman save -q --format docker-archive -o "$work/kernel.tar" "$kernel_image"

log "certificates (CA; virt-handler's server, client, migration and vsock certificates)"
(cd "$work"
 openssl ecparam -name prime256v1 -genkey -noout -out ca.key
 openssl req -x509 -new -key ca.key -subj "/CN=kubevirt.io@twinroom-probe" -days 30 -out ca.crt \
   -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,digitalSignature"
 # v1.7 adds two client certificates: for the migration proxies (migrationservercertificates, CN ...:client:migration)
 # and for the guest's vsock (vsockclientcertificates), as virt-operator's secrets.go gives them.
 for kind in server client migrationserver vsockclient; do
   case $kind in
     server) cn=kubevirt.io:system:node:virt-handler eku=serverAuth ;;
     client) cn=kubevirt.io:system:client:virt-handler eku=clientAuth ;;
     migrationserver) cn=kubevirt.io:system:client:migration eku=clientAuth ;;
     vsockclient) cn=kubevirt.io:system:client:vsock eku=clientAuth ;;
   esac
   openssl ecparam -name prime256v1 -genkey -noout -out $kind.key
   openssl req -new -key $kind.key -subj "/CN=$cn" -out $kind.csr
   printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "$eku" > "$kind.ext"
   openssl x509 -req -in $kind.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile $kind.ext -out $kind.crt 2>/dev/null
 done)

log "cluster: kubevirt-ca, KubeVirt CR (useEmulation, phase Deploying), VMI CRD checksums, virt-controller --launcher-image"
kubectl -n kubevirt create configmap kubevirt-ca --from-file=ca-bundle="$work/ca.crt" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# Root: with no virt-api, no mutating webhook sets a VMI's runtimeUser (107), so launchers run as root; without the
# gate virt-controller makes a migration's target pod non-root, and that pod fails (see LAUNCHER-PROBE.md).
kubectl -n kubevirt patch kubevirt kubevirt --type merge -p '{"spec":{"configuration":{"developerConfiguration":{"useEmulation":true,"featureGates":["Root"]}}}}' >/dev/null
kubectl -n kubevirt patch kubevirt kubevirt --subresource status --type merge -p '{"status":{"phase":"Deploying"}}' >/dev/null
crd_base=/spec/versions/0/schema/openAPIV3Schema/properties/status/properties/kernelBootStatus/properties
kubectl patch crd virtualmachineinstances.kubevirt.io --type json -p "[
 {\"op\":\"replace\",\"path\":\"$crd_base/kernelInfo/properties/checksum/format\",\"value\":\"int64\"},
 {\"op\":\"replace\",\"path\":\"$crd_base/initrdInfo/properties/checksum/format\",\"value\":\"int64\"}]" >/dev/null
for cp in a-cp1 b-cp1; do
  podman exec "twinroom-$cp" sh -c "grep -q -- --launcher-image /etc/systemd/system/virt-controller.service ||
    sed -i 's#--kubeconfig=/etc/virt-controller/kubeconfig \\\\#--kubeconfig=/etc/virt-controller/kubeconfig --launcher-image=$launcher_image \\\\#' /etc/systemd/system/virt-controller.service
    systemctl daemon-reload && systemctl restart virt-controller"
done

for node in "$@"; do
  c=twinroom-$node
  address=$(kubectl get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  log "$node ($address): images, node-labeller, files, virt-handler"
  podman cp "$work/launcher.tar" "$c:/tmp/launcher.tar"
  podman cp "$work/kernel.tar" "$c:/tmp/kernel.tar"
  podman exec "$c" sh -c 'for t in /tmp/launcher.tar /tmp/kernel.tar; do ctr -n k8s.io images import --label io.cri-containerd.pinned=pinned "$t" >/dev/null 2>&1; rm "$t"; done'
  # A migration's target pod names a kernelBoot (or containerDisk) image by the digest the source pod ran
  # (<name>@sha256:<image id> for an imported image). A registry would resolve that; there is none here, so the
  # imported image is also tagged by that name.
  podman exec "$c" ctr -n k8s.io images tag --force "$kernel_image" "${kernel_image%:*}@$(podman image inspect -f '{{.Id}}' "$kernel_image" | sed 's/^\(sha256:\)\{0,1\}/sha256:/')" >/dev/null 2>&1
  podman exec "$c" sh -c "mkdir -p /var/lib/kubevirt-node-labeller /etc/virt-handler/clientcertificates /etc/virt-handler/servercertificates \
      /etc/virt-handler/migrationservercertificates /etc/virt-handler/vsockclientcertificates
    ctr -n k8s.io run --rm --privileged --mount type=bind,src=/var/lib/kubevirt-node-labeller,dst=/var/lib/kubevirt-node-labeller,options=rbind:rw \
      $launcher_image twinroom-node-labeller /usr/bin/node-labeller.sh >/var/log/twinroom-node-labeller.log 2>&1
    getent group qemu >/dev/null || groupadd -g 107 qemu; getent passwd qemu >/dev/null || useradd -u 107 -g 107 -M -s /usr/sbin/nologin qemu 2>/dev/null
    # A bind mount, as virt-handler's hostPath volume is: v1.7 opens /pods/<uid>/... without following symlinks.
    if [ -L /pods ]; then rm /pods; fi; mkdir -p /pods; mountpoint -q /pods || mount --rbind /var/lib/kubelet/pods /pods"
  for kind in client server migrationserver vsockclient; do
    podman cp "$work/$kind.crt" "$c:/etc/virt-handler/${kind}certificates/tls.crt"
    podman cp "$work/$kind.key" "$c:/etc/virt-handler/${kind}certificates/tls.key"
  done
  # The admin kubeconfig, pointed at the API server the node's own kubelet uses (its room's).
  server=$(podman exec "$c" sh -c "sed -n 's/^ *server: //p' /etc/kubernetes/kubelet.kubeconfig")
  context=$(kubectl config view -o jsonpath="{.contexts[?(@.context.cluster==\"$(kubectl config view -o jsonpath="{.clusters[?(@.cluster.server==\"$server\")].name}")\")].name}")
  kubectl config view --raw --minify --context "$context" > "$work/kubeconfig-$node"
  podman cp "$work/kubeconfig-$node" "$c:/etc/virt-handler/kubeconfig"
  podman cp "$bin/virt-handler" "$c:/usr/local/bin/virt-handler"
  podman cp "$bin/virt-chroot" "$c:/usr/bin/virt-chroot"
  podman exec "$c" sh -c "systemctl stop twinroom-virt-handler-probe 2>/dev/null; systemctl reset-failed twinroom-virt-handler-probe 2>/dev/null
    systemd-run --unit twinroom-virt-handler-probe /usr/local/bin/virt-handler --kubeconfig /etc/virt-handler/kubeconfig \
      --hostname-override $node --pod-ip-address $address -v 3 >/dev/null"
  kubectl label node "$node" twinroom.io/kubevirt-probe=true --overwrite >/dev/null
done
for node in "$@"; do
  for _ in $(seq 1 60); do
    [ "$(kubectl get node "$node" -o jsonpath='{.metadata.labels.kubevirt\.io/schedulable}')" = true ] && break
    sleep 2
  done
  log "$node: kubevirt.io/schedulable=$(kubectl get node "$node" -o jsonpath='{.metadata.labels.kubevirt\.io/schedulable}'), devices $(kubectl get node "$node" -o jsonpath='{.status.allocatable}' | grep -o '"devices.kubevirt.io/[a-z-]*":"[0-9k]*"' | tr '\n' ' ')"
done
rm -rf "$work"
