#!/bin/sh
# /init of the lab's test guest (lab/build/guest/build.sh packs it with busybox-static into the initramfs).
#
# On the serial console (ttyS0), read by lab/twinroom_lab/vmrunner.py:
#   TWINROOM-GUEST DISK <dev> last=<what the disk held at boot, or "none">   (only when a disk is attached)
#   TWINROOM-GUEST READY boot=<boot id>
#   TWINROOM-GUEST COUNT <n> boot=<boot id> uptime=<s>                       every second, n = 1, 2, ...
# The boot id is the kernel's (/proc/sys/kernel/random/boot_id): a new one on every boot, the same after a
# live migration, so "migrated without reboot" is a COUNT line with the same boot id and a larger n.
# With a virtio disk (the shared-disk stand-in), every COUNT line is also written to its first sector, so the
# guest that boots after a failover shows what the lost one wrote last.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# Debian builds virtio as modules; dependency order (modinfo -F depends, checked by build.sh).
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  insmod "/lib/modules/$m.ko" 2>/dev/null
done
boot=$(cat /proc/sys/kernel/random/boot_id)
disk=
for d in /dev/vda /dev/vdb; do
  if [ -b "$d" ]; then disk=$d; break; fi
done
if [ -n "$disk" ]; then
  last=$(dd if="$disk" bs=512 count=1 2>/dev/null | tr -d '\000' | head -n 1)
  echo "TWINROOM-GUEST DISK $disk last=${last:-none}"
fi
echo "TWINROOM-GUEST READY boot=$boot"
n=0
while :; do
  n=$((n + 1))
  read -r up _ < /proc/uptime
  line="TWINROOM-GUEST COUNT $n boot=$boot uptime=$up"
  echo "$line"
  if [ -n "$disk" ]; then
    # One sector, zero-padded: the host reads it from the backing file without a filesystem.
    printf '%s\n' "$line" | dd of="$disk" bs=512 count=1 conv=sync,notrunc,fsync 2>/dev/null
  fi
  sleep 1
done
