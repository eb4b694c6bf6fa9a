#!/usr/bin/env bash
# Build the execution environment of execution-environment.yml without any container registry:
#   debootstrap (Debian bookworm minbase with python3, pip and venv) -> podman import -> the EE base image
#   localhost/twinroom-ee-base:bookworm -> ansible-galaxy collection build -> ansible-builder build.
# The base image is tagged with a key made from its inputs and its rootfs is cached as a tarball outside the repo
# ($TWINROOM_CACHE/image), so an unchanged base is never rebuilt. The build stages install the Python packages
# from PyPI and the system packages from the Debian mirror, as ansible-builder does on any site.
#
# usage: scripts/build-ee.sh            -> prints the EE image's name (localhost/twinroom-ha-ee:<version>)
# env:   TWINROOM_CACHE (default /var/cache/twinroom), TWINROOM_DEBIAN_MIRROR (default deb.debian.org)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${TWINROOM_CACHE:-/var/cache/twinroom}
mirror=${TWINROOM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf "[ee %s] %s\n" "$(date +%H:%M:%S)" "$*" >&2; }

for tool in podman debootstrap ansible-galaxy ansible-builder; do
  command -v "$tool" >/dev/null || { echo "build-ee.sh: $tool is not installed (make deps installs them)" >&2; exit 2; }
done

version=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$repo/galaxy.yml")
base_name=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["images"]["base_image"]["name"])' \
  "$repo/execution-environment.yml")
include=python3,python3-pip,python3-venv,ca-certificates
# The site's own CA certificates (a TLS-inspecting proxy between the build and PyPI, an internal mirror) go into the
# base image, so pip and apt in the build stages trust what this machine trusts.
ca_dir=${TWINROOM_EE_CA_DIR:-/usr/local/share/ca-certificates}
ca_files=()
if [ -d "$ca_dir" ]; then
  while IFS= read -r -d '' file; do ca_files+=("$file"); done < <(find "$ca_dir" -maxdepth 1 -name '*.crt' -print0 | sort -z)
fi
rootfs_key=$(printf 'bookworm minbase %s\n' "$include" | sha256sum | cut -c1-12)
base_key=$( (echo "$rootfs_key"; for file in "${ca_files[@]}"; do cat "$file"; done) | sha256sum | cut -c1-12)
base_keyed=${base_name%:*}:bookworm-$base_key
ee_image=localhost/twinroom-ha-ee:$version
work=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-ee.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! podman image exists "$base_keyed"; then
  tarball=$cache/image/ee-bookworm-minbase-$rootfs_key.tar
  if [ ! -f "$tarball" ]; then
    log "debootstrap bookworm (minbase, $include) from $mirror"
    mkdir -p "$work/rootfs"
    debootstrap --variant=minbase --include="$include" bookworm "$work/rootfs" "$mirror" >/dev/null
    mkdir -p "$cache/image"
    tar -C "$work/rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$work/rootfs"
  fi
  log "podman import the EE base image (${#ca_files[@]} CA certificate(s) from $ca_dir)"
  podman import --change 'CMD ["/bin/bash"]' "$tarball" "localhost/twinroom-ee-rootfs:bookworm-$rootfs_key" >/dev/null
  mkdir -p "$work/base/ca"
  for file in "${ca_files[@]}"; do cp "$file" "$work/base/ca/"; done
  printf 'FROM localhost/twinroom-ee-rootfs:bookworm-%s\nCOPY ca/ /usr/local/share/ca-certificates/\nRUN update-ca-certificates\n' \
    "$rootfs_key" > "$work/base/Containerfile"
  podman build --quiet -t "$base_keyed" "$work/base" >/dev/null
fi
podman tag "$base_keyed" "$base_name"

# ansible-builder copies the collection's tarball from beside execution-environment.yml (additional_build_files);
# build it from this checkout into a scratch copy of the EE definition, never into the repository.
cp "$repo/execution-environment.yml" "$work/"
log "ansible-galaxy collection build ($version)"
ansible-galaxy collection build --force --output-path "$work" "$repo" >/dev/null
log "ansible-builder build $ee_image (packages from PyPI and the Debian mirror)"
ansible-builder build --container-runtime podman --file "$work/execution-environment.yml" \
  --context "$work/context" --tag "$ee_image" --verbosity 1 >&2
echo "$ee_image"
