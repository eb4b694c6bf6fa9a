#!/bin/bash
set -euo pipefail
cd /var/cache/twinroom/probe/src/k8sbuild-v1.36.3
export GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOMAXPROCS=1
V=v1.36.3; CMD=${1:-kubelet}
ld="-s -w -X k8s.io/component-base/version.gitVersion=$V -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 -X k8s.io/component-base/version.gitTreeState=clean"
mkdir -p /var/cache/twinroom/probe/bin/kubernetes-$V
time nice -n 19 go build -p 1 -trimpath -ldflags "$ld" -o /var/cache/twinroom/probe/bin/kubernetes-$V/$CMD k8s.io/kubernetes/cmd/$CMD
