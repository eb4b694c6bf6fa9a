# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KubeVirt VirtualMachines with two-room defaults.

The plan, pure (no I/O; unit-tested): :func:`build_vm` turns the module's options (and the VM as it is, when it
exists) into the VirtualMachine to send; :func:`decide_run_strategy` maps ``state`` to ``spec.runStrategy``;
:func:`check_home_room` refuses a room the cluster does not have; object_diff.py tells a real change from API
bookkeeping; :func:`vm_summary` is what ``vm_info`` reports. The runner, vm_runner.py, reads and
writes through kubernetes.core.

Two-room choices, in words (docs/vms.md has the why):

* ``runStrategy: Always`` and ``evictionStrategy: LiveMigrate`` on creation: the VM comes back after a
  room loss and moves instead of stopping when its node is drained.
* The root disk is a CDI DataVolume on the replicated class, ``ReadWriteMany`` + ``Block``: the access
  mode live migration needs, on storage with a copy in each room.
* ``home_room``: a *preferred* node affinity on the zone. Preferred, because after the home room is lost
  the VM must start in the other one.
* ``anti_affinity_group``: a *preferred* pod anti-affinity on the zone between the VMs of a group.
  Preferred, because with two rooms a required one would keep the second VM of a pair from starting
  while one room is down. The VM's own pods are excluded, so the target of a live migration is not
  pushed out of the room its source runs in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import (
    ANTI_AFFINITY_LABEL, HOME_ROOM_LABEL, VM_LABEL, ZONE_LABEL, TwinroomError, join_words)

DEFAULT_STORAGE_CLASS = 'twinroom-vm-replicated'
API_VERSION = 'kubevirt.io/v1'
ROOT_DISK = 'rootdisk'
CLOUD_INIT_DISK = 'cloudinitdisk'
NETWORK = 'default'
WEIGHT = 100

STATES = ('present', 'absent', 'started', 'stopped')
RUN_STRATEGIES = ('Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once')
RUNNING_STRATEGIES = ('Always', 'RerunOnFailure')
EVICTION_STRATEGIES = ('LiveMigrate', 'LiveMigrateIfPossible', 'External', 'None')
SOURCE_TYPES = ('blank', 'http', 'registry', 'pvc')

# Applied only when the VM is created; an existing VM keeps what it has unless the option is given.
CREATE_DEFAULTS = dict(
    cpu_cores=1,
    memory='1Gi',
    eviction_strategy='LiveMigrate',
    disk_size='10Gi',
    storage_class=DEFAULT_STORAGE_CLASS,
    source=dict(type='blank'),
)
# Options that shape devices and disks: written when the VM is created, never patched afterwards.
CREATE_ONLY = ('disk_size', 'storage_class', 'source', 'cloud_init_user_data')


class VmError(TwinroomError):
    """A refusal or failure of the vm modules."""


def vm_ref(params):
    return 'VirtualMachine %s/%s' % (params['namespace'], params['name'])


def known_rooms_from_nodes(nodes):
    """The rooms the cluster has: distinct zone labels of its Nodes (dicts as the API returns them)."""
    zones = set()
    for node in nodes or []:
        zone = ((node.get('metadata') or {}).get('labels') or {}).get(ZONE_LABEL)
        if zone:
            zones.add(zone)
    return sorted(zones)


def check_home_room(home_room, known, source, ref):
    """Refuse a home room that is not one of the known rooms; source: 'nodes' or 'rooms'."""
    if home_room in known:
        return home_room
    where = ('the option rooms' if source == 'rooms'
             else "the %s labels of the cluster's Nodes" % ZONE_LABEL)
    if not known:
        if source == 'rooms':
            raise VmError("Unknown home room '%s' for %s: the option rooms is empty." % (home_room, ref))
        raise VmError(
            "Unknown home room '%s' for %s: no Node carries the label %s, so the cluster has no rooms yet. "
            "Label the nodes (site.yml does) or give the rooms option." % (home_room, ref, ZONE_LABEL))
    raise VmError("Unknown home room '%s' for %s: the known rooms are %s (from %s)."
                  % (home_room, ref, join_words(known), where))


def effective_run_strategy(vm):
    """runStrategy of a VM (dict), reading the deprecated spec.running too; None when neither is set."""
    spec = (vm or {}).get('spec') or {}
    if spec.get('runStrategy'):
        return spec['runStrategy']
    if spec.get('running') is not None:
        return 'Always' if spec['running'] else 'Halted'
    return None


def decide_run_strategy(state, requested, existing):
    """The runStrategy the VM must have for `state`, given the requested one and the VM as it is (or None).

    present: the requested one; else what the VM has; else Always (new VM).
    started: kept running by KubeVirt - Always or RerunOnFailure. A VM already on one of them is left as it
             is (not restarted); otherwise Always, or the requested one.
    stopped: Halted.
    """
    current = effective_run_strategy(existing)
    if state == 'stopped':
        if requested not in (None, 'Halted'):
            raise VmError("state=stopped means runStrategy Halted; run_strategy %s contradicts it. Leave run_strategy "
                          "out, or use state=present with run_strategy %s." % (requested, requested))
        return 'Halted'
    if state == 'started':
        if requested is not None and requested not in RUNNING_STRATEGIES:
            raise VmError("state=started keeps the VM running with runStrategy Always or RerunOnFailure; "
                          "run_strategy %s does not. Use state=present with run_strategy %s." % (requested, requested))
        if requested:
            return requested
        return current if current in RUNNING_STRATEGIES else 'Always'
    if state == 'present':
        return requested or current or 'Always'
    raise ValueError('no run strategy for state %r' % (state,))


def with_create_defaults(params):
    """params with the two-room defaults filled in where an option was not given."""
    full = dict(params)
    for key, value in CREATE_DEFAULTS.items():
        if full.get(key) is None:
            full[key] = copy.deepcopy(value)
    return full


def check_source(source, ref):
    kind = source.get('type') or 'blank'
    if kind in ('http', 'registry') and not source.get('url'):
        raise VmError("The %s source of %s needs source.url (for example %s)."
                      % (kind, ref, 'https://host/disk.qcow2' if kind == 'http' else 'docker://registry/image:tag'))
    if kind == 'pvc' and not source.get('name'):
        raise VmError("The pvc source of %s needs source.name, the PVC to clone." % (ref,))
    extra = [k for k in ('url', 'name', 'namespace') if source.get(k) and not _source_uses(kind, k)]
    if extra:
        raise VmError("source.%s does not apply to a %s source of %s." % (extra[0], kind, ref))


def _source_uses(kind, key):
    return (kind in ('http', 'registry') and key == 'url') or (kind == 'pvc' and key in ('name', 'namespace'))


def datavolume_source(source, namespace):
    kind = source.get('type') or 'blank'
    if kind == 'blank':
        return {'blank': {}}
    if kind in ('http', 'registry'):
        return {kind: {'url': source['url']}}
    return {'pvc': {'name': source['name'], 'namespace': source.get('namespace') or namespace}}


def root_datavolume(params):
    """The dataVolumeTemplate of the root disk: CDI `storage` on the replicated class, RWX block."""
    return {
        'metadata': {'name': '%s-%s' % (params['name'], ROOT_DISK)},
        'spec': {
            'storage': {
                'storageClassName': params['storage_class'],
                'accessModes': ['ReadWriteMany'],
                'volumeMode': 'Block',
                'resources': {'requests': {'storage': params['disk_size']}},
            },
            'source': datavolume_source(params['source'], params['namespace']),
        },
    }


def affinity(params, updating=False):
    """Node affinity to the home room and pod anti-affinity within the group, both preferred unless asked.

    When updating, the other kind of anti-affinity term is set to None (JSON merge patch: delete it), so
    switching between preferred and required leaves no stale term behind."""
    result = {}
    if params.get('home_room'):
        result['nodeAffinity'] = {'preferredDuringSchedulingIgnoredDuringExecution': [{
            'weight': WEIGHT,
            'preference': {'matchExpressions': [
                {'key': ZONE_LABEL, 'operator': 'In', 'values': [params['home_room']]}]},
        }]}
    group = params.get('anti_affinity_group')
    if group:
        term = {
            'labelSelector': {
                'matchLabels': {ANTI_AFFINITY_LABEL: group},
                # Not against its own pods: a live migration's target would otherwise avoid the source's room.
                'matchExpressions': [{'key': VM_LABEL, 'operator': 'NotIn', 'values': [params['name']]}],
            },
            'topologyKey': ZONE_LABEL,
        }
        required = 'requiredDuringSchedulingIgnoredDuringExecution'
        preferred = 'preferredDuringSchedulingIgnoredDuringExecution'
        if params.get('anti_affinity_required'):
            anti = {required: [term]}
            if updating:
                anti[preferred] = None
        else:
            anti = {preferred: [{'weight': WEIGHT, 'podAffinityTerm': term}]}
            if updating:
                anti[required] = None
        result['podAntiAffinity'] = anti
    return result


def build_vm(params, existing=None):
    """The VirtualMachine to send: the whole object for a new VM, for an existing one only what the options
    set (sent as a JSON merge patch, so everything else of the VM stays as it is).

    params: the module's parameters (home_room already checked). existing: the VM as read, or None.
    """
    updating = existing is not None
    ref = vm_ref(params)
    if not updating:
        params = with_create_defaults(params)
    if params.get('source') is not None:
        check_source(params['source'], ref)

    run_strategy = decide_run_strategy(params['state'], params.get('run_strategy'), existing)
    labels = dict(params.get('labels') or {})
    if params.get('home_room'):
        labels[HOME_ROOM_LABEL] = params['home_room']
    template_labels = dict(params.get('labels') or {})
    template_labels[VM_LABEL] = params['name']
    if params.get('home_room'):
        # On the launcher pods too: twinroom.ha.failback finds the VMs to move home by it.
        template_labels[HOME_ROOM_LABEL] = params['home_room']
    if params.get('anti_affinity_group'):
        template_labels[ANTI_AFFINITY_LABEL] = params['anti_affinity_group']

    metadata = {'name': params['name'], 'namespace': params['namespace']}
    if labels:
        metadata['labels'] = labels
    if params.get('annotations'):
        metadata['annotations'] = dict(params['annotations'])

    template_spec = {}
    domain = {}
    if params.get('cpu_cores') is not None:
        domain['cpu'] = {'cores': params['cpu_cores']}
    if params.get('memory') is not None:
        domain['memory'] = {'guest': params['memory']}
    if params.get('eviction_strategy') is not None:
        template_spec['evictionStrategy'] = params['eviction_strategy']
    aff = affinity(params, updating)
    if aff:
        template_spec['affinity'] = aff

    spec = {'template': {'metadata': {'labels': template_labels}, 'spec': template_spec}}
    if current_needs_patch(existing, run_strategy):
        spec['runStrategy'] = run_strategy
        if updating and 'running' in (existing.get('spec') or {}):
            spec['running'] = None  # deprecated and mutually exclusive with runStrategy

    if not updating:
        disks = [{'name': ROOT_DISK, 'disk': {'bus': 'virtio'}}]
        volumes = [{'name': ROOT_DISK, 'dataVolume': {'name': '%s-%s' % (params['name'], ROOT_DISK)}}]
        if params.get('cloud_init_user_data'):
            disks.append({'name': CLOUD_INIT_DISK, 'disk': {'bus': 'virtio'}})
            volumes.append({'name': CLOUD_INIT_DISK, 'cloudInitNoCloud': {'userData': params['cloud_init_user_data']}})
        domain['devices'] = {
            'disks': disks,
            # masquerade on the pod network: the binding that live migration supports
            'interfaces': [{'name': NETWORK, 'masquerade': {}}],
        }
        template_spec['networks'] = [{'name': NETWORK, 'pod': {}}]
        template_spec['volumes'] = volumes
        spec['dataVolumeTemplates'] = [root_datavolume(params)]
    if domain:
        template_spec['domain'] = domain

    return {'apiVersion': API_VERSION, 'kind': 'VirtualMachine', 'metadata': metadata, 'spec': spec}


def current_needs_patch(existing, run_strategy):
    """Send runStrategy when creating, or when the VM's differs (or still uses spec.running)."""
    if existing is None:
        return True
    spec = existing.get('spec') or {}
    return spec.get('runStrategy') != run_strategy or 'running' in spec


def creation_only_drift(params, existing):
    """Names of create-only options given with a value the existing VM does not have."""
    if existing is None:
        return []
    spec = existing.get('spec') or {}
    templates = spec.get('dataVolumeTemplates') or []
    root_name = '%s-%s' % (params['name'], ROOT_DISK)
    root = next((t for t in templates if (t.get('metadata') or {}).get('name') == root_name), None)
    storage = ((root or {}).get('spec') or {}).get('storage') or {}
    have = {
        'disk_size': ((storage.get('resources') or {}).get('requests') or {}).get('storage'),
        'storage_class': storage.get('storageClassName'),
        'source': ((root or {}).get('spec') or {}).get('source'),
        'cloud_init_user_data': None,
    }
    for volume in (((spec.get('template') or {}).get('spec') or {}).get('volumes') or []):
        if volume.get('name') == CLOUD_INIT_DISK:
            have['cloud_init_user_data'] = (volume.get('cloudInitNoCloud') or {}).get('userData')
    drift = []
    for key in CREATE_ONLY:
        value = params.get(key)
        if value is None:
            continue
        if key == 'source':
            check_source(value, vm_ref(params))
            value = datavolume_source(value, params['namespace'])
        if value != have[key]:
            drift.append(key)
    return drift


def home_room_of(vm):
    """The home room a VM was given: its twinroom.io/home-room label, else its preferred zone affinity."""
    labels = ((vm or {}).get('metadata') or {}).get('labels') or {}
    if labels.get(HOME_ROOM_LABEL):
        return labels[HOME_ROOM_LABEL]
    template_spec = (((vm or {}).get('spec') or {}).get('template') or {}).get('spec') or {}
    terms = (((template_spec.get('affinity') or {}).get('nodeAffinity') or {})
             .get('preferredDuringSchedulingIgnoredDuringExecution') or [])
    for term in terms:
        for expr in ((term.get('preference') or {}).get('matchExpressions') or []):
            if expr.get('key') == ZONE_LABEL and expr.get('operator') == 'In' and len(expr.get('values') or []) == 1:
                return expr['values'][0]
    return None


def _condition(obj, kind):
    for cond in ((obj or {}).get('status') or {}).get('conditions') or []:
        if cond.get('type') == kind:
            return cond.get('status') == 'True'
    return None


def vm_summary(vm, vmi, node_zones):
    """What vm_info reports for one VM. vmi: its VirtualMachineInstance or None; node_zones: {node: zone}."""
    meta = vm.get('metadata') or {}
    spec = vm.get('spec') or {}
    template_labels = (((spec.get('template') or {}).get('metadata') or {}).get('labels') or {})
    vmi_status = (vmi or {}).get('status') or {}
    node = vmi_status.get('nodeName')
    room = node_zones.get(node) if node else None
    home = home_room_of(vm)
    return {
        'name': meta.get('name'),
        'namespace': meta.get('namespace'),
        'run_strategy': effective_run_strategy(vm),
        'status': (vm.get('status') or {}).get('printableStatus'),
        'ready': bool(_condition(vm, 'Ready')),
        'vmi_phase': vmi_status.get('phase') if vmi else None,
        'node': node,
        'room': room,
        'home_room': home,
        'in_home_room': (room == home) if (room and home) else None,
        'anti_affinity_group': template_labels.get(ANTI_AFFINITY_LABEL),
        'eviction_strategy': (((spec.get('template') or {}).get('spec') or {}).get('evictionStrategy')),
        'migration': vmi_status.get('migrationState'),
    }
