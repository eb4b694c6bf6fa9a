"""Every shell command in the README's and the runbook's code blocks is one that exists, as written.

Code blocks marked sh, bash, shell or console are read line by line (a trailing backslash joins lines;
``#`` starts a comment). Each line must split as a shell command (shlex) and name something real:

- ``make TARGET...``: targets of the Makefile;
- ``ansible-playbook``: one playbook (``playbooks/NAME.yml`` or ``twinroom.ha.NAME``) that exists; ``-i``
  an existing inventory or a placeholder such as ``inventories/<site>``; every ``-e NAME=VALUE`` a variable
  the playbook reads (its Jinja, or that of a playbook it imports) or a role option declared in a role's
  meta/argument_specs.yml - the same reading as the docs site's playbooks page
  (docs/docsite/playbooks_page.py);
- ``twinroom-lab ...``: parsed by the drill tool's own argument parser (lab/twinroom_lab/cli.py);
- ``python benchmarks/NAME.py --option...``: the script exists and declares each option;
- ``ansible-doc twinroom.ha.NAME``: the module exists; ``pip install -r FILE`` and ``source FILE``: the
  file exists; ``kubectl``: any arguments.
Any other program is refused, so a new kind of command needs a rule here first.
"""

import contextlib
import functools
import importlib.util
import io
import pathlib
import re
import shlex
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PAGES = [REPO / 'README.md', REPO / 'docs' / 'runbook.md']
SHELL_BLOCKS = {'sh', 'bash', 'shell', 'console'}


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


playbooks_page = _load('twinroom_docs_playbooks_page', REPO / 'docs' / 'docsite' / 'playbooks_page.py')
sys.path.insert(0, str(REPO / 'lab'))
from twinroom_lab import cli as lab_cli  # noqa: E402  pylint: disable=wrong-import-position


def shell_commands(markdown):
    """(line number, command text) for every command line in the shell code blocks of a Markdown text."""
    commands, block, pending, start = [], None, '', 0
    for number, line in enumerate(markdown.splitlines(), 1):
        fence = re.match(r'^\s*```\s*(\S*)', line)
        if fence:
            block = None if block is not None else fence.group(1).lower()
            continue
        if block not in SHELL_BLOCKS:
            continue
        text = line.strip()
        if not pending:
            start = number
        if text.endswith('\\'):
            pending += text[:-1].rstrip() + ' '
            continue
        text, pending = pending + text, ''
        if text and not text.startswith('#'):
            commands.append((start, text))
    return commands


def make_targets():
    text = (REPO / 'Makefile').read_text()
    return set(re.findall(r'^([A-Za-z0-9_.-]+):(?!=)', text, re.M))


def _placeholder(text):
    return bool(re.search(r'<[^<>]+>', text))


@functools.lru_cache(maxsize=None)
def accepted_variables(playbook):
    return playbooks_page.accepted_variables(playbook)


def check_ansible_playbook(args):
    problems, playbook, variables = [], None, []
    position = 0
    while position < len(args):
        arg = args[position]
        if arg in ('-i', '--inventory', '-e', '--extra-vars', '-l', '--limit', '-t', '--tags'):
            if position + 1 >= len(args):
                return ['%s needs a value' % arg]
            value = args[position + 1]
            if arg in ('-i', '--inventory') and not _placeholder(value) and not (REPO / value).exists():
                problems.append('inventory %s does not exist' % value)
            if arg in ('-e', '--extra-vars'):
                for pair in value.split():
                    if '=' not in pair:
                        problems.append('-e %s is not NAME=VALUE' % pair)
                    else:
                        variables.append(pair.split('=', 1)[0])
            position += 2
            continue
        if arg.startswith('-'):
            if arg not in ('--check', '-C', '--diff', '-D', '-v', '-vv', '-vvv', '--ask-vault-pass', '-J'):
                problems.append('unknown ansible-playbook option %s' % arg)
        elif playbook is None:
            playbook = arg
        else:
            problems.append('a second playbook %s' % arg)
        position += 1
    if playbook is None:
        return problems + ['no playbook']
    name = playbook[len('twinroom.ha.'):] + '.yml' if playbook.startswith('twinroom.ha.') else \
        playbook[len('playbooks/'):] if playbook.startswith('playbooks/') else None
    if not name or not (playbooks_page.PLAYBOOKS / name).is_file():
        return problems + ['playbook %s does not exist' % playbook]
    accepted = accepted_variables(name)
    problems += ['%s does not read -e %s' % (playbook, variable) for variable in variables if variable not in accepted]
    return problems


def check_twinroom_lab(args):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            lab_cli.build_parser().parse_args(args)
    except SystemExit:
        return ['twinroom-lab %s: %s' % (' '.join(args), err.getvalue().strip().splitlines()[-1:])]
    return []


def check_python(args):
    if not args or not args[0].startswith('benchmarks/'):
        return ['python runs only the benchmarks/ scripts here, not %s' % ' '.join(args)]
    script = REPO / args[0]
    if not script.is_file():
        return ['%s does not exist' % args[0]]
    declared = set(re.findall(r'add_argument\(\s*["\'](--[\w-]+)', script.read_text()))
    return ['%s has no option %s' % (args[0], arg) for arg in args[1:]
            if arg.startswith('--') and arg.split('=')[0] not in declared]


def check_command(text):
    """The problems of one command line; empty when it exists as written."""
    try:
        argv = shlex.split(text, comments=True)
    except ValueError as exc:
        return ['does not parse: %s' % exc]
    if not argv:
        return []
    program, args = argv[0], argv[1:]
    if program == 'make':
        targets = make_targets()
        return ['no make target %s' % arg for arg in args if not arg.startswith('-') and arg not in targets]
    if program == 'ansible-playbook':
        return check_ansible_playbook(args)
    if program == 'twinroom-lab':
        return check_twinroom_lab(args)
    if program in ('python', 'python3'):
        return check_python(args)
    if program == 'ansible-doc':
        return ['no module %s' % arg for arg in args if arg.startswith('twinroom.ha.') and
                not (REPO / 'plugins' / 'modules' / (arg[len('twinroom.ha.'):] + '.py')).is_file()]
    if program == 'pip' and args[:2] == ['install', '-r']:
        return [] if len(args) > 2 and (REPO / args[2]).is_file() else ['no requirements file %s' % args[2:]]
    if program in ('source', '.'):
        return [] if args and (REPO / args[0]).is_file() else ['no file to source: %s' % args]
    if program == 'kubectl':
        return []
    return ['unknown program %s: add a rule for it to tests/unit/test_docs_commands.py' % program]


def all_commands():
    return [(page.relative_to(REPO), number, text)
            for page in PAGES for number, text in shell_commands(page.read_text())]


def test_the_pages_have_commands():
    pages = {str(command[0]) for command in all_commands()}
    assert pages == {'README.md', 'docs/runbook.md'}
    texts = ' '.join(command[2] for command in all_commands())
    for expected in ('make lab', 'make test', 'playbooks/failover.yml', 'playbooks/recover.yml', 'twinroom-lab drill'):
        assert expected in texts


@pytest.mark.parametrize('page, number, text', all_commands(), ids=lambda value: str(value)[:60])
def test_every_command_exists_as_written(page, number, text):
    assert check_command(text) == [], '%s:%d: %s' % (page, number, text)


@pytest.mark.parametrize('text, problem', [
    ('make lab tset', 'no make target tset'),
    ('ansible-playbook -i inventories/lab playbooks/failover.yml -e lost_rom=room_a',
     'playbooks/failover.yml does not read -e lost_rom'),
    ('ansible-playbook -i inventories/lab playbooks/failback.yml', 'playbook playbooks/failback.yml does not exist'),
    ('ansible-playbook -i inventories/nowhere playbooks/site.yml', 'inventory inventories/nowhere does not exist'),
    ('twinroom-lab power-off-room room_a --bmc maybe', 'twinroom-lab power-off-room room_a --bmc maybe'),
    ('twinroom-lab explode', 'twinroom-lab explode'),
    ('python benchmarks/failover_rto.py --loads 10', 'benchmarks/failover_rto.py has no option --loads'),
    ("ansible-playbook playbooks/site.yml -e 'force=true", 'does not parse'),
    ('rm -rf /var/lib/twinroom-lab', 'unknown program rm'),
])
def test_a_command_that_does_not_exist_is_refused(text, problem):
    problems = check_command(text)
    assert problems and any(problem in found for found in problems), problems


def test_commands_are_read_from_shell_blocks_only():
    markdown = ('```yaml\nmake nothing\n```\n'
                '```sh\nmake lab   # a comment\n# only a comment\nansible-playbook playbooks/site.yml \\\n'
                '  -e force=true\n```\n')
    assert shell_commands(markdown) == [(5, 'make lab   # a comment'),
                                        (7, 'ansible-playbook playbooks/site.yml -e force=true')]


def test_a_synthetic_page_with_a_wrong_command_fails():
    markdown = '```sh\nansible-playbook -i inventories/lab playbooks/recover.yml -e rooom=room_a\n```\n'
    problems = [problem for command in shell_commands(markdown) for problem in check_command(command[1])]
    assert problems == ['playbooks/recover.yml does not read -e rooom']
