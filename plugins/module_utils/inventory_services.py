# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Service addresses of the twinroom inventory, as pure functions: the cluster DNS address the kubelets give
their pods (``node_agent_cluster_dns``) lies in the Service range of the API servers (``control_plane_service_cidr``)
and is the address where ``cluster_dns`` puts CoreDNS (``cluster_dns_ip``), so pods never ask an address where no
DNS answers.

:func:`check_cluster_dns` returns every :class:`~inventory_model.Violation`; nothing here reads files or talks to
hosts.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.twinroom.ha.plugins.module_utils import inventory_model as model
from ansible_collections.twinroom.ha.plugins.module_utils.inventory_model import CONTROLLER, Unreadable

SERVICE_CIDR = 'control_plane_service_cidr'
NODE_DNS = 'node_agent_cluster_dns'
CLUSTER_DNS_IP = 'cluster_dns_ip'
NODE_AGENT_KIND = 'node_agent_kind'
# The variables these rules read: on the room nodes, and on the controller (where cluster_dns runs).
VARIABLES = (SERVICE_CIDR, NODE_DNS, CLUSTER_DNS_IP, NODE_AGENT_KIND)
# role -> the variables whose plain role defaults the rules need. cluster_dns_ip's default is node_agent_cluster_dns
# as the controller sees it (roles/cluster_dns/defaults/main.yml).
ROLE_DEFAULTS = {'control_plane': (SERVICE_CIDR,), 'node_agent': (NODE_DNS,)}


def _setting(values, name, role_defaults):
    if name in values:
        return values[name]
    return role_defaults.get(name)


def _network(text):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=True)
    except ValueError:
        return None


def _address(text):
    try:
        return ipaddress.ip_address(str(text).strip())
    except ValueError:
        return None


def _dns_problem(dns, networks):
    """Why ``dns`` cannot be the cluster DNS address of Service ranges ``networks`` ({cidr text: network}), or None."""
    address = _address(dns)
    if address is None:
        return "is '%s', which is not an IP address" % (dns,)
    for text, network in networks.items():
        if address not in network:
            return ("is %s, outside control_plane_service_cidr %s: no Service can have that address, so pods would ask "
                    "a DNS that never answers" % (address, text))
        if address in (network.network_address, network.network_address + 1):
            return ("is %s, which is %s of control_plane_service_cidr %s" % (
                address, 'the network address' if address == network.network_address
                else "the kubernetes Service's address", text))
    return None


def check_cluster_dns(groups, hostvars, controller_vars=None, role_defaults=None):
    """``hostvars``: host -> the :data:`VARIABLES` it sets; ``controller_vars``: the same for the controller (None when
    unknown); ``role_defaults``: variable -> its plain role default (see :data:`ROLE_DEFAULTS`)."""
    layout = model.Layout(groups)
    role_defaults = role_defaults or {}
    values = dict((host, hostvars.get(host) or {}) for host in layout.room_nodes)
    networks = {}
    violations = []
    for host in layout.control_plane:
        cidr = _setting(hostvars.get(host) or {}, SERVICE_CIDR, role_defaults)
        if cidr is None or isinstance(cidr, Unreadable):
            continue
        network = _network(cidr)
        if network is None:
            violations.append(model.violation(
                'service-cidr', host, "control_plane_service_cidr is '%s', which is not a network such as "
                "10.96.0.0/16 (host bits zero). Correct it in group_vars/all." % (cidr,)))
            continue
        networks[str(network)] = network
    kubelets = [host for host in layout.room_nodes
                if _setting(values[host], NODE_AGENT_KIND, {NODE_AGENT_KIND: 'kubelet'}) == 'kubelet']

    def node_dns(host):
        dns = _setting(values[host], NODE_DNS, role_defaults)
        return None if dns is None or isinstance(dns, Unreadable) else str(dns).strip()

    def problem(host):
        dns = node_dns(host)
        return None if dns is None else _dns_problem(dns, networks)

    violations.extend(model.violation(
        'cluster-dns', model.subject(hosts, layout.room_nodes),
        'node_agent_cluster_dns %s. Set it in group_vars/all to an address of the Service range other than its first '
        'two (default 10.96.0.10 in 10.96.0.0/16).' % text)
        for text, hosts in model.group_hosts(kubelets, problem))
    if controller_vars is None:
        return violations
    given = controller_vars.get(CLUSTER_DNS_IP, controller_vars.get(NODE_DNS, role_defaults.get(NODE_DNS)))
    if given is None or isinstance(given, Unreadable):
        return violations
    served = str(given).strip()
    asked = model.group_hosts(kubelets, lambda host: node_dns(host) if node_dns(host) != served else None)
    text = ('cluster_dns_ip is %s on the controller, where cluster_dns puts CoreDNS, but the kubelets of %s give their '
            'pods node_agent_cluster_dns %s, where no DNS would answer. Set node_agent_cluster_dns once in '
            'group_vars/all (cluster_dns_ip follows it) and leave cluster_dns_ip unset.')
    for dns, hosts in asked:
        violations.append(model.violation('cluster-dns', CONTROLLER,
                                          text % (served, model.subject(hosts, layout.room_nodes), dns)))
    return violations
