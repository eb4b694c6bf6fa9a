#!/bin/bash
# Cut kprobe-node2 off kprobe-net, show pod traffic stops and the node goes NotReady; restore and show recovery.
export CONTAINERS_CONF=/tmp/kubelet-probe/files/containers.conf
K="podman exec kprobe-node1 env KUBECONFIG=/etc/kprobe/pki/admin.kubeconfig /opt/kprobe/bin/kubectl"
ip1=$($K get pod bb1 -o jsonpath='{.status.podIP}'); ip2=$($K get pod bb2 -o jsonpath='{.status.podIP}')
probe() { out=$($K exec bb1 -- busybox timeout 3 wget -qO- http://$ip2:8080/ 2>&1); echo "bb1->bb2 rc=$? $out"; }
echo "[$(date +%T)] before:"; probe
echo "[$(date +%T)] podman network disconnect kprobe-net kprobe-node2"; podman network disconnect kprobe-net kprobe-node2
probe
podman exec kprobe-node2 sh -c "crictl exec \$(crictl ps -q --name bb | head -1) busybox timeout 3 wget -qO- http://$ip1:8080/ 2>&1; echo \"bb2->bb1 rc=\$?\""
t=$(date +%s); for i in $(seq 1 30); do s=$($K get node kprobe-node2 --no-headers | awk '{print $2}'); [ "$s" = NotReady ] && break; sleep 2; done
echo "[$(date +%T)] kprobe-node2 $s after $(( $(date +%s)-t ))s"
echo "[$(date +%T)] podman network connect --ip 10.231.0.12 kprobe-net kprobe-node2; routes.sh"
podman network connect --ip 10.231.0.12 kprobe-net kprobe-node2; /tmp/kubelet-probe/files/routes.sh
t=$(date +%s); for i in $(seq 1 30); do s=$($K get node kprobe-node2 --no-headers | awk '{print $2}'); [ "$s" = Ready ] && break; sleep 2; done
echo "[$(date +%T)] kprobe-node2 $s after $(( $(date +%s)-t ))s"; probe
