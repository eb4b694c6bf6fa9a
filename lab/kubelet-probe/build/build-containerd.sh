#!/bin/bash
set -euo pipefail
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOMAXPROCS=1
out=/var/cache/twinroom/probe/bin/containerd-v2.4.2; mkdir -p $out
V=v2.4.2
ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$V -X github.com/containerd/containerd/v2/version.Revision=gomodproxy -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
tags="urfave_cli_no_docs no_btrfs no_devmapper no_zfs"
for c in containerd ctr containerd-shim-runc-v2; do
  echo "== $c $(date +%T)"
  time GOBIN=$out nice -n 19 go install -p 1 -trimpath -tags "$tags" -ldflags "$ld" github.com/containerd/containerd/v2/cmd/$c@$V
done
out2=/var/cache/twinroom/probe/bin/cri-tools-v1.37.0; mkdir -p $out2
echo "== crictl $(date +%T)"
time GOBIN=$out2 nice -n 19 go install -p 1 -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v1.37.0" sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
echo "== done $(date +%T)"
