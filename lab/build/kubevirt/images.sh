#!/usr/bin/env bash
# KubeVirt's own images and release manifest, built here because no container registry is reachable: the five
# images virt-operator deploys, under the names a real site pulls (quay.io/kubevirt/<name>:$KUBEVIRT_VERSION), saved
# as image archives for node_agent_images, and kubevirt-operator.yaml generated as KubeVirt's release does it
# (manifest-templator, two passes), laid out as a manifest mirror for kubevirt_manifest_base_url. roles/kubevirt then
# installs KubeVirt exactly as on a real site: the operator manifest, checksum enforced, then the KubeVirt CR.
#
# Outputs, under "$TWINROOM_CACHE/image/kubevirt-$KUBEVIRT_VERSION-$KUBEVIRT_IMAGES_REVISION/":
#   virt-operator.tar virt-api.tar virt-controller.tar virt-handler.tar virt-launcher.tar   image archives
#   SHA256SUMS                                                    their checksums (node_agent_images)
#   mirror/kubevirt/$KUBEVIRT_VERSION/kubevirt-operator.yaml      the release manifest (+ .sha256)
#   .complete                                                     written last; when present a run does nothing
#
# The binaries: the Go wrapper module build.sh makes (its work area must exist), built with the tag KubeVirt's
# release uses (selinux). CGO off for virt-operator, virt-api, virt-controller; on for virt-handler (<linux/kvm.h>)
# and virt-launcher (libvirt, against Debian's libvirt-dev). The images: KubeVirt's are CentOS Stream with its RPMs;
# these are Debian (trixie for the node images: QEMU 10 keeps live migration's parallel channels apart, QEMU 7.2 does
# not) with the same files KubeVirt puts in each (see launcher-image/Containerfile and OPERATOR-PATH.md §3).
#
# usage: images.sh       env: TWINROOM_CACHE, TWINROOM_GO_JOBS (go build -p, default 1), TWINROOM_DEBIAN_MIRROR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../versions.env
. "$here/../../versions.env"
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
src="$cache/src/kubevirtbuild-$KUBEVIRT_VERSION"
work="$cache/src/kubevirt-images-$KUBEVIRT_VERSION"
bin="$work/bin"
out="$cache/image/kubevirt-$KUBEVIRT_VERSION-$KUBEVIRT_IMAGES_REVISION"
jobs=${TWINROOM_GO_JOBS:-1}
prefix=quay.io/kubevirt
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/../../containers.conf}
export GOPROXY=${GOPROXY:-https://proxy.golang.org} GOFLAGS=-buildvcs=false

log() { printf '[kubevirt-images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

if [ -f "$out/.complete" ]; then
  log "KubeVirt $KUBEVIRT_VERSION images cached in $out"
  exit 0
fi
[ -f "$src/go.mod" ] || die "no wrapper module in $src: run build-binaries.sh kubevirt first"
start=$(date +%s)
module="$(go env GOMODCACHE)/kubevirt.io/kubevirt@$KUBEVIRT_VERSION"

build_binaries() {
  rm -rf "$work"
  mkdir -p "$bin"
  cp "$src/go.mod" "$src/go.sum" "$work/"
  sed -i 's#^module .*#module twinroom.lab/kubevirtimages#' "$work/go.mod"
  local cmd imports=""
  for cmd in virt-operator virt-api virt-controller virt-handler virt-chroot virt-launcher virt-launcher-monitor \
             virt-tail virt-probe virt-freezer; do
    imports="$imports	_ \"kubevirt.io/kubevirt/cmd/$cmd\"
"
  done
  printf '//go:build tools\n\npackage tools\n\nimport (\n%s\t_ "kubevirt.io/kubevirt/tools/manifest-templator"\n)\n' \
    "$imports" > "$work/tools.go"
  cd "$work"
  log "resolving modules (go mod tidy)"
  go mod tidy
  local commit vpkg=kubevirt.io/client-go/version ld
  commit=$(go mod download -json "kubevirt.io/kubevirt@$KUBEVIRT_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Origin", {}).get("Hash", ""))')
  ld="-s -w -X $vpkg.gitVersion=$KUBEVIRT_VERSION -X $vpkg.gitCommit=$commit -X $vpkg.gitTreeState=clean"
  for cmd in virt-operator virt-api virt-controller tools/manifest-templator virt-handler virt-chroot virt-launcher \
             virt-launcher-monitor virt-tail virt-probe virt-freezer; do
    local cgo=0 pkg=kubevirt.io/kubevirt/cmd/$cmd
    case $cmd in tools/*) pkg=kubevirt.io/kubevirt/$cmd ;; esac
    case $cmd in virt-handler|virt-launcher|virt-chroot) cgo=1 ;; esac
    log "building $(basename "$cmd") (CGO_ENABLED=$cgo)"
    CGO_ENABLED=$cgo go build -p "$jobs" -tags selinux -trimpath -ldflags "$ld" -o "$bin/$(basename "$cmd")" "$pkg"
  done
  # container-disk: KubeVirt's only C program (holds a containerDisk or kernelBoot container open), static as upstream.
  gcc -static -O2 -o "$bin/container-disk" "$module/cmd/container-disk-v2alpha/main.c"
}

# virt-operator, virt-api, virt-controller: static Go binaries on an empty image, as KubeVirt's run on distroless, as
# the numeric user 1001 (their pods are runAsNonRoot, which the kubelet checks against a numeric USER).
build_control_images() {
  local name ctx
  for name in virt-operator virt-api virt-controller; do
    ctx=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-kubevirt-image.XXXXXX")
    mkdir -p "$ctx/root/etc" "$ctx/root/tmp" "$ctx/root/usr/bin"
    chmod 1777 "$ctx/root/tmp"
    cp "$bin/$name" "$ctx/root/usr/bin/"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot-user:x:1001:1001::/home/nonroot-user:/sbin/nologin\n' > "$ctx/root/etc/passwd"
    printf 'root:x:0:\nnonroot-user:x:1001:\n' > "$ctx/root/etc/group"
    # One tarball: ADD keeps each file's mode (COPY of a directory does not keep /tmp's 1777).
    tar -C "$ctx/root" --owner=0 --group=0 -cf "$ctx/root.tar" .
    printf 'FROM scratch\nADD root.tar /\nENV PATH=/usr/bin\nUSER 1001\nENTRYPOINT ["/usr/bin/%s"]\n' "$name" > "$ctx/Containerfile"
    podman build --no-cache --network none -q -t "$prefix/$name:$KUBEVIRT_VERSION" -f "$ctx/Containerfile" "$ctx" >/dev/null
    rm -rf "$ctx"
    log "image $prefix/$name:$KUBEVIRT_VERSION"
  done
}

build_node_images() {
  local base=localhost/twinroom-probe-base:trixie
  "$here/trixie-base.sh" >/dev/null
  # virt-launcher: KubeVirt's own launcher on Debian's libvirt and QEMU (launcher-image/Containerfile). Debian ships
  # no modular virtqemud, so /usr/sbin/virtqemud is the wrapper that runs libvirtd (LAUNCHER-PROBE.md row 2).
  local ctx
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-kubevirt-image.XXXXXX")
  cp "$here/launcher-image/Containerfile" "$here/launcher-image/virtqemud" \
     "$bin"/{virt-launcher,virt-launcher-monitor,virt-tail,virt-probe,virt-freezer,container-disk} "$ctx/"
  cp "$module/cmd/virt-launcher/"{qemu.conf,virtqemud.conf,nsswitch.conf,qemu,node-labeller/node-labeller.sh} "$ctx/"
  podman build -q --build-arg "BASE=$base" --build-arg VIRTQEMUD_SHIM=true -t "$prefix/virt-launcher:$KUBEVIRT_VERSION" "$ctx" >/dev/null
  rm -rf "$ctx"
  log "image $prefix/virt-launcher:$KUBEVIRT_VERSION"
  # virt-handler: virt-handler and virt-chroot with the tools KubeVirt's handler image carries (handlerbase).
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-kubevirt-image.XXXXXX")
  cp "$here/handler-image/Containerfile" "$bin/virt-handler" "$bin/virt-chroot" "$ctx/"
  podman build -q --build-arg "BASE=$base" -t "$prefix/virt-handler:$KUBEVIRT_VERSION" "$ctx" >/dev/null
  rm -rf "$ctx"
  log "image $prefix/virt-handler:$KUBEVIRT_VERSION"
}

save_images() {
  local name
  rm -rf "$out"
  mkdir -p "$out/mirror/kubevirt/$KUBEVIRT_VERSION"
  for name in virt-operator virt-api virt-controller virt-handler virt-launcher; do
    podman save -q --format docker-archive -o "$out/$name.tar" "$prefix/$name:$KUBEVIRT_VERSION"
  done
  (cd "$out" && sha256sum ./*.tar | sed 's# \./# #' > SHA256SUMS)
}

# KubeVirt's release: hack/build-manifests.sh runs manifest-templator twice on manifests/release/*.yaml.in,
# --process-files (the generated manifests in), then --process-vars (names, tag, namespace, pull policy).
build_manifest() {
  local m="$out/mirror/kubevirt/$KUBEVIRT_VERSION" tmp
  tmp=$(mktemp)
  "$bin/manifest-templator" --process-files --generated-manifests-dir="$module/manifests/generated/" \
    --input-file="$module/manifests/release/kubevirt-operator.yaml.in" > "$tmp"
  "$bin/manifest-templator" --process-vars --namespace=kubevirt --container-prefix="$prefix" \
    --container-tag="$KUBEVIRT_VERSION" --image-prefix= --image-pull-policy=IfNotPresent --verbosity=2 \
    --kubevirt-logo-path="$module/assets/kubevirt_logo.png" --input-file="$tmp" > "$m/kubevirt-operator.yaml"
  rm -f "$tmp"
  sed -i '${/^$/d;}' "$m/kubevirt-operator.yaml"
  grep -q "image: $prefix/virt-operator:$KUBEVIRT_VERSION" "$m/kubevirt-operator.yaml" \
    || die "kubevirt-operator.yaml names no $prefix/virt-operator:$KUBEVIRT_VERSION"
  (cd "$m" && sha256sum kubevirt-operator.yaml > kubevirt-operator.yaml.sha256)
}

log "KubeVirt $KUBEVIRT_VERSION images (revision $KUBEVIRT_IMAGES_REVISION) → $out"
( build_binaries )
build_control_images
build_node_images
save_images
build_manifest
touch "$out/.complete"
log "done in $(( $(date +%s) - start ))s: $(du -sh "$out" | cut -f1)"
