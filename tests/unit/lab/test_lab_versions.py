# -*- coding: utf-8 -*-
"""The lab builds each component at the version lab/versions.env names, and the roles install the release their
defaults name: the two must be the same release, or the lab tests one version and a real site gets another."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


def versions_env():
    pairs = (line.split('=', 1) for line in (REPO / 'lab' / 'versions.env').read_text().splitlines()
             if re.match(r'^[A-Z_]+=', line))
    return dict(pairs)


def role_defaults(role):
    return yaml.safe_load((REPO / 'roles' / role / 'defaults' / 'main.yml').read_text())


def lab_group_vars():
    return yaml.safe_load((REPO / 'inventories' / 'lab' / 'group_vars' / 'all.yml').read_text())


def build_script_default(script, name):
    match = re.search(r'^%s=\$\{%s:-([^}]+)\}$' % (name, name), (REPO / script).read_text(), re.M)
    assert match, '%s sets no default for %s' % (script, name)
    return match.group(1)


@pytest.mark.parametrize('built, installed, where', [
    (lambda: versions_env()['KUBEVIRT_VERSION'], lambda: role_defaults('kubevirt')['kubevirt_version'],
     'KUBEVIRT_VERSION / kubevirt_version'),
    (lambda: build_script_default('lab/build/kubevirt/build.sh', 'CDI_VERSION'),
     lambda: role_defaults('kubevirt')['kubevirt_cdi_version'], 'CDI_VERSION / kubevirt_cdi_version'),
    (lambda: versions_env()['COREDNS_VERSION'], lambda: role_defaults('cluster_dns')['cluster_dns_version'],
     'COREDNS_VERSION / cluster_dns_version'),
    (lambda: versions_env()['PIRAEUS_VERSION'], lambda: lab_group_vars()['storage_layer_piraeus_version'],
     'PIRAEUS_VERSION / storage_layer_piraeus_version (inventories/lab)'),
])
def test_the_lab_builds_the_release_the_role_installs(built, installed, where):
    assert (where, built()) == (where, installed())


def test_the_kubevirt_version_is_a_release_tag():
    assert re.fullmatch(r'v\d+\.\d+\.\d+', versions_env()['KUBEVIRT_VERSION'])


@pytest.mark.parametrize('variable, directory', [
    ('twinroom_lab_kubevirt', lambda v: 'image/kubevirt-%s-%s' % (v['KUBEVIRT_VERSION'], v['KUBEVIRT_IMAGES_REVISION'])),
    ('twinroom_lab_guest', lambda v: 'guest-%s-%s' % (v['GUEST_KERNEL_ABI'], v['GUEST_REVISION'])),
    ('twinroom_lab_coredns', lambda v: 'image/coredns-%s' % v['COREDNS_VERSION']),
])
def test_the_lab_inventory_imports_what_the_lab_builds(variable, directory):
    """The lab inventory names each build's cache directory by the versions it is built at (lab/versions.env)."""
    value = lab_group_vars()[variable]
    assert value.endswith('}}/' + directory(versions_env())), (variable, value)


def test_the_lab_mirror_serves_the_kubevirt_release_the_role_installs():
    group_vars, version = lab_group_vars(), role_defaults('kubevirt')['kubevirt_version']
    assert group_vars['kubevirt_manifest_base_url'] == 'file://{{ twinroom_lab_kubevirt }}/mirror'
    assert group_vars['kubevirt_operator_checksum'] == (
        'sha256:file://{{ twinroom_lab_kubevirt }}/mirror/kubevirt/%s/kubevirt-operator.yaml.sha256' % version)
