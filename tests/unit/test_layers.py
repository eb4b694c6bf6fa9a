"""The layers of plugins/module_utils (docs/architecture.md): every file sits in one, and imports only from lower ones.

    0 vocabulary   rooms, labels, taints, annotations, TwinroomError        rooms.py
    1 access       I/O, no domain decisions                                 k8s.py, module_run.py, ...
    2 formats      pure data formats and records shared by several plans    datastore_history.py, ...
    3 plans        pure decisions per domain; never import each other       piraeus.py, remediation.py, ...
    4 runners      observe through access, decide through a plan, act       failback.py, room_status.py, ...

Imports are read from the source with ``ast`` (top-level and function-local ones alike), so an import placed inside
a function to dodge a cycle is seen too. A new module_utils file must be given a layer in LAYERS below.
"""
import ast
import pathlib

import pytest

MODULE_UTILS = pathlib.Path(__file__).resolve().parents[2] / 'plugins' / 'module_utils'
MODULES = MODULE_UTILS.parent / 'modules'
PACKAGE = 'ansible_collections.twinroom.ha.plugins.module_utils'

VOCABULARY, ACCESS, FORMATS, PLANS, RUNNERS = 0, 1, 2, 3, 4

LAYERS = {
    'rooms.py': VOCABULARY,
    'k8s.py': ACCESS,
    'module_run.py': ACCESS,                 # the end every module shares (finish)
    'datastore_history.py': FORMATS,
    'datastore_formats.py': FORMATS,         # records, conninfo, postgresql.auto.conf, pgpass, hba (pure)
    'postgres_client.py': ACCESS,            # PostgreSQL driver and queries
    'postgres.py': ACCESS,                   # PostgreSQL node I/O: programs, systemd/pg_ctl, the local node
    'datastore_plan.py': PLANS,
    'datastore_choice.py': PLANS,
    'piraeus.py': PLANS,
    'remediation.py': PLANS,
    'workloads.py': PLANS,
    'failback.py': RUNNERS,                  # its plan (plan, batches, landed) is pure and small enough to stay here
    'piraeus_k8s.py': RUNNERS,
    'room_status.py': RUNNERS,               # pure decisions plus read_cluster/read_rooms
    'storage_device.py': RUNNERS,            # pure decisions plus read_devices/read_host
    # Being split by other helpers of issue 11: the layer that today's imports need.
    'bmc_binding.py': RUNNERS,
    'bmc_identity.py': FORMATS,              # today it imports module_run (1); its BMC I/O moves to bmc.py (1)
    'capacity.py': RUNNERS,
    'datastore.py': RUNNERS,
    'fence.py': PLANS,                       # today room_status (4) imports its run_parallel; a runner (4) once that
                                             # lives in bmc.py
    'inventory_rules.py': FORMATS,           # today fence (3) imports BMC_DEFAULT_PORTS from it; a plan (3) after
    'kubevirt_vm.py': RUNNERS,
    'linstor_quorum.py': RUNNERS,
    'operation_lock.py': RUNNERS,
    # Announced by the other helpers of issue 11 (harmless while absent): give the integrator one place to look.
    'bmc.py': ACCESS,
    'linstor_rest.py': ACCESS,
    'fence_plan.py': PLANS,
}

# Files other helpers are splitting: exempt from the size check only. The integrator empties this after the merge.
PENDING_SPLIT = {
    'bmc_binding.py', 'bmc_identity.py', 'capacity.py', 'datastore.py', 'fence.py', 'inventory_rules.py',
    'kubevirt_vm.py', 'linstor_quorum.py', 'operation_lock.py',
}

# Imports against the rule that no table of today's files can avoid; the integrator empties this after the merges.
PENDING_IMPORTS = {
    # capacity -> room_status -> fence -> bmc_identity -> module_run -> rooms would need six layers.
    ('capacity.py', 'room_status.py'),       # ROOMS: capacity will import it from rooms.py (helper split)
    # The datastore split (merged) has PostgreSQL access build on the pure datastore formats and on itself. To
    # decide when merging: move datastore_formats below access (it is pure and imports only rooms.py), or fold
    # postgres_client into postgres; either way these three go.
    ('postgres_client.py', 'datastore_formats.py'),
    ('postgres.py', 'datastore_formats.py'),
    ('postgres.py', 'postgres_client.py'),
}

MAX_LINES = 450


def collection_imports(source):
    """[(module_utils file name, line)] that ``source`` imports, wherever the import statement is."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from .x import y
                base = PACKAGE + ('.' + node.module if node.module else '')
            else:
                base = node.module or ''
            names = [base] + ['%s.%s' % (base, alias.name) for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith(PACKAGE + '.'):
                found.append((name[len(PACKAGE) + 1:].split('.')[0] + '.py', node.lineno))
    return sorted(set(found), key=lambda item: (item[1], item[0]))


def layer_violations(sources, layers, pending_imports=frozenset()):
    """{file name: source} -> messages for files missing from ``layers`` and imports not strictly downward."""
    problems = []
    for name in sorted(sources):
        if name not in layers:
            problems.append('%s has no layer: add it to LAYERS in tests/unit/test_layers.py' % name)
            continue
        for imported, line in collection_imports(sources[name]):
            if imported not in layers or (name, imported) in pending_imports:
                continue
            if layers[imported] >= layers[name]:
                problems.append('%s:%d (layer %d) imports %s (layer %d): import only from a lower layer'
                                % (name, line, layers[name], imported, layers[imported]))
    return problems


def size_violations(sources, exempt=frozenset(), limit=MAX_LINES):
    return ['%s has %d lines (more than %d): split it by layer' % (name, len(source.splitlines()), limit)
            for name, source in sorted(sources.items())
            if name not in exempt and len(source.splitlines()) > limit]


def module_utils_sources():
    return dict((path.name, path.read_text()) for path in sorted(MODULE_UTILS.glob('*.py')) if path.name != '__init__.py')


def test_every_module_utils_file_has_a_layer_and_imports_only_downward():
    assert layer_violations(module_utils_sources(), LAYERS, PENDING_IMPORTS) == []


def test_no_module_utils_file_is_over_450_lines():
    assert size_violations(module_utils_sources(), PENDING_SPLIT) == []


def test_pending_sets_name_real_files():
    sources = module_utils_sources()
    assert sorted(PENDING_SPLIT - set(sources)) == []
    assert sorted(edge for edge in PENDING_IMPORTS if not set(edge) <= set(sources)) == []


@pytest.mark.skip(reason='does not hold today: eight storage-layer modules (linstor_cluster, vm_storage_class, ... '
                         'and their _info twins) import the plan piraeus.py for PiraeusError and API_VERSION')
def test_modules_import_no_plan_directly():
    problems = []
    for path in sorted(MODULES.glob('*.py')):
        for imported, line in collection_imports(path.read_text()):
            if LAYERS.get(imported) == PLANS:
                problems.append('%s:%d imports the plan %s: a module calls a runner' % (path.name, line, imported))
    assert problems == []


# --- the checks themselves find what they are for ---------------------------------------------------------------

SYNTHETIC_LAYERS = {'rooms.py': VOCABULARY, 'k8s.py': ACCESS, 'piraeus.py': PLANS, 'failback.py': RUNNERS}


@pytest.mark.parametrize('source, expected', [
    ('from ansible_collections.twinroom.ha.plugins.module_utils.failback import plan\n',
     ['piraeus.py:1 (layer 3) imports failback.py (layer 4): import only from a lower layer']),
    ('def f():\n    from ansible_collections.twinroom.ha.plugins.module_utils import failback as fb\n',
     ['piraeus.py:2 (layer 3) imports failback.py (layer 4): import only from a lower layer']),
    ('import ansible_collections.twinroom.ha.plugins.module_utils.piraeus\n',
     ['piraeus.py:1 (layer 3) imports piraeus.py (layer 3): import only from a lower layer']),
    ('from .failback import plan\n',
     ['piraeus.py:1 (layer 3) imports failback.py (layer 4): import only from a lower layer']),
    ('from ansible_collections.twinroom.ha.plugins.module_utils import k8s, rooms\nimport json\n', []),
], ids=['upward', 'function-local', 'sideways', 'relative', 'downward'])
def test_layer_check_reports_an_upward_or_sideways_import(source, expected):
    assert layer_violations({'piraeus.py': source}, SYNTHETIC_LAYERS) == expected


def test_layer_check_reports_a_file_without_a_layer_and_honours_pending_imports():
    upward = 'from ansible_collections.twinroom.ha.plugins.module_utils.failback import plan\n'
    assert layer_violations({'new_thing.py': ''}, SYNTHETIC_LAYERS) == [
        'new_thing.py has no layer: add it to LAYERS in tests/unit/test_layers.py']
    assert layer_violations({'piraeus.py': upward}, SYNTHETIC_LAYERS, {('piraeus.py', 'failback.py')}) == []


def test_size_check_reports_a_long_file_unless_pending():
    sources = {'big.py': 'x = 1\n' * 451, 'small.py': 'x = 1\n' * 450}
    assert size_violations(sources) == ['big.py has 451 lines (more than 450): split it by layer']
    assert size_violations(sources, {'big.py'}) == []
