"""The inventory as the rules see it (module_utils/inventory_model.py): values, grouping, naming the hosts."""
import pytest

from ansible_collections.twinroom.ha.plugins.module_utils import inventory_model as model

HOSTVARS = {'a1': {'twinroom_zone': 'room-a'}, 'a2': {'twinroom_zone': 'room-a'}, 'b1': {'twinroom_zone': ' '},
            'b2': {'twinroom_zone': model.Unreadable('undefined')}, 'b3': {'twinroom_zone': 'room-b'}}


@pytest.mark.parametrize('host, value', [('a1', 'room-a'), ('b1', None), ('x', None),
                                         ('b2', model.Unreadable('undefined'))])
def test_value_unset_is_none(host, value):
    assert model.value(HOSTVARS, host, 'twinroom_zone') == value


def test_by_value_leaves_out_unset_and_unreadable_in_order():
    assert model.by_value(['b3', 'a1', 'b1', 'b2', 'a2'], HOSTVARS, 'twinroom_zone') == [
        ('room-b', ['b3']), ('room-a', ['a1', 'a2'])]


def test_group_hosts_by_key():
    assert model.group_hosts(['a1', 'b1', 'a2', 'c1'], lambda host: host[0] if host != 'c1' else None) == [
        ('a', ['a1', 'a2']), ('b', ['b1'])]


@pytest.mark.parametrize('hosts, room_nodes, subject', [
    (['a1'], ['a1', 'b1'], 'a1'),
    (['a1', 'b1'], ['a1', 'b1'], model.ALL_ROOM_NODES),
    (['a1', 'a2'], ['a1', 'a2', 'b1'], 'a1, a2'),
], ids=['one host', 'every room node', 'some'])
def test_subject(hosts, room_nodes, subject):
    assert model.subject(hosts, room_nodes) == subject
