"""The lab's script inventory: the collection's groups, the lab's hosts and addresses, clear errors."""
import io
import json

from twinroom_lab import inventory


def test_the_default_lab_has_two_rooms_of_three_nodes_in_the_collections_groups():
    inv = inventory.build({"TWINROOM_LAB_STATE": "/srv/lab"})
    assert inv["room_a"]["hosts"] == ["a-cp1", "a-w1", "a-w2"]
    assert inv["control_plane"]["hosts"] == ["a-cp1", "b-cp1"]
    assert inv["witness"]["hosts"] == []
    a_w1 = inv["_meta"]["hostvars"]["a-w1"]
    assert (a_w1["ansible_host"], a_w1["twinroom_node_address"], a_w1["twinroom_room_address"]) == \
        ("10.77.1.11", "10.77.0.111", "10.77.1.11")
    assert a_w1["ansible_ssh_private_key_file"] == "/srv/lab/ssh/id_ed25519"
    assert a_w1["twinroom_bmc_systems_uri"].startswith("/redfish/v1/Systems/")
    assert inv["all"]["vars"]["twinroom_witness_enabled"] is False


def test_size_and_witness_come_from_the_environment():
    inv = inventory.build({"TWINROOM_LAB_WORKERS_PER_ROOM": "1", "TWINROOM_LAB_WITNESS": "true"})
    assert inv["room_b"]["hosts"] == ["b-cp1", "b-w1"]
    assert inv["witness"]["hosts"] == ["witness1"]
    assert "twinroom-witness-a" in inv["all"]["vars"]["twinroom_lab_network_subnets"]


def test_bad_environment_is_refused_with_the_variable_named(capsys):
    out = io.StringIO()
    assert inventory.main(["--list"], {"TWINROOM_LAB_WITNESS": "maybe"}, out) == 2
    assert capsys.readouterr().err.strip() == \
        "twinroom lab inventory: TWINROOM_LAB_WITNESS must be true or false, got 'maybe'"
    assert inventory.main(["--list"], {"TWINROOM_LAB_WORKERS_PER_ROOM": "99"}, out) == 2
    assert capsys.readouterr().err.strip() == \
        "twinroom lab inventory: workers_per_room must be between 0 and 20, got 99"
    assert out.getvalue() == ""


def test_host_answers_nothing_more_than_list():
    out = io.StringIO()
    assert inventory.main(["--host", "a-w1"], {}, out) == 0
    assert json.loads(out.getvalue()) == {}
