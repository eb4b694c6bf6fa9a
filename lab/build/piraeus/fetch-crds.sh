#!/usr/bin/env bash
# Fetch the Piraeus operator v2 CRDs (piraeus.io/v1) from its Go module, through the module proxy
# (see README.md here).
#
# Outputs, all under "$TWINROOM_CACHE/bin/piraeus-$PIRAEUS_VERSION/":
#   crds/piraeus-crds.yaml  LinstorCluster, LinstorSatelliteConfiguration, LinstorSatellite and
#                           LinstorNodeConnection: the operator's config/crd/bases/*.yaml, concatenated
#   VERSIONS                the operator version and the module's checksum (go.sum h1: line)
#   .complete               written last; when present a run does nothing
#
# Only the operator's own module zip is downloaded (`go mod download -json MOD@VER` fetches no
# dependencies) and checked against sum.golang.org as every go download is. Nothing is built and
# nothing is written to the repository.
#
# usage: fetch-crds.sh       env: TWINROOM_CACHE, PIRAEUS_VERSION
set -euo pipefail

# The proxy serves only some releases of github.com/piraeusdatastore/piraeus-operator/v2
# (checked 2026-11-21: v2.0.0, v2.1.0, v2.2.0 and v2.4.0 are served; v2.3.0's zip, v2.1.1, v2.5.x
# to v2.10.x and @v/list answer 403). v2.4.0 is the newest served and the first with all four CRDs
# this collection uses (LinstorNodeConnection appeared in v2.2.0).
PIRAEUS_VERSION=${PIRAEUS_VERSION:-v2.4.0}
module=github.com/piraeusdatastore/piraeus-operator/v2

cache=${TWINROOM_CACHE:-/var/cache/twinroom}
out="$cache/bin/piraeus-$PIRAEUS_VERSION"

log() { printf '[piraeus %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

if [ -f "$out/.complete" ]; then
  log "piraeus $PIRAEUS_VERSION CRDs cached in $out"
  exit 0
fi

# `go mod download -json` prints JSON with "Error" on failure and exits non-zero; keep the JSON.
answer=$( { go mod download -json "$module@$PIRAEUS_VERSION" 2>/dev/null || true; } )
read -r dir sum error < <(python3 -c '
import json, sys
d = json.loads(sys.stdin.read() or "{}")
print(d.get("Dir") or "-", d.get("Sum") or "-", (d.get("Error") or "-").replace("\n", " "))' <<<"$answer")
[ "$dir" != - ] || die "the module proxy does not serve $module@$PIRAEUS_VERSION: $error"

bases="$dir/config/crd/bases"
kinds=(linstorclusters linstorsatelliteconfigurations linstorsatellites linstornodeconnections)
rm -rf "$out"
mkdir -p "$out/crds"
for plural in "${kinds[@]}"; do
  f="$bases/piraeus.io_$plural.yaml"
  [ -f "$f" ] || die "$module@$PIRAEUS_VERSION has no $f (LinstorNodeConnection needs v2.2.0 or later)"
  # controller-gen writes one CRD per file, starting with "---".
  if [ "$(head -1 "$f")" != --- ] || ! grep -q "^  name: $plural.piraeus.io$" "$f"; then
    die "unexpected content in $f"
  fi
  cat "$f"
done > "$out/crds/piraeus-crds.yaml"
printf 'piraeus-operator %s\nmodule %s %s\n' "$PIRAEUS_VERSION" "$module" "$sum" > "$out/VERSIONS"
touch "$out/.complete"
count=$(grep -c '^kind: CustomResourceDefinition' "$out/crds/piraeus-crds.yaml")
log "wrote $out/crds/piraeus-crds.yaml ($count CRDs)"
