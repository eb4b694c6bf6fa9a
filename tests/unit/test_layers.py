"""The layers of plugins/module_utils (docs/architecture.md): every file sits in one, and imports only from lower ones.

    0 vocabulary   rooms, labels, taints, annotations, TwinroomError        rooms.py
    1 formats      pure data formats and records shared by plans and access datastore_formats.py, quantities.py, ...
    2 clients      one way to reach each thing: Kubernetes, BMCs, ...       k8s.py, bmc.py, postgres_client.py, ...
    3 adapters     node-level I/O built on a client                         postgres.py, k8s_nodes.py
    4 plans        pure decisions per domain; never import each other       fence_plan.py, datastore_plan.py, ...
    5 runners      observe through access, decide through a plan, act       fence.py, datastore.py, ...

Plans are pure: they import only the vocabulary and the formats (layers 0 and 1), never access. Imports are read
from the source with ``ast`` (top-level and function-local ones alike), so an import placed inside a function to
dodge a cycle is seen too. A new module_utils file must be given a layer in LAYERS below.
"""
import ast
import pathlib

import pytest

MODULE_UTILS = pathlib.Path(__file__).resolve().parents[2] / 'plugins' / 'module_utils'
MODULES = MODULE_UTILS.parent / 'modules'
PACKAGE = 'ansible_collections.twinroom.ha.plugins.module_utils'

VOCABULARY, FORMATS, CLIENTS, ADAPTERS, PLANS, RUNNERS = 0, 1, 2, 3, 4, 5
ACCESS = CLIENTS  # the lowest access layer

LAYERS = {
    'rooms.py': VOCABULARY,
    # formats: pure records and formats
    'bmc_identity.py': FORMATS,              # a machine's identity (UUID) and the bindings record
    'datastore_formats.py': FORMATS,         # records, conninfo, postgresql.auto.conf, pgpass, hba
    'datastore_history.py': FORMATS,
    'failover_settings.py': FORMATS,         # automatic failover's settings and their checks
    'awx_spec.py': FORMATS,                 # AWX survey and credential type checks (pure)
    'inventory_model.py': FORMATS,
    'object_diff.py': FORMATS,
    'quantities.py': FORMATS,
    # clients
    'bmc.py': CLIENTS,                       # Redfish/IPMI fence agents, probes, parallel reads
    'k8s.py': CLIENTS,                       # Kubernetes: client, timeout, 429, error mapping, waiter
    'json_http.py': CLIENTS,                 # a JSON answer over HTTP in the background (the witness's beacon)
    'linstor_rest.py': CLIENTS,
    'lock_file.py': CLIENTS,
    'module_run.py': CLIENTS,                # the end every module shares (finish)
    'postgres_client.py': CLIENTS,           # PostgreSQL driver and queries, systemd/pg_ctl
    'processes.py': CLIENTS,                 # /proc
    # adapters
    'k8s_nodes.py': ADAPTERS,                # Nodes, Leases, the taint, the fenced record, Events
    'postgres.py': ADAPTERS,                 # the local PostgreSQL node, the peer probe, the wait
    # plans
    'capacity.py': PLANS,
    'datastore_choice.py': PLANS,
    'datastore_plan.py': PLANS,
    'fence_plan.py': PLANS,
    'inventory_failover.py': PLANS,          # the inventory rule automatic-failover
    'inventory_rules.py': PLANS,
    'inventory_site.py': PLANS,
    'inventory_services.py': PLANS,
    'dns_spread.py': PLANS,
    'kubevirt_vm.py': PLANS,
    'leader_lease.py': PLANS,
    'linstor_quorum.py': PLANS,
    'operation_lock_plan.py': PLANS,
    'piraeus.py': PLANS,
    'remediation.py': PLANS,
    'room_events.py': PLANS,                 # automatic failover's Events and failover_decision's check
    'room_status.py': PLANS,
    'room_vote.py': PLANS,                   # automatic failover: the vote, the decision, the isolation response
    'workloads.py': PLANS,
    # runners
    'bmc_binding.py': RUNNERS,
    'datastore.py': RUNNERS,
    'failback.py': RUNNERS,                  # its plan (plan, batches, landed) is pure and small enough to stay here
    'fence.py': RUNNERS,
    'isolation_guard.py': RUNNERS,           # the guard on every node: probe, room_vote.isolate, power off
    'leader_lease_runner.py': RUNNERS,
    'linstor_quorum_runner.py': RUNNERS,
    'operation_lock.py': RUNNERS,
    'piraeus_k8s.py': RUNNERS,
    'room_capacity.py': RUNNERS,
    'room_info_runner.py': RUNNERS,
    'room_watch.py': RUNNERS,                # the event source room_watch: observe the rooms, judge through room_vote
    'storage_device.py': RUNNERS,            # pure decisions plus read_devices/read_host
    'vm_runner.py': RUNNERS,
}

# Exempt from the size check. Empty: every file is within the limit.
PENDING_SPLIT = set()

# Imports exempt from the layer rule. Empty: every import goes downward.
PENDING_IMPORTS = set()

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


def purity_violations(sources, layers):
    """Plans import only the vocabulary and the formats: a plan that reaches for access is not pure."""
    problems = []
    for name in sorted(sources):
        if layers.get(name) != PLANS:
            continue
        for imported, line in collection_imports(sources[name]):
            if layers.get(imported, VOCABULARY) > FORMATS:
                problems.append('%s:%d (a plan) imports %s (layer %d): a plan imports only the vocabulary and '
                                'the formats' % (name, line, imported, layers[imported]))
    return problems


def size_violations(sources, exempt=frozenset(), limit=MAX_LINES):
    return ['%s has %d lines (more than %d): split it by layer' % (name, len(source.splitlines()), limit)
            for name, source in sorted(sources.items())
            if name not in exempt and len(source.splitlines()) > limit]


def module_utils_sources():
    return dict((path.name, path.read_text()) for path in sorted(MODULE_UTILS.glob('*.py')) if path.name != '__init__.py')


def test_every_module_utils_file_has_a_layer_and_imports_only_downward():
    assert layer_violations(module_utils_sources(), LAYERS, PENDING_IMPORTS) == []


def test_plans_are_pure():
    assert purity_violations(module_utils_sources(), LAYERS) == []


def test_purity_check_reports_a_plan_that_reaches_for_access():
    layers = dict(SYNTHETIC_LAYERS, **{'datastore_formats.py': FORMATS})
    source = ('from ansible_collections.twinroom.ha.plugins.module_utils import k8s\n'
              'from ansible_collections.twinroom.ha.plugins.module_utils import datastore_formats, rooms\n')
    assert purity_violations({'piraeus.py': source}, layers) == [
        'piraeus.py:1 (a plan) imports k8s.py (layer 2): a plan imports only the vocabulary and the formats']


def test_no_module_utils_file_is_over_450_lines():
    assert size_violations(module_utils_sources(), PENDING_SPLIT) == []


def test_pending_sets_name_real_files():
    sources = module_utils_sources()
    assert sorted(PENDING_SPLIT - set(sources)) == []
    assert sorted(edge for edge in PENDING_IMPORTS if not set(edge) <= set(sources)) == []


# Modules that name a plan themselves: the Piraeus modules that write hand the plan's builder of their object to
# the shared runner (piraeus_k8s.run), and leader_lease(_info) name the plan's error class for finish. Every other module
# imports runners only; a new exception must be added here on purpose.
MODULES_NAMING_A_PLAN = {
    ('leader_lease.py', 'leader_lease.py'), ('leader_lease_info.py', 'leader_lease.py'),
    ('piraeus_cluster.py', 'piraeus.py'), ('piraeus_node_connection.py', 'piraeus.py'),
    ('piraeus_satellite_configuration.py', 'piraeus.py'), ('vm_storage_class.py', 'piraeus.py'),
}


def test_modules_import_runners_not_plans():
    found = set()
    for path in sorted(MODULES.glob('*.py')):
        for imported, _line in collection_imports(path.read_text()):
            if LAYERS.get(imported) == PLANS:
                found.add((path.name, imported))
    assert sorted(found - MODULES_NAMING_A_PLAN) == []
    assert sorted(MODULES_NAMING_A_PLAN - found) == []  # an exception no longer needed is removed from the list


# --- the checks themselves find what they are for ---------------------------------------------------------------

SYNTHETIC_LAYERS = {'rooms.py': VOCABULARY, 'k8s.py': ACCESS, 'piraeus.py': PLANS, 'failback.py': RUNNERS}


@pytest.mark.parametrize('source, expected', [
    ('from ansible_collections.twinroom.ha.plugins.module_utils.failback import plan\n',
     ['piraeus.py:1 (layer 4) imports failback.py (layer 5): import only from a lower layer']),
    ('def f():\n    from ansible_collections.twinroom.ha.plugins.module_utils import failback as fb\n',
     ['piraeus.py:2 (layer 4) imports failback.py (layer 5): import only from a lower layer']),
    ('import ansible_collections.twinroom.ha.plugins.module_utils.piraeus\n',
     ['piraeus.py:1 (layer 4) imports piraeus.py (layer 4): import only from a lower layer']),
    ('from .failback import plan\n',
     ['piraeus.py:1 (layer 4) imports failback.py (layer 5): import only from a lower layer']),
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


def test_no_module_imports_the_fence_runner_for_a_helper():
    """Only the fence modules use the fence runner; the others reach BMCs through bmc.py."""
    users = sorted(path.stem for path in MODULES.glob('*.py')
                   if any(name == 'fence.py' for name, _line in collection_imports(path.read_text())))
    assert users == ['fence', 'fence_info']
