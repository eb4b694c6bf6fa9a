#!/usr/bin/env bash
# Probe (issue 14): do KubeVirt's own virt-handler, virt-launcher and virt-launcher-monitor build from the
# kubevirt.io/kubevirt Go module at $KUBEVIRT_VERSION, with cgo against Debian's libvirt-dev? Also builds what their
# images carry beside them (virt-chroot for virt-handler; virt-tail, virt-probe, virt-freezer for the launcher),
# for launcher-run.sh. (The lab's images are built by images.sh.)
# Same wrapper module as build.sh (copied from its work area, which build.sh must have made first), only the
# tools.go differs; output goes to a separate probe directory, never into the lab's kubevirt-$VERSION cache.
# Results and the exact errors: LAUNCHER-PROBE.md next to this script. Nothing here is run by the lab.
#
# usage: launcher-probe.sh      env: TWINROOM_CACHE, TWINROOM_GO_JOBS (go build -p, default 1)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../versions.env
. "$here/../../versions.env"
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
src="$cache/src/kubevirtbuild-$KUBEVIRT_VERSION"
work="$cache/src/kubevirt-launcher-probe-$KUBEVIRT_VERSION"
out="$cache/probe/kubevirt-launcher-$KUBEVIRT_VERSION"
jobs=${TWINROOM_GO_JOBS:-1}
# The module proxy only: no fallback to fetching from VCS hosts.
export GOPROXY=https://proxy.golang.org GOFLAGS=-buildvcs=false CGO_ENABLED=1

log() { printf '[launcher-probe %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

[ -f "$src/go.mod" ] || { log "no wrapper module in $src: run build.sh (build-binaries.sh kubevirt) first" >&2; exit 1; }
log "libvirt (pkg-config): $(pkg-config --modversion libvirt 2>&1)"
log "go: $(go version)"
rm -rf "$work" "$out"
mkdir -p "$work" "$out"
cp "$src/go.mod" "$src/go.sum" "$work/"
cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "kubevirt.io/kubevirt/cmd/virt-handler"
	_ "kubevirt.io/kubevirt/cmd/virt-launcher"
	_ "kubevirt.io/kubevirt/cmd/virt-launcher-monitor"
	_ "kubevirt.io/kubevirt/cmd/virt-chroot"
	_ "kubevirt.io/kubevirt/cmd/virt-tail"
	_ "kubevirt.io/kubevirt/cmd/virt-probe"
	_ "kubevirt.io/kubevirt/cmd/virt-freezer"
)
GO
cd "$work" || exit 1
sed -i 's#^module .*#module twinroom.lab/kubevirtlauncherprobe#' go.mod
log "go mod tidy"
go mod tidy 2>&1 | tail -20
status=0
for cmd in virt-launcher-monitor virt-handler virt-launcher virt-chroot virt-tail virt-probe virt-freezer; do
  log "building $cmd (CGO_ENABLED=1)"
  start=$(date +%s)
  if go build -p "$jobs" -trimpath -ldflags "-s -w" -o "$out/$cmd" "kubevirt.io/kubevirt/cmd/$cmd" > "$out/$cmd.log" 2>&1; then
    log "$cmd: OK in $(( $(date +%s) - start ))s, $(stat -c %s "$out/$cmd") bytes"
    file "$out/$cmd" 2>/dev/null | sed 's/^/    /'
  else
    status=1
    log "$cmd: FAILED after $(( $(date +%s) - start ))s:"
    sed 's/^/    /' "$out/$cmd.log" | head -40
  fi
done
exit $status
