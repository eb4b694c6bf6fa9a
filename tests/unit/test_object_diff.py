"""What counts as a change of a Kubernetes object (module_utils/object_diff.py)."""
import pytest

from ansible_collections.twinroom.ha.plugins.module_utils import object_diff


def test_clean_drops_status_and_bookkeeping_and_copies():
    obj = {'metadata': {'name': 'a', 'resourceVersion': '7', 'generation': 2, 'managedFields': [], 'uid': 'u',
                        'creationTimestamp': 't', 'labels': {'x': 'y'}},
           'spec': {'k': 1}, 'status': {'ready': True}}
    assert object_diff.clean(obj) == {'metadata': {'name': 'a', 'labels': {'x': 'y'}}, 'spec': {'k': 1}}
    assert obj['status'] == {'ready': True}, 'the object read is left as it is'
    assert object_diff.clean(None) == {}


@pytest.mark.parametrize('before, after, diff', [
    ({'a': 1}, {'a': 1}, None),
    ({'a': 1}, {'a': 2}, ({'a': 1}, {'a': 2})),
    ({'a': {'b': 1, 'c': 2}}, {'a': {'b': 1, 'c': 3}}, ({'a': {'c': 2}}, {'a': {'c': 3}})),
    ({'a': 1}, {'b': 2}, ({'a': 1}, {'b': 2})),
    ({'a': [1, 2]}, {'a': [1]}, ({'a': [1, 2]}, {'a': [1]})),
], ids=['equal', 'changed value', 'nested by key', 'key removed and added', 'lists whole'])
def test_recursive_diff(before, after, diff):
    assert object_diff.recursive_diff(before, after) == diff


def test_compare_ignores_bookkeeping():
    before = {'metadata': {'name': 'a', 'resourceVersion': '1'}, 'spec': {'k': 1}}
    assert object_diff.compare(before, dict(before, status={'x': 1}, metadata={'name': 'a', 'resourceVersion': '2'})) \
        == (False, {'before': {}, 'after': {}})
    assert object_diff.compare(before, dict(before, spec={'k': 2})) == (True, {'before': {'spec': {'k': 1}},
                                                                               'after': {'spec': {'k': 2}}})
