# -*- coding: utf-8 -*-
"""Run ansible-playbook from tests and read its output (shared by the integration tests).

The caller has sourced scripts/devenv.sh: the environment is inherited as is, so `twinroom.ha.*`
resolves to this checkout and ANSIBLE_CONFIG points at the repository's ansible.cfg.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]

_RECAP_LINE = re.compile(r'^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$')


def run_playbook(playbook, inventory, extra_vars=None, check=False, diff=False, timeout=900, extra_args=()):
    """ansible-playbook PLAYBOOK -i INVENTORY, from the repository root; never raises on a failed run.

    Relative paths are taken from the repository root. stdout and stderr are kept apart in the
    returned CompletedProcess; `output(result)` joins them.
    """
    command = ['ansible-playbook', '-i', str(REPO / inventory), str(REPO / playbook)]
    if extra_vars:
        command += ['--extra-vars', json.dumps(extra_vars)]
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    command.extend(extra_args)
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    return subprocess.run(command, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def output(result):
    """Everything the run printed (stdout, then stderr)."""
    return result.stdout + result.stderr


def flat(result):
    """output() on one line: the debug callback wraps long messages, so a message is looked for in this."""
    return " ".join(output(result).split())


def play_recap(text):
    """{host: {'ok': n, 'changed': n, 'unreachable': n, 'failed': n, ...}} from every PLAY RECAP in text."""
    recap = {}
    in_recap = False
    for line in text.splitlines():
        if line.startswith('PLAY RECAP'):
            in_recap = True
        elif in_recap:
            match = _RECAP_LINE.match(line.strip())
            if match:
                recap[match.group('host')] = dict(
                    (key, int(value)) for key, value in (item.split('=') for item in match.group('counts').split()))
            elif line.strip():
                in_recap = False
    return recap


_TASK_LINE = re.compile(r'^(TASK|RUNNING HANDLER) \[(?P<task>.*)\]')
_FAILED_LINE = re.compile(r'^(fatal|failed): \[')


def failed_tasks(result, limit=2500):
    """Why a run failed, for an assertion message: each failed task's name with its result.

    The tail of the output often holds only warnings and the recap; this names the task and keeps
    the result printed under it (the YAML callback spreads it over several lines). Falls back to the
    tail when no task failed (a syntax error, a crash before the first task).
    """
    text = output(result)
    task, found, current = None, [], None
    for line in text.splitlines():
        header = _TASK_LINE.match(line)
        if header or line.startswith('PLAY'):
            task, current = (header.group('task') if header else None), None
        elif _FAILED_LINE.match(line):
            current = ['%s' % task, '  ' + line]
            found.append(current)
        elif current is not None and (line.startswith(' ') or not line.strip()):
            current.append('  ' + line)
        else:
            current = None
    if not found:
        return text[-limit:]
    recap = text[text.rfind('PLAY RECAP'):] if 'PLAY RECAP' in text else ''
    failed = '\n'.join('\n'.join(lines).rstrip()[:limit] for lines in found)
    return 'failed task(s):\n%s\n%s' % (failed, recap[:1500])


def changed_tasks(result):
    """'host: task' for every task that reported changed, for an assertion message about idempotence."""
    task, found = None, []
    for line in output(result).splitlines():
        header = _TASK_LINE.match(line)
        if header or line.startswith('PLAY'):
            task = header.group('task') if header else None
        elif line.startswith('changed: ['):
            found.append('%s: %s' % (line[len('changed: ['):].split(']')[0], task))
    return found
