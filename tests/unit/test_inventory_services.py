# -*- coding: utf-8 -*-
"""The cluster DNS address: inside the API servers' Service range, and where cluster_dns puts CoreDNS."""

from __future__ import annotations

import os
import sys

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import inventory_services
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import inventory_services

from ansible_collections.twinroom.ha.plugins.module_utils.inventory_model import Unreadable

GROUPS = {'room_a': ['a-cp1', 'a-w1', 'a-w2'], 'room_b': ['b-cp1', 'b-w1'], 'control_plane': ['a-cp1', 'b-cp1'],
          'workers': ['a-w1', 'a-w2', 'b-w1']}
DEFAULTS = {'control_plane_service_cidr': '10.96.0.0/16', 'node_agent_cluster_dns': '10.96.0.10'}
PREFIX = "Inventory rule 'cluster-dns' failed for "


def messages(hostvars=None, controller=None):
    hostvars = dict((host, {}) for group in GROUPS.values() for host in group) if hostvars is None else hostvars
    return [v.message for v in inventory_services.check_cluster_dns(GROUPS, hostvars, controller, dict(DEFAULTS))]


def everywhere(**values):
    return dict((host, dict(values)) for group in GROUPS.values() for host in group)


def test_the_defaults_agree():
    assert messages(controller={}) == []


def test_a_dns_address_outside_the_service_range_is_refused():
    # group_vars/all sets it for the controller too.
    assert messages(everywhere(node_agent_cluster_dns='10.97.0.10'), controller={'node_agent_cluster_dns': '10.97.0.10'}) == [
        PREFIX + "all room nodes: node_agent_cluster_dns is 10.97.0.10, outside control_plane_service_cidr 10.96.0.0/16: "
        "no Service can have that address, so pods would ask a DNS that never answers. Set it in group_vars/all to an "
        "address of the Service range other than its first two (default 10.96.0.10 in 10.96.0.0/16).",
    ]


def test_the_kubernetes_service_address_and_garbage_are_refused():
    hostvars = everywhere()
    hostvars['a-w1'] = {'node_agent_cluster_dns': '10.96.0.1'}
    hostvars['b-w1'] = {'node_agent_cluster_dns': 'dns.example'}
    assert messages(hostvars) == [
        PREFIX + "a-w1: node_agent_cluster_dns is 10.96.0.1, which is the kubernetes Service's address of "
        "control_plane_service_cidr 10.96.0.0/16. Set it in group_vars/all to an address of the Service range other "
        "than its first two (default 10.96.0.10 in 10.96.0.0/16).",
        PREFIX + "b-w1: node_agent_cluster_dns is 'dns.example', which is not an IP address. Set it in group_vars/all "
        "to an address of the Service range other than its first two (default 10.96.0.10 in 10.96.0.0/16).",
    ]


def test_a_kwok_node_gives_no_pod_a_dns():
    hostvars = everywhere()
    hostvars['a-w2'] = {'node_agent_kind': 'kwok', 'node_agent_cluster_dns': '10.97.0.10'}
    assert messages(hostvars, controller={}) == []


def test_coredns_must_sit_where_the_kubelets_point():
    assert messages(everywhere(node_agent_cluster_dns='10.96.0.53'), controller={}) == [
        "Inventory rule 'cluster-dns' failed for localhost: cluster_dns_ip is 10.96.0.10 on the controller, where "
        "cluster_dns puts CoreDNS, but the kubelets of all room nodes give their pods node_agent_cluster_dns "
        "10.96.0.53, where no DNS would answer. Set node_agent_cluster_dns once in group_vars/all (cluster_dns_ip "
        "follows it) and leave cluster_dns_ip unset.",
    ]
    # group_vars/all reaches the controller too: cluster_dns_ip follows it.
    assert messages(everywhere(node_agent_cluster_dns='10.96.0.53'),
                    controller={'node_agent_cluster_dns': '10.96.0.53'}) == []


def test_a_bad_service_range_is_named_and_unreadable_values_are_left_to_their_own_rule():
    hostvars = everywhere()
    hostvars['a-cp1'] = {'control_plane_service_cidr': '10.96.0.1/16'}
    hostvars['b-cp1'] = {'node_agent_cluster_dns': Unreadable("'x' is undefined")}
    assert messages(hostvars, controller={'cluster_dns_ip': Unreadable("'y' is undefined")}) == [
        "Inventory rule 'service-cidr' failed for a-cp1: control_plane_service_cidr is '10.96.0.1/16', which is not a "
        "network such as 10.96.0.0/16 (host bits zero). Correct it in group_vars/all.",
    ]
