#!/bin/bash
# usage: install-node.sh CONTAINER NODE NODE_IP POD_CIDR CGROUP_DRIVER(systemd|cgroupfs) [controlplane]
set -euo pipefail
c=$1 node=$2 ip=$3 cidr=$4 drv=$5 cp=${6:-}
F=/tmp/kubelet-probe/files; T=$(mktemp -d /tmp/kubelet-probe/stage.XXXX)
cp -r $F/etc $T/; cp $F/fake-sysctl.sh $T/
sc=false; [ "$drv" = systemd ] && sc=true
find $T -type f | xargs sed -i -e "s#@NODE@#$node#g" -e "s#@NODE_IP@#$ip#g" -e "s#@POD_CIDR@#$cidr#g" -e "s#@CGROUP_DRIVER@#$drv#g" -e "s#@SYSTEMD_CGROUP@#$sc#g"
podman exec $c mkdir -p /opt/kprobe /etc/kprobe/manifests
podman cp $T/fake-sysctl.sh $c:/opt/kprobe/fake-sysctl.sh
cd $T; for f in etc/containerd/config.toml etc/kprobe/kubelet.yaml etc/kprobe/kube-proxy.yaml etc/cni/net.d/10-kprobe.conflist etc/systemd/system/*.service etc/systemd/system.conf.d/*.conf; do
  podman exec $c mkdir -p /$(dirname $f); podman cp $T/$f $c:/$f
done
cd /; rm -rf $T
units="containerd kprobe-fake-sysctl kubelet kprobe-kube-proxy"
[ -n "$cp" ] && units="kprobe-kine kprobe-apiserver kprobe-controller-manager kprobe-scheduler $units"
podman exec $c systemctl daemon-reexec
echo "$units"
