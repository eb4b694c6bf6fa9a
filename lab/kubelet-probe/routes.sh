#!/bin/bash
# Static pod-CIDR routes between the probe nodes (no overlay). Re-run after a network reconnect.
export CONTAINERS_CONF=/tmp/kubelet-probe/files/containers.conf
podman exec kprobe-node1 ip route replace 10.244.2.0/24 via 10.231.0.12
podman exec kprobe-node2 ip route replace 10.244.1.0/24 via 10.231.0.11
