#!/usr/bin/env bash
# Build the lab node image without any container registry:
#   debootstrap (minbase bookworm) -> podman import -> podman build with systemd and the node packages.
# Both images are tagged with a key made from their inputs, so an unchanged image is never rebuilt,
# and the debootstrap tree is cached as a tarball outside the repo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
mirror=${TWINROOM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/../containers.conf}
log() { printf "[image %s] %s\n" "$(date +%H:%M:%S)" "$*" >&2; }

base_key=$(printf 'bookworm minbase python3\n' | sha256sum | cut -c1-12)
node_key=$( (cat "$here/Containerfile" "$here"/files/*; echo "$base_key") | sha256sum | cut -c1-12)
node_image=localhost/twinroom-node:$node_key

if podman image exists "$node_image"; then
  log "node image $node_image present"
else
  tarball=$cache/image/bookworm-minbase-$base_key.tar
  if [ ! -f "$tarball" ]; then
    log "debootstrap bookworm (minbase) from $mirror"
    root=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror" >/dev/null
    mkdir -p "$cache/image"
    tar -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
  fi
  if ! podman image exists "localhost/twinroom-base:bookworm-$base_key"; then
    log "podman import base image"
    podman import "$tarball" "localhost/twinroom-base:bookworm-$base_key" >/dev/null
  fi
  podman tag "localhost/twinroom-base:bookworm-$base_key" localhost/twinroom-base:bookworm
  log "podman build $node_image"
  podman build --quiet -t "$node_image" -f "$here/Containerfile" "$here" >/dev/null
fi
podman tag "$node_image" localhost/twinroom-node:latest
echo "$node_image"
