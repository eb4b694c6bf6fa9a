import json

import pytest

from twinroom_lab import LabError, cli, disaster, topology


@pytest.fixture
def topo(topology_data):
    return topology.parse(topology_data)


def listing(*names):
    return dict((name, {"state": "running", "networks": []}) for name in names)


def test_plan_link_cut_only_touches_nodes_not_cut_yet(topo):
    plan = disaster.plan_link(topo.room_nodes("room_a"), listing("twinroom-a-cp1", "twinroom-a-w1"),
                              cut=["a-w1"], connect=False)
    assert [(n.name, action) for n, action in plan] == [("a-cp1", "cut"), ("a-w1", None)]


def test_plan_link_restore_only_touches_cut_nodes(topo):
    plan = disaster.plan_link(topo.room_nodes("room_a"), listing("twinroom-a-cp1", "twinroom-a-w1"),
                              cut=["a-w1"], connect=True)
    assert [(n.name, action) for n, action in plan] == [("a-cp1", None), ("a-w1", "restore")]


def test_plan_link_cut_names_missing_containers(topo):
    with pytest.raises(LabError) as err:
        disaster.plan_link(topo.room_nodes("room_b"), listing(), cut=[], connect=False)
    assert str(err.value) == ("no such container(s): twinroom-b-cp1, twinroom-b-w1: is the lab up? "
                              "(make lab)")


def test_plan_link_restore_needs_no_container(topo):
    """lab_down undoes a cut while the nodes may already be gone: the filter is the host's."""
    plan = disaster.plan_link(topo.room_nodes("room_b"), listing(), cut=["b-w1"], connect=True)
    assert [(n.name, action) for n, action in plan] == [("b-cp1", None), ("b-w1", "restore")]


def test_format_table():
    assert disaster.format_table(("NODE", "BMC"), [("a-cp1", "up, On"), ("witness1", "-")]) == (
        "NODE      BMC\n"
        "a-cp1     up, On\n"
        "witness1  -")


@pytest.fixture
def state_dir(tmp_path, topology_data):
    (tmp_path / "topology.json").write_text(json.dumps(topology_data))
    return str(tmp_path)


@pytest.mark.parametrize("argv", [
    ["power-off-room", "c", "--bmc", "dark"],
    ["power-on-room", "c"],
    ["cut-link", "c"],
    ["restore-link", "c"],
])
def test_cli_unknown_room_exits_2_naming_valid_rooms(state_dir, capsys, argv):
    assert cli.main(["--state-dir", state_dir] + argv) == 2
    assert capsys.readouterr().err == (
        "twinroom-lab: error: unknown room 'c': valid rooms are room_a, room_b (or a, b)\n")


def test_cli_power_off_needs_an_explicit_bmc_mode(state_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--state-dir", state_dir, "power-off-room", "a"])
    assert exit_.value.code == 2
    assert "the following arguments are required: --bmc" in capsys.readouterr().err


def test_cli_missing_topology_exits_1(tmp_path, capsys):
    assert cli.main(["status", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("twinroom-lab: failed: %s/topology.json not found" % tmp_path)


def test_cli_bad_bridge_port_from_environment(state_dir, capsys, monkeypatch):
    monkeypatch.setenv("TWINROOM_LAB_BRIDGE_PORT", "84OO")
    assert cli.main(["--state-dir", state_dir, "status"]) == 2
    assert capsys.readouterr().err == (
        "twinroom-lab: error: TWINROOM_LAB_BRIDGE_PORT must be a port number 1-65535, got '84OO'\n")
