# -*- coding: utf-8 -*-
"""The datastore's module_utils files import only downward: formats (pure) <- access (postgres_client <- postgres)
<- plan (pure, never the access layer) <- runner. Read from the source, so no file needs to be importable here."""

from __future__ import annotations

import ast
import pathlib

import pytest

MODULE_UTILS = pathlib.Path(__file__).resolve().parents[2] / 'plugins' / 'module_utils'
PREFIX = 'ansible_collections.twinroom.ha.plugins.module_utils'

# What each datastore file may import from the collection, and the most lines it may have.
ALLOWED = {
    'datastore_formats': {'rooms'},
    'postgres_client': {'rooms', 'datastore_formats'},
    'postgres': {'rooms', 'datastore_formats', 'postgres_client'},
    'datastore_plan': {'rooms', 'datastore_formats'},
    'datastore': {'rooms', 'datastore_formats', 'datastore_history', 'datastore_plan', 'postgres'},
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
