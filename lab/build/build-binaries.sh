#!/usr/bin/env bash
# Build the lab's binaries that no registry ships, from Go modules through the module proxy.
#
# Every output lands in "$TWINROOM_CACHE/bin/<name>-<version>/" and is reused when present, so a
# warm run costs nothing and a version bump builds only what changed. Nothing is written to the repo.
#
# usage: build-binaries.sh [kine|kwok|kubernetes|kubelet|kube-proxy|containerd|cri-tools|cni-plugins|node-images|coredns|kubevirt|piraeus|guest|all]...
#   (piraeus: CRDs only, no build; node-images: the pause image and the drill workload image as image archives;
#    guest: the test guest's kernel and initramfs, lab/build/guest, not part of `all` yet: no lab node boots it)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
. "$here/../versions.env"

cache=${TWINROOM_CACHE:-/var/cache/twinroom}
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

done_marker() { [ -f "$1/.complete" ]; }

# The checksums the roles check the binaries against (sha256sum format), as a real site checks an upstream
# release's. Written after a build, and for a cached build made before they were.
write_sums() {
  local out=$1; shift
  [ -f "$out/SHA256SUMS" ] && return
  (cd "$out" && sha256sum "$@" > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
  log "$(basename "$out"): SHA256SUMS written"
}

build_kine() {
  local out="$bin/kine-$KINE_VERSION"
  done_marker "$out" && { log "kine $KINE_VERSION cached"; write_sums "$out" kine; return; }
  log "kine $KINE_VERSION: go install"
  mkdir -p "$out"
  GOBIN="$out" go install "github.com/k3s-io/kine@$KINE_VERSION"
  write_sums "$out" kine
  touch "$out/.complete"
}

build_kwok() {
  local out="$bin/kwok-$KWOK_VERSION"
  done_marker "$out" && { log "kwok $KWOK_VERSION cached"; return; }
  log "kwok $KWOK_VERSION: go install"
  mkdir -p "$out"
  GOBIN="$out" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok needs Stage objects to move pods and nodes through their lifecycle; the module ships them.
  local dir
  dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out/stages"
  cp "$dir"/kustomize/stage/node/fast/*.yaml "$out/stages/"
  cp "$dir"/kustomize/stage/node/heartbeat-with-lease/*.yaml "$out/stages/"
  cp "$dir"/kustomize/stage/pod/fast/*.yaml "$out/stages/"
  chmod -R u+w "$out/stages"
  rm -f "$out/stages/kustomization.yaml"
  touch "$out/.complete"
}

# k8s.io/kubernetes requires its staging modules at v0.0.0 via `replace => ./staging/...`, which
# `go install` refuses. A wrapper module replaces each staging module by its published v0.Y.Z.
write_k8s_wrapper() {
  local work=$1
  mkdir -p "$work"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local staging_ver="v0.${KUBERNETES_VERSION#v1.}"
  {
    echo "module twinroom.lab/k8sbuild"
    echo
    grep -m1 '^go ' "$gomod"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_ver" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$work/go.mod"
  cat > "$work/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
EOF
}

# Build Kubernetes commands from the wrapper module into "$bin/<name>-$KUBERNETES_VERSION".
# usage: build_k8s NAME COMMAND...
build_k8s() {
  local name=$1; shift
  local out="$bin/$name-$KUBERNETES_VERSION"
  done_marker "$out" && { log "$name $KUBERNETES_VERSION cached"; write_sums "$out" "$@"; return; }
  local work="$cache/src/k8sbuild-$KUBERNETES_VERSION"
  write_k8s_wrapper "$work"
  mkdir -p "$out"
  (
    cd "$work"
    log "$name $KUBERNETES_VERSION: resolving modules"
    go mod tidy -e >/dev/null 2>&1 || true
    go mod download
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    ld="$ld -X k8s.io/component-base/version.gitMajor=1"
    ld="$ld -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
    ld="$ld -X k8s.io/component-base/version.gitTreeState=clean"
    for cmd in "$@"; do
      log "$name $KUBERNETES_VERSION: building $cmd (cold: several minutes)"
      go build -trimpath -ldflags "$ld" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  write_sums "$out" "$@"
  touch "$out/.complete"
}

build_kubernetes() {
  build_k8s kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl
}

# The kubelet, from the same wrapper module as the control plane, in its own cache directory so a cache
# built before the lab ran kubelets stays valid.
build_kubelet() {
  build_k8s kubelet kubelet
}

# kube-proxy, from the same wrapper module, in its own cache directory (as the kubelet).
build_kube_proxy() {
  build_k8s kube-proxy kube-proxy
}

build_containerd() {
  local out="$bin/containerd-$CONTAINERD_VERSION"
  local components=(containerd containerd-shim-runc-v2 ctr)
  done_marker "$out" && { log "containerd $CONTAINERD_VERSION cached"; return; }
  mkdir -p "$out"
  local m=github.com/containerd/containerd/v2
  local ld="-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Revision=gomodproxy -X $m/version.Package=$m"
  for cmd in "${components[@]}"; do
    log "containerd $CONTAINERD_VERSION: go install $cmd"
    GOBIN="$out" go install -trimpath -tags "urfave_cli_no_docs no_btrfs no_devmapper no_zfs" -ldflags "$ld" \
      "$m/cmd/$cmd@$CONTAINERD_VERSION"
  done
  write_sums "$out" "${components[@]}"
  touch "$out/.complete"
}

build_cri_tools() {
  local out="$bin/cri-tools-$CRI_TOOLS_VERSION"
  done_marker "$out" && { log "crictl $CRI_TOOLS_VERSION cached"; return; }
  mkdir -p "$out"
  log "crictl $CRI_TOOLS_VERSION: go install"
  GOBIN="$out" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION"
  write_sums "$out" crictl
  touch "$out/.complete"
}

build_cni_plugins() {
  local out="$bin/cni-plugins-$CNI_PLUGINS_VERSION"
  local m=github.com/containernetworking/plugins
  done_marker "$out" && { log "CNI plugins $CNI_PLUGINS_VERSION cached"; return; }
  mkdir -p "$out"
  log "CNI plugins $CNI_PLUGINS_VERSION: go install bridge host-local loopback portmap"
  GOBIN="$out" go install -trimpath -ldflags "-s -w -X $m/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
    "$m/plugins/main/bridge@$CNI_PLUGINS_VERSION" "$m/plugins/ipam/host-local@$CNI_PLUGINS_VERSION" \
    "$m/plugins/main/loopback@$CNI_PLUGINS_VERSION" "$m/plugins/meta/portmap@$CNI_PLUGINS_VERSION"
  write_sums "$out" bridge host-local loopback portmap
  touch "$out/.complete"
}

# No container registry is reachable, so the two images a node needs are built here and shipped as image
# archives, as an air-gapped site ships them: the pod sandbox (pause, compiled from the C source in the
# Kubernetes module) and the drill workload (busybox-static from Debian, nothing else).
build_node_images() {
  local out="$cache/image/node-images-$PAUSE_VERSION-$DRILL_IMAGE_TAG"
  done_marker "$out" && { log "node images cached"; return; }
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$out" "$work/pause" "$work/drill/root/bin"
  local src
  src=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  log "pause $PAUSE_VERSION: gcc -static"
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-k8s-$KUBERNETES_VERSION" -o "$work/pause/pause" \
    "$src/build/pause/linux/pause.c"
  strip "$work/pause/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$work/pause/Containerfile"
  podman build --network none -q -t "registry.k8s.io/pause:$PAUSE_VERSION" "$work/pause" >/dev/null
  podman save --format docker-archive -o "$out/pause.tar" "registry.k8s.io/pause:$PAUSE_VERSION"
  log "drill image: busybox-static from Debian"
  (cd "$work" && apt-get download busybox-static >/dev/null)
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"
  cp "$work/bb/bin/busybox" "$work/drill/root/bin/busybox"
  for applet in sh sleep cat echo ls ps id hostname date env nc wget httpd timeout true; do
    ln -s busybox "$work/drill/root/bin/$applet"
  done
  # Runs until stopped, and stops at once on SIGTERM (a PID 1 without a handler would sit out the grace period).
  cat > "$work/drill/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY root/ /
ENV PATH=/bin
CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; echo twinroom drill workload on $(hostname); while :; do sleep 1; done"]
CONTAINERFILE
  podman build --network none -q -t "$DRILL_IMAGE_NAME:$DRILL_IMAGE_TAG" "$work/drill" >/dev/null
  podman save --format docker-archive -o "$out/drill.tar" "$DRILL_IMAGE_NAME:$DRILL_IMAGE_TAG"
  write_sums "$out" pause.tar drill.tar
  touch "$out/.complete"
}

# CoreDNS, the cluster DNS (roles/cluster_dns): built from its Go module and saved as an image archive under the
# name a real site pulls (cluster_dns_image), so the nodes import it instead of pulling it.
build_coredns() {
  local out="$cache/image/coredns-$COREDNS_VERSION"
  done_marker "$out" && { log "CoreDNS $COREDNS_VERSION cached"; return; }
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$out" "$work/image"
  log "CoreDNS $COREDNS_VERSION: go install (cold: a few minutes)"
  GOBIN="$work/image" go install -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=gomodproxy" \
    "github.com/coredns/coredns@$COREDNS_VERSION"
  printf 'FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT ["/coredns"]\n' > "$work/image/Containerfile"
  podman build --network none -q -t "$COREDNS_IMAGE_NAME:${COREDNS_VERSION#v}" "$work/image" >/dev/null
  podman save --format docker-archive -o "$out/coredns.tar" "$COREDNS_IMAGE_NAME:${COREDNS_VERSION#v}"
  write_sums "$out" coredns.tar
  touch "$out/.complete"
}

# KubeVirt's CRDs (for the tests' API server), then the images virt-operator deploys and its release manifest
# (kubevirt/images.sh: virt-handler and virt-launcher with cgo, against libvirt-dev; the node images on a Debian
# trixie base made with debootstrap).
build_kubevirt() {
  "$here/kubevirt/build.sh"
  "$here/kubevirt/images.sh"
}

# Writes "$cache/guest-$GUEST_KERNEL_ABI-$GUEST_REVISION/.complete" last, and does nothing while it is there.
build_guest() {
  "$here/guest/build.sh"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all)
for t in "${targets[@]}"; do
  case "$t" in
    kine) build_kine ;;
    kwok) build_kwok ;;
    kubernetes) build_kubernetes ;;
    kubelet) build_kubelet ;;
    kube-proxy) build_kube_proxy ;;
    containerd) build_containerd ;;
    cri-tools) build_cri_tools ;;
    cni-plugins) build_cni_plugins ;;
    node-images) build_node_images ;;
    coredns) build_coredns ;;
    kubevirt) build_kubevirt ;;
    guest) build_guest ;;
    piraeus) PIRAEUS_VERSION=$PIRAEUS_VERSION "$here/piraeus/fetch-crds.sh" ;;
    all) build_kine; build_kwok; build_kubernetes; build_kubelet; build_kube_proxy; build_containerd; build_cri_tools
         build_cni_plugins; build_node_images; build_coredns; build_kubevirt; PIRAEUS_VERSION=$PIRAEUS_VERSION "$here/piraeus/fetch-crds.sh" ;;
    *) echo "unknown target '$t': choose kine, kwok, kubernetes, kubelet, kube-proxy, containerd, cri-tools, cni-plugins, node-images, coredns, kubevirt, piraeus, guest or all" >&2; exit 2 ;;
  esac
done
log "done; binaries under $bin"
