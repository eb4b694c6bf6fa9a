# -*- coding: utf-8 -*-
"""execution-environment.yml (ansible-builder 3): every third-party package the collection's plugins import is
in its Python dependencies, pinned as requirements.txt pins it, and the collection tarball it installs is the
one galaxy.yml's version builds. Reads files only; nothing is built (no podman here)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EE = yaml.safe_load((REPO / 'execution-environment.yml').read_text())
GALAXY = yaml.safe_load((REPO / 'galaxy.yml').read_text())
# Import name -> PyPI name, for the third-party packages plugins/ imports.
DISTRIBUTIONS = {'kubernetes': 'kubernetes', 'psycopg': 'psycopg', 'psycopg2': 'psycopg', 'linstor': 'python-linstor',
                 'yaml': 'PyYAML'}


def requirement_name(line):
    return re.split(r'[=<>\[ ;#]', line.strip(), maxsplit=1)[0].lower()


def third_party_imports():
    names = set()
    for path in (REPO / 'plugins').rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split('.')[0])
    return sorted(name for name in names if name in DISTRIBUTIONS)


def test_the_plugins_third_party_imports_are_known():
    assert third_party_imports() == ['kubernetes', 'linstor', 'psycopg', 'psycopg2', 'yaml']


@pytest.mark.parametrize('module', third_party_imports())
def test_every_third_party_import_is_an_ee_python_dependency(module):
    listed = [requirement_name(line) for line in EE['dependencies']['python']]
    assert DISTRIBUTIONS[module].lower() in listed, '%s (imported as %s) is missing from execution-environment.yml' % (
        DISTRIBUTIONS[module], module)


def test_ee_pins_agree_with_requirements_txt():
    pins = dict((requirement_name(line), line.split('#')[0].strip())
                for line in (REPO / 'requirements.txt').read_text().splitlines() if '==' in line.split('#')[0])
    for line in EE['dependencies']['python'] + [EE['dependencies']['ansible_core']['package_pip']]:
        line = line.split('#')[0].strip()
        if '==' in line:
            assert pins.get(requirement_name(line)) == line, line


def test_ee_installs_the_tarball_galaxy_yml_builds():
    tarball = '%s-%s-%s.tar.gz' % (GALAXY['namespace'], GALAXY['name'], GALAXY['version'])
    assert EE['version'] == 3
    assert [item['src'] for item in EE['additional_build_files']] == [tarball]
    assert [item['name'] for item in EE['dependencies']['galaxy']['collections']] == ['collections/' + tarball]


def test_ee_system_packages_include_the_fence_agents_and_ipmitool():
    system = ' '.join(EE['dependencies']['system'])
    for package in ('fence-agents', 'ipmitool', 'libpq'):
        assert package in system
