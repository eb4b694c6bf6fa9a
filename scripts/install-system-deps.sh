#!/usr/bin/env bash
# Debian packages the lab host needs. Installs only what is missing; a warm machine costs a dpkg query.
set -euo pipefail
# postgresql-15 and python3-psycopg2: the datastore module's integration test runs a real pair on loopback.
# The shellcheck package: ansible-test sanity checks the shell scripts with it.
# lvm2, gdisk, kmod, thin-provisioning-tools: the storage host role's tests on loop devices.
# ipmitool: what fence_ipmilan runs (fencing through IPMI; tested against the lab's IPMI BMC stand-in).
# netavark + aardvark-dns: podman 4.3 without them falls back to CNI, where an --internal network gets no
# host-side gateway address, so the controller's traffic to a lab node would follow the default route off
# the machine. lab/containers.conf pins network_backend = "netavark".
# qemu-system-x86, cpio, busybox-static: the lab's test guest (lab/build/guest) and the VM runner stand-in
# (lab/twinroom_lab/vmrunner.py, tests/integration/test_vm_runner.py). libvirt-dev, pkg-config, gcc, libc6-dev: the
# cgo builds of KubeVirt's virt-launcher and virt-handler and its static container-disk (lab/build/kubevirt/images.sh).
# openjdk-17-jre-headless: ansible-rulebook (the automatic failover's rulebook) runs its rules engine on Java 17.
pkgs=(podman netavark aardvark-dns runc debootstrap fence-agents iptables uidmap openssl shellcheck postgresql-15 python3-psycopg2
      lvm2 gdisk kmod thin-provisioning-tools ipmitool qemu-system-x86 cpio busybox-static libvirt-dev pkg-config gcc libc6-dev
      openjdk-17-jre-headless)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The lab's Go builds need the machine's Go toolchain (Debian's golang-go is too old for Kubernetes).
if ! command -v go >/dev/null 2>&1; then
  echo "[deps] no Go toolchain on PATH: the lab builds kine, kwok and Kubernetes from Go modules and needs Go >= 1.25" >&2
  exit 1
fi
# ansible-navigator (make ee) refuses to start a podman execution environment without /dev/mqueue (POSIX message
# queues), which this machine's /dev may lack.
if [ ! -d /dev/mqueue ]; then
  echo "[deps] mounting /dev/mqueue (ansible-navigator with podman needs it)"
  mkdir -p /dev/mqueue && mount -t mqueue mqueue /dev/mqueue
fi
