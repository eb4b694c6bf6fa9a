#!/usr/bin/env bash
# Probe (issue 14): build the launcher image (Containerfile next to this script) from launcher-probe.sh's binaries,
# KubeVirt's own configuration files from the Go module, and container-disk compiled from its C source.
#
#   build.sh IMAGE BASE true|false        (the last: VIRTQEMUD_SHIM, /usr/sbin/virtqemud -> the virtqemud wrapper)
#
# Used by launcher-run.sh (the probe); the lab's image is built by images.sh from the same Containerfile.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../../versions.env
. "$here/../../../versions.env"
image=$1 base=$2 shim=$3
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
bin="$cache/probe/kubevirt-launcher-$KUBEVIRT_VERSION"
module="$(go env GOMODCACHE)/kubevirt.io/kubevirt@$KUBEVIRT_VERSION"
ctx=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-launcher-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp "$here/Containerfile" "$here/virtqemud" "$bin"/{virt-launcher,virt-launcher-monitor,virt-tail,virt-probe,virt-freezer} "$ctx/"
cp "$module/cmd/virt-launcher/"{qemu.conf,virtqemud.conf,nsswitch.conf,qemu,node-labeller/node-labeller.sh} "$ctx/"
# container-disk (KubeVirt's only C program: it holds a containerDisk or kernelBoot container open), static as upstream
gcc -static -O2 -o "$ctx/container-disk" "$module/cmd/container-disk-v2alpha/main.c"
podman build -q --build-arg "BASE=$base" --build-arg "VIRTQEMUD_SHIM=$shim" -t "$image" "$ctx" >/dev/null
