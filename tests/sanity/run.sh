#!/usr/bin/env bash
# ansible-test sanity for twinroom.ha, locally with the project's venv (no container runtime needed).
# Extra arguments go to ansible-test, e.g.: tests/sanity/run.sh --test validate-modules -v plugins/modules/
# With --installed first, the tests run on the collection as users get it instead: the tarball
# `ansible-galaxy collection build` makes (galaxy.yml's build_ignore applied), installed into the throw-away tree.
#
# Layout: ansible-test only runs inside .../ansible_collections/<namespace>/<name>/ and resolves
# symlinks, so the devenv's ansible_collections/twinroom/ha -> checkout link does not satisfy it. We copy
# the files git would ship (tracked + untracked-not-ignored) into a throwaway tree and test that copy:
# ignored files and build output never reach the tests, and a fresh clone behaves the same.
#
# Python packages: ansible-test builds one venv per sanity test from its own pinned requirements
# (pylint, yamllint, voluptuous, ...), pip-installed from PyPI on first use and cached under
# $HOME/.ansible/test/venv. We run it with HOME=$TWINROOM_CACHE/ansible-test-home so that cache sits with
# the project's other caches and is not shared with ansible-test runs made by hand, and take a lock:
# ansible-test fills a missing venv in place, so two cold runs at once break each other.
# No --requirements: it would pip-install into the project venv (keyed by requirements.txt) behind
# devenv.sh's back, and that venv already holds what the ansible-test controller needs.
#
# pip bootstrap: those venvs are created without pip, and ansible-test downloads a get-pip script from
# its own CI file host, which this network does not reach (PyPI only). We write a stand-in where
# ansible-test caches that script (its documented manual step): the interpreter's bundled pip
# (ensurepip) installs the pinned pip version from PyPI.
set -euo pipefail

installed=false
if [ "${1:-}" = "--installed" ]; then
  installed=true
  shift
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -z "${TWINROOM_CACHE:-}" ] || ! command -v ansible-test >/dev/null 2>&1; then
  # shellcheck disable=SC1091  # devenv.sh is sourced by path at run time
  source "$repo/scripts/devenv.sh"
fi

# ansible-test's shellcheck test passes with only a warning when the binary is missing; fail instead,
# so a machine without it cannot report a green run that never looked at our shell scripts.
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "sanity: shellcheck is not installed (Debian package shellcheck: make deps)" >&2
  exit 1
fi

# The project venv's interpreter (3.11 here; ansible-core 2.19 is pinned for it).
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

test_home=$TWINROOM_CACHE/ansible-test-home
mkdir -p "$test_home/.ansible/test/cache"
exec 9>"$test_home/.ansible/test/twinroom-sanity.lock"
flock 9

pip_version=$(python -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=None))["pip"])')
get_pip=$test_home/.ansible/test/cache/get_pip_${pip_version//./_}.py
stand_in_marker='# twinroom.ha stand-in for get-pip'
# Never overwrite a real get-pip script someone saved there.
if [ ! -e "$get_pip" ] || head -n1 "$get_pip" | grep -qF "$stand_in_marker"; then
  cat > "$get_pip" <<EOF
$stand_in_marker (written by tests/sanity/run.sh)
# ansible-test runs it with a new venv's python and pip install arguments (pip==$pip_version --no-setuptools ...).
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet', '--upgrade', '--force-reinstall'] + args)
if '--no-setuptools' in sys.argv:
    # ensurepip of Python < 3.12 also installs setuptools; the real get-pip would not.
    subprocess.check_call([sys.executable, '-m', 'pip', 'uninstall', '--quiet', '--yes', 'setuptools'])
EOF
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/twinroom-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
collection=$work/ansible_collections/twinroom/ha
if $installed; then
  # Dependencies are not installed here: they are copied below, or found in the venv's ansible package.
  # Only $work is a collections path, so a twinroom.ha linked elsewhere (devenv.sh) does not count as installed.
  ansible-galaxy collection build --output-path "$work/dist" "$repo" >/dev/null
  ANSIBLE_COLLECTIONS_PATH=$work ansible-galaxy collection install --offline --no-deps -p "$work" "$work"/dist/*.tar.gz >/dev/null
else
  mkdir -p "$collection"
  # ls-files -c also lists files deleted in the work tree but still in the index: leave those out.
  (cd "$repo" && git ls-files -co --exclude-standard -z \
    | while IFS= read -r -d '' f; do
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
      done \
    | tar --null --files-from=- -cf -) | tar -xf - -C "$collection"
fi

# validate-modules and import need the collections ours builds on (doc fragments, module_utils) in the same
# tree: copy them from the venv's bundled ansible package.
site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/ansible_collections
for dep in kubernetes/core kubevirt/core; do
  mkdir -p "$work/ansible_collections/${dep%/*}"
  cp -r "$site/$dep" "$work/ansible_collections/$dep"
done

cd "$collection"
# Every sanity test runs; none is skipped. (pslint would need pwsh, but the collection has no
# PowerShell for it to check.)
HOME=$test_home ansible-test sanity --local --python "$python_version" --color no "$@"
