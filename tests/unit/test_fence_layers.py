# -*- coding: utf-8 -*-
"""The fencing and LINSTOR quorum module_utils files import only downward: vocabulary (rooms) <- access (k8s,
bmc, k8s_nodes, linstor_rest) <- identity format (bmc_identity, pure) <- plans (fence_plan, linstor_quorum: pure,
never an access file) <- runners. Read from the source, so no file needs to be importable here."""

from __future__ import annotations

import ast
import pathlib

import pytest

MODULE_UTILS = pathlib.Path(__file__).resolve().parents[2] / 'plugins' / 'module_utils'
PREFIX = 'ansible_collections.twinroom.ha.plugins.module_utils'

# What each file may import from the collection.
ALLOWED = {
    'bmc': {'rooms'},
    'k8s_nodes': {'rooms', 'k8s'},
    'linstor_rest': {'rooms'},
    'bmc_identity': {'rooms'},
    'fence_plan': {'rooms', 'bmc_identity'},
    'linstor_quorum': {'rooms'},
    'fence': {'rooms', 'bmc', 'k8s_nodes', 'fence_plan'},
    'bmc_binding': {'rooms', 'bmc', 'bmc_identity', 'fence_plan'},
    'linstor_quorum_runner': {'rooms', 'k8s_nodes', 'linstor_rest', 'linstor_quorum'},
}
MAX_LINES = 450


def collection_imports(name):
    tree = ast.parse((MODULE_UTILS / ('%s.py' % name)).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            rest = node.module[len(PREFIX):].lstrip('.')
            found.update([rest] if rest else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(PREFIX) + 1:] for alias in node.names if alias.name.startswith(PREFIX + '.'))
    return found


@pytest.mark.parametrize('name', sorted(ALLOWED))
def test_imports_go_only_downward(name):
    assert collection_imports(name) <= ALLOWED[name]


@pytest.mark.parametrize('name', sorted(ALLOWED))
def test_file_stays_small(name):
    assert len((MODULE_UTILS / ('%s.py' % name)).read_text().splitlines()) <= MAX_LINES


def test_no_module_imports_the_fence_runner_for_a_helper():
    """Only the fence modules use the fence runner; the others reach BMCs through bmc.py."""
    modules = MODULE_UTILS.parent / 'modules'
    users = sorted(path.stem for path in modules.glob('*.py')
                   if 'module_utils.fence import' in path.read_text() or 'module_utils import fence,' in path.read_text())
    assert users == ['fence', 'fence_info']
