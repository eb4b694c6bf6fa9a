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


def deployment(**diff):
    return dict({'changed': True, 'result': {'kind': 'Deployment', 'metadata': {'name': 'coredns'}}}, **diff)


def test_a_status_update_between_read_and_write_is_no_change_of_ours():
    """recover.yml moved a CoreDNS replica; site.yml's apply then found the Deployment's status and resourceVersion
    moving on: kubernetes.core.k8s said changed."""
    racing = deployment(diff={'before': {'metadata': {'resourceVersion': '41', 'managedFields': [{'time': '1'}]},
                                         'status': {'readyReplicas': 1}},
                              'after': {'metadata': {'resourceVersion': '43', 'managedFields': [{'time': '2'}]},
                                        'status': {'readyReplicas': 2}}})
    assert object_diff.written_changes([racing]) == []


def test_a_spec_or_label_change_counts():
    spec = deployment(diff={'before': {'spec': {'replicas': 2}, 'metadata': {'resourceVersion': '1'}},
                            'after': {'spec': {'replicas': 3}, 'metadata': {'resourceVersion': '2'}}})
    label = deployment(diff={'before': {'metadata': {'labels': {'a': '1'}}}, 'after': {'metadata': {'labels': {}}}})
    created = deployment(diff={'before': {}, 'after': {'metadata': {'name': 'coredns'}, 'spec': {'replicas': 2}}})
    assert object_diff.written_changes([spec, label, created]) == ['Deployment/coredns'] * 3


def test_unchanged_or_diffless_results():
    unchanged = deployment(changed=False, diff={'before': {'spec': 1}, 'after': {'spec': 2}})
    diffless = deployment()
    assert object_diff.written_changes(unchanged) == []
    assert object_diff.written_changes(diffless) == ['Deployment/coredns'], 'without a diff the module has the word'
    assert object_diff.written_changes(None) == []


def owner(fields, time='t'):
    return {'metadata': {'managedFields': [{'manager': 'twinroom.ha.cluster_dns', 'operation': 'Apply', 'time': time,
                                            'fieldsV1': fields}], 'resourceVersion': time}}


def test_a_server_side_apply_that_took_fields_counts_though_its_diff_shows_metadata_only():
    """Seen on the lab: the kube-dns Service's UDP port put back by a server-side apply; kubernetes.core's diff held
    only managedFields and resourceVersion."""
    udp = '"k:{\\"port\\":53,\\"protocol\\":\\"UDP\\"}"'
    restored = deployment(diff={'before': owner({'f:spec': {'f:ports': {}}}, '1'),
                                'after': owner({'f:spec': {'f:ports': {udp: {}}}}, '2')})
    assert object_diff.written_changes([restored], 'twinroom.ha.cluster_dns') == ['Deployment/coredns']
    assert object_diff.written_changes([restored]) == [], 'without the manager only the cleaned objects are compared'


def test_a_status_update_leaves_the_managers_fields_alone():
    racing = deployment(diff={'before': dict(owner({'f:spec': {}}, '1'), status={'readyReplicas': 1}),
                              'after': dict(owner({'f:spec': {}}, '1'), status={'readyReplicas': 2})})
    assert object_diff.written_changes([racing], 'twinroom.ha.cluster_dns') == []
