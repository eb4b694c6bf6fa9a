"""The vocabulary is defined once, in plugins/module_utils/rooms.py: every other Python file of plugins/ imports its
labels, taint, annotation and ROOMS instead of writing them again. And one API timeout: k8s.API_TIMEOUT.

The rule, read from the ``ast`` of plugins/**/*.py: no string literal equal to one of rooms.py's label, taint or
annotation values, and no tuple, list or set literal of exactly the two room names, outside rooms.py. Docstrings
and the DOCUMENTATION / EXAMPLES / RETURN strings (module or class level) are prose for people and are not read;
nor are longer strings that merely contain a label (``Aux/topology.kubernetes.io/zone`` is a LINSTOR property).
"""
import ast
import pathlib

import pytest

from ansible_collections.twinroom.ha.plugins.module_utils import rooms

PLUGINS = pathlib.Path(__file__).resolve().parents[2] / 'plugins'
HOME = 'module_utils/rooms.py'
DOC_STRINGS = ('DOCUMENTATION', 'EXAMPLES', 'RETURN')

VOCABULARY = dict((getattr(rooms, name), name) for name in (
    'ZONE_LABEL', 'HOME_ROOM_LABEL', 'ANTI_AFFINITY_LABEL', 'VM_LABEL',
    'OUT_OF_SERVICE_TAINT_KEY', 'OUT_OF_SERVICE_TAINT_VALUE', 'FENCED_ANNOTATION'))
# OUT_OF_SERVICE_TAINT_EFFECT ('NoExecute') is left out: it is Kubernetes' word for any such taint or toleration.

# Exempt files. Empty: the vocabulary is written only in rooms.py, and one request timeout only in k8s.py.
PENDING_VOCABULARY = set()
PENDING_TIMEOUT = set()


def _prose(tree):
    """ids of the nodes that are docstrings or DOCUMENTATION / EXAMPLES / RETURN values."""
    skip = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            skip.add(id(first.value))
        for statement in node.body:
            if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOC_STRINGS
                                                         for t in statement.targets):
                skip.update(id(part) for part in ast.walk(statement.value))
    return skip


def vocabulary_violations(name, source):
    """Where ``source`` writes a vocabulary string or the pair of rooms itself: ['name:line NAME', ...]."""
    tree = ast.parse(source)
    prose = _prose(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose \
                and node.value in VOCABULARY:
            found.append((node.lineno, VOCABULARY[node.value]))
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts \
                and all(isinstance(e, ast.Constant) for e in node.elts) \
                and sorted(str(e.value) for e in node.elts) == sorted(rooms.ROOMS):
            found.append((node.lineno, 'ROOMS'))
    return ['%s:%d %s: import it from rooms.py' % (name, line, what) for line, what in sorted(found)]


def timeout_violations(name, source):
    """Where ``source`` sets its own Kubernetes request timeout: a number as ``_request_timeout``, or an
    ``API_TIMEOUT = <number>`` of its own. Use k8s.API_TIMEOUT (or the module's timeout option)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == '_request_timeout' and isinstance(node.value, ast.Constant):
            found.append((node.value.lineno, '_request_timeout=%r' % node.value.value))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and any(isinstance(t, ast.Name) and t.id == 'API_TIMEOUT' for t in node.targets):
            found.append((node.lineno, 'API_TIMEOUT = %r' % node.value.value))
    return ['%s:%d %s: use k8s.API_TIMEOUT' % (name, line, what) for line, what in sorted(found)]


def plugin_sources():
    return dict((str(path.relative_to(PLUGINS)), path.read_text()) for path in sorted(PLUGINS.rglob('*.py')))


def test_vocabulary_is_written_only_in_rooms_py():
    problems = []
    for name, source in plugin_sources().items():
        if name != HOME and name not in PENDING_VOCABULARY:
            problems.extend(vocabulary_violations(name, source))
    assert problems == []


def test_rooms_py_defines_every_word_it_is_checked_for():
    found = vocabulary_violations(HOME, (PLUGINS / HOME).read_text())
    assert sorted(line.split()[1].rstrip(':') for line in found) == sorted(list(VOCABULARY.values()) + ['ROOMS'])


def test_one_api_timeout():
    problems = []
    for name, source in plugin_sources().items():
        if name.startswith('module_utils/') and name != 'module_utils/k8s.py' and name not in PENDING_TIMEOUT:
            problems.extend(timeout_violations(name, source))
    assert problems == []


def test_pending_sets_name_real_files():
    names = set(plugin_sources())
    assert sorted((PENDING_VOCABULARY | PENDING_TIMEOUT) - names) == []


# --- the checks themselves find what they are for ---------------------------------------------------------------

@pytest.mark.parametrize('source, expected', [
    ("ZONE = 'topology.kubernetes.io/zone'\n", ['x.py:1 ZONE_LABEL: import it from rooms.py']),
    ("def f(node):\n    return node.get('twinroom.io/fenced')\n", ['x.py:2 FENCED_ANNOTATION: import it from rooms.py']),
    ("TAINT = dict(key='node.kubernetes.io/out-of-service', value='nodeshutdown')\n",
     ['x.py:1 OUT_OF_SERVICE_TAINT_KEY: import it from rooms.py', 'x.py:1 OUT_OF_SERVICE_TAINT_VALUE: import it from rooms.py']),
    ("ROOMS = ('room_a', 'room_b')\nOTHER = ['room_b', 'room_a']\n",
     ['x.py:1 ROOMS: import it from rooms.py', 'x.py:2 ROOMS: import it from rooms.py']),
    ('"""Reads twinroom.io/home-room."""\nDOCUMENTATION = """\ndefault: twinroom.io/home-room\n"""\n', []),
    ("class Fragment:\n    DOCUMENTATION = 'twinroom.io/vm'\n", []),
    ("PROPERTY = 'Aux/topology.kubernetes.io/zone'\nROOM = 'room_a'\n", []),
], ids=['constant', 'in-code', 'taint', 'rooms', 'docs', 'doc-fragment', 'not-equal'])
def test_vocabulary_check_reports_a_copy(source, expected):
    assert vocabulary_violations('x.py', source) == expected


@pytest.mark.parametrize('source, expected', [
    ("API_TIMEOUT = 10\n", ['x.py:1 API_TIMEOUT = 10: use k8s.API_TIMEOUT']),
    ("core.list_node(_request_timeout=20)\n", ['x.py:1 _request_timeout=20: use k8s.API_TIMEOUT']),
    ("core.list_node(_request_timeout=k8s.API_TIMEOUT)\ncore.list_pod(_request_timeout=timeout)\n", []),
], ids=['constant', 'literal', 'shared'])
def test_timeout_check_reports_a_timeout_of_its_own(source, expected):
    assert timeout_violations('x.py', source) == expected
