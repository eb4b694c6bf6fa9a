# -*- coding: utf-8 -*-
"""playbooks/validate.yml against broken inventories: exact messages, and no node touched.

Each tests/integration/fixtures/inventories/<case>/ is the same lab-like inventory broken in one
way. Its nodes are podman containers that do not exist, so any task on a node would put that node in
PLAY RECAP as unreachable; test_nodes_show_in_recap_when_touched proves that this trap works.
Needs no lab: everything runs on the controller.
"""

from __future__ import annotations

import pytest

from playbook import REPO, output, play_recap, run_playbook

FIXTURES = 'tests/integration/fixtures'
INVENTORIES = FIXTURES + '/inventories'
VALIDATE = 'playbooks/validate.yml'
VALIDATE_THEN_TOUCH = FIXTURES + '/validate_then_touch_nodes.yml'
NODES = {'a-cp1', 'a-w1', 'a-w2', 'b-cp1', 'b-w1', 'b-w2'}

REQUIRE_NODE_ADDRESS = {'validate_inventory_required_vars': ['twinroom_node_address']}

KINE_PLACEHOLDER = (
    "Inventory rule 'binary-checksum' failed for control_plane: kine_datastore_kine_checksum is empty (a placeholder "
    "to fill in): nothing would verify the kine binary (kine_datastore_kine_url). Set it in group_vars/all to the "
    "checksum of the release binary you verified, sha256:<hex digest>, or to sha256:<URL of its checksum file>.")
MANIFEST_PLACEHOLDER = (
    "Inventory rule 'binary-checksum' failed for localhost: %s is empty (a placeholder to fill in): nothing would "
    "verify the %s operator manifest (%s). Set it in group_vars/all to the checksum of the manifest you verified, "
    "sha256:<hex digest>, or to sha256:<URL of its checksum file>. The role has no default for it: pin the sha256sum "
    "of the manifest you reviewed.")
BMC_UNREADABLE = (
    "Inventory rule 'bmc-credentials' failed for %(hosts)s: twinroom_bmc_%(what)s is set but cannot be used "
    "('vault_twinroom_bmc_%(what)s_%(room)s' is undefined): failover.yml, recover.yml and site.yml log in to each "
    "node's BMC with it. Give the run the vault that defines it (--ask-vault-pass or --vault-id; in AWX, a Vault "
    "credential or a twinroom BMC credential) or set it for %(hosts)s.")
# inventories/example as shipped: the checksums of kine and of the operator manifests are placeholders the operator
# fills in, and the BMC logins refer to the vault the operator creates from vault.yml.example. Nothing else.
EXAMPLE_REFUSALS = [
    BMC_UNREADABLE % dict(hosts='a-cp1, a-w1, a-w2', what='username', room='room_a'),
    BMC_UNREADABLE % dict(hosts='b-cp1, b-w1, b-w2', what='username', room='room_b'),
    BMC_UNREADABLE % dict(hosts='a-cp1, a-w1, a-w2', what='password', room='room_a'),
    BMC_UNREADABLE % dict(hosts='b-cp1, b-w1, b-w2', what='password', room='room_b'),
    KINE_PLACEHOLDER,
    MANIFEST_PLACEHOLDER % ('storage_layer_piraeus_operator_checksum', 'Piraeus', 'storage_layer_piraeus_operator_url'),
    MANIFEST_PLACEHOLDER % ('kubevirt_operator_checksum', 'KubeVirt', 'kubevirt_operator_url'),
    MANIFEST_PLACEHOLDER % ('kubevirt_cdi_operator_checksum', 'CDI', 'kubevirt_cdi_operator_url'),
]
# What the operator fills in (example digests: validation checks their form, get_url their value), and the vault's
# variables (vault.yml.example's names).
EXAMPLE_FILLED = dict((name, 'sha256:' + '0' * 64) for name in (
    'kine_datastore_kine_checksum', 'storage_layer_piraeus_operator_checksum', 'kubevirt_operator_checksum',
    'kubevirt_cdi_operator_checksum'))
EXAMPLE_FILLED.update(('vault_twinroom_bmc_%s_%s' % (what, room), 'fencer-%s' % room)
                      for what in ('username', 'password') for room in ('room_a', 'room_b'))

# case -> (extra vars, the one exact message)
BROKEN = {
    'room-not-empty': (
        None,
        "Inventory rule 'room-not-empty' failed for room_b: group room_b is not in the inventory. "
        "Add group room_b with every node of that room."),
    'room-not-empty-no-hosts': (
        None,
        "Inventory rule 'room-not-empty' failed for room_b: group room_b has no hosts. "
        "Add every node of that room to group room_b."),
    'one-control-plane-per-room': (
        None,
        "Inventory rule 'one-control-plane-per-room' failed for room_b: no host of room_b is in group "
        "control_plane. Put exactly one node of each room in control_plane."),
    'one-control-plane-per-room-two': (
        None,
        "Inventory rule 'one-control-plane-per-room' failed for room_a: 2 hosts of room_a are in group "
        "control_plane (a-cp1, a-w1). Keep exactly one node of each room in control_plane and move the "
        "others to workers."),
    'room-exclusive': (
        None,
        "Inventory rule 'room-exclusive' failed for a-w2: a-w2 is in both room_a and room_b. "
        "Remove it from the group of the room where it does not stand."),
    'node-in-room': (
        None,
        "Inventory rule 'node-in-room' failed for c-w1: c-w1 is in group workers but in neither room_a "
        "nor room_b. Add c-w1 to the group of the room where it stands."),
    'zone-per-room': (
        None,
        "Inventory rule 'zone-per-room' failed for room_b: twinroom_zone is not set for room_b. "
        "Set twinroom_zone once for the room in group_vars/room_b, e.g. twinroom_zone: room-b."),
    'zone-per-room-same': (
        None,
        "Inventory rule 'zone-per-room' failed for room_a, room_b: both rooms have twinroom_zone 'room-a'. "
        "Give each room its own value in group_vars/room_a and group_vars/room_b."),
    'zone-per-room-label': (
        None,
        "Inventory rule 'zone-per-room' failed for room_b: twinroom_zone 'Room B' is not a valid Kubernetes "
        "label value (at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or "
        "digit). Set a valid value in group_vars/room_b."),
    'fence-method': (
        None,
        "Inventory rule 'fence-method' failed for all room nodes: twinroom_fence_method is 'ilo'; it must be "
        "one of redfish, ipmi. Set it in group_vars/all."),
    'fence-method-none': (
        None,
        "Inventory rule 'fence-method' failed for all room nodes: twinroom_fence_method is 'none', which "
        "failover.yml cannot carry out: twinroom.ha.fence fences only through a BMC (redfish, ipmi), so a failover "
        "would stop at its fence step. Use redfish or ipmi with each node's BMC (twinroom_bmc_address); when a "
        "lost room's BMCs do not answer, failover.yml fences it on your typed confirmation that the room is dark "
        "(-e confirm_room_down=true). Set it in group_vars/all."),
    'bmc-address': (
        None,
        "Inventory rule 'bmc-address' failed for b-w2: twinroom_fence_method is redfish but "
        "twinroom_bmc_address is not set. Set twinroom_bmc_address for b-w2 (host_vars/b-w2 or its entry in "
        "hosts.yml)."),
    'bmc-systems-uri': (
        None,
        "Inventory rule 'bmc-systems-uri' failed for a-w1: twinroom_fence_method is redfish but "
        "twinroom_bmc_systems_uri is not set. Set it for a-w1 to the node's Redfish system path, e.g. "
        "/redfish/v1/Systems/1 (listed by GET /redfish/v1/Systems on its BMC)."),
    'bmc-unique': (
        None,
        "Inventory rule 'bmc-unique' failed for b-w1, b-w2: b-w1 and b-w2 have the same BMC system "
        "/redfish/v1/Systems/b-w1 on 127.77.2.11:8443 (redfish): fencing one would power off the other. Give each "
        "host the address of its own BMC in twinroom_bmc_address, or, when one BMC serves several nodes, its own "
        "system in twinroom_bmc_systems_uri."),
    'witness-enabled': (
        None,
        "Inventory rule 'witness-enabled' failed for all room nodes: twinroom_witness_enabled is 'maybe'; "
        "it must be true or false. Set it in group_vars/all."),
    'witness-present': (
        None,
        "Inventory rule 'witness-present' failed for witness: twinroom_witness_enabled is true but no host "
        "is in group witness. Add the third-site node to group witness, or set twinroom_witness_enabled: "
        "false in group_vars/all."),
    'witness-outside-rooms': (
        None,
        "Inventory rule 'witness-outside-rooms' failed for witness1: witness1 is in group witness and in "
        "room_a. The witness stands at a third site, outside both rooms: remove witness1 from room_a."),
    'required-variable': (
        REQUIRE_NODE_ADDRESS,
        "Inventory rule 'required-variable' failed for a-w1: twinroom_node_address is not set "
        "(validate_inventory_required_vars lists it). Set it for a-w1, in host_vars or the host entries "
        "in hosts.yml."),
    'variable-evaluates': (
        None,
        "Inventory rule 'variable-evaluates' failed for b-w1: twinroom_bmc_address cannot be evaluated: "
        "'twinroom_test_undefined_bmc_network' is undefined. Define what it refers to, or give it a plain "
        "value."),
    'stand-in-declared': (
        None,
        "Inventory rule 'stand-in-declared' failed for localhost: storage_layer_mode is 'lab', which selects the lab "
        "stand-in piraeus-without-operator: the Piraeus CRDs are installed without the operator, so nothing creates "
        "or replicates a disk. A real site uses storage_layer_mode: production, with the Piraeus operator installed. "
        "An inventory that means to run the stand-in declares it by listing piraeus-without-operator in "
        "twinroom_stand_ins, in group_vars/all."),
    'stand-ins-known': (
        None,
        "Inventory rule 'stand-ins-known' failed for all room nodes, localhost: twinroom_stand_ins lists 'kowk', "
        "which is no stand-in of this collection; the stand-ins are kwok, piraeus-without-operator. Correct or "
        "remove it in group_vars/all."),
    'binary-source': (
        None,
        "Inventory rule 'binary-source' failed for control_plane: control_plane_binary_url is empty: the "
        "control-plane binaries (kube-apiserver, kube-controller-manager, kube-scheduler) have no source. Set it in "
        "group_vars/all to the directory of the Kubernetes release (the upstream one, or your mirror), or remove it "
        "so that the role default (the upstream release) applies."),
    'binary-checksum': (
        None,
        KINE_PLACEHOLDER),
    'bmc-credentials': (
        None,
        "Inventory rule 'bmc-credentials' failed for b-cp1, b-w1, b-w2: twinroom_bmc_password is not set: failover.yml, "
        "recover.yml and site.yml log in to each node's BMC with twinroom_bmc_username and twinroom_bmc_password. Set "
        "them (with ansible-vault) in the group_vars of its room or host_vars of b-cp1, b-w1, b-w2."),
}

FAILURE = 'Inventory is not valid: 1 problem(s); nothing was changed.'


def assert_only_localhost_ran(text, failed):
    recap = play_recap(text)
    assert set(recap) == {'localhost'}, text
    assert recap['localhost']['failed'] == failed
    assert recap['localhost']['changed'] == 0
    assert 'UNREACHABLE' not in text


def test_every_fixture_inventory_has_a_case():
    cases = sorted(path.name for path in (REPO / INVENTORIES).iterdir() if path.is_dir())
    assert cases == sorted(list(BROKEN) + ['valid', 'witness-lock'])


@pytest.mark.parametrize('case', sorted(BROKEN))
def test_broken_inventory_fails_with_the_exact_message(case):
    extra_vars, message = BROKEN[case]
    result = run_playbook(VALIDATE, INVENTORIES + '/' + case, extra_vars=extra_vars)
    text = output(result)
    assert result.returncode != 0, text
    # The summary line, then the problem on a line of its own, exactly.
    lines = [line.strip() for line in text.splitlines()]
    assert FAILURE in lines, text
    assert '- ' + message in lines, text
    assert_only_localhost_ran(text, failed=1)


def test_broken_inventory_stops_the_run_before_any_node():
    result = run_playbook(VALIDATE_THEN_TOUCH, INVENTORIES + '/one-control-plane-per-room')
    text = output(result)
    assert result.returncode != 0, text
    assert "Inventory rule 'one-control-plane-per-room' failed for room_b" in text
    assert 'Touch every node' not in text
    assert_only_localhost_ran(text, failed=1)


def test_nodes_show_in_recap_when_touched():
    """The control experiment: once validation passes, the next play reaches for the absent nodes."""
    result = run_playbook(VALIDATE_THEN_TOUCH, INVENTORIES + '/valid')
    recap = play_recap(output(result))
    assert set(recap) == NODES | {'localhost'}
    assert all(recap[node]['unreachable'] + recap[node]['failed'] == 1 for node in NODES), recap
    assert recap['localhost']['failed'] == 0


@pytest.mark.parametrize('inventory', ['inventories/lab', INVENTORIES + '/valid', INVENTORIES + '/witness-lock'])
@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_valid_inventory_passes(inventory, check):
    result = run_playbook(VALIDATE, inventory, check=check)
    text = output(result)
    assert result.returncode == 0, text
    assert_only_localhost_ran(text, failed=0)


@pytest.mark.parametrize('check', [False, True], ids=['run', 'check'])
def test_example_inventory_is_refused_exactly_for_what_it_leaves_to_the_site(check):
    result = run_playbook(VALIDATE, 'inventories/example', check=check)
    text = output(result)
    assert result.returncode != 0, text
    lines = [line.strip() for line in text.splitlines()]
    # The message, as the result's msg shows it: the summary line, then one line per problem.
    first = lines.index('Inventory is not valid: %d problem(s); nothing was changed.' % len(EXAMPLE_REFUSALS))
    assert lines[first + 1:first + 1 + len(EXAMPLE_REFUSALS)] == ['- ' + message for message in EXAMPLE_REFUSALS], text
    assert_only_localhost_ran(text, failed=1)


def test_example_inventory_passes_once_filled_in():
    result = run_playbook(VALIDATE, 'inventories/example', extra_vars=EXAMPLE_FILLED)
    text = output(result)
    assert result.returncode == 0, text
    assert_only_localhost_ran(text, failed=0)


def test_check_mode_fails_the_same_way():
    extra_vars, message = BROKEN['bmc-address']
    result = run_playbook(VALIDATE, INVENTORIES + '/bmc-address', extra_vars=extra_vars, check=True)
    text = output(result)
    assert result.returncode != 0, text
    assert message in text
    assert_only_localhost_ran(text, failed=1)


def test_example_inventory_sets_every_node_address():
    result = run_playbook(VALIDATE, 'inventories/example', extra_vars=dict(EXAMPLE_FILLED, **REQUIRE_NODE_ADDRESS))
    assert result.returncode == 0, output(result)


def test_summary_names_rooms_and_fencing(monkeypatch):
    monkeypatch.setenv('ANSIBLE_VERBOSITY', '1')
    result = run_playbook(VALIDATE, 'inventories/example', extra_vars=EXAMPLE_FILLED)
    assert result.returncode == 0, output(result)
    # The callback may fold the long line; compare words.
    assert ('Inventory is valid: room_a (zone room-a): 3 node(s), control plane a-cp1; room_b (zone room-b): '
            '3 node(s), control plane b-cp1; fence method redfish; witness off.') in ' '.join(output(result).split())


def test_a_limit_without_the_controller_is_refused_before_anything_runs():
    """--limit room_b would skip validation and every controller play, run only node plays, and report success."""
    result = run_playbook(VALIDATE_THEN_TOUCH, INVENTORIES + '/valid', extra_args=['--limit', 'room_b'])
    text = output(result)
    assert result.returncode != 0, text
    assert ("--limit room_b leaves out localhost, the controller every play of the collection runs from: nothing "
            "would be validated or failed over. Add it (--limit 'room_b,localhost') or run without --limit. Nothing "
            "was changed.") in ' '.join(text.split()), text
    assert 'Touch every node' not in text
    recap = play_recap(text)
    assert all(counts['unreachable'] == 0 and counts['changed'] == 0 for counts in recap.values()), recap
