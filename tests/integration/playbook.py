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


def run_playbook(playbook, inventory, extra_vars=None, check=False, diff=False, timeout=900):
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
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    return subprocess.run(command, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def output(result):
    """Everything the run printed (stdout, then stderr)."""
    return result.stdout + result.stderr


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
