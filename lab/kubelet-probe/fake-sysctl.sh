#!/bin/sh
# A privileged node sees the host's /proc/sys/vm and /proc/sys/kernel (not namespaced). The kubelet
# (protectKernelDefaults=false) would write vm.overcommit_memory=1, kernel.panic=10,
# kernel.panic_on_oops=1, vm.panic_on_oom=0 there; with protectKernelDefaults=true it refuses to start.
# Bind regular files holding the values it wants over those entries: it reads them, the host is untouched.
set -e
d=/run/kprobe-sysctl; mkdir -p $d
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=${kv%%=*}; v=${kv#*=}; f=$d/$(echo $k | tr / _)
  mountpoint -q /proc/sys/$k && continue
  echo $v > $f; mount --bind $f /proc/sys/$k
done
