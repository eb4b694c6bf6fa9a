# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failback: move workloads that run away from their home room back to it, a few at a time.

A workload's home room is the label ``twinroom.io/home-room`` on its pods (the VM module and the pod
templates set it; the scheduler is steered there by a preferred node affinity on the room's zone). After a
failover and recovery, what was homed in the recovered room runs in the other one. Failback moves it back:

- a pod of a ReplicaSet or StatefulSet is deleted (gracefully: it is alive), and its controller recreates it;
  the scheduler's preferred affinity puts the new pod in the home room;
- a VM is live-migrated (a VirtualMachineInstanceMigration); KubeVirt schedules the target pod with the VMI's
  affinity, so it lands in the home room. It is back once its migration has succeeded and the VMI runs on a node
  of the home room; a migration that fails (the link cut mid-way, a timeout) leaves the VM running where it was
  and stops the failback with KubeVirt's reason;

``batch`` at a time; the next batch starts only when the previous one runs again (or its wait ends), so the
rate is bounded by how fast workloads really come back, never by a guess.

The decision (what is away from home, in which order, in which batches) is pure; the runner reads, applies
and waits.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.twinroom.ha.plugins.module_utils import k8s
from ansible_collections.twinroom.ha.plugins.module_utils.k8s import HAS_KUBERNETES  # noqa: F401 pylint: disable=unused-import
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import HOME_ROOM_LABEL, TwinroomError, join_words

try:
    from kubernetes import client as k8s_client
except ImportError:  # reported by the module
    pass

MOVABLE_OWNERS = ('ReplicaSet', 'StatefulSet')


class FailbackError(TwinroomError):
    """A refusal or failure of failback."""


def _owner(pod):
    refs = pod.get('metadata', {}).get('ownerReferences') or []
    controller = [r for r in refs if r.get('controller')]
    return (controller[0].get('kind'), controller[0].get('name')) if controller else (None, None)


def node_rooms(rooms):
    """{node: room} from {room: [nodes]}; a node in two rooms is refused."""
    result = {}
    for room, nodes in sorted((rooms or {}).items()):
        for node in nodes or ():
            if node in result:
                raise FailbackError('node %s is listed in rooms %s and %s: a node lives in one room.'
                                    % (node, result[node], room))
            result[node] = room
    return result


def plan(pods, rooms, room, home_label=HOME_ROOM_LABEL, home_values=None):
    """What to move back to ``room``: a list of moves, sorted by namespace and name.

    A move is a dict: kind (pod|vm), namespace, name (pod name, or VMI name for a vm), node (where it runs),
    owner ('Kind/name'). Only pods labelled with home room ``room``, Running, not terminating, on a node of
    another known room, and owned by a ReplicaSet, a StatefulSet or (a VM's launcher pod) a
    VirtualMachineInstance. Pods without a controller are skipped: nothing would recreate them.
    """
    homes = set(home_values or [room])
    if room not in (rooms or {}):
        raise FailbackError("Unknown room '%s': the rooms are %s." % (room, ', '.join(sorted(rooms or {})) or 'none'))
    where = node_rooms(rooms)
    moves = []
    for pod in pods:
        meta = pod.get('metadata', {})
        if (meta.get('labels') or {}).get(home_label) not in homes or meta.get('deletionTimestamp'):
            continue
        if pod.get('status', {}).get('phase') != 'Running':
            continue
        node = pod.get('spec', {}).get('nodeName')
        if where.get(node) in (None, room):
            continue
        kind, owner = _owner(pod)
        if kind == 'VirtualMachineInstance':
            if any(m['kind'] == 'vm' and (m['namespace'], m['name']) == (meta.get('namespace'), owner) for m in moves):
                continue  # a second launcher pod of one VM (a migration under way): one move
            moves.append(dict(kind='vm', namespace=meta.get('namespace'), name=owner, node=node,
                              owner='VirtualMachineInstance/%s' % owner))
        elif kind in MOVABLE_OWNERS:
            moves.append(dict(kind='pod', namespace=meta.get('namespace'), name=meta.get('name'), node=node,
                              owner='%s/%s' % (kind, owner)))
    return sorted(moves, key=lambda m: (m['namespace'] or '', m['kind'], m['name']))


def batches(moves, size):
    if size < 1:
        raise FailbackError('batch must be at least 1, got %d.' % size)
    return [moves[i:i + size] for i in range(0, len(moves), size)]


def landed(move, pods, rooms, room, not_before_uids):
    """Where a moved workload runs now: 'home' when it runs in ``room``, 'away' when it runs elsewhere,
    None while it does not run yet. ``not_before_uids``: pod UIDs seen before the move (not replacements)."""
    where = node_rooms(rooms)
    for pod in pods:
        meta = pod.get('metadata', {})
        if meta.get('uid') in not_before_uids or meta.get('deletionTimestamp'):
            continue
        if pod.get('status', {}).get('phase') != 'Running' or meta.get('namespace') != move['namespace']:
            continue
        kind, owner = _owner(pod)
        if move['kind'] == 'vm':
            match = kind == 'VirtualMachineInstance' and owner == move['name']
        elif move['owner'].startswith('StatefulSet/'):
            match = meta.get('name') == move['name']
        else:
            match = '%s/%s' % (kind, owner) == move['owner']
        if match:
            return 'home' if where.get(pod.get('spec', {}).get('nodeName')) == room else 'away'
    return None


def migration_landed(migration, vmi, rooms, room):
    """Where a live-migrated VM runs once its VirtualMachineInstanceMigration has ended: 'home' or 'away' by the
    VMI's node after it succeeded, 'failed' after it failed (or when the migration is gone), None while it runs."""
    if migration is None:
        return 'failed'
    phase = (migration.get('status') or {}).get('phase')
    if phase == 'Succeeded':
        node = ((vmi or {}).get('status') or {}).get('nodeName')
        return 'home' if node_rooms(rooms).get(node) == room else 'away'
    return 'failed' if phase == 'Failed' else None


def migration_report(migration, vmi):
    """{node, reason, seconds} of an ended migration: where the VMI runs now, KubeVirt's failure reason (the
    migration state of this migration on the migration or the VMI), and the seconds from its start to its end."""
    uid = ((migration or {}).get('metadata') or {}).get('uid')
    states = [((migration or {}).get('status') or {}).get('migrationState') or {},
              ((vmi or {}).get('status') or {}).get('migrationState') or {}]
    state = {}
    for found in states:  # the VMI's, written by the nodes, over the copy the migration keeps once final
        if found.get('migrationUid') and found.get('migrationUid') == uid:
            state.update(found)
    seconds = None
    if state.get('startTimestamp') and state.get('endTimestamp'):
        seconds = (_rfc3339(state['endTimestamp']) - _rfc3339(state['startTimestamp'])).total_seconds()
    reason = state.get('failureReason')
    if migration is None:
        reason = 'the migration object is gone'
    return dict(node=((vmi or {}).get('status') or {}).get('nodeName'), seconds=seconds,
                reason=reason or 'KubeVirt gives no reason: see the events of the migration')


def _rfc3339(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ')


class Cluster(object):
    """The API I/O of failback."""

    def __init__(self, kubeconfig=None, context=None):
        try:
            api_client = k8s.api_client(kubeconfig, context)
        except Exception as exc:
            raise FailbackError('cannot load kubeconfig %s%s: %s' % (
                kubeconfig or '(default)', ' (context %s)' % context if context else '', exc))
        self.core = k8s_client.CoreV1Api(api_client)
        self.custom = k8s_client.CustomObjectsApi(api_client)
        self.api_client = api_client

    def pods(self, label_selector=None):
        return self.watched_pods(label_selector)[0]()[0]

    def watched_pods(self, label_selector):
        """(list_objects, watch_events) of the pods ``label_selector`` selects, for k8s.wait_for."""
        list_pods, watch_events = k8s.watched(self.core.list_pod_for_all_namespaces, self.api_client,
                                              label_selector=label_selector)

        def list_objects():
            try:
                return list_pods()
            except Exception as exc:  # ApiException, connection refused, timeout
                raise k8s.api_error(exc, 'list pods (%s)' % label_selector, FailbackError)
        return list_objects, watch_events

    def move(self, move):
        try:
            if move['kind'] == 'pod':
                self.core.delete_namespaced_pod(move['name'], move['namespace'], _request_timeout=k8s.API_TIMEOUT)
            else:
                body = dict(apiVersion='kubevirt.io/v1', kind='VirtualMachineInstanceMigration',
                            metadata=dict(generateName='failback-%s-' % move['name'], namespace=move['namespace'],
                                          labels={'app.kubernetes.io/managed-by': 'twinroom.ha.failback'}),
                            spec=dict(vmiName=move['name']))
                created = self.custom.create_namespaced_custom_object('kubevirt.io', 'v1', move['namespace'],
                                                                      'virtualmachineinstancemigrations', body,
                                                                      _request_timeout=k8s.API_TIMEOUT)
                return created['metadata']['name']
        except Exception as exc:  # ApiException, connection refused, timeout
            if getattr(exc, 'status', None) == 404:
                return None  # gone meanwhile: its controller has already replaced it
            raise k8s.api_error(exc, 'move %s %s/%s back' % (move['kind'], move['namespace'], move['name']),
                                FailbackError)
        return None

    def migration(self, move):
        """(the VirtualMachineInstanceMigration of a VM move, its VMI); None for one that is gone."""
        found = []
        for plural, name in (('virtualmachineinstancemigrations', move['migration']),
                             ('virtualmachineinstances', move['name'])):
            try:
                found.append(self.custom.get_namespaced_custom_object('kubevirt.io', 'v1', move['namespace'], plural,
                                                                      name, _request_timeout=k8s.API_TIMEOUT))
            except Exception as exc:  # ApiException, connection refused, timeout
                if getattr(exc, 'status', None) != 404:
                    raise k8s.api_error(exc, 'read %s %s/%s' % (plural, move['namespace'], name), FailbackError)
                found.append(None)
        return tuple(found)


def run_failback(params, check_mode=False, cluster=None, clock=time.monotonic, sleep=time.sleep):
    """Plan, and unless ``check_mode`` move batch by batch, waiting for each. Returns the module result."""
    started = clock()
    homes = sorted(set(params.get('home_values') or [params['room']]))
    selector = '%s in (%s)' % (params['home_label'], ','.join(homes))
    cluster = cluster or Cluster(params.get('kubeconfig'), params.get('context'))
    pods = cluster.pods(selector)
    moves = plan(pods, params['rooms'], params['room'], params['home_label'], homes)
    groups = batches(moves, params['batch'])
    result = dict(changed=bool(moves), room=params['room'], moves=moves, batches=len(groups), moved=[],
                  still_away=[], not_running=[], failed_migrations=[])
    if check_mode or not moves:
        result['elapsed'] = round(clock() - started, 2)
        return result
    for group in groups:
        before = set(pod['metadata']['uid'] for pod in cluster.pods(selector))
        for move in group:
            migration = cluster.move(move)
            if move['kind'] == 'vm' and migration:
                move['migration'] = migration
        pods, migrations = _wait_for_batch(cluster, selector, group, params, before, clock, sleep)
        for move in group:
            entry = dict(move, seconds=round(clock() - started, 1))
            if 'migration' in move:
                found = migrations.get(move['migration'], (None, None))
                where = migration_landed(found[0], found[1], params['rooms'], params['room'])
                report = migration_report(*found)
                entry.update(now_on=report['node'], migration_seconds=report['seconds'])
                if where == 'failed':
                    entry['reason'] = report['reason']
            else:
                where = landed(move, pods, params['rooms'], params['room'], before)
            {'home': result['moved'], 'away': result['still_away'],
             'failed': result['failed_migrations']}.get(where, result['not_running']).append(entry)
        if result['not_running'] or result['failed_migrations']:
            break  # do not take more away while a moved workload does not run, or a migration failed
        if params.get('pause'):
            sleep(params['pause'])
    result['elapsed'] = round(clock() - started, 2)
    if result['failed_migrations']:
        raise FailbackError(
            '%s: stopped failback there. Check the link between the rooms and the migration\'s events, and run '
            'again.' % '; '.join(
                'live migration of %s back to %s failed (%s); it keeps running on %s'
                % (_moved_name(m), params['room'], m['reason'], m['now_on'] or 'no node')
                for m in result['failed_migrations']), **result)
    migrating = ', '.join('%s (%s)' % (_moved_name(m), m['migration']) for m in result['not_running'] if 'migration' in m)
    if migrating:
        raise FailbackError(
            'live migration of %s still under way after %ss: stopped failback there; the VM keeps running and its '
            'migration ends on its own (kubectl get vmim -n <namespace> <migration>). For large VMs raise '
            'failback_timeout, then run again.' % (migrating, params['timeout']), **result)
    if result['not_running']:
        raise FailbackError(
            '%s did not run again within %ss of being moved: stopped failback there. Check the workloads and run '
            'again.' % (', '.join(_moved_name(m) for m in result['not_running']), params['timeout']), **result)
    if result['still_away']:
        result.setdefault('warnings', []).append(
            '%d workload(s) came back outside %s (the scheduler found no room for them there): %s'
            % (len(result['still_away']), params['room'],
               ', '.join('%s/%s' % (m['namespace'], m['name']) for m in result['still_away'])))
    return result


def _moved_name(move):
    return '%s %s/%s' % (move['kind'], move['namespace'], move['name'])


def _wait_for_batch(cluster, selector, group, params, before, clock, sleep):
    """(pods, {migration name: (migration, VMI)}) once every move of ``group`` runs again (home or away) and every
    live migration of it has ended, or as last seen when ``timeout`` ends.

    Pods only: follows a watch when the cluster offers one (``watched_pods``), else lists every second. With live
    migrations: reads the pods and each migration every second."""
    migrating = [m for m in group if 'migration' in m]
    if hasattr(cluster, 'watched_pods') and not migrating:
        list_pods, watch_events = cluster.watched_pods(selector)
    else:
        watch_events = None

        def list_pods():
            return cluster.pods(selector), None

    def list_objects():
        pods, version = list_pods()
        if not migrating:
            return pods, version
        return (pods, dict((m['migration'], cluster.migration(m)) for m in migrating)), None

    def split(objects):
        return objects if migrating else (objects, {})

    def ended(move, migrations):
        found = migrations.get(move['migration'], (None, None))
        return migration_landed(found[0], found[1], params['rooms'], params['room'])

    def running_again(objects):
        pods, migrations = split(objects)
        return all(ended(m, migrations) if 'migration' in m else
                   landed(m, pods, params['rooms'], params['room'], before) for m in group)

    def still_missing(objects):
        pods, migrations = split(objects)
        return join_words(
            '%s (%s)' % (_moved_name(m), 'migrating' if 'migration' in m else 'not running') for m in group
            if not (ended(m, migrations) if 'migration' in m else
                    landed(m, pods, params['rooms'], params['room'], before)))

    try:
        return split(k8s.wait_for('the moved workloads to run again', list_objects, running_again, params['timeout'],
                                  watch_events, describe=still_missing, clock=clock, sleep=sleep)[1])
    except k8s.WaitTimeout as exc:
        return split(exc.objects)
