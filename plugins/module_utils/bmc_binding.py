# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runners of bmc_binding and bmc_binding_info: read what each BMC says it is (bmc.py), compare with what each node
says it is (bmc_identity's pure check), and keep the bindings in a file on the controller (bmc.py).

Layer 4 (runner). See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.twinroom.ha.plugins.module_utils import bmc, bmc_identity
from ansible_collections.twinroom.ha.plugins.module_utils.fence_plan import FenceError, check_bmc_settings

# What the bmc_binding modules fail with.
ERRORS = (bmc_identity.BmcIdentityError, bmc.BmcError, FenceError)


def read_identities(params, reader=None):
    """{node: {'uuid'} or {'error'}} for every node, the BMCs asked in parallel."""
    reader = reader or bmc.read_identity
    method = params.get('fence_method') or 'redfish'
    nodes = params['nodes']
    results = bmc.run_parallel(nodes, lambda node: reader(method, bmc.bmc_settings(params, node),
                                                          params.get('bmc_timeout') or 10))
    return dict((node['name'], result if not isinstance(result, Exception) else dict(error=str(result)))
                for node, result in zip(nodes, results))


def run_bmc_binding(params, check_mode=False, diff=False, reader=None):
    check_bmc_settings(params)
    identities = read_identities(params, reader)
    names = [node['name'] for node in params['nodes']]
    bindings = bmc_identity.check_bindings(names, params['machine_ids'], identities)
    before = bmc.read_record(params['path'])
    after = dict(before)
    after.update(bindings)
    result = dict(changed=after != before, bindings=bindings, path=params['path'])
    if diff:
        result['diff'] = dict(before=before, after=after)
    if result['changed'] and not check_mode:
        bmc.write_record(params['path'], after)
    return result


def run_bmc_binding_info(params, reader=None):
    record = bmc.read_record(params['path'])
    identities = read_identities(params, reader) if params['nodes'] else {}
    nodes = {}
    for name, seen in identities.items():
        recorded = (record.get(name) or {}).get('machine_id')
        refusal = bmc_identity.check_fence_target(name, recorded, seen, name + "'s BMC")
        nodes[name] = dict(recorded=recorded, reported=seen.get('uuid'), error=seen.get('error'),
                           matches=None if recorded is None else refusal is None)
    return dict(changed=False, bindings=record, nodes=nodes)
