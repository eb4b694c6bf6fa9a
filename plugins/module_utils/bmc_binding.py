# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runners of bmc_binding and bmc_binding_info: read what each BMC says it is, compare with what each node
says it is (bmc_identity's pure check), and keep the bindings in a file on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible_collections.twinroom.ha.plugins.module_utils import bmc_identity, fence


def read_identity(method, bmc, timeout):
    if method == 'ipmi':
        return bmc_identity.ipmi_identity(bmc['address'], bmc['port'], bmc['username'], bmc['password'], timeout)
    return bmc_identity.redfish_identity(bmc['address'], bmc['port'], bmc['systems_uri'], bmc['username'],
                                         bmc['password'], bmc['validate_certs'], timeout)


def read_identities(params, reader=None):
    """{node: {'uuid'} or {'error'}} for every node, the BMCs asked in parallel."""
    reader = reader or read_identity
    method = params.get('fence_method') or 'redfish'
    nodes = params['nodes']
    results = fence.run_parallel(nodes, lambda node: reader(method, fence.bmc_settings(params, node),
                                                            params.get('bmc_timeout') or 10))
    return dict((node['name'], result if not isinstance(result, Exception) else dict(error=str(result)))
                for node, result in zip(nodes, results))


def read_record(path):
    if not path or not os.path.exists(path):
        return {}
    try:
        with open(path) as stream:
            return json.load(stream)
    except ValueError as exc:
        raise bmc_identity.BmcIdentityError('the BMC bindings in %s are not valid JSON (%s): run site.yml to record '
                                            'them again' % (path, exc))


def write_record(path, record):
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.bmc-bindings.')
    with os.fdopen(fd, 'w') as stream:
        json.dump(record, stream, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def run_bmc_binding(params, check_mode=False, diff=False, reader=None):
    fence.check_bmc_settings(params)
    identities = read_identities(params, reader)
    names = [node['name'] for node in params['nodes']]
    bindings = bmc_identity.check_bindings(names, params['machine_ids'], identities)
    before = read_record(params['path'])
    after = dict(before)
    after.update(bindings)
    result = dict(changed=after != before, bindings=bindings, path=params['path'])
    if diff:
        result['diff'] = dict(before=before, after=after)
    if result['changed'] and not check_mode:
        write_record(params['path'], after)
    return result


def run_bmc_binding_info(params, reader=None):
    record = read_record(params['path'])
    identities = read_identities(params, reader) if params['nodes'] else {}
    nodes = {}
    for name, seen in identities.items():
        recorded = (record.get(name) or {}).get('machine_id')
        refusal = bmc_identity.check_fence_target(name, recorded, seen, name + "'s BMC")
        nodes[name] = dict(recorded=recorded, reported=seen.get('uuid'), error=seen.get('error'),
                           matches=None if recorded is None else refusal is None)
    return dict(changed=False, bindings=record, nodes=nodes)
