#!/usr/bin/env bash
# The lab bed's nodes, for Ansible (a script inventory): lab/twinroom_lab/inventory.py says what it holds.
# Size it for one run through the environment: TWINROOM_LAB_WORKERS_PER_ROOM=3 TWINROOM_LAB_WITNESS=true make lab
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
lab="$here/../../lab"
# A copy of this directory elsewhere (ansible-rulebook copies the inventory it runs a playbook with) finds the
# lab's code through the checkout scripts/devenv.sh names.
[ -d "$lab/twinroom_lab" ] || lab="${TWINROOM_REPO:?TWINROOM_REPO is not set: source scripts/devenv.sh}/lab"
PYTHONPATH="$lab${PYTHONPATH:+:$PYTHONPATH}" exec python3 -c 'import sys; from twinroom_lab import inventory; sys.exit(inventory.main())' "$@"
