"""The playbooks page of the docs site, from the playbooks themselves.

For each playbooks/*.yml: what its header comment says, its plays, the other playbooks it imports, and
the variables it reads with a default (the ones a command line may set with -e), each with that default
and the header's words about it. Used by docs/docsite/build.sh (python docs/docsite/playbooks_page.py OUT)
and by the docs tests, which check the commands of the README and the runbook against the same reading.
"""

import pathlib
import re
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / 'playbooks'
ROLES = REPO / 'roles'

# Keys whose value is a Jinja expression without braces.
_BARE_JINJA_KEYS = ('when', 'that', 'changed_when', 'failed_when', 'until', 'loop_control')
_JINJA = re.compile(r'\{\{(.*?)\}\}|\{%(.*?)%\}', re.S)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_IDENTIFIER = re.compile(r'(?<![\w.])[A-Za-z_]\w*')
_WITH_DEFAULT = re.compile(r'(?<![\w.])([A-Za-z_]\w*)\s*\|\s*default\(([^()]*(?:\([^()]*\))?[^()]*)\)')
_HEADER_OPTION = re.compile(r'^\s*\[-e\s+([A-Za-z_]\w*)=[^\]\s]*\]\s*(.*)')


def header(path):
    """The playbook's leading comment, without the '# ' marks."""
    lines = []
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip() == '---':
            continue
        if not line.startswith('#'):
            break
        lines.append(line[2:] if line.startswith('# ') else line[1:])
    return lines


def _strings(node, key=None):
    """Every Jinja text in a loaded playbook: templated strings, and bare conditionals."""
    if isinstance(node, dict):
        for k, value in node.items():
            yield from _strings(value, k)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, key)
    elif isinstance(node, str):
        if '{{' in node or '{%' in node:
            yield ' '.join(a or b for a, b in _JINJA.findall(node))
        elif key in _BARE_JINJA_KEYS:
            yield node


def jinja_texts(path):
    return list(_strings(yaml.safe_load(pathlib.Path(path).read_text()) or []))


def identifiers(path):
    """Every name a playbook's Jinja reads (quoted strings left out): the variables it can be given."""
    names = set()
    for text in jinja_texts(path):
        names.update(_IDENTIFIER.findall(_QUOTED.sub("''", text)))
    return names


def defaults(path):
    """{variable: its default} for every `name | default(...)` in the playbook, in order of appearance."""
    found = {}
    for text in jinja_texts(path):
        for name, default in _WITH_DEFAULT.findall(text):
            found.setdefault(name, default.strip())
    return found


def imports(path):
    """The playbooks this one imports (import_playbook), as file names."""
    plays = yaml.safe_load(pathlib.Path(path).read_text()) or []
    return [play.get('ansible.builtin.import_playbook') or play.get('import_playbook')
            for play in plays if play.get('ansible.builtin.import_playbook') or play.get('import_playbook')]


def role_options():
    """{option: role} for every option the roles declare in meta/argument_specs.yml."""
    options = {}
    for spec in sorted(ROLES.glob('*/meta/argument_specs.yml')):
        entry_points = (yaml.safe_load(spec.read_text()) or {}).get('argument_specs') or {}
        for entry in entry_points.values():
            for option in (entry.get('options') or {}):
                options.setdefault(option, spec.parent.parent.name)
    return options


def accepted_variables(playbook):
    """Names that `-e NAME=...` can usefully set for a playbook: what it (or a playbook it imports) reads,
    and every role option (the roles read their options from the inventory or the command line)."""
    path = PLAYBOOKS / playbook
    names = identifiers(path)
    for imported in imports(path):
        names |= identifiers(PLAYBOOKS / imported)
    return names | set(role_options())


def header_options(lines):
    """{variable: the header's words about it} from lines that start '[-e force=true]  what it does'."""
    described = {}
    for line in lines:
        match = _HEADER_OPTION.match(line)
        if match:
            described.setdefault(match.group(1), match.group(2).strip())
    return described


def page():
    out = ['# Playbooks', '',
           'Run from a checkout of the collection: `ansible-playbook -i inventories/<site> playbooks/<name>.yml`.',
           'Each playbook below with what it does (its own header), its plays, and the variables it reads with a',
           'default, which `-e name=value` can set. The roles they run document their own options (see the role',
           'pages); the inventory model is in the README and `docs/inventory-model.md`.', '']
    for path in sorted(PLAYBOOKS.glob('*.yml')):
        lines = header(path)
        plays = yaml.safe_load(path.read_text()) or []
        out += ['## %s' % path.name, '']
        if lines:
            out += ['```text'] + lines + ['```', '']
        out += ['Plays, in order:', '']
        for play in plays:
            imported = play.get('ansible.builtin.import_playbook') or play.get('import_playbook')
            out.append('1. %s%s' % (play.get('name', '(unnamed)'),
                                    ' (imports `%s`)' % imported if imported else ''))
        out.append('')
        described = header_options(lines)
        found = defaults(path)
        names = list(found) + [name for name in described if name not in found]
        if names:
            out += ['| variable | default | what it does |', '|---|---|---|']
            for name in names:
                default = found.get(name, 'none')
                out.append('| `%s` | %s | %s |' % (name, '`%s`' % default if name in found else default,
                                                   described.get(name, '').replace('|', '\\|')))
            out.append('')
    return '\n'.join(out) + '\n'


if __name__ == '__main__':
    target = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if target:
        target.write_text(page())
    else:
        sys.stdout.write(page())
