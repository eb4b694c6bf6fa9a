# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Could one room take over the other's workloads? Requests against allocatable, room by room.

The plan (:func:`plan_rooms`), pure: Nodes, Pods, VirtualMachines and VirtualMachineInstances as the API returns
them (plain dicts) plus the room of every node give, for each room R, whether the other room could absorb every
workload now in R: what moves (pods without the DaemonSet and static ones, and VMs named as VMs), what each
surviving node has free (allocatable minus the requests of the pods already on it), and a first-fit-decreasing
placement of the moving workloads onto those nodes - per node, not on the room's sum, because a 16 GiB VM does not
fit into two nodes with 8 GiB free each. No I/O; unit-tested with YAML fixtures.

The runner (reading the cluster) is plugins/module_utils/room_capacity.py; quantities are counted as in
quantities.py: CPU in millicores, memory in bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.twinroom.ha.plugins.module_utils.quantities import (
    add, cpu_milli, formatted, memory_bytes, resources, sub)
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, TwinroomError

# A VM whose launcher pod does not exist yet: its memory request is estimated as the guest memory, plus
# 1/512 of it for page tables, plus this (virt-launcher, virtqemud, virtlogd, QEMU itself; KubeVirt 1.6
# computes about 220-250 MiB for a VM with one or two vCPUs).
DEFAULT_VM_MEMORY_OVERHEAD = '256Mi'
# KubeVirt's default cpuAllocationRatio is 10: without a CPU request a launcher asks 100m per vCPU.
VM_CPU_PER_VCPU_MILLI = 100
TERMINAL_PHASES = ('Succeeded', 'Failed')
RUNNING_STRATEGIES = ('Always', 'RerunOnFailure')
MIRROR_ANNOTATION = 'kubernetes.io/config.mirror'


class CapacityError(TwinroomError):
    """The check itself could not be done, or (with fail_on_shortfall) a room would not fit."""


def _requests(container):
    req = ((container or {}).get('resources') or {}).get('requests') or {}
    return resources(cpu_milli(req.get('cpu')), memory_bytes(req.get('memory')))


def pod_requests(pod):
    """What the scheduler reserves for a pod: the larger of its containers' sum and what its init phase
    needs, plus the pod overhead.

    Init containers run one after another, so the init phase needs the largest of them - plus every sidecar
    (an init container with ``restartPolicy: Always``) started before it, since sidecars keep running. The
    sidecars then run next to the app containers, so they add to the containers' sum too."""
    spec = pod.get('spec') or {}
    sidecars = resources()
    init_peak = resources()
    for container in spec.get('initContainers') or ():
        req = _requests(container)
        if container.get('restartPolicy') == 'Always':
            sidecars = add(sidecars, req)
            step = sidecars
        else:
            step = add(sidecars, req)
        init_peak = resources(max(init_peak['cpu'], step['cpu']), max(init_peak['memory'], step['memory']))
    running = sidecars
    for container in spec.get('containers') or ():
        running = add(running, _requests(container))
    total = resources(max(running['cpu'], init_peak['cpu']), max(running['memory'], init_peak['memory']))
    overhead = spec.get('overhead') or {}
    return add(total, resources(cpu_milli(overhead.get('cpu')), memory_bytes(overhead.get('memory'))))


def vm_estimate(domain, memory_overhead=DEFAULT_VM_MEMORY_OVERHEAD):
    """Requests of a VM's launcher pod that does not exist yet, from the VM's (or VMI's) domain spec.

    CPU: the domain's CPU request, else 100m per vCPU (sockets x cores x threads; KubeVirt's default
    allocation ratio of 10). Memory: the domain's memory request, else its guest memory; plus 1/512 of
    the guest memory for page tables and a fixed overhead for the launcher's own processes."""
    domain = domain or {}
    req = (domain.get('resources') or {}).get('requests') or {}
    guest = memory_bytes((domain.get('memory') or {}).get('guest'))
    memory = memory_bytes(req.get('memory')) or guest
    if req.get('cpu') not in (None, ''):
        cpu = cpu_milli(req.get('cpu'))
    else:
        topology = domain.get('cpu') or {}
        vcpus = 1
        for key in ('sockets', 'cores', 'threads'):
            vcpus *= int(topology.get(key) or 1)
        cpu = vcpus * VM_CPU_PER_VCPU_MILLI
    overhead = int(math.ceil(max(guest, memory) / 512.0)) + memory_bytes(memory_overhead)
    return resources(cpu, memory + overhead)


# ---------------------------------------------------------------------------------------------
# Who is where
# ---------------------------------------------------------------------------------------------

def _meta(obj):
    return obj.get('metadata') or {}


def _key(obj):
    meta = _meta(obj)
    return (meta.get('namespace') or 'default', meta.get('name'))


def _controller(obj):
    refs = _meta(obj).get('ownerReferences') or []
    owners = [r for r in refs if r.get('controller')] or refs
    return owners[0] if owners else None


def _is_active(pod):
    return (pod.get('status') or {}).get('phase') not in TERMINAL_PHASES


def _stays_on_its_node(pod):
    """DaemonSet pods and static (mirror) pods belong to their node: they do not move when it is lost."""
    owner = _controller(pod) or {}
    return owner.get('kind') in ('DaemonSet', 'Node') or MIRROR_ANNOTATION in (_meta(pod).get('annotations') or {})


def _launcher_of(pod):
    """(namespace, VMI name) when the pod is a virt-launcher pod, else None."""
    owner = _controller(pod) or {}
    if owner.get('kind') == 'VirtualMachineInstance':
        return (_meta(pod).get('namespace') or 'default', owner.get('name'))
    labels = _meta(pod).get('labels') or {}
    if labels.get('kubevirt.io') == 'virt-launcher' and labels.get('vm.kubevirt.io/name'):
        return (_meta(pod).get('namespace') or 'default', labels['vm.kubevirt.io/name'])
    return None


def _workload(kind, key, node, req, source, tolerations=None):
    return {'kind': kind, 'namespace': key[0], 'name': key[1], 'node': node, 'requests': req, 'source': source,
            'tolerations': tolerations or []}


def _tolerations(obj):
    return (obj.get('spec') or {}).get('tolerations') or []


def tolerates(tolerations, taint):
    """The scheduler's rule: a toleration matches a taint by effect (empty = all effects) and by key - any
    key with an empty key and operator Exists, else the same key, and the same value unless Exists."""
    for toleration in tolerations:
        if toleration.get('effect') and toleration.get('effect') != taint.get('effect'):
            continue
        operator = toleration.get('operator') or 'Equal'
        if not toleration.get('key'):
            if operator == 'Exists':
                return True
            continue
        if toleration.get('key') != taint.get('key'):
            continue
        if operator == 'Exists' or (toleration.get('value') or '') == (taint.get('value') or ''):
            return True
    return False


def blocking_taints(node):
    """The taints that keep pods off a node (NoSchedule, NoExecute); PreferNoSchedule only steers."""
    return [t for t in (node.get('spec') or {}).get('taints') or [] if t.get('effect') in ('NoSchedule', 'NoExecute')]


def workloads(pods, vms, vmis, memory_overhead=DEFAULT_VM_MEMORY_OVERHEAD):
    """Everything that holds a reservation on a node, and the VMs that should run but are not placed.

    Returns (placed, unplaced): placed is a list of workloads, each with kind, namespace, name, node,
    requests and source (``launcher`` - the launcher pod's requests, ``estimate`` - from the VM spec, or
    ``pod``), plus ``moves`` (False for DaemonSet and static pods); unplaced lists the VMs that should run
    (runStrategy Always or RerunOnFailure) but have no VMI on a node, with estimated requests."""
    vm_keys = set(_key(vm) for vm in vms)
    launchers = {}
    placed = []
    for pod in pods:
        node = (pod.get('spec') or {}).get('nodeName')
        if not node or not _is_active(pod):
            continue
        launcher = _launcher_of(pod)
        if launcher is not None:
            launchers.setdefault(launcher, (node, pod_requests(pod), _tolerations(pod)))
            continue
        item = _workload('Pod', _key(pod), node, pod_requests(pod), 'pod', _tolerations(pod))
        item['moves'] = not _stays_on_its_node(pod)
        placed.append(item)
    running = set()
    for vmi in vmis:
        key = _key(vmi)
        status = vmi.get('status') or {}
        if status.get('phase') in TERMINAL_PHASES:
            continue
        kind = 'VirtualMachine' if key in vm_keys else 'VirtualMachineInstance'
        if key in launchers:
            node, req, tolerations = launchers[key]
            source = 'launcher'
        else:
            node = status.get('nodeName')
            req = vm_estimate((vmi.get('spec') or {}).get('domain'), memory_overhead)
            source, tolerations = 'estimate', _tolerations(vmi)
        if not node:
            continue
        running.add(key)
        item = _workload(kind, key, node, req, source, tolerations)
        item['moves'] = True
        placed.append(item)
    unplaced = []
    for vm in vms:
        key = _key(vm)
        spec = vm.get('spec') or {}
        strategy = spec.get('runStrategy') or ('Always' if spec.get('running') else 'Halted')
        if key in running or strategy not in RUNNING_STRATEGIES:
            continue
        template = ((spec.get('template') or {}).get('spec')) or {}
        unplaced.append(_workload('VirtualMachine', key, None, vm_estimate(template.get('domain'), memory_overhead),
                                  'estimate', template.get('tolerations')))
    return placed, unplaced


# ---------------------------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------------------------

def _label(item):
    return '%s %s/%s' % (item['kind'], item['namespace'], item['name'])


def free_per_node(nodes, names, placed):
    """{node: {'allocatable', 'requested', 'free', 'taints'}} for the named nodes that exist and are
    schedulable (not cordoned); taints are the ones that keep pods off it."""
    result = {}
    by_name = dict((_meta(n).get('name'), n) for n in nodes)
    for name in sorted(names):
        node = by_name.get(name)
        if node is None or (node.get('spec') or {}).get('unschedulable'):
            continue
        alloc = (node.get('status') or {}).get('allocatable') or {}
        allocatable = resources(cpu_milli(alloc.get('cpu')), memory_bytes(alloc.get('memory')))
        requested = resources()
        for item in placed:
            if item['node'] == name:
                requested = add(requested, item['requests'])
        result[name] = {'allocatable': allocatable, 'requested': requested, 'free': sub(allocatable, requested),
                        'taints': blocking_taints(node)}
    return result


def first_fit_decreasing(moving, free):
    """Place workloads, largest memory first (then CPU, then name), each on the first node (by name) whose
    taints it tolerates and that has enough free CPU and memory. Returns ({node: [labels]}, [workloads that
    fit nowhere], {node: free left})."""
    left = dict((name, dict(info['free'])) for name, info in free.items())
    placement = dict((name, []) for name in left)
    misfits = []
    order = sorted(moving, key=lambda w: (-w['requests']['memory'], -w['requests']['cpu'], w['kind'],
                                          w['namespace'], w['name']))
    for item in order:
        req = item['requests']
        for name in sorted(left):
            if not all(tolerates(item['tolerations'], taint) for taint in free[name]['taints']):
                continue
            if left[name]['cpu'] >= req['cpu'] and left[name]['memory'] >= req['memory']:
                left[name] = sub(left[name], req)
                placement[name].append(_label(item))
                break
        else:
            misfits.append(item)
    return placement, misfits, left


def _total(items, field=None):
    total = resources()
    for item in items:
        total = add(total, item[field] if field else item)
    return total


def _clamped(res):
    return resources(max(res['cpu'], 0), max(res['memory'], 0))


def plan_rooms(room_nodes, nodes, pods, vms, vmis, memory_overhead=DEFAULT_VM_MEMORY_OVERHEAD):
    """For each room R of room_nodes ({room: [node names]}, exactly room_a and room_b): could the other room
    take every workload now in R? Returns (result per lost room, unplaced VMs, warnings)."""
    rooms = sorted(room_nodes)
    if rooms != list(ROOMS):
        raise CapacityError('rooms must name exactly room_a and room_b (got %s): the check moves one room onto '
                            'the other.' % (', '.join(rooms) or 'none'))
    placed, unplaced = workloads(pods, vms, vmis, memory_overhead)
    warnings = []
    existing = set(_meta(n).get('name') for n in nodes)
    for room in rooms:
        missing = [n for n in room_nodes[room] if n not in existing]
        if missing:
            warnings.append('%s: no Node object for %s; counted as having no capacity.' % (room, ', '.join(missing)))
    result = {}
    for lost in rooms:
        survivor = rooms[1] if lost == rooms[0] else rooms[0]
        lost_nodes = set(room_nodes[lost])
        moving = [w for w in placed if w['node'] in lost_nodes and w['moves']]
        free = free_per_node(nodes, room_nodes[survivor], [w for w in placed if w['node'] not in lost_nodes])
        placement, misfits, left = first_fit_decreasing(moving, free)
        # Free and headroom count the nodes that take any pod; a tainted node (a control-plane node, say)
        # takes only what tolerates it, shown per node.
        open_nodes = [name for name, info in free.items() if not info['taints']]
        free_total = _total([_clamped(free[name]['free']) for name in open_nodes])
        result[lost] = {
            'lost_room': lost,
            'survivor': survivor,
            'fits': not misfits,
            'moving': len(moving),
            'needs': formatted(_total(moving, 'requests')),
            'free': formatted(free_total),
            'headroom': formatted(_total([_clamped(left[name]) for name in open_nodes])),
            'shortfall': formatted(_total(misfits, 'requests')),
            'not_fitting': [dict(kind=w['kind'], namespace=w['namespace'], name=w['name'], node=w['node'],
                                 requests=formatted(w['requests']), source=w['source']) for w in misfits],
            'placement': dict((name, labels) for name, labels in placement.items() if labels),
            'nodes': dict((name, dict(allocatable=formatted(info['allocatable']),
                                      requested=formatted(info['requested']), free=formatted(info['free']),
                                      after=formatted(left[name]),
                                      taints=['%s:%s' % (t.get('key'), t.get('effect')) for t in info['taints']]))
                          for name, info in free.items()),
        }
    unplaced = [dict(kind=w['kind'], namespace=w['namespace'], name=w['name'], requests=formatted(w['requests']))
                for w in sorted(unplaced, key=lambda w: (w['namespace'], w['name']))]
    return result, unplaced, warnings


def capacity_table(result):
    """A short table for an operator: one line per lost room, then one per workload that would not fit."""
    header = ('LOST', 'TO', 'FITS', 'MOVING', 'NEEDS cpu/mem', 'FREE cpu/mem', 'HEADROOM cpu/mem', 'SHORTFALL cpu/mem')
    lines = ['%-7s %-8s %-4s %-6s %-16s %-16s %-16s %s' % header]

    def pair(res):
        return '%s/%s' % (res['cpu'], res['memory'])

    for lost in sorted(result):
        info = result[lost]
        lines.append('%-7s %-8s %-4s %-6d %-16s %-16s %-16s %s' % (
            lost, info['survivor'], 'yes' if info['fits'] else 'no', info['moving'], pair(info['needs']),
            pair(info['free']), pair(info['headroom']), pair(info['shortfall'])))
    for lost in sorted(result):
        for item in result[lost]['not_fitting']:
            lines.append('%s -> %s: does not fit: %s %s/%s (%s, on %s)' % (
                lost, result[lost]['survivor'], item['kind'], item['namespace'], item['name'],
                pair(item['requests']), item['node']))
    return lines


def shortfall_message(result):
    """The failure text for fail_on_shortfall, or None when both rooms fit."""
    parts = []
    for lost in sorted(result):
        info = result[lost]
        if info['fits']:
            continue
        names = ', '.join('%s %s/%s (cpu %s, memory %s)' % (w['kind'], w['namespace'], w['name'],
                                                            w['requests']['cpu'], w['requests']['memory'])
                          for w in info['not_fitting'])
        parts.append('if %s were lost, %s could not run %s (shortfall cpu %s, memory %s)' % (
            lost, info['survivor'], names, info['shortfall']['cpu'], info['shortfall']['memory']))
    if not parts:
        return None
    return ('Not enough capacity for a room failover: %s. Add capacity to the surviving room or lower these '
            'requests; run without fail_on_shortfall to only report it.' % '; '.join(parts))
