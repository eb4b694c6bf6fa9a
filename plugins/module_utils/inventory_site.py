# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site rules of the twinroom inventory (docs/inventory-model.md), as pure functions: what the inventory makes
the site install. Every lab stand-in it selects is declared in ``twinroom_stand_ins``, and every binary and operator
manifest it fetches has a source and a checksum.

:func:`check_site` returns every :class:`~inventory_model.Violation`; nothing here reads files or talks to hosts.
"""

from __future__ import annotations

import re
from collections import namedtuple

from ansible_collections.twinroom.ha.plugins.module_utils import inventory_model as model
from ansible_collections.twinroom.ha.plugins.module_utils.inventory_model import CONTROL_PLANE, CONTROLLER, Unreadable

# What the site installs: the path a real site runs is the lab's path; only where binaries, images and addresses come
# from differs. Some components have a lab stand-in, selected by a role variable. A role's default must not select
# one (node_agent's still does until it has a real agent: tests/unit/test_inventory_rules.py names that exception);
# an inventory that selects one, by a value or by leaving such a default, says so in twinroom_stand_ins, or the run
# is refused.

STAND_INS_VARIABLE = 'twinroom_stand_ins'
# Where a stand-in's variable is read: the room nodes (a role that runs on room_a:room_b), the controller (a role
# that runs on localhost), or both.
ON_NODES = 'nodes'
ON_CONTROLLER = 'controller'

StandIn = namedtuple('StandIn', ['name', 'variable', 'values', 'role', 'where', 'what', 'instead'])

# One row per stand-in: its name in twinroom_stand_ins, the role variable and the values that select it, the role
# whose default the variable falls back to, where it is read, what it leaves out, and what a real site sets instead.
STAND_INS = (
    StandIn('kwok', 'node_agent_kind', ('kwok',), 'node_agent', (ON_NODES,),
            'kwok registers the nodes and renews their leases, but no kubelet runs their pods',
            'node_agent_kind: kubelet (the default)'),
    StandIn('piraeus-without-operator', 'storage_layer_mode', ('lab',), 'storage_layer', (ON_CONTROLLER,),
            'the Piraeus CRDs are installed without the operator, so nothing creates or replicates a disk',
            'storage_layer_mode: production, with the Piraeus operator installed'),
)

# Binaries and operator manifests are fetched to the controller with their checksums enforced (roles/control_plane,
# roles/kine_datastore, roles/storage_layer, roles/kubevirt).
CONTROL_PLANE_COMPONENTS = ('kube-apiserver', 'kube-controller-manager', 'kube-scheduler')
CONTROL_PLANE_BINARY_URL = 'control_plane_binary_url'
CONTROL_PLANE_BINARY_CHECKSUMS = 'control_plane_binary_checksums'
CONTROL_PLANE_BINARY_CHECKSUM_URL = 'control_plane_binary_checksum_url'
KINE_URL = 'kine_datastore_kine_url'
KINE_CHECKSUM = 'kine_datastore_kine_checksum'

Download = namedtuple('Download', ['role', 'url', 'checksum', 'name', 'source', 'thing', 'verified', 'where', 'mode',
                                   'hint'])

# One row per file fetched with a checksum of its own: the role, its URL and checksum variables, how the messages name
# it, where it is fetched (the control-plane nodes' play, or the controller's), and the (variable, value) of the role
# mode that fetches it (None: always; a boolean value: when the variable is true).
_MANIFEST_HINT = ' The role has no default for it: pin the sha256sum of the manifest you reviewed.'
DOWNLOADS = (
    Download('kine_datastore', KINE_URL, KINE_CHECKSUM, 'kine', 'the kine release binary', 'the kine binary',
             'the release binary', CONTROL_PLANE, None, ''),
    Download('storage_layer', 'storage_layer_piraeus_operator_url', 'storage_layer_piraeus_operator_checksum',
             'the Piraeus operator', "the release's manifest.yaml",
             'the Piraeus operator manifest', 'the manifest', CONTROLLER, ('storage_layer_mode', 'production'),
             _MANIFEST_HINT),
    Download('kubevirt', 'kubevirt_operator_url', 'kubevirt_operator_checksum',
             'virt-operator', "the KubeVirt release's kubevirt-operator.yaml",
             'the KubeVirt operator manifest', 'the manifest', CONTROLLER, None, _MANIFEST_HINT),
    Download('kubevirt', 'kubevirt_cdi_operator_url', 'kubevirt_cdi_operator_checksum',
             'cdi-operator', "the CDI release's cdi-operator.yaml",
             'the CDI operator manifest', 'the manifest', CONTROLLER, ('kubevirt_cdi_enabled', True), _MANIFEST_HINT),
)


def _download_variables():
    names = dict(control_plane=(CONTROL_PLANE_BINARY_URL, CONTROL_PLANE_BINARY_CHECKSUMS,
                                CONTROL_PLANE_BINARY_CHECKSUM_URL))
    for row in DOWNLOADS:
        names[row.role] = names.get(row.role, ()) + (row.url, row.checksum) + ((row.mode[0],) if row.mode else ())
    return names


BINARY_VARIABLES = _download_variables()
# What get_url takes as a checksum: an algorithm and the digest, or the URL of a checksum file (the same pattern
# roles/kine_datastore asserts).
_CHECKSUM = re.compile(r'^sha(256|512):([0-9a-fA-F]{64,128}|(https?|file)://.+)$')

SITE_VARIABLES = tuple(model.unique([STAND_INS_VARIABLE] + [row.variable for row in STAND_INS]
                                    + [name for names in BINARY_VARIABLES.values() for name in names]))


def role_default_names():
    """role -> the variables whose role defaults the site rules need (the caller reads them from the roles)."""
    names = {}
    for row in STAND_INS:
        names.setdefault(row.role, []).append(row.variable)
    for role, variables in BINARY_VARIABLES.items():
        names.setdefault(role, []).extend(variables)
    return dict((role, tuple(model.unique(variables))) for role, variables in names.items())


def _setting(values, name, role_defaults):
    """(value, from_default): the inventory's value when the variable is set at all (even empty), else the role's
    default (None when the role has none)."""
    if name in values:
        return values[name], False
    return role_defaults.get(name), True


def _truth(value):
    """A boolean role variable as Ansible's ``bool`` filter reads it; an unreadable value counts as true (the rules
    that need the variable then still run)."""
    if isinstance(value, Unreadable):
        return True
    if isinstance(value, str):
        return value.strip().lower() in ('1', 'true', 'yes', 'on', 'y', 't')
    return bool(value)


def _empty(value):
    return value is None or (isinstance(value, str) and not value.strip())


def _site_subject(hosts, room_nodes):
    nodes = [host for host in hosts if host != CONTROLLER]
    parts = [model.subject(nodes, room_nodes)] if nodes else []
    if CONTROLLER in hosts:
        parts.append(CONTROLLER)
    return ', '.join(parts)


def _control_plane_subject(hosts, control_plane):
    """Name the hosts, or the group control_plane when the problem is on every one of its nodes."""
    if len(hosts) > 1 and set(hosts) >= set(control_plane):
        return CONTROL_PLANE
    return model.names(hosts)


def _declared(values):
    declared = values.get(STAND_INS_VARIABLE)
    if isinstance(declared, (list, tuple)):
        return set(item for item in declared if isinstance(item, str))
    return set()


def _check_stand_ins_known(hosts, site_vars, room_nodes):
    known = [row.name for row in STAND_INS]

    def problem(host):
        declared = site_vars[host].get(STAND_INS_VARIABLE)
        if declared is None or isinstance(declared, Unreadable):
            return None
        if not isinstance(declared, (list, tuple)):
            return ('twinroom_stand_ins is %r; it must be a list of stand-in names (%s). Set it in group_vars/all.'
                    % (declared, ', '.join(known)))
        unknown = [item for item in declared if item not in known]
        if unknown:
            return ('twinroom_stand_ins lists %s, which %s no stand-in of this collection; the stand-ins are %s. '
                    'Correct or remove %s in group_vars/all.'
                    % (', '.join("'%s'" % (item,) for item in unknown), 'is' if len(unknown) == 1 else 'are',
                       ', '.join(known), 'it' if len(unknown) == 1 else 'them'))
        return None

    return [model.violation('stand-ins-known', _site_subject(hosts_, room_nodes), text)
            for text, hosts_ in model.group_hosts(hosts, problem)]


def _check_stand_ins_declared(layout, site_vars, role_defaults):
    violations = []
    for row in STAND_INS:
        hosts = (list(layout.room_nodes) if ON_NODES in row.where else []) + (
            [CONTROLLER] if ON_CONTROLLER in row.where and CONTROLLER in site_vars else [])

        def selection(host, row=row):
            value, from_default = _setting(site_vars[host], row.variable, role_defaults)
            if isinstance(value, Unreadable) or value not in row.values or row.name in _declared(site_vars[host]):
                return None
            return value, from_default

        for (value, from_default), selecting in model.group_hosts(hosts, selection):
            source = ' (the default of role %s)' % row.role if from_default else ''
            violations.append(model.violation(
                'stand-in-declared', _site_subject(selecting, layout.room_nodes),
                "%s is '%s'%s, which selects the lab stand-in %s: %s. A real site uses %s. An inventory that "
                "means to run the stand-in declares it by listing %s in twinroom_stand_ins, in group_vars/all."
                % (row.variable, value, source, row.name, row.what, row.instead, row.name)))
    return violations


def _check_control_plane_binaries(hosts, site_vars, role_defaults):
    def source(host):
        value, from_default = _setting(site_vars[host], CONTROL_PLANE_BINARY_URL, role_defaults)
        if isinstance(value, Unreadable) or not _empty(value):
            return None
        return 'not set and role control_plane has no default' if from_default else 'empty'

    def checksum(host):
        if source(host) is not None:
            return None  # no source: already reported
        pinned, dummy = _setting(site_vars[host], CONTROL_PLANE_BINARY_CHECKSUMS, role_defaults)
        url, dummy = _setting(site_vars[host], CONTROL_PLANE_BINARY_CHECKSUM_URL, role_defaults)
        if isinstance(pinned, Unreadable) or isinstance(url, Unreadable):
            return None
        if pinned is None:
            pinned = {}
        if not isinstance(pinned, dict):
            return ('control_plane_binary_checksums is %r; it must map each component (%s) to its checksum, '
                    'sha256:<hex digest>. Correct it in group_vars/all.' % (pinned, ', '.join(CONTROL_PLANE_COMPONENTS)))
        bad = ['%s: %r' % (name, pinned[name]) for name in CONTROL_PLANE_COMPONENTS
               if name in pinned and not (isinstance(pinned[name], str) and _CHECKSUM.match(pinned[name]))]
        if bad:
            return ('control_plane_binary_checksums has %s; each checksum must be sha256:<hex digest> (or '
                    'sha256:<URL of a checksum file>). Correct it in group_vars/all.' % '; '.join(bad))
        unpinned = [name for name in CONTROL_PLANE_COMPONENTS if name not in pinned]
        if unpinned and _empty(url):
            return ('control_plane_binary_checksum_url is empty and control_plane_binary_checksums pins no checksum '
                    'for %s, so nothing would verify %s. Pin each as sha256:<hex digest> in '
                    'control_plane_binary_checksums, or set control_plane_binary_checksum_url to where the release\'s '
                    '<component>.sha256 files are ({component} stands for the name), in group_vars/all.'
                    % (', '.join(unpinned), 'it' if len(unpinned) == 1 else 'them'))
        return None

    violations = [model.violation(
        'binary-source', _control_plane_subject(selecting, hosts),
        'control_plane_binary_url is %s: the control-plane binaries (%s) have no source. Set it in group_vars/all '
        'to the directory of the Kubernetes release (the upstream one, or your mirror), or remove it so that the '
        'role default (the upstream release) applies.' % (why, ', '.join(CONTROL_PLANE_COMPONENTS)))
        for why, selecting in model.group_hosts(hosts, source)]
    violations.extend(model.violation('binary-checksum', _control_plane_subject(selecting, hosts), text)
                      for text, selecting in model.group_hosts(hosts, checksum))
    return violations


def _check_download(row, hosts, subject, site_vars, role_defaults):
    """A file fetched with a checksum of its own (a row of DOWNLOADS), on the hosts that fetch it."""
    def fetches(host):
        if row.mode is None:
            return True
        value, dummy = _setting(site_vars[host], row.mode[0], role_defaults)
        if isinstance(row.mode[1], bool):
            return _truth(value) == row.mode[1]
        return value == row.mode[1]

    hosts = [host for host in hosts if fetches(host)]

    def source(host):
        value, from_default = _setting(site_vars[host], row.url, role_defaults)
        if isinstance(value, Unreadable) or not _empty(value):
            return None
        return 'not set and role %s has no default' % row.role if from_default else 'empty'

    def checksum(host):
        value, from_default = _setting(site_vars[host], row.checksum, role_defaults)
        if isinstance(value, Unreadable) or (isinstance(value, str) and _CHECKSUM.match(value.strip())):
            return None
        if _empty(value):
            what = ('not set, and role %s has no default checksum' % row.role if from_default
                    else 'empty (a placeholder to fill in)')
        else:
            what = "'%s', which is not a checksum" % (value,)
        return what

    violations = [model.violation(
        'binary-source', subject(selecting, hosts),
        '%s is %s: %s has no source. Set it in group_vars/all to %s (the upstream one, or your mirror), or remove it '
        'so that the role default (the upstream release) applies.' % (row.url, why, row.name, row.source))
        for why, selecting in model.group_hosts(hosts, source)]
    violations.extend(model.violation(
        'binary-checksum', subject(selecting, hosts),
        '%s is %s: nothing would verify %s (%s). Set it in group_vars/all to the checksum of %s you verified, '
        'sha256:<hex digest>, or to sha256:<URL of its checksum file>.%s'
        % (row.checksum, what, row.thing, row.url, row.verified, row.hint))
        for what, selecting in model.group_hosts(hosts, checksum))
    return violations


def check_site(groups, hostvars, controller_vars=None, role_defaults=None):
    """What the inventory makes the site install: every lab stand-in it selects is declared in twinroom_stand_ins,
    and every binary and operator manifest it fetches has a source and a checksum.

    ``hostvars``: host -> the variables of :data:`SITE_VARIABLES` it sets (a variable it does not set is absent);
    ``controller_vars``: the same for the controller (localhost), where storage_layer and kubevirt run; ``None`` when
    unknown; ``role_defaults``: variable -> its role default (see :func:`role_default_names`), for the variables
    the inventory leaves unset."""
    layout = model.Layout(groups)
    role_defaults = role_defaults or {}
    site_vars = dict((host, hostvars.get(host) or {}) for host in layout.room_nodes)
    if controller_vars is not None:
        site_vars[CONTROLLER] = controller_vars
    violations = []
    if controller_vars is not None:
        for name, value in sorted(controller_vars.items()):
            if isinstance(value, Unreadable):
                violations.append(model.violation(
                    'variable-evaluates', CONTROLLER,
                    '%s cannot be evaluated: %s. Define what it refers to, or give it a plain value.'
                    % (name, value.error)))
    checked = layout.room_nodes + ([CONTROLLER] if controller_vars is not None else [])
    violations.extend(_check_stand_ins_known(checked, site_vars, layout.room_nodes))
    violations.extend(_check_stand_ins_declared(layout, site_vars, role_defaults))
    control_plane = [host for host in layout.control_plane if host in site_vars]
    violations.extend(_check_control_plane_binaries(control_plane, site_vars, role_defaults))
    controller = [CONTROLLER] if CONTROLLER in site_vars else []
    for row in DOWNLOADS:
        if row.where == CONTROL_PLANE:
            violations.extend(_check_download(row, control_plane, _control_plane_subject, site_vars, role_defaults))
        else:
            violations.extend(_check_download(row, controller, lambda selecting, hosts: CONTROLLER, site_vars,
                                              role_defaults))
    return violations
