# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MediK8s wiring for two rooms: the NodeHealthCheck and FenceAgentsRemediationTemplate objects, and the
BMC credential Secrets, from the inventory - pure functions, no I/O.

The value choices that matter:

* ``minHealthy`` is an absolute number. NodeHealthCheck rounds a percentage *up*; with one control-plane
  node per room, 51 % of two nodes is two, so the first failure already blocks every remediation. A
  percentage is refused, and so is a number that leaves nothing to remediate (at least as many as the
  check selects).
* One NodeHealthCheck per room by default, selecting the room's nodes by their zone label, with
  ``minHealthy: 1``: a single failed node is fenced and its workloads restarted, but a room that is gone
  as a whole (power loss, or a cut link seen from the other side) has no healthy node left, so MediK8s
  stands back and the room failover (``playbooks/failover.yml``: fence, datastore takeover) decides.
* ``fence_redfish`` with the node's BMC address, port and Redfish system path as per-node parameters; the
  user and password in a Secret (one for all nodes, or one per room when the rooms' credentials differ),
  never in the template; the out-of-service taint as remediation strategy, the same taint the failover
  uses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, ZONE_LABEL

NHC_API_VERSION = 'remediation.medik8s.io/v1alpha1'
FAR_API_VERSION = 'fence-agents-remediation.medik8s.io/v1alpha1'
MANAGED_BY = {'app.kubernetes.io/managed-by': 'twinroom.ha'}
DEFAULT_PORT = 443
DEFAULT_CONDITIONS = (
    {'type': 'Ready', 'status': 'False', 'duration': '300s'},
    {'type': 'Ready', 'status': 'Unknown', 'duration': '300s'},
)
_DURATION = re.compile(r'^([0-9]+(\.[0-9]+)?(ns|us|\u00b5s|ms|s|m|h))+$')
_NAME = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')


def min_healthy(check, value, selected=None):
    """An absolute minHealthy (int) for check `check`, or a ValueError saying why not.

    selected: how many nodes the check selects, when known; a minHealthy at least that large leaves
    nothing to remediate."""
    text = str(value).strip()
    if text.endswith('%'):
        example = ''
        if selected:
            try:
                need = int(math.ceil(float(text[:-1]) * selected / 100.0))
                spare = selected - need
                if spare <= 0:
                    effect = 'a single failure already blocks every remediation'
                else:
                    effect = 'remediation stops after %d failure%s' % (spare, '' if spare == 1 else 's')
                example = (' Here %s of %d nodes rounds up to %d healthy node%s, so %s.'
                           % (text, selected, need, '' if need == 1 else 's', effect))
            except ValueError:
                pass
        raise ValueError(
            "NodeHealthCheck %s: min_healthy is '%s', a percentage. Give an absolute number of nodes: "
            "NodeHealthCheck rounds a percentage up, and with one control-plane node per room 51%% of 2 nodes "
            "is 2, so the first failure blocks all remediation.%s" % (check, text, example))
    if isinstance(value, bool) or not re.match(r'^[0-9]+$', text):
        raise ValueError("NodeHealthCheck %s: min_healthy is '%s': give an absolute number of nodes, such as 1."
                         % (check, text))
    number = int(text)
    if selected == 1 and number >= 1:
        raise ValueError(
            'NodeHealthCheck %s selects a single node: with min_healthy %d it can never remediate it, and with 0 '
            'MediK8s would fence the last node standing. Leave that node to the room failover, or select more '
            'nodes.' % (check, number))
    if selected is not None and number >= selected:
        raise ValueError(
            'NodeHealthCheck %s: min_healthy %d with %d node%s selected blocks all remediation: once one node '
            'is unhealthy, fewer than %d are healthy. Use at most %d.'
            % (check, number, selected, '' if selected == 1 else 's', number, selected - 1))
    return number


_INVENTORY_NAMES = dict(
    name='inventory_hostname', zone='twinroom_zone', bmc_address='twinroom_bmc_address',
    bmc_port='twinroom_bmc_port', bmc_systems_uri='twinroom_bmc_systems_uri',
    bmc_username='twinroom_bmc_username', bmc_password='twinroom_bmc_password',
    bmc_validate_certs='twinroom_bmc_validate_certs')


def node_entry(node):
    """A node given with the inventory's variable names (inventory_hostname, twinroom_bmc_address, ...) or
    the short ones (name, bmc_address, ...) -> the short ones."""
    entry = dict(node)
    for short, long_name in _INVENTORY_NAMES.items():
        if entry.get(short) in (None, '') and long_name in node:
            entry[short] = node[long_name]
    return entry


def _room_secret_name(base, room):
    return '%s-%s' % (base, room.replace('_', '-'))


def fence_parameters(nodes, secret_name):
    """FenceAgentsRemediationTemplate parameters and the credential Secrets for fence_redfish.

    nodes: [{name, room, bmc_address, bmc_port, bmc_systems_uri, bmc_username, bmc_password,
    bmc_validate_certs}]. Returns (spec fields, secrets, errors); secrets are (name, {param: value}).
    Every node gets every per-node parameter (FAR refuses a node missing from one of them)."""
    errors = []
    nodes = sorted(nodes, key=lambda n: n['name'])
    missing = dict((field, [n['name'] for n in nodes if not n.get(field)])
                   for field in ('bmc_address', 'bmc_systems_uri', 'bmc_username', 'bmc_password'))
    variables = dict(bmc_address='twinroom_bmc_address', bmc_systems_uri='twinroom_bmc_systems_uri',
                     bmc_username='twinroom_bmc_username', bmc_password='twinroom_bmc_password')
    for field in ('bmc_address', 'bmc_systems_uri', 'bmc_username', 'bmc_password'):
        if missing[field]:
            errors.append('%s is not set for %s: fence_redfish needs it for every node it may fence.'
                          % (variables[field], ', '.join(missing[field])))
    checks = set(bool(n.get('bmc_validate_certs', True)) for n in nodes)
    if len(checks) > 1:
        errors.append('twinroom_bmc_validate_certs differs between nodes (%s): the fence agent gets one '
                      '--ssl-insecure for all of them. Use one setting for every BMC.'
                      % ', '.join('%s=%s' % (n['name'], str(bool(n.get('bmc_validate_certs', True))).lower())
                                  for n in nodes))
    spec = {
        'nodeparameters': {
            '--ip': dict((n['name'], str(n.get('bmc_address') or '')) for n in nodes),
            '--ipport': dict((n['name'], str(n.get('bmc_port') or DEFAULT_PORT)) for n in nodes),
            '--systems-uri': dict((n['name'], str(n.get('bmc_systems_uri') or '')) for n in nodes),
        },
    }
    if checks == {False}:
        # A flag without a value: FAR passes an empty parameter as the bare option.
        spec['sharedparameters'] = {'--ssl-insecure': ''}
    pairs = {}
    for n in nodes:
        pairs.setdefault((n.get('bmc_username'), n.get('bmc_password')), set()).add(n.get('room'))
    secrets = []
    if len(pairs) <= 1:
        spec['sharedSecretName'] = secret_name
        username, password = next(iter(pairs)) if pairs else (None, None)
        secrets.append((secret_name, {'--username': username or '', '--password': password or ''}))
    else:
        rooms = {}
        for n in nodes:
            rooms.setdefault(n.get('room'), set()).add((n.get('bmc_username'), n.get('bmc_password')))
        split = sorted(room for room, creds in rooms.items() if len(creds) > 1)
        if split:
            errors.append('BMC credentials differ inside %s: give each room one twinroom_bmc_username / '
                          'twinroom_bmc_password (one Secret per room).' % ', '.join(split))
        spec['nodeSecretNames'] = dict((n['name'], _room_secret_name(secret_name, n.get('room'))) for n in nodes)
        for room in sorted(rooms):
            username, password = sorted(rooms[room], key=lambda c: (c[0] or '', c[1] or ''))[0]
            secrets.append((_room_secret_name(secret_name, room),
                            {'--username': username or '', '--password': password or ''}))
    return spec, secrets, errors


def _check_conditions(conditions):
    errors = []
    for condition in conditions:
        if not _DURATION.match(str(condition.get('duration', ''))):
            errors.append("unhealthy condition %s=%s: duration '%s' is not a Go duration such as 300s or 5m."
                          % (condition.get('type'), condition.get('status'), condition.get('duration', '')))
    return errors


def default_health_checks(zones, min_healthy_value, name_prefix):
    """One check per room, selecting the room's nodes by zone label."""
    return [{'name': '%s-%s' % (name_prefix, zones[room]), 'room': room,
             'selector': {'matchExpressions': [{'key': ZONE_LABEL, 'operator': 'In', 'values': [zones[room]]}]},
             'min_healthy': min_healthy_value} for room in ROOMS if room in zones]


def plan(nodes, options):
    """Everything the role applies, or the reasons it must not.

    nodes: the inventory's room nodes (see fence_parameters; plus ``zone``). options: namespace,
    template_name, secret_name, health_checks (list of {name, selector, min_healthy, room?}; empty = one per
    room), min_healthy, name_prefix, unhealthy_conditions, remediation_strategy, agent, fence_method.

    Returns {'errors': [...], 'template': {...}, 'health_checks': [...], 'secrets': [...],
    'namespace': {...}}."""
    errors = []
    nodes = [node_entry(n) for n in nodes]
    if options.get('fence_method', 'redfish') != 'redfish':
        errors.append("twinroom_fence_method is '%s': node remediation drives fence_redfish only; use "
                      "redfish, or leave node_remediation_enabled false." % options.get('fence_method'))
    zones = {}
    for n in nodes:
        if n.get('room') in ROOMS and n.get('zone'):
            zones.setdefault(n['room'], n['zone'])
    checks = options.get('health_checks') or default_health_checks(
        zones, options.get('min_healthy', 1), options.get('name_prefix', 'twinroom'))
    if not checks:
        errors.append('No NodeHealthCheck to create: set twinroom_zone for room_a and room_b, or give '
                      'node_remediation_health_checks.')
    per_room = dict((room, sum(1 for n in nodes if n.get('room') == room)) for room in ROOMS)
    conditions = [dict(c) for c in (options.get('unhealthy_conditions') or DEFAULT_CONDITIONS)]
    errors.extend(_check_conditions(conditions))
    spec, secrets, fence_errors = fence_parameters(nodes, options['secret_name'])
    errors.extend(fence_errors)
    template_ref = {'apiVersion': FAR_API_VERSION, 'kind': 'FenceAgentsRemediationTemplate',
                    'name': options['template_name'], 'namespace': options['namespace']}
    health_checks = []
    names = set()
    for check in checks:
        name = check.get('name') or ''
        if not _NAME.match(name):
            errors.append("NodeHealthCheck name '%s' is not a valid Kubernetes name (lower case, digits, '-')."
                          % name)
        if name in names:
            errors.append('NodeHealthCheck %s is given twice.' % name)
        names.add(name)
        try:
            value = min_healthy(name, check.get('min_healthy', options.get('min_healthy', 1)),
                                per_room.get(check.get('room')) if check.get('room') else check.get('nodes'))
        except ValueError as exc:
            errors.append(str(exc))
            continue
        health_checks.append({
            'apiVersion': NHC_API_VERSION, 'kind': 'NodeHealthCheck',
            'metadata': {'name': name, 'labels': dict(MANAGED_BY)},
            'spec': {'selector': check.get('selector') or {}, 'minHealthy': value,
                     'unhealthyConditions': [dict(c) for c in conditions],
                     'remediationTemplate': dict(template_ref)},
        })
    template_spec = dict(agent=options.get('agent', 'fence_redfish'),
                         remediationStrategy=options.get('remediation_strategy', 'OutOfServiceTaint'), **spec)
    return {
        'errors': errors,
        'namespace': {'apiVersion': 'v1', 'kind': 'Namespace',
                      'metadata': {'name': options['namespace'], 'labels': dict(MANAGED_BY)}},
        'secrets': [{'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque',
                     'metadata': {'name': name, 'namespace': options['namespace'], 'labels': dict(MANAGED_BY)},
                     'stringData': data} for name, data in secrets],
        'template': {'apiVersion': FAR_API_VERSION, 'kind': 'FenceAgentsRemediationTemplate',
                     'metadata': {'name': options['template_name'], 'namespace': options['namespace'],
                                  'labels': dict(MANAGED_BY)},
                     'spec': {'template': {'spec': template_spec}}},
        'health_checks': health_checks,
    }
