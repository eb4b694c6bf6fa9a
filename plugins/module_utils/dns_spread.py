# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the cluster DNS runs, room by room, and which replica to move so that each room has one (roles/cluster_dns,
entry point spread, which recover.yml runs once a room is back).

A plan (layer 4): pure, over the Pod and Node objects as the API returns them (dicts).
"""

from __future__ import annotations

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import OUT_OF_SERVICE_TAINT_KEY, ZONE_LABEL

# Taints a CoreDNS replica does not tolerate: a room whose every node carries one cannot take a replica yet (the node
# lifecycle controller lifts not-ready and unreachable on its own schedule after the node reports Ready).
BLOCKING_TAINTS = ('node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable', OUT_OF_SERVICE_TAINT_KEY,
                   'node.kubernetes.io/unschedulable')


def _get(obj, *path):
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def node_open(node):
    """A node that can run a replica now: runs containers (not kwok), schedulable, Ready, no blocking taint."""
    if (_get(node, 'metadata', 'labels') or {}).get('type') == 'kwok' or _get(node, 'spec', 'unschedulable'):
        return False
    ready = [c for c in _get(node, 'status', 'conditions') or () if c.get('type') == 'Ready']
    if not ready or ready[0].get('status') != 'True':
        return False
    return not any(taint.get('key') in BLOCKING_TAINTS for taint in _get(node, 'spec', 'taints') or ())


def _running(pod):
    statuses = _get(pod, 'status', 'containerStatuses') or ()
    return (_get(pod, 'status', 'phase') == 'Running' and not _get(pod, 'metadata', 'deletionTimestamp')
            and bool(statuses) and all(status.get('ready') for status in statuses))


def plan(pods, nodes, rooms):
    """{placed: {pod: room}, missing: [rooms without a ready replica], waiting: [those whose nodes cannot take one
    yet], move: the replica to delete so that its ReplicaSet creates it in a missing room ('' for none), decided:
    nothing left to wait for - a replica to move, or none missing}."""
    zone = dict((_get(node, 'metadata', 'name'), (_get(node, 'metadata', 'labels') or {}).get(ZONE_LABEL, ''))
                for node in nodes)
    placed = dict((_get(pod, 'metadata', 'name'), zone.get(_get(pod, 'spec', 'nodeName'), ''))
                  for pod in pods if _running(pod))
    missing = [room for room in rooms if room not in placed.values()]
    open_rooms = set(zone[_get(node, 'metadata', 'name')] for node in nodes if node_open(node))
    waiting = [room for room in missing if room not in open_rooms]
    crowded = sorted(pod for pod, room in placed.items() if list(placed.values()).count(room) > 1)
    move = crowded[0] if crowded and len(waiting) < len(missing) else ''
    return dict(placed=placed, missing=missing, waiting=waiting, move=move, decided=bool(move) or not missing)
