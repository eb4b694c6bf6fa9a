#!/usr/bin/env bash
# Build the lab's test guest: a Debian kernel and an initramfs (busybox-static + init.sh), no root disk.
#
# Outputs, under "$TWINROOM_CACHE/guest-$GUEST_KERNEL_ABI-$GUEST_REVISION/":
#   vmlinux        the kernel of linux-image-$GUEST_KERNEL_ABI, decompressed from its /boot/vmlinuz: an ELF with
#                  a PVH entry note, which QEMU -kernel starts directly in 32-bit mode (no decompressor, no
#                  real-mode setup: 43 s → 19 s to ready without hardware virtualisation, measured under TCG)
#   initramfs.cpio busybox-static, init.sh as /init, and the virtio block driver modules of that kernel
#   cmdline        the kernel command line the guest expects (serial console on ttyS0)
#   guest-kernel.tar  vmlinux and initramfs.cpio under /boot in an image, localhost/twinroom-guest-kernel:$GUEST_REVISION,
#                  for a KubeVirt VM's kernelBoot container (an image archive for node_agent_images; SHA256SUMS)
#   VERSIONS       the exact package versions used and the sha256 of build.sh and init.sh
#   .complete      written last. While it exists and VERSIONS names the same build.sh and init.sh, a run does nothing
#
# Packages come from the machine's Debian mirror with `apt-get download` and are unpacked with dpkg-deb:
# nothing is installed and nothing is written to the repository. The guest is what
# lab/twinroom_lab/vmrunner.py boots (see the console protocol at the top of init.sh).
#
# usage: build.sh            env: TWINROOM_CACHE
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../versions.env
. "$here/../../versions.env"

cache=${TWINROOM_CACHE:-/var/cache/twinroom}
out="$cache/guest-$GUEST_KERNEL_ABI-$GUEST_REVISION"
kpkg="linux-image-$GUEST_KERNEL_ABI"
# Module load order in init.sh; build.sh checks it against the modules' own dependency lists.
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk)

log() { printf '[guest %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

recipe=$(cd "$here" && sha256sum build.sh init.sh | awk '{print $1 "  " $2}')
if [ -f "$out/.complete" ] && [ "$(tail -n 2 "$out/VERSIONS" 2>/dev/null)" = "$recipe" ]; then
  log "guest cached in $out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
log "guest: $kpkg + busybox-static → $out"
(
  cd "$work"
  apt-get download "$kpkg" busybox-static >/dev/null 2>"$work/apt.err" \
    || die "apt-get download $kpkg busybox-static failed: $(tail -2 "$work/apt.err"). If the mirror no longer serves $kpkg, set GUEST_KERNEL_ABI in lab/versions.env to the ABI that linux-image-amd64 depends on now ($(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {sub("linux-image-", "", $2); print $2; exit}'))"
)
kdeb=$(ls "$work/${kpkg}"_*.deb)
bdeb=$(ls "$work"/busybox-static_*.deb)
dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$bdeb" "$work/busybox"

root="$work/root"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/lib/modules"
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"   # /init's interpreter; init.sh installs the other applets itself
install -m 0755 "$here/init.sh" "$root/init"
loaded=" "
for m in "${modules[@]}"; do
  f=$(find "$work/kernel/lib/modules/$GUEST_KERNEL_ABI" -name "$m.ko" | head -n 1)
  [ -n "$f" ] || die "$m.ko is not in $kpkg (is it built in now? then drop it from the module list)"
  for dep in $(/sbin/modinfo -F depends "$f" | tr ',' ' '); do
    case "$loaded" in *" $dep "*) ;; *) die "$m needs $dep loaded before it: fix the order in build.sh and init.sh" ;; esac
  done
  cp "$f" "$root/lib/modules/$m.ko"
  loaded="$loaded$m "
done
grep -q "for m in ${modules[*]}; do" "$here/init.sh" || die "init.sh does not load the modules in build.sh's order"

rm -rf "$out"
mkdir -p "$out"
# The bzImage holds one xz stream (CONFIG_KERNEL_XZ): decompress it from its magic bytes on.
python3 - "$work/kernel/boot/vmlinuz-$GUEST_KERNEL_ABI" "$out/vmlinux" <<'PY' || die "could not extract vmlinux from the bzImage"
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz stream in %s (is the kernel compressed differently now?)" % sys.argv[1])
kernel = lzma.LZMADecompressor().decompress(data[start:])
if kernel[:4] != b"\x7fELF":
    sys.exit("the xz stream in %s is not an ELF kernel" % sys.argv[1])
open(sys.argv[2], "wb").write(kernel)
PY
# Not compressed: a guest without hardware virtualisation (TCG) spends seconds in gunzip, QEMU loads 3 MB at once.
(cd "$root" && find . -print0 | sort -z | cpio --null -o -H newc --owner 0:0 --quiet) > "$out/initramfs.cpio"
# KubeVirt v1.7.0's VMI CRD declares the kernelBoot checksums (CRC32) "format: int32", and Kubernetes 1.36 refuses
# the values of 2^31 and above (KubeVirt's known issue; docs/vms.md): a VM whose kernel or initrd has such a checksum
# cannot report its status. Zeros appended to the files (ignored after an ELF's segments and after the cpio
# archive's trailer) bring each CRC32 below 2^31; the guest is otherwise unchanged.
python3 - "$out/vmlinux" "$out/initramfs.cpio" <<'PY' || die "could not bring the guest's CRC32s below 2^31"
import sys, zlib
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    crc, pad = zlib.crc32(data), 0
    while crc >= 1 << 31:
        pad += 4
        crc = zlib.crc32(b"\0\0\0\0", crc)
        if pad > 4096:
            sys.exit("%s: no CRC32 below 2^31 within 4096 bytes of padding" % path)
    open(path, "ab").write(b"\0" * pad)
    print("%s: CRC32 %08x, %d bytes of padding" % (path, crc, pad))
PY
# panic=-1: a guest whose init dies reboots at once, and QEMU (-no-reboot) then exits instead of hanging.
echo "console=ttyS0 panic=-1 quiet loglevel=3" > "$out/cmdline"
# The kernelBoot image (KubeVirt copies the kernel and initrd out of it into the launcher pod).
mkdir -p "$work/image/boot"
cp "$out/vmlinux" "$out/initramfs.cpio" "$work/image/boot/"
printf 'FROM scratch\nCOPY boot /boot\n' > "$work/image/Containerfile"
CONTAINERS_CONF=${CONTAINERS_CONF:-$here/../../containers.conf} podman build --no-cache --network none -q \
  -t "localhost/twinroom-guest-kernel:$GUEST_REVISION" "$work/image" >/dev/null
CONTAINERS_CONF=${CONTAINERS_CONF:-$here/../../containers.conf} podman save -q --format docker-archive \
  -o "$out/guest-kernel.tar" "localhost/twinroom-guest-kernel:$GUEST_REVISION"
(cd "$out" && sha256sum guest-kernel.tar > SHA256SUMS)
{
  echo "$kpkg $(dpkg-deb -f "$kdeb" Version)"
  echo "busybox-static $(dpkg-deb -f "$bdeb" Version)"
  echo "$recipe"
} > "$out/VERSIONS"
touch "$out/.complete"
log "done in $(( $(date +%s) - start ))s: vmlinux $(stat -c %s "$out/vmlinux") bytes, initramfs.cpio $(stat -c %s "$out/initramfs.cpio") bytes"
