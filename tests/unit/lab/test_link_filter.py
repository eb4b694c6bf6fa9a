"""The link cut's filter (lab/twinroom_lab/link_filter.py): its rules and how it reads them back."""
import pytest

from twinroom_lab import inventory, layout, link_filter, topology

LISTING = """Bridge table: filter

Bridge chain: TWINROOM-LINK, entries: 4, policy: RETURN
1 -s 02:77:0a:4d:00:6e --among-dst 2:77:a:4d:0:d2,2:77:a:4d:0:d3 -j DROP
2 -d 02:77:0a:4d:00:6e --among-src 2:77:a:4d:0:d2,2:77:a:4d:0:d3 -j DROP
3 -s 02:77:0a:4d:00:6f --among-dst 2:77:a:4d:0:d2,2:77:a:4d:0:d3 -j DROP
4 -d 02:77:0a:4d:00:6f --among-src 2:77:a:4d:0:d2,2:77:a:4d:0:d3 -j DROP
"""


@pytest.fixture
def topo(topology_data):
    return topology.parse(topology_data)


def test_link_mac_is_fixed_and_made_of_the_link_address():
    assert layout.link_mac("10.77.0.110") == "02:77:0a:4d:00:6e"
    assert layout.link_mac("10.77.0.211") == "02:77:0a:4d:00:d3"


def test_every_room_node_gets_its_link_mac_in_the_inventory_and_the_witness_none():
    hostvars = inventory.build({"TWINROOM_LAB_WITNESS": "true"})["_meta"]["hostvars"]
    assert hostvars["a-cp1"]["twinroom_lab_link_mac"] == "02:77:0a:4d:00:6e"
    assert hostvars["b-w2"]["twinroom_lab_link_mac"] == "02:77:0a:4d:00:d4"
    assert "twinroom_lab_link_mac" not in hostvars["witness1"]


def test_a_node_is_cut_from_the_other_room_only(topo):
    a_cp1 = topo.room_nodes("room_a")[0]
    assert link_filter.node_rules(topo, a_cp1) == [
        ["-s", "02:77:0a:4d:00:6e", "--among-dst", "02:77:0a:4d:00:d2,02:77:0a:4d:00:d3", "-j", "DROP"],
        ["-d", "02:77:0a:4d:00:6e", "--among-src", "02:77:0a:4d:00:d2,02:77:0a:4d:00:d3", "-j", "DROP"]]


def test_the_witness_has_no_link_mac(topo):
    witness = [node for node in topo.nodes if node.is_witness][0]
    assert topo.link_mac(witness) is None


def test_listing_is_read_back_with_macs_normalised(topo):
    rules = link_filter.parse(LISTING)
    assert rules[0] == (1, "02:77:0a:4d:00:6e", None)
    assert rules[1] == (2, None, "02:77:0a:4d:00:6e")
    assert link_filter.cut_nodes(topo, rules) == ["a-cp1", "a-w1"]


def test_nothing_is_cut_without_the_chain(topo):
    assert link_filter.cut_nodes(topo, link_filter.parse("")) == []


def test_a_restore_deletes_the_nodes_rules_last_first(topo):
    a_w1 = topo.room_nodes("room_a")[1]
    assert link_filter.rule_numbers(topo, a_w1, link_filter.parse(LISTING)) == [4, 3]
