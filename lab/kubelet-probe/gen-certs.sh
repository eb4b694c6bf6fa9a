#!/bin/bash
# Throwaway PKI for the probe cluster (openssl only). usage: gen-certs.sh OUTDIR NODE1 [NODE2...]
set -euo pipefail
out=$1; shift; mkdir -p "$out"; cd "$out"
[ -f ca.key ] || { openssl genrsa -out ca.key 2048 2>/dev/null; openssl req -x509 -new -key ca.key -days 30 -subj "/CN=kprobe-ca" -out ca.crt; }
[ -f sa.key ] || { openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
cert() { # name CN O SAN(or "") usage
  local name=$1 cn=$2 o=$3 san=$4 usage=$5
  [ -f "$name.crt" ] && return 0
  openssl genrsa -out "$name.key" 2048 2>/dev/null
  local subj="/CN=$cn"; [ -n "$o" ] && subj="/O=$o$subj"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
  { echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"; echo "extendedKeyUsage=$usage"; [ -n "$san" ] && echo "subjectAltName=$san"; } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
cert apiserver kube-apiserver "" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost,DNS:kprobe-node1,IP:127.0.0.1,IP:10.96.0.1,IP:10.231.0.11" serverAuth
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth
cert admin kubernetes-admin system:masters "" clientAuth
cert controller-manager system:kube-controller-manager "" "" clientAuth
cert scheduler system:kube-scheduler "" "" clientAuth
for n in "$@"; do cert "kubelet-$n" "system:node:$n" system:nodes "" clientAuth; done
kc() { # name user certbase server
  cat > "$1.kubeconfig" <<EOK
apiVersion: v1
kind: Config
clusters:
- name: kprobe
  cluster: {certificate-authority: /etc/kprobe/pki/ca.crt, server: "$4"}
users:
- name: $2
  user: {client-certificate: /etc/kprobe/pki/$3.crt, client-key: /etc/kprobe/pki/$3.key}
contexts:
- name: kprobe
  context: {cluster: kprobe, user: $2}
current-context: kprobe
EOK
}
kc admin admin admin https://127.0.0.1:6443
kc controller-manager cm controller-manager https://127.0.0.1:6443
kc scheduler sched scheduler https://127.0.0.1:6443
for n in "$@"; do kc "kubelet-$n" "$n" "kubelet-$n" https://10.231.0.11:6443; done
