# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the LINSTOR modules (linstor_resource_group, linstor_resource_group_info, linstor_resource_info,
linstor_quorum_override) call: observe through the LINSTOR REST client (linstor_rest.py) and, for the override, the
Kubernetes Nodes of the other room (k8s_nodes.py); decide through the quorum plan (linstor_quorum.py); act.

The access layers' errors reach the modules as :class:`LinstorQuorumError`, the one error they fail with.

Layer 4 (runner). See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import time

from ansible_collections.twinroom.ha.plugins.module_utils.k8s_nodes import NodeApiError, NodeRecorder
from ansible_collections.twinroom.ha.plugins.module_utils.linstor_quorum import (
    LinstorQuorumError,
    apply_changes_view,
    check_other_room_fenced,
    check_restore,
    check_rooms,
    desired_resource_group,
    lost_room,
    node_rooms,
    override_plan,
    placement_summary,
    resource_group_plan,
    resource_group_report,
    restore_plan,
    witness_warnings,
)
from ansible_collections.twinroom.ha.plugins.module_utils.linstor_rest import (
    HAS_LINSTOR,
    LinstorApi,
    LinstorApiError,
    linstor_argument_spec,
)
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import join_words, utc_now

__all__ = ['HAS_LINSTOR', 'LinstorQuorumError', 'linstor_argument_spec', 'run_quorum_override',
           'run_resource_group', 'run_resource_group_info', 'run_resource_info']

WAIT_INTERVAL = 5  # s between reads of the returning room's replicas


def _reported(run):
    """The runner ``run`` with the access layers' errors (the controller, the API server) raised as
    LinstorQuorumError, with their message and details."""
    @functools.wraps(run)
    def wrapper(*args, **kwargs):
        try:
            return run(*args, **kwargs)
        except (LinstorApiError, NodeApiError) as exc:
            raise LinstorQuorumError(exc.msg, **exc.details)
    return wrapper


def _api(params, api):
    return api if api is not None else LinstorApi(params)


@_reported
def run_resource_group(params, check_mode=False, diff=False, api=None):
    check_rooms(params['rooms'])
    api = _api(params, api)
    desired = desired_resource_group(params['witness'], params['zone_label'], params['on_no_quorum'],
                                     params['place_count'], params.get('storage_pools'))
    group = api.resource_group(params['name'])
    plan = resource_group_plan(group, desired)
    placement = node_rooms(api.nodes(), params['rooms'], params['zone_label'])
    result = dict(changed=plan['changed'], name=params['name'], created=plan['create'],
                  props=plan['after']['props'], select_filter=plan['after']['select_filter'],
                  warnings=witness_warnings(params['witness'], placement, params['rooms']))
    if diff:
        result['diff'] = dict(before=plan['before'] or {}, after=plan['after'])
    if check_mode or not plan['changed']:
        return result
    if plan['create']:
        api.create_resource_group(params['name'], plan['override_props'], plan['select_filter'])
    else:
        api.modify_resource_group(params['name'], plan['override_props'], plan['select_filter'])
    return result


@_reported
def run_resource_group_info(params, api=None):
    api = _api(params, api)
    groups = api.resource_groups([params['name']] if params.get('name') else None)
    if params.get('name') and not groups:
        raise LinstorQuorumError('resource group %s does not exist on the %s.' % (params['name'], api.where))
    return dict(changed=False, resource_groups=dict(
        (group['name'], resource_group_report(group, params['zone_label'])) for group in groups))


def observe_resources(api, params):
    """(placement, summaries {name: summary}, resources {name: [REST resources]}) for the selected definitions."""
    check_rooms(params['rooms'])
    placement = node_rooms(api.nodes(), params['rooms'], params['zone_label'])
    definitions = api.resource_definitions(params.get('resources') or None)
    if params.get('resource_group'):
        wanted = params['resource_group'].lower()
        definitions = [d for d in definitions if (d.get('resource_group_name') or '').lower() == wanted]
    names = sorted(d['name'] for d in definitions)
    missing = sorted(set(params.get('resources') or []) - set(names))
    if missing:
        raise LinstorQuorumError('resource definitions %s do not exist on the %s%s.' % (
            join_words(missing), api.where,
            ' in resource group %s' % params['resource_group'] if params.get('resource_group') else ''))
    by_name = dict((name, []) for name in names)
    if names:
        for resource in api.resources(names):
            if resource.get('name') in by_name:
                by_name[resource['name']].append(resource)
    summaries = dict((d['name'], placement_summary(d, by_name[d['name']], placement, params['rooms']))
                     for d in definitions)
    return placement, summaries, by_name


@_reported
def run_resource_info(params, api=None):
    api = _api(params, api)
    placement, summaries, _resources = observe_resources(api, params)
    return dict(changed=False, rooms=dict(params['rooms']), nodes=placement, resources=summaries)


@_reported
def run_quorum_override(params, check_mode=False, diff=False, api=None, fence_records=None, clock=time.monotonic,
                        sleep=time.sleep):
    rooms = params['rooms']
    surviving = params['surviving_room']
    lost = lost_room(rooms, surviving)
    fenced_nodes = None
    if params['state'] == 'present':
        # Fencing first: nothing about LINSTOR matters while the other room may still write.
        records = fence_records or NodeRecorder(params.get('kubeconfig'), params.get('context'))
        kube_nodes = records.room_nodes(params['zone_label'], rooms[lost])
    api = _api(params, api)
    placement, summaries, by_name = observe_resources(api, params)
    warnings = []
    if params['state'] == 'present':
        linstor_lost = [name for name, node in placement.items() if node['room'] == lost]
        fenced_nodes = check_other_room_fenced(lost, rooms[lost], kube_nodes, linstor_lost, params['zone_label'])
        changes, skipped = override_plan(summaries, by_name, surviving, lost, utc_now())
    else:
        changes, behind = restore_plan(summaries, by_name, surviving)
        started = clock()
        # The returning room's replicas resync after its satellites are back: wait for them, bounded.
        while behind and not params.get('allow_outdated') and not check_mode \
                and clock() - started < (params.get('wait_timeout') or 0):
            sleep(WAIT_INTERVAL)
            placement, summaries, by_name = observe_resources(api, params)
            changes, behind = restore_plan(summaries, by_name, surviving)
        warnings = check_restore(behind, int(clock() - started), params.get('allow_outdated') or check_mode)
        skipped = {}
    before, after = apply_changes_view(by_name, changes)
    result = dict(changed=bool(changes), surviving_room=surviving, lost_room=lost, fenced_nodes=fenced_nodes,
                  changes=[dict(c) for c in changes], left_alone=skipped, warnings=warnings)
    if diff:
        result['diff'] = dict(before=before, after=after)
    if check_mode or not changes:
        return result
    for change in changes:
        api.modify_resource(change['node'], change['resource'], change['set'], change['delete'])
    return result
