import pytest

from twinroom_lab import UsageError, topology
from twinroom_lab.topology import TopologyError


def test_parse_default_lab(topology_data):
    topo = topology.parse(topology_data)
    assert topo.link_network == "twinroom-link"
    assert topo.rooms == ["room_a", "room_b"]
    assert [n.name for n in topo.room_nodes("room_a")] == ["a-cp1", "a-w1"]
    assert [n.name for n in topo.room_nodes()] == ["a-cp1", "a-w1", "b-cp1", "b-w1"]
    assert [n.name for n in topo.bmc_nodes] == ["a-cp1", "a-w1", "b-cp1", "b-w1"]
    witness = topo.nodes[-1]
    assert witness.is_witness and witness.bmc is None and topo.link_ip(witness) is None
    a = topo.nodes[0]
    assert topo.link_ip(a) == "10.77.0.110"
    assert a.bmc.url == "https://127.77.1.10:8443"
    assert a.bmc.systems_uri == "/redfish/v1/Systems/f5765943-94aa-59cd-97fc-916ad94b2749"


def test_password_never_in_repr(topology_data):
    topo = topology.parse(topology_data)
    assert "fixture-password" not in repr(topo)


@pytest.mark.parametrize("text, room", [("room_a", "room_a"), ("a", "room_a"), ("b", "room_b")])
def test_resolve_room(topology_data, text, room):
    assert topology.parse(topology_data).resolve_room(text) == room


@pytest.mark.parametrize("text", ["c", "witness", "room_c", "A", ""])
def test_resolve_unknown_room_names_the_valid_ones(topology_data, text):
    with pytest.raises(UsageError) as err:
        topology.parse(topology_data).resolve_room(text)
    assert str(err.value) == "unknown room '%s': valid rooms are room_a, room_b (or a, b)" % text


def _set(path, value):
    """Edit the fixture at a path like 'nodes.0.bmc.port'; value DELETE removes the key."""
    def edit(data):
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        key = int(last) if isinstance(target, list) else last
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
        return data
    return edit


DELETE = object()
N0 = "topology.json: nodes[0] (a-cp1)"


@pytest.mark.parametrize("edit, message", [
    (lambda d: [], "topology.json: expected a JSON object with 'link_network' and 'nodes'"),
    (_set("link_network", ""), "topology.json: 'link_network' must be a non-empty string"),
    (_set("nodes", []), "topology.json: 'nodes' must be a non-empty list"),
    (_set("nodes.1", "a-w1"), "topology.json: nodes[1] must be an object"),
    (_set("nodes.0.name", DELETE), "topology.json: nodes[0]: 'name' must be a non-empty string"),
    (_set("nodes.0.container", 7), "topology.json: nodes[0]: 'container' must be a non-empty string"),
    (_set("nodes.0.networks", {"twinroom-link": "10.77.0.300"}),
     N0 + ": 'networks' must map network names to IPv4 addresses"),
    (_set("nodes.0.networks", {"twinroom-room-a": "10.77.1.10"}),
     N0 + ": room node has no address on the link network 'twinroom-link' in 'networks'"),
    (_set("nodes.0.bmc", None), N0 + ": room node needs a 'bmc' object: the drills power rooms through their BMCs"),
    (_set("nodes.0.bmc", "127.77.1.10"), N0 + ": bmc must be an object or null"),
    (_set("nodes.0.bmc.address", "10.0.2.11"),
     N0 + ": bmc: 'address' must be a loopback IPv4 address (127.0.0.0/8), got '10.0.2.11': "
          "the lab's BMC emulators listen on loopback only"),
    (_set("nodes.0.bmc.port", 0), N0 + ": bmc: 'port' must be an integer 1-65535, got 0"),
    (_set("nodes.0.bmc.port", True), N0 + ": bmc: 'port' must be an integer 1-65535, got True"),
    (_set("nodes.0.bmc.port", DELETE), N0 + ": bmc: 'port' must be an integer 1-65535, got None"),
    (_set("nodes.0.bmc.system_id", "System.Embedded.1"),
     N0 + ": bmc: 'system_id' must be a UUID, got 'System.Embedded.1'"),
    (_set("nodes.0.bmc.username", "ad:min"), N0 + ": bmc: 'username' must not contain ':'"),
    (_set("nodes.0.bmc.password", ""), N0 + ": bmc: 'password' must be a non-empty string"),
    (_set("nodes.1.name", "a-cp1"), "topology.json: node name 'a-cp1' appears more than once"),
    (_set("nodes.1.container", "twinroom-a-cp1"), "topology.json: container 'twinroom-a-cp1' appears more than once"),
    (_set("nodes.1.bmc.address", "127.77.1.10"),
     "topology.json: BMC endpoint '127.77.1.10:8443' appears more than once"),
    (_set("nodes.1.bmc.system_id", "f5765943-94aa-59cd-97fc-916ad94b2749"),
     "topology.json: BMC system_id 'f5765943-94aa-59cd-97fc-916ad94b2749' appears more than once"),
])
def test_invalid_topology_names_the_field(topology_data, edit, message):
    with pytest.raises(TopologyError) as err:
        topology.parse(edit(topology_data))
    assert str(err.value) == message


def test_only_witnesses_is_an_error(topology_data):
    data = {"link_network": "twinroom-link", "nodes": [topology_data["nodes"][-1]]}
    with pytest.raises(TopologyError) as err:
        topology.parse(data)
    assert str(err.value) == "topology.json: no room nodes: every node has room 'witness'"


def test_wrong_password_value_is_never_echoed(topology_data):
    topology_data["nodes"][0]["bmc"]["password"] = ["fixture-secret"]
    with pytest.raises(TopologyError) as err:
        topology.parse(topology_data)
    assert "fixture-secret" not in str(err.value)


def test_port_given_as_digits_is_accepted(topology_data):
    topology_data["nodes"][0]["bmc"]["port"] = "8443"
    assert topology.parse(topology_data).nodes[0].bmc.port == 8443


def test_load_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(TopologyError) as err:
        topology.load(str(tmp_path))
    assert str(err.value) == (
        "%s/topology.json not found: bring the lab up first (make lab), "
        "or set TWINROOM_LAB_STATE to the lab's state directory" % tmp_path)


def test_load_invalid_json(tmp_path):
    (tmp_path / "topology.json").write_text("{nodes:")
    with pytest.raises(TopologyError, match=r"topology.json is not valid JSON: Expecting property name"):
        topology.load(str(tmp_path))


def test_load_uses_state_dir_from_environment(tmp_path, monkeypatch, topology_data):
    import json
    (tmp_path / "topology.json").write_text(json.dumps(topology_data))
    monkeypatch.setenv("TWINROOM_LAB_STATE", str(tmp_path))
    assert topology.load().source == str(tmp_path / "topology.json")
