#!/bin/bash
# End-to-end probe: 2 podman nodes, real kubelet+containerd+runc+CNI, control plane (kine sqlite) in node1.
# Idempotent inputs: binaries in /var/cache/twinroom/probe/{bin,node-bin}, images in .../probe/images, debs in .../probe/debs.
set -euo pipefail
F=/tmp/kubelet-probe/files
export CONTAINERS_CONF=$F/containers.conf
t0=$(date +%s); ts() { echo "[$(( $(date +%s)-t0 ))s] $*"; }
if ! podman image exists localhost/kprobe-node:latest; then
  N=/tmp/kubelet-probe/nodeimg; mkdir -p $N/debs; cp $F/Containerfile.kprobe-node $N/Containerfile; cp $F/kprobe-init $N/
  cp /var/cache/twinroom/probe/debs/{runc,containernetworking-plugins,iptables,libip6tc2,libnetfilter-conntrack3,libnfnetlink0,libnftnl11,conntrack}_*.deb $N/debs/
  nice -n 19 podman build --network none -t localhost/kprobe-node:latest $N >/dev/null
fi
podman network exists kprobe-net || podman network create --internal --subnet 10.231.0.0/24 --gateway 10.231.0.1 kprobe-net >/dev/null
$F/gen-certs.sh $F/pki kprobe-node1 kprobe-node2
ts "image, network, pki ready"
$F/node-up.sh kprobe-node1 10.231.0.11 10.244.1.0/24 systemd cp
$F/node-up.sh kprobe-node2 10.231.0.12 10.244.2.0/24 systemd
$F/routes.sh
ts "nodes up"
K="podman exec kprobe-node1 env KUBECONFIG=/etc/kprobe/pki/admin.kubeconfig /opt/kprobe/bin/kubectl"
for i in $(seq 1 40); do [ "$($K get nodes --no-headers 2>/dev/null | grep -c ' Ready ')" = 2 ] && break; sleep 2; done
ts "both nodes Ready"; $K get nodes -o wide
for f in pod-bb1.yaml pod-bb2.yaml svc-bb.yaml; do podman cp $F/$f kprobe-node1:/tmp/$f; $K apply -f /tmp/$f; done
$K wait --for=condition=Ready pod/bb1 pod/bb2 --timeout=90s
ts "pods Ready"; $K get pods -o wide
ip1=$($K get pod bb1 -o jsonpath='{.status.podIP}'); ip2=$($K get pod bb2 -o jsonpath='{.status.podIP}')
$K logs bb1
echo "bb1 -> bb2: $($K exec bb1 -- busybox timeout 5 wget -qO- http://$ip2:8080/)"
echo "bb2 -> bb1: $($K exec bb2 -- busybox timeout 5 wget -qO- http://$ip1:8080/)"
podman exec kprobe-node1 crictl ps; podman exec kprobe-node2 crictl ps
ts "done"
