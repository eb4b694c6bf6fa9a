# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner of twinroom.ha.room_capacity_info: list the Nodes, Pods, VirtualMachines and VirtualMachineInstances
from one API server (through k8s.py), weigh them with the capacity plan (capacity.py), and with fail_on_shortfall
refuse a room that could not take over the other's workloads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.twinroom.ha.plugins.module_utils import k8s
from ansible_collections.twinroom.ha.plugins.module_utils.capacity import (  # noqa: F401 pylint: disable=unused-import
    DEFAULT_VM_MEMORY_OVERHEAD, CapacityError, capacity_table, plan_rooms, shortfall_message)
from ansible_collections.twinroom.ha.plugins.module_utils.quantities import HAS_KUBERNETES, memory_bytes

API_TIMEOUT = k8s.API_TIMEOUT         # seconds for each API request
KUBEVIRT_GROUP = 'kubevirt.io'
KUBEVIRT_VERSION = 'v1'


def read_cluster(kubeconfig=None, context=None, timeout=API_TIMEOUT):
    """Nodes, Pods, VirtualMachines and VirtualMachineInstances as plain dicts. Without KubeVirt's CRDs the
    VM lists are empty."""
    from kubernetes import client  # pylint: disable=import-outside-toplevel
    from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel

    where = 'the API server%s' % (' of context %s' % context if context else '')
    try:
        api_client = k8s.api_client(kubeconfig, context)
    except Exception as exc:  # the loader raises several types for a bad or missing file
        raise CapacityError('cannot load kubeconfig %s%s: %s' % (
            kubeconfig or '(default)', ' (context %s)' % context if context else '', exc))
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    retry = k8s.while_initializing  # a CRD just installed, a server just started: 429 for a while
    try:
        nodes = api_client.sanitize_for_serialization(
            retry(core.list_node, _request_timeout=timeout))['items']
        pods = api_client.sanitize_for_serialization(
            retry(core.list_pod_for_all_namespaces, _request_timeout=timeout))['items']
    except Exception as exc:  # ApiException, connection refused, timeout
        raise CapacityError('cannot list Nodes and Pods on %s: %s' % (where, _api_error(exc)))
    kubevirt = []
    for plural in ('virtualmachines', 'virtualmachineinstances'):
        try:
            kubevirt.append(retry(custom.list_cluster_custom_object, KUBEVIRT_GROUP, KUBEVIRT_VERSION, plural,
                                  _request_timeout=timeout).get('items') or [])
        except ApiException as exc:
            if exc.status != 404:
                raise CapacityError('cannot list %s on %s: %s' % (plural, where, _api_error(exc)))
            kubevirt.append([])
        except Exception as exc:
            raise CapacityError('cannot list %s on %s: %s' % (plural, where, _api_error(exc)))
    return nodes, pods, kubevirt[0], kubevirt[1]


def _api_error(exc):
    status = getattr(exc, 'status', None)
    if status:
        try:
            body = json.loads(getattr(exc, 'body', None) or '{}')
        except ValueError:
            body = {}
        return '%s %s' % (status, body.get('message') or getattr(exc, 'reason', ''))
    return str(exc) or exc.__class__.__name__


def run_capacity_info(params, reader=read_cluster):
    """The module's work: read, plan, and (with fail_on_shortfall) refuse a shortfall."""
    if not HAS_KUBERNETES:
        raise CapacityError('the kubernetes Python library is not installed where this module runs '
                            '(pip install kubernetes, or Debian python3-kubernetes).')
    try:
        memory_bytes(params['vm_memory_overhead'])
    except (ValueError, TypeError, ArithmeticError):
        raise CapacityError("vm_memory_overhead '%s' is not a Kubernetes quantity (for example 256Mi)."
                            % params['vm_memory_overhead'])
    nodes, pods, vms, vmis = reader(params.get('kubeconfig'), params.get('context'))
    rooms, unplaced, warnings = plan_rooms(params['rooms'], nodes, pods, vms, vmis, params['vm_memory_overhead'])
    result = dict(changed=False, rooms=rooms, unplaced=unplaced, table=capacity_table(rooms),
                  fits=all(info['fits'] for info in rooms.values()), warnings=warnings)
    if params.get('fail_on_shortfall'):
        message = shortfall_message(rooms)
        if message:
            raise CapacityError(message, rooms=rooms, unplaced=unplaced, table=result['table'], fits=False)
    return result
