#!/bin/bash
# Bring up one probe node. usage: node-up.sh NAME IP POD_CIDR CGROUP_DRIVER [cp]
#   cp: also run kine(sqlite) + kube-apiserver + controller-manager + scheduler in this node.
# Peer pod-CIDR routes are added by routes.sh. Needs: localhost/kprobe-node:latest, kprobe-net, PKI in files/pki.
set -euo pipefail
n=$1 ip=$2 cidr=$3 drv=$4 cp=${5:-}
export CONTAINERS_CONF=/tmp/kubelet-probe/files/containers.conf
podman run -d --name $n --hostname $n --privileged --systemd=always --cgroupns=private \
  --network kprobe-net:ip=$ip --tmpfs /run --tmpfs /tmp -v $n-var:/var \
  -v /var/cache/twinroom/probe/node-bin:/opt/kprobe/bin:ro -v /tmp/kubelet-probe/files/pki:/etc/kprobe/pki:ro \
  localhost/kprobe-node:latest >/dev/null
for i in $(seq 1 30); do s=$(podman exec $n systemctl is-system-running 2>/dev/null || true); [ "$s" = running ] || [ "$s" = degraded ] && break; sleep 1; done
echo "$n systemd: $s"
units=$(/tmp/kubelet-probe/files/install-node.sh $n $n $ip $cidr $drv $cp)
podman cp /var/cache/twinroom/probe/images/pause-3.10.2.tar $n:/var/tmp/
podman cp /var/cache/twinroom/probe/images/kprobe-busybox-1.35.tar $n:/var/tmp/
podman exec $n sh -c 'printf "runtime-endpoint: unix:///run/containerd/containerd.sock\nimage-endpoint: unix:///run/containerd/containerd.sock\ntimeout: 10\n" > /etc/crictl.yaml
  ln -sf /opt/kprobe/bin/crictl /opt/kprobe/bin/ctr /opt/kprobe/bin/kubectl /usr/local/bin/
  systemctl enable --now containerd 2>/dev/null
  for i in $(seq 1 20); do ctr version >/dev/null 2>&1 && break; sleep 1; done
  ctr -n k8s.io images import /var/tmp/pause-3.10.2.tar >/dev/null 2>&1
  ctr -n k8s.io images import /var/tmp/kprobe-busybox-1.35.tar >/dev/null 2>&1'
podman exec $n systemctl enable --now $units 2>/dev/null
echo "$n units: $(podman exec $n systemctl is-active $units | tr '\n' ' ')"
