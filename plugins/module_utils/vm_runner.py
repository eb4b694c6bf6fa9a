# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner of twinroom.ha.vm and twinroom.ha.vm_info: read the VM (and the Nodes, for the rooms) through
kubernetes.core's client, decide with the VM plan (kubevirt_vm.py), write through kubernetes.core's
``runner.perform_action`` (server-side dry run in check mode). Nothing of kubernetes.core or kubevirt.core is
copied or patched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.twinroom.ha.plugins.module_utils.kubevirt_vm import (
    API_VERSION, EVICTION_STRATEGIES, RUN_STRATEGIES, RUNNING_STRATEGIES, SOURCE_TYPES, STATES, VmError,
    build_vm, check_home_room, creation_only_drift, decide_run_strategy, home_room_of, known_rooms_from_nodes,
    vm_ref, vm_summary)
from ansible_collections.twinroom.ha.plugins.module_utils.object_diff import clean, compare
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ZONE_LABEL, join_words

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner import perform_action
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService
    HAS_KUBERNETES_CORE = True
except ImportError:  # pragma: no cover - depends on the controller
    HAS_KUBERNETES_CORE = False

    class CoreException(Exception):
        """Stand-in so the except clauses below stay valid without kubernetes.core."""

try:
    from kubernetes.dynamic.exceptions import ForbiddenError, NotFoundError
except ImportError:  # pragma: no cover - depends on the host
    class NotFoundError(Exception):
        """Stand-in when the kubernetes library is missing (the module fails earlier)."""

    class ForbiddenError(Exception):
        """Stand-in when the kubernetes library is missing (the module fails earlier)."""

# VM conditions kubernetes.core's waiter checks (the ones kubevirt.core's kubevirt_vm waits for too).
WAIT_READY = dict(type='Ready', status=True)
WAIT_STOPPED = dict(type='Ready', status=False, reason='VMINotExists')

_SOURCE_SPEC = dict(
    type=dict(type='str', default='blank', choices=list(SOURCE_TYPES)),
    url=dict(type='str'),
    name=dict(type='str'),
    namespace=dict(type='str'),
)

VM_SPEC = dict(
    name=dict(type='str', required=True),
    namespace=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=list(STATES)),
    run_strategy=dict(type='str', choices=list(RUN_STRATEGIES)),
    cpu_cores=dict(type='int'),
    memory=dict(type='str'),
    eviction_strategy=dict(type='str', choices=list(EVICTION_STRATEGIES)),
    home_room=dict(type='str'),
    rooms=dict(type='list', elements='str'),
    anti_affinity_group=dict(type='str'),
    anti_affinity_required=dict(type='bool', default=False),
    labels=dict(type='dict', default={}),
    annotations=dict(type='dict', default={}),
    disk_size=dict(type='str'),
    storage_class=dict(type='str'),
    source=dict(type='dict', options=_SOURCE_SPEC),
    cloud_init_user_data=dict(type='str'),
    wait=dict(type='bool', default=False),
    wait_sleep=dict(type='int', default=5),
    wait_timeout=dict(type='int', default=120),
)


def vm_argument_spec(auth_spec):
    """The module's options plus kubernetes.core's AUTH_ARG_SPEC (deep-copied)."""
    spec = copy.deepcopy(VM_SPEC)
    spec.update(copy.deepcopy(auth_spec))
    return spec


def _get(svc, kind, api_version, name=None, namespace=None, **params):
    """The object (dict) or None when it does not exist; a list's items when name is None."""
    resource = svc.find_resource(kind, api_version, fail=True)
    try:
        found = svc.client.get(resource, name=name, namespace=namespace, **params)
    except NotFoundError:
        return None
    found = found.to_dict()
    return found.get('items', []) if name is None else found


def _known_rooms(svc, params):
    if params.get('rooms') is not None:
        return list(params['rooms']), 'rooms'
    try:
        nodes = _get(svc, 'Node', 'v1')
    except ForbiddenError as exc:
        raise VmError("Cannot list Nodes to learn the rooms (%s): give the rooms option instead."
                      % (getattr(exc, 'reason', None) or exc,))
    return known_rooms_from_nodes(nodes), 'nodes'


def _action_params(module, state, run_strategy):
    """What perform_action and kubernetes.core's waiter read (the waiter reads module.params)."""
    if run_strategy in RUNNING_STRATEGIES:
        module.params['wait_condition'] = WAIT_READY
    elif run_strategy == 'Halted':
        module.params['wait_condition'] = WAIT_STOPPED
    else:
        module.params['wait_condition'] = None  # Manual, Once: nothing to wait for but the object
    return dict(state=state, wait=module.params['wait'], wait_sleep=module.params['wait_sleep'],
                wait_timeout=module.params['wait_timeout'], hidden_fields=['metadata.managedFields'])


def run_vm(module):
    """Read the VM, decide, write through perform_action; returns the module's result."""
    params = module.params
    ref = vm_ref(params)
    try:
        svc = K8sService(get_api_client(module), module)
        existing = _get(svc, 'VirtualMachine', API_VERSION, params['name'], params['namespace'])
        if params['state'] == 'absent':
            return _absent(module, svc, existing)
        if params.get('home_room'):
            known, source = _known_rooms(svc, params)
            check_home_room(params['home_room'], known, source, ref)
        definition = build_vm(params, existing)
        warnings = []
        drift = creation_only_drift(params, existing)
        if drift:
            warnings.append('%s only apply when the VM is created; %s has other values and keeps them.'
                            % (join_words(drift), ref))
        run_strategy = decide_run_strategy(params['state'], params.get('run_strategy'), existing)
        result = perform_action(svc, definition, _action_params(module, params['state'], run_strategy))
    except CoreException as exc:
        raise VmError('%s: %s' % (ref, exc))
    after = result.get('result') or {}
    changed, diff = compare(existing, after) if existing is not None else (True, {'before': {}, 'after': clean(after)})
    out = dict(changed=changed, result=after, method=result.get('method'), run_strategy=run_strategy,
               home_room=home_room_of(after) if after else params.get('home_room'),
               warnings=warnings + list(result.get('warnings') or []))
    if 'duration' in result:
        out['duration'] = result['duration']
    if module._diff:
        out['diff'] = diff
    return out


def _absent(module, svc, existing):
    out = dict(changed=existing is not None, result={}, method='delete', run_strategy=None, home_room=None)
    if existing is not None:
        definition = {'apiVersion': API_VERSION, 'kind': 'VirtualMachine',
                      'metadata': {'name': module.params['name'], 'namespace': module.params['namespace']}}
        result = perform_action(svc, definition, _action_params(module, 'absent', None))
        out['result'] = result.get('result') or {}
        if 'duration' in result:
            out['duration'] = result['duration']
    if module._diff:
        out['diff'] = {'before': clean(existing) if existing else {}, 'after': {}}
    return out


def run_vm_info(module):
    """VMs as kubernetes.core's K8sService.find returns them (the call kubevirt.core's info modules make),
    each with its VMI and the room of the node it runs on."""
    params = module.params
    try:
        svc = K8sService(get_api_client(module), module)
        found = svc.find(
            kind='VirtualMachine', api_version=params['api_version'], name=params['name'],
            namespace=params['namespace'], label_selectors=params['label_selectors'],
            field_selectors=params['field_selectors'], wait=params['wait'], wait_sleep=params['wait_sleep'],
            wait_timeout=params['wait_timeout'], condition=WAIT_READY, hidden_fields=['metadata.managedFields'])
        vms = found.get('resources') or []
        vmis = {}
        for vm in vms:
            meta = vm.get('metadata') or {}
            vmis[(meta.get('namespace'), meta.get('name'))] = _get(
                svc, 'VirtualMachineInstance', params['api_version'], meta.get('name'), meta.get('namespace'))
        warnings = []
        node_zones = {}
        if any(((vmi or {}).get('status') or {}).get('nodeName') for vmi in vmis.values()):
            try:
                for node in _get(svc, 'Node', 'v1') or []:
                    node_zones[node['metadata']['name']] = (node['metadata'].get('labels') or {}).get(ZONE_LABEL)
            except ForbiddenError:
                warnings.append('Cannot list Nodes: the room of each running VM is unknown (room: null).')
    except CoreException as exc:
        raise VmError(str(exc))
    summaries = []
    for vm in vms:
        meta = vm.get('metadata') or {}
        summaries.append(vm_summary(vm, vmis.get((meta.get('namespace'), meta.get('name'))), node_zones))
    return dict(changed=False, vms=summaries, api_found=found.get('api_found', True), warnings=warnings)
