#!/usr/bin/env bash
# Probe (issue 14): the Debian trixie base image for the launcher image (libvirt 11.3, QEMU 10.0), as
# localhost/twinroom-probe-base:trixie. debootstrap (minbase) from the Debian mirror, cached as a tarball outside the
# repository. images.sh (KubeVirt's node images) and launcher-run.sh trixie use it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
mirror=${TWINROOM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tarball=$cache/probe/trixie-minbase.tar
image=localhost/twinroom-probe-base:trixie
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/../../containers.conf}
if podman image exists "$image"; then echo "$image present"; exit 0; fi
if [ ! -f "$tarball" ]; then
  root=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-trixie.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase trixie "$root" "$mirror" >/dev/null
  mkdir -p "$cache/probe"
  tar -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
podman import "$tarball" "$image" >/dev/null
echo "$image"
