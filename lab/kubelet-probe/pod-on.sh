#!/bin/bash
# usage: pod-on.sh NODE PODNAME  -> creates a busybox httpd pod on NODE, waits Ready (60s), execs, logs
export CONTAINERS_CONF=/tmp/kubelet-probe/files/containers.conf
podman exec -i kprobe-node1 sh -c "export KUBECONFIG=/etc/kprobe/pki/admin.kubeconfig; cat > /tmp/$2.yaml; kubectl apply -f /tmp/$2.yaml; timeout 70 kubectl wait --for=condition=Ready pod/$2 --timeout=60s; kubectl get pod $2 -o wide; kubectl logs $2; kubectl exec $2 -- sh -c 'hostname; cat /proc/1/cgroup | grep memory'; kubectl describe pod $2 | sed -n '/Events/,\$p' | tail -8" <<EOP
apiVersion: v1
kind: Pod
metadata: {name: $2}
spec:
  nodeName: $1
  containers:
  - name: bb
    image: localhost/kprobe-busybox:1.35
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "echo hello-from-$2; mkdir -p /www; hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
    resources:
      limits: {cpu: 100m, memory: 64Mi}
EOP
