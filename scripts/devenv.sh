#!/usr/bin/env bash
# Source this file: it prepares (once, then cached) and activates the project's environment.
#   - a Python venv keyed by the hash of requirements.txt, outside the repo;
#   - ansible_collections/twinroom/ha pointing at this checkout (a path of its own), so `twinroom.ha.*` resolves;
#   - the lab's podman configuration (runc, rlimits this sandbox allows).
# Everything slow is cached under $TWINROOM_CACHE (default /var/cache/twinroom).
_twinroom_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TWINROOM_REPO=$_twinroom_repo
export TWINROOM_CACHE=${TWINROOM_CACHE:-/var/cache/twinroom}
export TWINROOM_LAB_STATE=${TWINROOM_LAB_STATE:-/var/lib/twinroom-lab}
export CONTAINERS_CONF=$_twinroom_repo/lab/containers.conf

_twinroom_key=$(cat "$_twinroom_repo/requirements.txt" <(python3 --version 2>&1) | sha256sum | cut -c1-12)
_twinroom_venv=$TWINROOM_CACHE/venv-$_twinroom_key
if [ ! -x "$_twinroom_venv/bin/ansible-playbook" ]; then
  echo "[devenv] creating $_twinroom_venv (pip install -r requirements.txt)" >&2
  mkdir -p "$TWINROOM_CACHE"
  rm -rf "$_twinroom_venv"
  python3 -m venv "$_twinroom_venv"
  "$_twinroom_venv/bin/pip" install --quiet --disable-pip-version-check -r "$_twinroom_repo/requirements.txt" >&2
fi
# shellcheck disable=SC1091
. "$_twinroom_venv/bin/activate"

# One collections path per checkout: two checkouts on one machine (a clean clone under test beside a working copy)
# each resolve twinroom.ha to themselves, whichever sourced this file last.
_twinroom_colls=$TWINROOM_CACHE/collections/$(printf '%s' "$_twinroom_repo" | sha256sum | cut -c1-12)
mkdir -p "$_twinroom_colls/ansible_collections/twinroom"
ln -sfn "$_twinroom_repo" "$_twinroom_colls/ansible_collections/twinroom/ha"
export ANSIBLE_COLLECTIONS_PATH=$_twinroom_colls
export ANSIBLE_CONFIG=$_twinroom_repo/ansible.cfg
export PATH=$_twinroom_repo/lab/bin:$PATH
unset _twinroom_key _twinroom_venv _twinroom_colls _twinroom_repo
