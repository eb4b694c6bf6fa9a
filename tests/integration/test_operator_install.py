# -*- coding: utf-8 -*-
"""The operators' install path of storage_layer and kubevirt (production mode) against a real kube-apiserver (the
``api`` fixture): each manifest is fetched to the controller with its checksum enforced, then applied server-side
from that copy.

The manifests are small stand-ins served from file:// (a Namespace, a ServiceAccount, a Deployment each): what is
under test is fetch, verify and apply, not the operators. Nothing runs their pods here (the API server has no
nodes), so the wait for the Deployments is off. Namespaces start with ``ot-`` so they do not meet other tests'
objects on the shared API server.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys

import pytest

from playbook import output, play_recap, run_playbook

pytestmark = pytest.mark.apiserver

INVENTORY = 'tests/integration/fixtures/operators/inventory.yml'
PIRAEUS = 'tests/integration/fixtures/operators/piraeus_operator.yml'
KUBEVIRT = 'tests/integration/fixtures/operators/kubevirt_operators.yml'


def operator_manifest(namespace, name):
    """A stand-in operator manifest: its namespace, service account and Deployment."""
    return '\n'.join([
        '---',
        'apiVersion: v1',
        'kind: Namespace',
        'metadata: {name: %s}' % namespace,
        '---',
        'apiVersion: v1',
        'kind: ServiceAccount',
        'metadata: {name: %s, namespace: %s}' % (name, namespace),
        '---',
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: %s, namespace: %s}' % (name, namespace),
        'spec:',
        '  replicas: 1',
        '  selector: {matchLabels: {app: %s}}' % name,
        '  template:',
        '    metadata: {labels: {app: %s}}' % name,
        '    spec:',
        '      serviceAccountName: %s' % name,
        '      containers:',
        '        - {name: manager, image: "registry.invalid/%s:v0"}' % name,
        ''])


def serve(directory, filename, text):
    """Write a manifest; return its file:// URL and sha256 digest."""
    path = directory / filename
    path.write_text(text)
    return path.as_uri(), hashlib.sha256(text.encode()).hexdigest()


def get(api, kind, name, namespace=None):
    args = ['get', kind, name, '-o', 'json', '--show-managed-fields'] + (['-n', namespace] if namespace else [])
    result = api.kubectl(*args, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def words(text):
    return ' '.join(text.split())


def assert_settles(playbook, extra):
    """A later run changes nothing. The test's kube-apiserver (the lab's build) stores core/v1 objects created by a
    server-side apply without managedFields (kubectl apply --server-side does the same there), so the next apply takes
    the Namespace over ('before-first-apply') and reports that one change; every run after it changes nothing."""
    result = run_playbook(playbook, INVENTORY, extra)
    assert result.returncode == 0, output(result)
    assert play_recap(output(result))['localhost']['changed'] <= 1
    result = run_playbook(playbook, INVENTORY, extra)
    assert result.returncode == 0, output(result)
    assert play_recap(output(result))['localhost']['changed'] == 0


def base_vars(api):
    return dict(kubeconfig=str(api.kubeconfig), ansible_python_interpreter=sys.executable)


def assert_check_mode_rehearses(playbook, extra):
    """With verified copies on the controller, check mode rehearses the apply (server-side dry run), fetches
    nothing and finds nothing to change."""
    result = run_playbook(playbook, INVENTORY, extra, check=True)
    text = output(result)
    assert result.returncode == 0, text
    assert 'check mode: would fetch' not in text
    assert play_recap(text)['localhost']['changed'] == 0


def test_piraeus_operator_check_mode_fetches_nothing_then_installs_then_unchanged(api, tmp_path):
    namespace = 'ot-piraeus-datastore'
    url, digest = serve(tmp_path, 'manifest.yaml', operator_manifest(namespace, 'piraeus-operator-controller-manager'))
    downloads = tmp_path / 'downloads'
    extra = dict(base_vars(api), storage_layer_piraeus_version='v0.0.1', storage_layer_piraeus_operator_url=url,
                 storage_layer_piraeus_operator_checksum='sha256:' + digest,
                 storage_layer_download_dir=str(downloads), storage_layer_piraeus_operator_namespace=namespace)
    copy = downloads / 'piraeus-operator-v0.0.1.yaml'

    result = run_playbook(PIRAEUS, INVENTORY, extra, check=True)
    text = output(result)
    assert result.returncode == 0, text
    assert ('check mode: would fetch %s to %s (checksum enforced) and apply it; the objects of the manifest are not '
            'rehearsed.' % (url, copy)) in words(text)
    assert not downloads.exists(), 'check mode fetched the manifest'
    assert get(api, 'namespace', namespace) is None

    result = run_playbook(PIRAEUS, INVENTORY, extra)
    text = output(result)
    assert result.returncode == 0, text
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert get(api, 'namespace', namespace) is not None
    assert get(api, 'serviceaccount', 'piraeus-operator-controller-manager', namespace) is not None
    deployment = get(api, 'deployment', 'piraeus-operator-controller-manager', namespace)
    assert deployment['spec']['template']['spec']['serviceAccountName'] == 'piraeus-operator-controller-manager'
    # Server-side apply, by the collection's field manager.
    assert 'twinroom.ha' in [entry['manager'] for entry in deployment['metadata']['managedFields']]

    assert_settles(PIRAEUS, extra)

    assert_check_mode_rehearses(PIRAEUS, extra)


def test_piraeus_operator_with_a_wrong_checksum_applies_nothing(api, tmp_path):
    namespace = 'ot-piraeus-wrong'
    url, digest = serve(tmp_path, 'manifest.yaml', operator_manifest(namespace, 'piraeus-operator-controller-manager'))
    wrong = hashlib.sha256(b'not the manifest you reviewed').hexdigest()
    downloads = tmp_path / 'downloads'
    extra = dict(base_vars(api), storage_layer_piraeus_version='v0.0.1', storage_layer_piraeus_operator_url=url,
                 storage_layer_piraeus_operator_checksum='sha256:' + wrong,
                 storage_layer_download_dir=str(downloads), storage_layer_piraeus_operator_namespace=namespace)

    result = run_playbook(PIRAEUS, INVENTORY, extra)
    text = output(result)
    assert result.returncode != 0, text
    # get_url's own refusal; only the path of its temporary file varies.
    assert re.search(r'The checksum for \S+ did not match %s; it was %s\.' % (wrong, digest), text), text
    assert play_recap(text)['localhost']['failed'] == 1
    assert 'TASK [twinroom.ha.storage_layer : Apply the Piraeus operator manifest' not in text
    assert not (downloads / 'piraeus-operator-v0.0.1.yaml').exists()
    assert get(api, 'namespace', namespace) is None


def test_piraeus_operator_without_a_checksum_is_refused(api, tmp_path):
    url, dummy = serve(tmp_path, 'manifest.yaml', operator_manifest('ot-piraeus-unpinned', 'manager'))
    extra = dict(base_vars(api), storage_layer_piraeus_operator_url=url, storage_layer_piraeus_operator_checksum='',
                 storage_layer_download_dir=str(tmp_path / 'downloads'),
                 storage_layer_piraeus_operator_namespace='ot-piraeus-unpinned')

    result = run_playbook(PIRAEUS, INVENTORY, extra)
    text = output(result)
    assert result.returncode != 0, text
    assert ("storage_layer: storage_layer_piraeus_operator_url is '%s' and storage_layer_piraeus_operator_checksum is "
            "'': set the URL to the operator's release manifest (https://, or file:// on the controller) and the "
            "checksum to sha256:<hex digest> of the manifest you reviewed (the release publishes no checksum file), "
            "or sha256:<URL of a checksum file>, so that no unverified manifest is applied. Nothing was applied."
            % url) in words(text)
    assert not (tmp_path / 'downloads').exists()
    assert get(api, 'namespace', 'ot-piraeus-unpinned') is None


def kubevirt_vars(api, tmp_path, prefix, cdi_checksum=None):
    manifests = {}
    for name, namespace in (('virt-operator', prefix + '-kubevirt'), ('cdi-operator', prefix + '-cdi')):
        manifests[name] = serve(tmp_path, name + '.yaml', operator_manifest(namespace, name))
    return dict(base_vars(api), kubevirt_version='v0.0.1', kubevirt_cdi_version='v0.0.2',
                kubevirt_namespace=prefix + '-kubevirt', kubevirt_cdi_namespace=prefix + '-cdi',
                kubevirt_operator_url=manifests['virt-operator'][0],
                kubevirt_operator_checksum='sha256:' + manifests['virt-operator'][1],
                kubevirt_cdi_operator_url=manifests['cdi-operator'][0],
                kubevirt_cdi_operator_checksum=cdi_checksum or 'sha256:' + manifests['cdi-operator'][1],
                kubevirt_download_dir=str(tmp_path / 'downloads')), manifests


def test_kubevirt_operators_check_mode_fetches_nothing_then_install_then_unchanged(api, tmp_path):
    extra, manifests = kubevirt_vars(api, tmp_path, 'ot')
    downloads = tmp_path / 'downloads'

    result = run_playbook(KUBEVIRT, INVENTORY, extra, check=True)
    text = output(result)
    assert result.returncode == 0, text
    for name, version, namespace in (('kubevirt-operator', 'v0.0.1', 'ot-kubevirt'),
                                     ('cdi-operator', 'v0.0.2', 'ot-cdi')):
        url = manifests['virt-operator' if name == 'kubevirt-operator' else name][0]
        assert ('check mode: would fetch %s to %s/%s-%s.yaml (checksum enforced) and apply it, in namespace %s; its '
                'objects are not rehearsed.' % (url, downloads, name, version, namespace)) in words(text)
    assert not downloads.exists(), 'check mode fetched a manifest'
    assert get(api, 'namespace', 'ot-kubevirt') is None

    result = run_playbook(KUBEVIRT, INVENTORY, extra)
    assert result.returncode == 0, output(result)
    assert hashlib.sha256((downloads / 'kubevirt-operator-v0.0.1.yaml').read_bytes()).hexdigest() == \
        manifests['virt-operator'][1]
    assert get(api, 'deployment', 'virt-operator', 'ot-kubevirt') is not None
    assert get(api, 'serviceaccount', 'cdi-operator', 'ot-cdi') is not None
    assert get(api, 'deployment', 'cdi-operator', 'ot-cdi') is not None

    assert_settles(KUBEVIRT, extra)

    assert_check_mode_rehearses(KUBEVIRT, extra)


def test_kubevirt_operators_with_a_wrong_checksum_apply_nothing(api, tmp_path):
    wrong = hashlib.sha256(b'not the manifest you reviewed').hexdigest()
    extra, manifests = kubevirt_vars(api, tmp_path, 'ot-wrong', cdi_checksum='sha256:' + wrong)

    result = run_playbook(KUBEVIRT, INVENTORY, extra)
    text = output(result)
    assert result.returncode != 0, text
    assert re.search(r'The checksum for \S+ did not match %s; it was %s\.' % (wrong, manifests['cdi-operator'][1]),
                     text), text
    assert 'TASK [twinroom.ha.kubevirt : Apply the operator manifests' not in text
    # virt-operator's manifest matched and was kept, but nothing is applied until every manifest is verified.
    assert not (tmp_path / 'downloads' / 'cdi-operator-v0.0.2.yaml').exists()
    assert get(api, 'namespace', 'ot-wrong-kubevirt') is None
    assert get(api, 'namespace', 'ot-wrong-cdi') is None
