#!/usr/bin/env bash
# make docs: the collection's docs site, from the modules' and roles' own documentation (antsibull-docs)
# and the collection's Markdown pages (README.md, docs/*.md, through MyST), plus a playbooks page made from
# the playbooks (docs/docsite/playbooks_page.py). Any Sphinx warning fails the build (-W), and so does a
# broken link inside the site: references between pages (nitpicky) and the Markdown pages' links to files
# and to heading anchors (MyST's cross-references) are resolved by the build, and each one that does not
# resolve is a warning. Links out of the site (http/https) are not followed: nothing leaves the machine.
# Intersphinx reads an inventory written here (docs/docsite/offline_inventory.py), never fetched.
# The relative links of README.md and docs/*.md are also checked by tests/unit/test_docs_links.py.
# Needs the devenv (source scripts/devenv.sh): antsibull-docs, Sphinx and ansible-doc finding twinroom.ha.
# The site goes under $TWINROOM_CACHE/docs/, keyed by the collection's and antsibull-docs' versions;
# the path of its index.html is printed last.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
version=$(python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
tools=$(python -c 'from importlib.metadata import version as v; print("antsibull-docs-%s-sphinx-%s" % (v("antsibull-docs"), v("sphinx")))')
site=${TWINROOM_CACHE:-/var/cache/twinroom}/docs/twinroom.ha-$version-$tools
mkdir -p "$site"
# antsibull-docs writes only into directories that no one else can write to.
chmod 755 "$site"

# 1. Sphinx configuration, as antsibull-docs sets it up for a collection, then this site's settings.
rm -rf "$site/conf"
mkdir -m 755 "$site/conf"
antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --no-add-antsibull-docs-version \
  --project twinroom.ha --copyright 'twinroom developers' --title 'twinroom.ha' --html-short-title 'twinroom.ha' \
  --dest-dir "$site/conf" twinroom.ha >/dev/null
cat >>"$site/conf/conf.py" <<'EOF'

# --- twinroom.ha (docs/docsite/build.sh) ---
extensions.append('myst_parser')
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_heading_anchors = 3
# No network: the inventory of Ansible's docs is written by docs/docsite/offline_inventory.py, not fetched.
import os
intersphinx_mapping = {'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/',
                                         os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ansible_devel.inv'))}
EOF

# 2. The collection's pages: modules, roles (meta/argument_specs.yml), the guides of docs/docsite/.
mkdir -p "$site/rst"
chmod 755 "$site/rst"
antsibull-docs --config-file "$site/conf/antsibull-docs.cfg" collection --use-current --squash-hierarchy \
  --fail-on-error --cleanup everything --dest-dir "$site/rst" twinroom.ha

# 3. The Markdown pages, where the guides page expects them (repository paths kept, so relative links hold).
pages=$site/rst/docsite/repo
rm -rf "$pages"
mkdir -p "$pages/docs"
cp README.md "$pages/"
cp docs/*.md "$pages/docs/"
for readme in lab/build/*/README.md; do
  mkdir -p "$pages/$(dirname "$readme")"
  cp "$readme" "$pages/$readme"
done
python docs/docsite/playbooks_page.py "$site/rst/docsite/playbooks.md"
python docs/docsite/offline_inventory.py "$site/rst" "$site/conf/ansible_devel.inv"

# 4. Build: a warning, a broken reference or a broken link fails it.
sphinx-build -M html "$site/rst" "$site/build" -q -c "$site/conf" -W --keep-going

# 5. Every module, role and playbook has its page.
python - "$site/build/html" <<'PY'
import pathlib, sys
html = pathlib.Path(sys.argv[1])
missing = ['%s_module.html' % p.stem for p in sorted(pathlib.Path('plugins/modules').glob('*.py'))
           if p.stem != '__init__' and not (html / ('%s_module.html' % p.stem)).is_file()]
missing += ['%s_role.html' % r.name for r in sorted(pathlib.Path('roles').iterdir())
            if (r / 'meta' / 'argument_specs.yml').is_file() and not (html / ('%s_role.html' % r.name)).is_file()]
playbooks = (html / 'docsite' / 'playbooks.html').read_text()
missing += ['playbook %s' % p.name for p in sorted(pathlib.Path('playbooks').glob('*.yml')) if p.name not in playbooks]
if missing:
    sys.exit('docs site: no page for ' + ', '.join(missing))
PY
echo "docs site: $site/build/html/index.html"
