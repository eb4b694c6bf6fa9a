# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LINSTOR quorum decisions, pure functions on REST-shaped dicts (linstor_rest.py reads them): the two-room
settings of a resource group (:func:`desired_resource_group`, :func:`resource_group_plan`), per resource the room,
disk state and quorum of each replica (:func:`placement_summary`), and the quorum override's refusal and plans
(:func:`check_other_room_fenced`, :func:`override_plan`, :func:`restore_plan`).

The override, in words: DRBD's ``quorum majority`` with two diskful replicas (one per room) and a diskless
tiebreaker keeps I/O in the half that still sees the tiebreaker. When the tiebreaker was in the lost room (or there
is none), the surviving replica suspends I/O. The override sets ``DrbdOptions/Resource/quorum`` to ``off`` on the
surviving room's resources of exactly those resource definitions - a resource-level property, which LINSTOR's
satellite puts first when it writes that node's DRBD configuration, so the lost room's replicas keep their quorum
setting - and records the value it replaced in the same resource's ``Aux/twinroom.io/quorum-override`` property.
It is refused unless every node of the other room is recorded fenced (the ``twinroom.io/fenced`` annotation and
the out-of-service taint): with quorum off on both sides of a cut link, both would write. ``state: absent`` puts
the recorded values back and removes the records.

Layer 3 (plan). See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import (
    FENCED_ANNOTATION, OUT_OF_SERVICE_TAINT_KEY, ZONE_LABEL, TwinroomError, join_words, other_room)

QUORUM = 'DrbdOptions/Resource/quorum'
ON_NO_QUORUM = 'DrbdOptions/Resource/on-no-quorum'
ON_NO_DATA_ACCESSIBLE = 'DrbdOptions/Resource/on-no-data-accessible'
ON_SUSPENDED_PRIMARY_OUTDATED = 'DrbdOptions/Resource/on-suspended-primary-outdated'
AUTO_TIEBREAKER = 'DrbdOptions/auto-add-quorum-tiebreaker'
OVERRIDE_RECORD = 'Aux/twinroom.io/quorum-override'
OVERRIDE_BY = 'twinroom.ha.linstor_quorum_override'
OVERRIDE_VALUE = 'off'

# LINSTOR resource flags (python-linstor sharedconsts FLAG_*).
FLAG_DISKLESS = 'DISKLESS'
FLAG_DRBD_DISKLESS = 'DRBD_DISKLESS'
FLAG_TIE_BREAKER = 'TIE_BREAKER'
FLAG_CLIENT = 'CLIENT'            # a diskless DRBD client: no quorum vote
FLAG_INACTIVE = 'INACTIVE'
FLAGS_GONE = ('DELETE', 'DRBD_DELETE')

SELECT_FILTER_KEYS = ('place_count', 'x_replicas_on_different_map', 'storage_pool_list')


class LinstorQuorumError(TwinroomError):
    """A refusal or failure of the LINSTOR modules."""


# --- Pure decisions: rooms ---


def zone_property(zone_label):
    """The LINSTOR node property that carries the Kubernetes zone label (Piraeus sets it as an Aux property)."""
    return 'Aux/' + zone_label


def check_rooms(rooms):
    """rooms: {room: zone}. Exactly two rooms with distinct, non-empty zones."""
    if not isinstance(rooms, dict) or len(rooms) != 2:
        raise LinstorQuorumError('rooms must name exactly two rooms with their zone label values, for example '
                                 '{room_a: room-a, room_b: room-b}; got %s.' % json.dumps(rooms, sort_keys=True))
    zones = [rooms[room] for room in sorted(rooms)]
    if not all(zones) or zones[0] == zones[1]:
        raise LinstorQuorumError('rooms %s: each room needs its own zone label value.' % json.dumps(rooms, sort_keys=True))


def lost_room(rooms, surviving_room):
    """The room that is not ``surviving_room`` (``rooms``: {room: zone})."""
    check_rooms(rooms)
    try:
        return other_room(surviving_room, rooms)
    except TwinroomError as exc:
        raise LinstorQuorumError('surviving_room %s' % exc.msg)


def node_rooms(nodes, rooms, zone_label=ZONE_LABEL):
    """LINSTOR nodes (REST ``Node`` dicts) -> {name: {room, zone, online}}; room None outside both rooms."""
    by_zone = dict((zone, room) for room, zone in rooms.items())
    key = zone_property(zone_label)
    result = {}
    for node in nodes:
        zone = (node.get('props') or {}).get(key)
        result[node['name']] = dict(room=by_zone.get(zone), zone=zone,
                                    online=node.get('connection_status') == 'ONLINE')
    return result


# --- Pure decisions: the resource group ---


def desired_resource_group(witness, zone_label=ZONE_LABEL, on_no_quorum='suspend-io', place_count=2,
                           storage_pools=None):
    """The two-room settings of a resource group: {'props': {...}, 'select_filter': {...}}.

    * one diskful replica per room: ``place_count`` 2 and at most one replica per zone value
      (``x_replicas_on_different_map`` {Aux/<zone label>: 1});
    * DRBD quorum ``majority``; losing it suspends I/O (``suspend-io``: a VM's disk freezes instead of turning
      read-only) - or ``io-error``;
    * the automatic diskless tiebreaker only with a witness. LINSTOR places that tiebreaker under the group's rules
      with the diskful replicas counted, so the one-replica-per-zone rule sends it to a third zone - the witness's.
      Without a witness no node qualifies (every node is in one of the two zones), so it is switched off rather
      than left to fail on every new volume.
    """
    props = {
        QUORUM: 'majority',
        ON_NO_QUORUM: on_no_quorum,
        ON_NO_DATA_ACCESSIBLE: on_no_quorum,
        ON_SUSPENDED_PRIMARY_OUTDATED: 'force-secondary',
        AUTO_TIEBREAKER: 'True' if witness else 'False',
    }
    select_filter = dict(place_count=place_count, x_replicas_on_different_map={zone_property(zone_label): 1})
    if storage_pools:
        select_filter['storage_pool_list'] = list(storage_pools)
    return dict(props=props, select_filter=select_filter)


def resource_group_view(group, desired):
    """The part of a REST ``ResourceGroup`` that ``desired`` manages: its props and select-filter fields."""
    if group is None:
        return None
    props = group.get('props') or {}
    select_filter = group.get('select_filter') or {}
    return dict(props=dict((key, props.get(key)) for key in sorted(desired['props'])),
                select_filter=dict((key, select_filter.get(key)) for key in SELECT_FILTER_KEYS
                                   if key in desired['select_filter']))


def _same_value(current, wanted):
    if isinstance(wanted, str) and isinstance(current, str):
        # LINSTOR keeps boolean properties as it got them ("true", "True"); compare those without case.
        if wanted in ('True', 'False'):
            return current.lower() == wanted.lower()
    return current == wanted


def resource_group_plan(group, desired):
    """What to do: {'create': bool, 'override_props': {...}, 'select_filter': {...}, 'changed', 'before', 'after'}.

    ``group`` is the REST ``ResourceGroup`` dict or None when it does not exist. Props the group has and
    ``desired`` does not name are left alone; so are select-filter fields it does not name.
    """
    before = resource_group_view(group, desired)
    after = dict(props=dict(desired['props']), select_filter=copy.deepcopy(desired['select_filter']))
    if before is None:
        return dict(create=True, override_props=dict(desired['props']),
                    select_filter=copy.deepcopy(desired['select_filter']), changed=True, before=None, after=after)
    override = dict((key, value) for key, value in desired['props'].items()
                    if not _same_value(before['props'].get(key), value))
    select_filter = dict((key, copy.deepcopy(value)) for key, value in desired['select_filter'].items()
                         if before['select_filter'].get(key) != value)
    for key in desired['props']:
        if key not in override:
            after['props'][key] = before['props'][key]  # the stored spelling, so the diff shows no change
    return dict(create=False, override_props=override, select_filter=select_filter,
                changed=bool(override or select_filter), before=before, after=after)


def resource_group_report(group, zone_label=ZONE_LABEL):
    """The quorum-relevant part of one REST ``ResourceGroup`` for the _info module."""
    props = group.get('props') or {}
    select_filter = group.get('select_filter') or {}
    spread = (select_filter.get('x_replicas_on_different_map') or {}).get(zone_property(zone_label))
    if spread is None and zone_property(zone_label) in (select_filter.get('replicas_on_different') or []):
        spread = 1
    return dict(
        description=group.get('description') or '',
        props=dict(props),
        select_filter=dict(select_filter),
        quorum=props.get(QUORUM),
        on_no_quorum=props.get(ON_NO_QUORUM),
        auto_tiebreaker=None if props.get(AUTO_TIEBREAKER) is None else props[AUTO_TIEBREAKER].lower() == 'true',
        place_count=select_filter.get('place_count'),
        replicas_per_zone=spread,
    )


def witness_warnings(witness, placement, rooms):
    """Warnings about the nodes LINSTOR knows, for the resource group's tiebreaker setting."""
    outside = sorted(name for name, node in placement.items() if node['room'] is None and node['zone'])
    unzoned = sorted(name for name, node in placement.items() if not node['zone'])
    warnings = []
    if witness and not outside:
        warnings.append(
            'witness is true but no LINSTOR node has a zone outside %s: the tiebreaker cannot be placed, so losing '
            'a room suspends I/O until twinroom.ha.linstor_quorum_override. Register the witness as a LINSTOR '
            'satellite with its own zone label.' % join_words('%s (%s)' % (room, rooms[room]) for room in sorted(rooms)))
    if unzoned:
        warnings.append('LINSTOR nodes %s have no zone property: the one-replica-per-room rule does not cover them, '
                        'so both replicas could land in one room.' % join_words(unzoned))
    return warnings


# --- Pure decisions: where a resource's replicas are, and who keeps quorum ---


def _disk_states(resource):
    volumes = sorted(resource.get('volumes') or [], key=lambda v: v.get('volume_number', 0))
    return [((volume.get('state') or {}).get('disk_state') or 'Unknown') for volume in volumes]


def _is_diskless(flags):
    return FLAG_DISKLESS in flags or FLAG_DRBD_DISKLESS in flags


def keeps_quorum(voters, lost_room):
    """DRBD ``quorum majority`` with diskless tiebreakers, for the partition left when ``lost_room`` is gone.

    ``voters``: [{'room', 'diskful': bool}]. The partition keeps quorum with more than half of the diskful
    voters, or with exactly half of them and more than half of the diskless voters (DRBD's tiebreaker rule).
    """
    diskful = [v for v in voters if v['diskful']]
    diskless = [v for v in voters if not v['diskful']]
    left_diskful = [v for v in diskful if v['room'] != lost_room]
    left_diskless = [v for v in diskless if v['room'] != lost_room]
    if not left_diskful:
        return False
    if 2 * len(left_diskful) > len(diskful):
        return True
    return 2 * len(left_diskful) == len(diskful) and 2 * len(left_diskless) > len(diskless)


def placement_summary(definition, resources, placement, rooms):
    """One resource definition and its resources (REST ``ResourceWithVolumes`` dicts) -> the report.

    ``placement``: :func:`node_rooms`. Returns resource_group, diskful [{node, room, zone, disk_states,
    up_to_date, online}], tiebreaker ({node, room, zone, online} or None), diskless (other diskless resources,
    with ``voter``), keeps_quorum_if_lost {room: bool}, up_to_date_if_lost {room: bool}, quorum_override
    {node: record}, problems [text].
    """
    diskful, diskless, voters, overrides, problems = [], [], [], {}, []
    tiebreaker = None
    for resource in sorted(resources, key=lambda r: r['node_name']):
        flags = set(resource.get('flags') or [])
        if flags & set(FLAGS_GONE):
            continue
        node = resource['node_name']
        where = placement.get(node) or dict(room=None, zone=None, online=False)
        entry = dict(node=node, room=where['room'], zone=where['zone'], online=where['online'])
        record = (resource.get('props') or {}).get(OVERRIDE_RECORD)
        if record is not None:
            overrides[node] = parse_override_record(record)
        active = FLAG_INACTIVE not in flags
        if not _is_diskless(flags):
            states = _disk_states(resource)
            entry.update(disk_states=states, up_to_date=bool(states) and all(s == 'UpToDate' for s in states))
            diskful.append(entry)
            if active:
                voters.append(dict(room=where['room'], diskful=True, up_to_date=entry['up_to_date']))
            continue
        voter = active and FLAG_CLIENT not in flags
        if FLAG_TIE_BREAKER in flags and tiebreaker is None:
            tiebreaker = entry
        else:
            diskless.append(dict(entry, voter=voter))
        if voter:
            voters.append(dict(room=where['room'], diskful=False, up_to_date=False))
    room_names = sorted(rooms)
    by_room = dict((room, [d['node'] for d in diskful if d['room'] == room]) for room in room_names)
    for room in room_names:
        if len(by_room[room]) > 1:
            problems.append('%d diskful replicas in %s (%s): one room holds both copies.'
                            % (len(by_room[room]), room, join_words(by_room[room])))
    missing = [room for room in room_names if not by_room[room]]
    if missing and diskful:
        problems.append('no diskful replica in %s.' % join_words(missing))
    outside = [d['node'] for d in diskful if d['room'] is None]
    if outside:
        problems.append('diskful replicas on %s are in no room (zone %s).'
                        % (join_words(outside), join_words(sorted(set(str(d['zone']) for d in diskful if d['room'] is None)))))
    if tiebreaker is None and not any(d['voter'] for d in diskless):
        problems.append('no tiebreaker: losing either room suspends I/O until the quorum override.')
    keeps = dict((room, keeps_quorum(voters, room)) for room in room_names)
    up_to_date = dict((room, any(v['diskful'] and v['up_to_date'] and v['room'] != room for v in voters))
                      for room in room_names)
    return dict(
        resource_group=definition.get('resource_group_name'),
        diskful=diskful,
        tiebreaker=tiebreaker,
        diskless=diskless,
        keeps_quorum_if_lost=keeps,
        up_to_date_if_lost=up_to_date,
        quorum_override=overrides,
        problems=problems,
    )


# --- Pure decisions: the quorum override ---


def parse_override_record(value):
    """The Aux/twinroom.io/quorum-override property as a dict (text that is not a JSON object kept as ``raw``)."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return dict(raw=value)
    return parsed if isinstance(parsed, dict) else dict(raw=value)


def override_record(at, surviving_room, lost_room, previous):
    """The value stored with an override (compact JSON): when, which rooms, and the quorum value it replaced."""
    return json.dumps(dict(at=at, by=OVERRIDE_BY, surviving_room=surviving_room, lost_room=lost_room,
                           previous={QUORUM: previous}), sort_keys=True, separators=(',', ':'))


def check_other_room_fenced(lost_room, zone, kube_nodes, linstor_nodes, zone_label=ZONE_LABEL):
    """Raise unless every node of ``lost_room`` is recorded fenced; return the fenced nodes' names otherwise.

    ``kube_nodes``: the Kubernetes Nodes labelled ``zone_label=zone``, as {name: {'tainted', 'record'}} (the
    out-of-service taint and the parsed twinroom.io/fenced annotation). ``linstor_nodes``: names of the LINSTOR
    nodes in that room; each must be one of those Nodes, since a satellite Kubernetes does not know cannot be
    shown to be off.
    """
    problems = []
    for name in sorted(kube_nodes):
        node = kube_nodes[name]
        reasons = []
        record = node.get('record')
        if not record or 'raw' in record:
            reasons.append('no %s record' % FENCED_ANNOTATION)
        if not node.get('tainted'):
            reasons.append('no %s taint' % OUT_OF_SERVICE_TAINT_KEY)
        if reasons:
            problems.append('%s (%s)' % (name, ' and '.join(reasons)))
    for name in sorted(set(linstor_nodes) - set(kube_nodes)):
        problems.append('%s (a LINSTOR node in %s without a Kubernetes Node labelled %s=%s)'
                        % (name, lost_room, zone_label, zone))
    if not kube_nodes and not problems:
        problems.append('no Node is labelled %s=%s, so nothing shows that %s is down' % (zone_label, zone, lost_room))
    if problems:
        raise LinstorQuorumError(
            'Refusing quorum override while the other room is not fenced: %s %s. Fence %s first '
            '(twinroom.ha.fence with state fenced), then run this again.' % (lost_room, join_words(problems), lost_room),
            fenced=False)
    return sorted(kube_nodes)


def override_plan(summaries, resources_by_name, surviving_room, lost_room, at):
    """Changes for ``state: present``: ([{resource, node, set, delete}], {resource left alone: reason}).

    Resource definitions whose surviving room keeps quorum without ``lost_room`` are left alone (their protection
    stays); so are those without an UpToDate diskful replica in the surviving room (quorum is not what they lack).
    Every other one gets ``quorum off`` on each of its resources in the surviving room. A resource that already
    carries an override record keeps it, so its recorded previous value is never replaced by ``off``.
    """
    changes, skipped = [], {}
    for name in sorted(summaries):
        summary = summaries[name]
        recorded = dict((node, record) for node, record in summary['quorum_override'].items())
        if summary['keeps_quorum_if_lost'].get(lost_room) and not recorded:
            skipped[name] = 'keeps quorum without %s' % lost_room
            continue
        survivors = [d for d in summary['diskful'] if d['room'] == surviving_room]
        if not any(d['up_to_date'] for d in survivors) and not recorded:
            skipped[name] = 'no UpToDate diskful replica in %s' % surviving_room
            continue
        for resource in sorted(resources_by_name.get(name, []), key=lambda r: r['node_name']):
            flags = set(resource.get('flags') or [])
            node = resource['node_name']
            if flags & set(FLAGS_GONE) or summary_room(summary, node) != surviving_room:
                continue
            props = resource.get('props') or {}
            update = {}
            if props.get(QUORUM) != OVERRIDE_VALUE:
                update[QUORUM] = OVERRIDE_VALUE
            if OVERRIDE_RECORD not in props:
                update[OVERRIDE_RECORD] = override_record(at, surviving_room, lost_room, props.get(QUORUM))
            if update:
                changes.append(dict(resource=name, node=node, set=update, delete=[]))
    return changes, skipped


def summary_room(summary, node):
    for entry in summary['diskful'] + summary['diskless'] + ([summary['tiebreaker']] if summary['tiebreaker'] else []):
        if entry['node'] == node:
            return entry['room']
    return None


def restore_plan(summaries, resources_by_name, surviving_room):
    """Changes for ``state: absent``: put back each recorded previous value and drop the record.

    Only records written for ``surviving_room`` are undone. Returns (changes, behind): ``behind`` names, per
    resource to restore, its diskful replicas outside the surviving room that are not UpToDate - with quorum
    back on, DRBD would suspend that resource's I/O again until they are.
    """
    changes, behind = [], {}
    for name in sorted(summaries):
        summary = summaries[name]
        restored = False
        for resource in sorted(resources_by_name.get(name, []), key=lambda r: r['node_name']):
            props = resource.get('props') or {}
            if OVERRIDE_RECORD not in props:
                continue
            record = parse_override_record(props[OVERRIDE_RECORD])
            if record.get('surviving_room') != surviving_room:
                continue
            previous = (record.get('previous') or {}).get(QUORUM) if 'raw' not in record else None
            update, delete = {}, [OVERRIDE_RECORD]
            if previous is None:
                if QUORUM in props:
                    delete.append(QUORUM)
            elif props.get(QUORUM) != previous:
                update[QUORUM] = previous
            changes.append(dict(resource=name, node=resource['node_name'], set=update, delete=delete))
            restored = True
        if restored:
            nodes = [d['node'] for d in summary['diskful'] if d['room'] != surviving_room and not d['up_to_date']]
            if nodes:
                behind[name] = nodes
    return changes, behind


def check_restore(behind, waited, allow_outdated=False):
    """Warnings for a restore over replicas that are not UpToDate (``allow_outdated``), else a refusal naming
    them: quorum comes back only once the returning room's replicas have resynced."""
    if not behind:
        return []
    named = ['%s (replica on %s)' % (name, join_words(nodes)) for name, nodes in sorted(behind.items())]
    if allow_outdated:
        return ['quorum restored on %s while its replica on %s is not UpToDate: DRBD suspends its I/O again if it '
                'loses quorum before that replica is back.' % (name, join_words(nodes)) for name, nodes in sorted(behind.items())]
    raise LinstorQuorumError(
        'refusing to restore DRBD quorum: %s %s not UpToDate after %d s. With quorum back on, DRBD would suspend '
        'I/O there again if the other room failed before the resync. Nothing was changed; the override stays. Check '
        'the resync (linstor resource list) and that the returning room\'s satellites run, then run again; '
        'allow_outdated: true restores quorum anyway.'
        % (join_words(named), 'is' if len(named) == 1 else 'are', waited))


def apply_changes_view(resources_by_name, changes):
    """The props of each changed resource before and after the changes (for --diff)."""
    before, after = {}, {}
    for change in changes:
        resource = [r for r in resources_by_name[change['resource']] if r['node_name'] == change['node']][0]
        props = resource.get('props') or {}
        key = '%s@%s' % (change['resource'], change['node'])
        view = dict((k, props.get(k)) for k in (QUORUM, OVERRIDE_RECORD))
        before[key] = dict(view)
        view.update(change['set'])
        for k in change['delete']:
            view[k] = None
        after[key] = view
    return before, after
