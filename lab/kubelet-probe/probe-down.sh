#!/bin/bash
# Remove everything the probe created in podman (only kprobe-* names). Cached binaries/images stay.
export CONTAINERS_CONF=/tmp/kubelet-probe/files/containers.conf
for c in $(podman ps -a --format '{{.Names}}' | grep '^kprobe-'); do podman rm -f -t 5 "$c" >/dev/null 2>&1; done
for v in $(podman volume ls --format '{{.Name}}' | grep '^kprobe-'); do podman volume rm "$v" >/dev/null; done
podman network exists kprobe-net && podman network rm kprobe-net >/dev/null
# Images built by the probe (the node image can be rebuilt offline by probe-up.sh in ~5 s).
for i in localhost/kprobe-node:latest localhost/kprobe-busybox:1.35 registry.k8s.io/pause:3.10.2; do podman image exists $i && podman rmi $i >/dev/null; done
true
