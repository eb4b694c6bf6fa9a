# -*- coding: utf-8 -*-
"""The inventory rules, one YAML fixture per case: groups, hostvars, the exact expected messages."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
import yaml

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import (
        inventory_model, inventory_rules, inventory_services, inventory_site)
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import (
        inventory_model, inventory_rules, inventory_services, inventory_site)

from ansible_collections.twinroom.ha.plugins.action import validate_inventory as validate_action

FIXTURES = sorted((pathlib.Path(__file__).parent / 'fixtures' / 'inventory').glob('*.yml'))
SITE_FIXTURES = sorted((pathlib.Path(__file__).parent / 'fixtures' / 'inventory_site').glob('*.yml'))
ROLES = pathlib.Path(__file__).resolve().parents[2] / 'roles'


def load(path):
    with open(path) as stream:
        return yaml.safe_load(stream)


@pytest.mark.parametrize('path', FIXTURES, ids=[path.stem for path in FIXTURES])
def test_fixture(path):
    case = load(path)
    violations = inventory_rules.check_inventory(case['groups'], case['hostvars'], case.get('required_vars') or ())
    assert [violation.message for violation in violations] == case['expected']
    for violation in violations:
        assert violation.message.startswith("Inventory rule '%s' failed for %s: " % (violation.rule, violation.subject))


def test_fixtures_cover_every_rule():
    rules = set()
    for path in FIXTURES:
        case = load(path)
        rules.update(v.rule for v in inventory_rules.check_inventory(
            case['groups'], case['hostvars'], case.get('required_vars') or ()))
    assert rules >= {
        'room-not-empty', 'one-control-plane-per-room', 'room-exclusive', 'node-in-room', 'zone-per-room',
        'fence-method', 'fence-method-uniform', 'bmc-address', 'bmc-systems-uri', 'bmc-unique', 'witness-enabled', 'witness-present',
        'witness-outside-rooms', 'required-variable',
    }


def _valid():
    return load(pathlib.Path(__file__).parent / 'fixtures' / 'inventory' / 'valid.yml')


def test_unreadable_variable_is_reported_once():
    case = _valid()
    case['hostvars']['b-w1']['twinroom_bmc_address'] = inventory_rules.Unreadable("'bmc_net' is undefined")
    case['hostvars']['a-w2']['twinroom_zone'] = inventory_rules.Unreadable("'site' is undefined")
    messages = [v.message for v in inventory_rules.check_inventory(case['groups'], case['hostvars'])]
    # Neither a missing-zone nor a missing-BMC problem on top: the variable is set, just not evaluable.
    assert messages == [
        "Inventory rule 'variable-evaluates' failed for a-w2: twinroom_zone cannot be evaluated: 'site' is undefined. "
        "Define what it refers to, or give it a plain value.",
        "Inventory rule 'variable-evaluates' failed for b-w1: twinroom_bmc_address cannot be evaluated: "
        "'bmc_net' is undefined. Define what it refers to, or give it a plain value.",
    ]


def test_failure_message_lists_every_problem():
    violations = [
        inventory_model.Violation('room-not-empty', 'room_a', 'first'),
        inventory_model.Violation('room-not-empty', 'room_b', 'second'),
    ]
    assert inventory_rules.failure_message(violations) == (
        'Inventory is not valid: 2 problem(s); nothing was changed.\n- first\n- second')


def test_summary_of_a_valid_inventory():
    case = _valid()
    summary = inventory_rules.summarize(case['groups'], case['hostvars'])
    assert summary == {
        'rooms': {
            'room_a': {'zone': 'room-a', 'control_plane': ['a-cp1'], 'workers': ['a-w1', 'a-w2'],
                       'nodes': ['a-cp1', 'a-w1', 'a-w2']},
            'room_b': {'zone': 'room-b', 'control_plane': ['b-cp1'], 'workers': ['b-w1', 'b-w2'],
                       'nodes': ['b-cp1', 'b-w1', 'b-w2']},
        },
        'fence_method': 'redfish',
        'witness_enabled': False,
        'witness': [],
    }
    assert inventory_rules.summary_message(summary) == (
        'Inventory is valid: room_a (zone room-a): 3 node(s), control plane a-cp1; '
        'room_b (zone room-b): 3 node(s), control plane b-cp1; fence method redfish; witness off.')


def test_only_model_variables_are_read():
    # The action plugin evaluates these names and nothing else: BMC passwords stay in the vault.
    names = validate_action.variables_to_read(['twinroom_node_address', 'twinroom_zone'])
    assert names == tuple(inventory_model.unique(
        inventory_rules.VARIABLES + inventory_failover.INVENTORY_VARIABLES + inventory_site.SITE_VARIABLES
        + inventory_services.VARIABLES + ('twinroom_node_address',)))
    assert not [name for name in names if 'password' in name or 'username' in name]


def test_relevant_hosts_in_inventory_order():
    groups = {'room_a': ['a1', 'a2'], 'room_b': ['b1'], 'control_plane': ['a1', 'x1'], 'workers': ['a2'],
              'witness': ['w1'], 'other': ['o1']}
    assert inventory_model.relevant_hosts(groups) == ['a1', 'a2', 'b1', 'x1', 'w1']


@pytest.mark.parametrize('value, valid', [
    ('room-b2', True), ('b', True), ('dc1.rack_2', True), ('x' * 63, True),
    ('x' * 64, False), ('-a', False), ('a-', False), ('Room A', False), ('zone/a', False), (1, False),
])
def test_zone_label_values(value, valid):
    case = _valid()
    for host in case['groups']['room_b']:
        case['hostvars'][host]['twinroom_zone'] = value
    rules = [v.rule for v in inventory_rules.check_inventory(case['groups'], case['hostvars'])]
    assert rules == ([] if valid else ['zone-per-room'])


@pytest.mark.parametrize('value, enabled', [(True, True), ('yes', True), ('false', False), (False, False)])
def test_witness_enabled_accepts_ansible_booleans(value, enabled):
    case = _valid()
    for host in case['hostvars']:
        case['hostvars'][host]['twinroom_witness_enabled'] = value
    assert inventory_rules.witness_enabled(case['groups'], case['hostvars']) == (enabled, [])


@pytest.mark.parametrize('method, first, second, duplicate', [
    ('redfish', {}, {'twinroom_bmc_port': 443}, True),                                # 443 is Redfish's default
    ('redfish', {}, {'twinroom_bmc_port': 8443}, False),
    ('redfish', {}, {'twinroom_bmc_systems_uri': '/redfish/v1/Systems/2'}, False),    # one BMC, two systems
    ('redfish', {}, {'twinroom_bmc_address': '127.77.9.9'}, False),
    ('redfish', {'twinroom_bmc_address': 'BMC-A.example.org'}, {'twinroom_bmc_address': 'bmc-a.example.org '}, True),
    ('redfish', {'twinroom_bmc_address': 'fd00::1'}, {'twinroom_bmc_address': '[fd00::1]'}, True),
    ('ipmi', {}, {'twinroom_bmc_port': 623}, True),                                   # 623 is IPMI's default
    ('ipmi', {}, {'twinroom_bmc_port': '623'}, True),
    ('ipmi', {}, {'twinroom_bmc_port': 443}, False),
    ('ipmi', {}, {'twinroom_bmc_systems_uri': '/redfish/v1/Systems/2'}, True),        # IPMI has no systems
    ('ipmi', {}, {'twinroom_fence_method': 'none'}, False),                           # refused, and no BMC used
    ('ipmi', {}, {'twinroom_bmc_port': inventory_rules.Unreadable("'p' is undefined")}, False),
])
def test_same_bmc_system(method, first, second, duplicate):
    case = _valid()
    for host in case['hostvars']:
        case['hostvars'][host]['twinroom_fence_method'] = method
    common = {'twinroom_bmc_address': '127.77.1.11', 'twinroom_bmc_systems_uri': '/redfish/v1/Systems/1'}
    case['hostvars']['a-w1'].update(dict(common, **first))
    case['hostvars']['b-w1'].update(dict(common, **second))
    rules = [v.rule for v in inventory_rules.check_inventory(case['groups'], case['hostvars'])
             if v.rule not in ('variable-evaluates', 'fence-method', 'fence-method-uniform')]
    assert rules == (['bmc-unique'] if duplicate else [])


def test_one_bmc_address_for_every_node_is_named_once():
    """A BMC address set in group_vars/all by mistake: every room node on one IPMI BMC."""
    case = _valid()
    for host in case['hostvars']:
        case['hostvars'][host].update(twinroom_fence_method='ipmi', twinroom_bmc_address='10.0.0.1')
    assert [v.message for v in inventory_rules.check_inventory(case['groups'], case['hostvars'])] == [
        "Inventory rule 'bmc-unique' failed for all room nodes: a-cp1, a-w1, a-w2, b-cp1, b-w1 and b-w2 have the "
        "same BMC 10.0.0.1:623 (ipmi): fencing one would power off the others. Give each host the address of its "
        "own BMC in twinroom_bmc_address."]


def test_fence_uses_the_inventory_default_bmc_ports():
    from ansible_collections.twinroom.ha.plugins.module_utils import bmc
    assert bmc.DEFAULT_PORTS is inventory_rules.BMC_DEFAULT_PORTS


# What the site installs (check_site): lab stand-ins declared, binaries with a source and a checksum.

def _check_site(case):
    return inventory_site.check_site(case['groups'], case['hostvars'], case.get('controller'),
                                     case.get('role_defaults'))


@pytest.mark.parametrize('path', SITE_FIXTURES, ids=[path.stem for path in SITE_FIXTURES])
def test_site_fixture(path):
    case = load(path)
    violations = _check_site(case)
    assert [violation.message for violation in violations] == case['expected']
    for violation in violations:
        assert violation.message.startswith("Inventory rule '%s' failed for %s: " % (violation.rule, violation.subject))


def test_site_fixtures_cover_every_rule():
    rules = set()
    for path in SITE_FIXTURES:
        rules.update(v.rule for v in _check_site(load(path)))
    assert rules >= {'stand-ins-known', 'stand-in-declared', 'binary-source', 'binary-checksum'}


def test_every_stand_in_is_found_and_declared_by_its_name():
    case = load(pathlib.Path(__file__).parent / 'fixtures' / 'inventory_site' / 'valid-real-site.yml')
    for row in inventory_site.STAND_INS:
        for value in row.values:
            selected = dict((host, dict(values, **{row.variable: value})) for host, values in case['hostvars'].items())
            controller = dict(case['controller'], **{row.variable: value})
            found = [(v.rule, v.subject) for v in inventory_site.check_site(
                case['groups'], selected, controller, case['role_defaults'])]
            where = []
            if inventory_site.ON_NODES in row.where:
                where.append(inventory_rules.ALL_ROOM_NODES)
            if inventory_site.ON_CONTROLLER in row.where:
                where.append(inventory_model.CONTROLLER)
            assert found == [('stand-in-declared', ', '.join(where))], row
            declared = dict((host, dict(values, twinroom_stand_ins=[row.name])) for host, values in selected.items())
            assert inventory_site.check_site(case['groups'], declared, dict(controller, twinroom_stand_ins=[row.name]),
                                             case['role_defaults']) == []


def test_unreadable_controller_variable_is_reported():
    case = load(pathlib.Path(__file__).parent / 'fixtures' / 'inventory_site' / 'valid-real-site.yml')
    controller = dict(case['controller'], storage_layer_mode=inventory_rules.Unreadable("'mode' is undefined"))
    assert [v.message for v in inventory_site.check_site(case['groups'], case['hostvars'], controller,
                                                         case['role_defaults'])] == [
        "Inventory rule 'variable-evaluates' failed for localhost: storage_layer_mode cannot be evaluated: "
        "'mode' is undefined. Define what it refers to, or give it a plain value."]


def _action():
    from ansible_collections.twinroom.ha.plugins.action import validate_inventory
    return validate_inventory


def test_role_defaults_are_read_from_the_roles():
    defaults = _action().read_role_defaults(inventory_site.role_default_names(), str(ROLES))
    # The case files use this release's defaults.
    case = load(pathlib.Path(__file__).parent / 'fixtures' / 'inventory_site' / 'valid-real-site.yml')
    assert defaults == case['role_defaults']


def test_no_role_default_selects_a_stand_in():
    defaults = _action().read_role_defaults(inventory_site.role_default_names(), str(ROLES))
    selecting = set(row.variable for row in inventory_site.STAND_INS if defaults.get(row.variable) in row.values)
    assert selecting == set()


def test_missing_role_defaults_refuse():
    from ansible.errors import AnsibleError
    with pytest.raises(AnsibleError, match='cannot read the defaults of role node_agent'):
        _action().read_role_defaults({'node_agent': ('node_agent_kind',)}, '/nonexistent')


def test_the_rules_know_the_roles_components_and_checksum_pattern():
    with open(ROLES / 'control_plane' / 'vars' / 'main.yml') as stream:
        components = yaml.safe_load(stream)['control_plane_components']
    assert tuple(components) == inventory_site.CONTROL_PLANE_COMPONENTS
    # The same checksum pattern as the role's own assert (tasks/kine.yml): what passes here passes there.
    assert inventory_site._CHECKSUM.pattern in (ROLES / 'kine_datastore' / 'tasks' / 'kine.yml').read_text()
    assert inventory_site._CHECKSUM.pattern in (ROLES / 'storage_layer' / 'tasks' / 'operator.yml').read_text()
    assert inventory_site._CHECKSUM.pattern in (ROLES / 'kubevirt' / 'vars' / 'main.yml').read_text()


def test_the_rules_know_the_operator_manifests_variables():
    """Each manifest row names variables its role declares, and the mode that fetches it is one the role offers (a
    choice, or true of a boolean)."""
    for row in inventory_site.DOWNLOADS:
        with open(ROLES / row.role / 'meta' / 'argument_specs.yml') as stream:
            options = yaml.safe_load(stream)['argument_specs']['main']['options']
        assert row.url in options and row.checksum in options, row
        if row.mode:
            option = options[row.mode[0]]
            if isinstance(row.mode[1], bool):
                assert option['type'] == 'bool', row
            else:
                assert row.mode[1] in option['choices'], row


# --- BMC credentials: present, never read -------------------------------------------------------------------------

BOTH = ['twinroom_bmc_username', 'twinroom_bmc_password']


def test_bmc_credentials_set_everywhere_pass():
    case = _valid()
    present = dict((host, BOTH) for host in case['hostvars'])
    assert inventory_rules.check_bmc_credentials(case['groups'], case['hostvars'], present) == []


def test_bmc_credentials_missing_everywhere_name_all_room_nodes():
    case = _valid()
    assert [v.message for v in inventory_rules.check_bmc_credentials(case['groups'], case['hostvars'], {})] == [
        "Inventory rule 'bmc-credentials' failed for all room nodes: twinroom_bmc_username and twinroom_bmc_password "
        "are not set: failover.yml, recover.yml and site.yml log in to each node's BMC with twinroom_bmc_username and "
        "twinroom_bmc_password. Set them (with ansible-vault) in group_vars/all or the group_vars of each room."]


def test_bmc_password_missing_on_one_node_names_it():
    case = _valid()
    present = dict((host, BOTH) for host in case['hostvars'])
    present['b-w1'] = ['twinroom_bmc_username']
    assert [v.message for v in inventory_rules.check_bmc_credentials(case['groups'], case['hostvars'], present)] == [
        "Inventory rule 'bmc-credentials' failed for b-w1: twinroom_bmc_password is not set: failover.yml, recover.yml "
        "and site.yml log in to each node's BMC with twinroom_bmc_username and twinroom_bmc_password. Set them (with "
        "ansible-vault) in the group_vars of its room or host_vars of b-w1."]


def test_bmc_credentials_set_are_looked_up_by_name():
    class Secret(dict):
        def __getitem__(self, name):
            raise AssertionError('%s was evaluated' % name)

    hostvars = {'a-cp1': Secret(twinroom_bmc_username='{{ vault_user }}', twinroom_bmc_password='{{ vault_pw }}'),
                'a-w1': Secret(twinroom_bmc_username='{{ vault_user }}')}
    assert validate_action.credentials_set(hostvars, ['a-cp1', 'a-w1', 'b-cp1']) == {
        'a-cp1': BOTH, 'a-w1': ['twinroom_bmc_username'], 'b-cp1': []}


class _HostVars(dict):
    """A host's variables as HostVars gives them: reading one templates it, and an undefined reference raises."""

    def __getitem__(self, name):
        value = dict.__getitem__(self, name)
        if isinstance(value, Exception):
            raise value
        return value


def test_bmc_credentials_that_do_not_resolve_say_why_and_never_carry_the_value():
    from ansible.errors import AnsibleUndefinedVariable

    undefined = AnsibleUndefinedVariable("'vault_pw' is undefined\nmore detail")
    hostvars = {'a-cp1': _HostVars(twinroom_bmc_username='fencer', twinroom_bmc_password=undefined),
                'a-w1': _HostVars(twinroom_bmc_username='', twinroom_bmc_password='s3cret-value'),
                'b-cp1': _HostVars(twinroom_bmc_username='fencer', twinroom_bmc_password='s3cret-value')}
    unreadable = validate_action.credentials_unreadable(hostvars, ['a-cp1', 'a-w1', 'b-cp1', 'b-w1'])
    assert unreadable == {'a-cp1': {'twinroom_bmc_password': "'vault_pw' is undefined"},
                          'a-w1': {'twinroom_bmc_username': 'it is empty'}}
    assert 's3cret-value' not in repr(unreadable)


def test_bmc_credentials_that_do_not_resolve_are_refused_with_the_reason():
    case = _valid()
    present = dict((host, BOTH) for host in case['hostvars'])
    unreadable = dict((host, {'twinroom_bmc_password': "'vault_pw_room_a' is undefined"})
                      for host in ('a-cp1', 'a-w1', 'a-w2'))
    unreadable['b-w1'] = {'twinroom_bmc_username': 'it is empty'}
    assert [v.message for v in inventory_rules.check_bmc_credentials(case['groups'], case['hostvars'], present,
                                                                     unreadable)] == [
        "Inventory rule 'bmc-credentials' failed for b-w1: twinroom_bmc_username is set but cannot be used (it is "
        "empty): failover.yml, recover.yml and site.yml log in to each node's BMC with it. Give the run the vault that "
        "defines it (--ask-vault-pass or --vault-id; in AWX, a Vault credential or a twinroom BMC credential) or set "
        "it for b-w1.",
        "Inventory rule 'bmc-credentials' failed for a-cp1, a-w1, a-w2: twinroom_bmc_password is set but cannot be "
        "used ('vault_pw_room_a' is undefined): failover.yml, recover.yml and site.yml log in to each node's BMC with "
        "it. Give the run the vault that defines it (--ask-vault-pass or --vault-id; in AWX, a Vault credential or a "
        "twinroom BMC credential) or set it for a-cp1, a-w1, a-w2."]


def test_bmc_credentials_of_a_node_without_a_bmc_are_not_asked_for():
    case = _valid()
    case['hostvars']['b-w1']['twinroom_fence_method'] = 'none'
    present = dict((host, BOTH) for host in case['hostvars'])
    unreadable = {'b-w1': {'twinroom_bmc_password': "'vault_pw' is undefined"}}
    assert inventory_rules.check_bmc_credentials(case['groups'], case['hostvars'], present, unreadable) == []


# Rule automatic-failover (inventory_failover.py): the vote's settings, checked when twinroom_automatic_failover is on.
from ansible_collections.twinroom.ha.plugins.module_utils import inventory_failover  # noqa: E402


def _failover_case(**values):
    case = _valid()
    for host in case['hostvars']:
        case['hostvars'][host].update(values)
    return case


def _failover_messages(case):
    return [v.message for v in inventory_failover.check_automatic_failover(case['groups'], case['hostvars'])]


def test_automatic_failover_off_checks_nothing():
    assert _failover_messages(_failover_case(twinroom_detect_seconds=60)) == []


def test_automatic_failover_with_defaults_passes():
    assert _failover_messages(_failover_case(twinroom_automatic_failover=True)) == []
    assert _failover_messages(_failover_case(twinroom_automatic_failover='yes', twinroom_detect_seconds='5',
                                             twinroom_preferred_room='room_a')) == []


def test_automatic_failover_settings_are_refused_with_the_vote_s_messages():
    case = _failover_case(twinroom_automatic_failover=True, twinroom_detect_seconds=10, twinroom_isolation_seconds=8,
                          twinroom_preferred_room='room_c')
    assert _failover_messages(case) == [
        "Inventory rule 'automatic-failover' failed for all room nodes: twinroom_isolation_seconds (8) must be greater "
        "than twinroom_detect_seconds (10): a room must isolate itself only after the other side could have declared "
        "it lost, or an interruption too short to fail anything over powers a room off. Raise "
        "twinroom_isolation_seconds above 10.",
        "Inventory rule 'automatic-failover' failed for all room nodes: twinroom_preferred_room is 'room_c'; it must be "
        "room_a or room_b, or unset for no preferred room.",
    ]


def test_automatic_failover_settings_must_agree_between_hosts():
    case = _failover_case(twinroom_automatic_failover=True, twinroom_detect_seconds=5)
    case['hostvars']['b-w1']['twinroom_detect_seconds'] = 8
    del case['hostvars']['b-w2']['twinroom_detect_seconds']
    assert _failover_messages(case) == [
        "Inventory rule 'automatic-failover' failed for all room nodes: twinroom_detect_seconds differs between hosts "
        "(5: a-cp1, a-w1, a-w2, b-cp1; 8: b-w1; unset: b-w2): the rooms and the witness must judge a room lost with "
        "the same settings. Set it once, in group_vars/all, and remove the other values."]


def test_automatic_failover_switch_is_a_boolean_and_a_witness_group_is_the_witness():
    assert _failover_messages(_failover_case(twinroom_automatic_failover='sometimes')) == [
        "Inventory rule 'automatic-failover' failed for all room nodes: twinroom_automatic_failover is 'sometimes'; "
        "it must be true or false. Set it in group_vars/all."]
    case = _failover_case(twinroom_automatic_failover=True)
    case['groups']['witness'] = ['w1']
    case['hostvars']['w1'] = {'twinroom_automatic_failover': True}
    assert inventory_failover.check_automatic_failover(case['groups'], case['hostvars']) == []


def test_the_witness_port_is_one_tcp_port_for_every_host():
    case = _failover_case(twinroom_automatic_failover=True, twinroom_witness_port=8450)
    case['groups']['witness'] = ['w1']
    case['hostvars']['w1'] = {'twinroom_automatic_failover': True, 'twinroom_witness_port': '8450'}
    assert _failover_messages(case) == []
    case['hostvars']['w1']['twinroom_witness_port'] = 9000
    assert _failover_messages(case) == [
        "Inventory rule 'automatic-failover' failed for all room nodes: twinroom_witness_port differs between hosts "
        "(8450: a-cp1, a-w1, a-w2, b-cp1, b-w1, b-w2; 9000: w1): an isolation guard would ask the witness where its "
        "room watch does not listen, and isolate its room. Set it once, in group_vars/all, and remove the other "
        "values."]
    case = _failover_case(twinroom_automatic_failover=True, twinroom_witness_port=70000)
    case['groups']['witness'] = ['w1']
    case['hostvars']['w1'] = {'twinroom_automatic_failover': True, 'twinroom_witness_port': 70000}
    assert _failover_messages(case) == [
        "Inventory rule 'automatic-failover' failed for all room nodes: twinroom_witness_port is 70000; it must be a "
        "TCP port from 1 to 65535, where the room watch on the witness answers the isolation guards (default 8450). "
        "Set it in group_vars/all."]
    # Without a witness nobody listens on it: nothing to check.
    assert _failover_messages(_failover_case(twinroom_automatic_failover=True, twinroom_witness_port='x')) == []


def test_automatic_failover_variables_are_read():
    assert set(failover_names()) <= set(validate_action.variables_to_read())


def failover_names():
    return inventory_failover.INVENTORY_VARIABLES


# Rule operation-lock (inventory_failover.py): where failover.yml and recover.yml keep their lock, and its lease.
def _lock_messages(case):
    return [v.message for v in inventory_failover.check_operation_lock(case['groups'], case['hostvars'])]


def _with_witness(case, **values):
    case['groups']['witness'] = ['w1']
    case['groups'].setdefault('all', sorted(case['hostvars']))
    case['groups']['all'] = case['groups']['all'] + ['w1', 'ops1']
    case['hostvars']['w1'] = dict(values)
    return case


def test_operation_lock_defaults_pass():
    assert _lock_messages(_valid()) == []
    assert _lock_messages(_with_witness(_failover_case(twinroom_operation_lock_host='w1',
                                                       twinroom_operation_lock_lease_seconds='600'),
                                        twinroom_operation_lock_host='w1',
                                        twinroom_operation_lock_lease_seconds=600)) == []
    assert _lock_messages(_failover_case(twinroom_operation_lock_host='localhost')) == []


def test_operation_lock_host_in_a_room_is_refused():
    assert _lock_messages(_failover_case(twinroom_operation_lock_host='b-cp1')) == [
        "Inventory rule 'operation-lock' failed for all room nodes: twinroom_operation_lock_host is b-cp1, a node of "
        "room_b: a room that is lost takes the lock with it, and no failover of that room could start. Keep the lock "
        "on the witness (leave twinroom_operation_lock_host unset) or on the controller (localhost)."]


def test_operation_lock_host_outside_the_inventory_is_refused():
    case = _failover_case(twinroom_operation_lock_host='ops9')
    case['groups']['all'] = sorted(case['hostvars'])
    assert _lock_messages(case) == [
        "Inventory rule 'operation-lock' failed for all room nodes: twinroom_operation_lock_host is ops9, which is not "
        "a host of this inventory: failover.yml and recover.yml take the lock there through its connection. Add it to "
        "the inventory (a host outside both rooms), or use localhost."]


def test_operation_lock_settings_must_agree_and_lease_must_be_long_enough():
    case = _with_witness(_failover_case(twinroom_operation_lock_lease_seconds=30))
    assert _lock_messages(case) == [
        "Inventory rule 'operation-lock' failed for all room nodes: twinroom_operation_lock_lease_seconds differs "
        "between hosts (30: a-cp1, a-w1, a-w2, b-cp1, b-w1, b-w2; unset: w1): every run must renew the lock it takes "
        "on the same lease. Set it once, in group_vars/all, and remove the other values."]
    case['hostvars']['w1']['twinroom_operation_lock_lease_seconds'] = 30
    assert _lock_messages(case) == [
        "Inventory rule 'operation-lock' failed for all room nodes: twinroom_operation_lock_lease_seconds is 30; it "
        "must be a whole number of seconds, at least 60: the lock is held that long after its run last renewed it "
        "(default 300)."]
