#!/usr/bin/env bash
# Probe (issue 14): run KubeVirt's own virt-launcher, built from the Go module by launcher-probe.sh, against
# Debian's libvirt and QEMU, and ask it to boot the lab's test guest, as virt-handler would.
#
#   launcher-run.sh [bookworm|trixie] [--virtqemud-shim]
#
# - builds localhost/twinroom-probe-launcher:<suite> (launcher-image/Containerfile: Debian's libvirt-daemon-driver-qemu
#   and qemu-system-x86, KubeVirt's own libvirt configuration files, the two binaries);
# - builds launcher-driver (KubeVirt's cmd-client making the SyncVirtualMachine call virt-handler makes);
# - starts the launcher in a podman container without a network, /dev/kvm passed in, the share and private
#   directories bind-mounted from a scratch directory, the test guest's kernel and initramfs where a
#   kernelBoot container's files would be (<container-disk-dir>/kernel-boot/);
# - hands it a VMI (TCG: --allow-emulation; KubeVirt's useEmulation) and waits for the domain to run and for the
#   guest's READY line on the serial console log KubeVirt writes (virt-serial0-log).
# --virtqemud-shim links /usr/sbin/virtqemud to launcher-image/virtqemud (libvirtd, and its socket under
# virtqemud's name) inside the container first: Debian ships no virtqemud.
# Nothing here is run by the lab or by make test. Results: LAUNCHER-PROBE.md.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../versions.env
. "$here/../../versions.env"
suite=${1:-bookworm}
shim=${2:-}
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
bin="$cache/probe/kubevirt-launcher-$KUBEVIRT_VERSION"
work="$cache/src/kubevirt-launcher-probe-$KUBEVIRT_VERSION"
guest="$cache/guest-$GUEST_KERNEL_ABI-$GUEST_REVISION"
module="$(go env GOMODCACHE)/kubevirt.io/kubevirt@$KUBEVIRT_VERSION"
image=localhost/twinroom-probe-launcher:$suite
name=twinroom-launcher-probe
run=$(mktemp -d /tmp/twinroom-launcher-probe.XXXXXX)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/../../containers.conf}
log() { printf '[launcher-run %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() { podman logs "$name" > "$run/launcher.log" 2>&1; podman rm -f -t 5 "$name" >/dev/null 2>&1; log "scratch directory and virt-launcher's whole log: $run"; }
trap cleanup EXIT

for f in "$bin/virt-launcher" "$bin/virt-launcher-monitor" "$bin/virt-tail" "$bin/virt-probe" "$bin/virt-freezer" "$guest/vmlinux" "$guest/initramfs.cpio" "$module/cmd/virt-launcher/qemu.conf"; do
  [ -e "$f" ] || { log "missing $f: run launcher-probe.sh and build-binaries.sh guest first" >&2; exit 1; }
done
case $suite in
  bookworm) base=localhost/twinroom-base:bookworm ;;
  trixie) base=localhost/twinroom-probe-base:trixie ;;
  *) log "suite must be bookworm or trixie, not $suite" >&2; exit 1 ;;
esac
podman image exists "$base" || { log "no base image $base (bookworm: lab/image/build-image.sh; trixie: see LAUNCHER-PROBE.md)" >&2; exit 1; }

log "podman build $image (FROM $base)"
"$here/launcher-image/build.sh" "$image" "$base" false || exit 1
log "in the image: $(podman run --rm --network none --entrypoint sh "$image" -c 'dpkg-query -W -f "\${Package} \${Version}; " libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86; ls /usr/sbin | grep -E "^(virtqemud|libvirtd|virtlogd)$" | tr "\n" " "')"

log "building launcher-driver"
mkdir -p "$work/launcherdriver"
cp "$here/launcher-driver/main.go" "$work/launcherdriver/"
(cd "$work" && GOFLAGS=-buildvcs=false GOPROXY=https://proxy.golang.org go build -o "$bin/launcher-driver" ./launcherdriver) || exit 1

uid=$(cat /proc/sys/kernel/random/uuid)
# The launcher pod's emptyDir volumes (virt-controller's VolumeRenderer): private, public (the share directory),
# sockets, libvirt-runtime, ephemeral-disks, container-disks (here the kernelBoot container's files).
mkdir -p "$run/share/container-disks/kernel-boot" "$run/share/sockets" "$run/private" "$run/ephemeral" "$run/libvirt"
cp "$guest/vmlinux" "$guest/initramfs.cpio" "$run/share/container-disks/kernel-boot/"
cat > "$run/vmi.json" <<JSON
{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
 "metadata": {"name": "probe", "namespace": "twinroom-probe", "uid": "$uid"},
 "spec": {"architecture": "amd64",
  "domain": {"machine": {"type": "q35"},
   "cpu": {"cores": 1, "sockets": 1, "threads": 1, "model": "qemu64"},
   "memory": {"guest": "256Mi"}, "resources": {"requests": {"memory": "256Mi"}},
   "firmware": {"uuid": "$uid", "serial": "twinroom-probe",
     "kernelBoot": {"kernelArgs": "$(cat "$guest/cmdline")",
       "container": {"image": "twinroom-guest", "kernelPath": "/boot/vmlinux", "initrdPath": "/boot/initramfs.cpio"}}},
   "devices": {"disks": [], "interfaces": [], "autoattachGraphicsDevice": false, "autoattachMemBalloon": false}},
  "terminationGracePeriodSeconds": 5}}
JSON

cmd=(/usr/bin/virt-launcher-monitor --qemu-timeout 240s --name probe --uid "$uid" --namespace twinroom-probe
     --kubevirt-share-dir /var/run/kubevirt --ephemeral-disk-dir /var/run/kubevirt-ephemeral-disks
     --container-disk-dir /var/run/kubevirt/container-disks --grace-period-seconds 20 --hook-sidecars 0
     --ovmf-path /usr/share/OVMF --allow-emulation)
entry=()
if [ "$shim" = --virtqemud-shim ]; then
  entry=(--entrypoint sh)
  # shellcheck disable=SC2016  # "$0" "$@" are the container shell's, not this script's
  cmd=(-c 'ln -s /usr/local/lib/twinroom/virtqemud /usr/sbin/virtqemud && exec "$0" "$@"' "${cmd[@]}")
fi
log "podman run $name: ${cmd[*]}"
started=$(date +%s.%N)
# As a launcher pod: not privileged, KubeVirt's capabilities added to the runtime's defaults. No /dev/kvm: this
# machine's KVM is PVM, which runs no stock guest kernel, so the launcher must choose TCG, which it does (with
# --allow-emulation) exactly when /dev/kvm is absent.
podman run -d --name "$name" --network none --cap-add SYS_NICE,NET_BIND_SERVICE \
  -v "$run/share:/var/run/kubevirt" -v "$run/private:/var/run/kubevirt-private" \
  -v "$run/ephemeral:/var/run/kubevirt-ephemeral-disks" -v "$run/libvirt:/var/run/libvirt" "${entry[@]}" "$image" "${cmd[@]}" >/dev/null || exit 1

for _ in $(seq 1 120); do
  [ -S "$run/share/sockets/launcher-sock" ] && break
  [ "$(podman inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] || break
  sleep 1
done
if [ -S "$run/share/sockets/launcher-sock" ]; then
  "$bin/launcher-driver" --socket "$run/share/sockets/launcher-sock" --vmi "$run/vmi.json" --wait 120s
  driver=$?
else
  log "no command socket: virt-launcher ended before it was ready"
  driver=1
fi
ready=""
if [ $driver -eq 0 ]; then
  console="$run/private/$uid/virt-serial0-log"
  for _ in $(seq 1 450); do
    ready=$(grep -a -m1 'TWINROOM-GUEST READY' "$console" 2>/dev/null)
    [ -n "$ready" ] && break
    sleep 0.2
  done
  [ -n "$ready" ] && log "READY line on the console $(echo "$(date +%s.%N) - $started" | bc) s after podman run (polled every 0.2 s)"
  log "guest console ($console), first lines:"
  head -c 2000 "$console" 2>/dev/null | grep -a TWINROOM | head -5 | sed 's/^/    /'
  log "QEMU in the container: $(podman exec "$name" sh -c 'ps -eo args | grep -m1 "^/usr/bin/qemu-system" | cut -c1-400')"
fi
log "virt-launcher's log (last 40 lines):"
podman logs "$name" 2>&1 | tail -40 | cut -c1-600 | sed 's/^/    /'
if [ -n "$ready" ]; then
  log "RESULT: the guest booted under KubeVirt's virt-launcher: $ready"
  exit 0
fi
log "RESULT: no guest ready (driver exit $driver)"
exit 1
