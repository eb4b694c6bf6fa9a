#!/usr/bin/env bash
# Build the lab's binaries that no registry ships, from Go modules through the module proxy.
#
# Every output lands in "$TWINROOM_CACHE/bin/<name>-<version>/" and is reused when present, so a
# warm run costs nothing and a version bump builds only what changed. Nothing is written to the repo.
#
# usage: build-binaries.sh [kine|kwok|kubernetes|kubevirt|piraeus|all]...   (piraeus: CRDs only, no build)
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
)
EOF
}

build_kubernetes() {
  local out="$bin/kubernetes-$KUBERNETES_VERSION"
  local components=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  done_marker "$out" && { log "kubernetes $KUBERNETES_VERSION cached"; write_sums "$out" "${components[@]}"; return; }
  local work="$cache/src/k8sbuild-$KUBERNETES_VERSION"
  write_k8s_wrapper "$work"
  mkdir -p "$out"
  (
    cd "$work"
    log "kubernetes $KUBERNETES_VERSION: resolving modules"
    go mod tidy -e >/dev/null 2>&1 || true
    go mod download
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
    ld="$ld -X k8s.io/component-base/version.gitMajor=1"
    ld="$ld -X k8s.io/component-base/version.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
    ld="$ld -X k8s.io/component-base/version.gitTreeState=clean"
    for cmd in "${components[@]}"; do
      log "kubernetes $KUBERNETES_VERSION: building $cmd (cold: several minutes)"
      go build -trimpath -ldflags "$ld" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done
  )
  write_sums "$out" "${components[@]}"
  touch "$out/.complete"
}

build_kubevirt() {
  "$here/kubevirt/build.sh"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all)
for t in "${targets[@]}"; do
  case "$t" in
    kine) build_kine ;;
    kwok) build_kwok ;;
    kubernetes) build_kubernetes ;;
    kubevirt) build_kubevirt ;;
    piraeus) PIRAEUS_VERSION=$PIRAEUS_VERSION "$here/piraeus/fetch-crds.sh" ;;
    all) build_kine; build_kwok; build_kubernetes; build_kubevirt; PIRAEUS_VERSION=$PIRAEUS_VERSION "$here/piraeus/fetch-crds.sh" ;;
    *) echo "unknown target '$t': choose kine, kwok, kubernetes, kubevirt, piraeus or all" >&2; exit 2 ;;
  esac
done
log "done; binaries under $bin"
