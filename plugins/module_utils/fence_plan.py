# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fencing decisions: per-node observations (BMC answers? power on/off/unknown? Node in the API, out-of-service
taint, fencing record, lease) plus the request give a plan per node, or :class:`FenceError` before anything is
touched. No I/O; unit-tested with YAML fixtures (tests/unit/fixtures/fence).

Safety rule, in words: a node is tainted ``node.kubernetes.io/out-of-service`` (which lets the
controller-manager force-delete its pods and detach their volumes) only when its BMC reported its power
OFF, or, when its BMC does not answer, when the operator (``confirm_room_down``) confirmed that the room
is down. A BMC that does not answer without that
confirmation refuses the whole request before any node is touched.

And a node that still renews its Kubernetes lease (``kube-node-lease``) is running, whatever its BMC says:
it is never tainted or counted as fenced. A BMC that reports such a node off, or does not answer for it,
is another machine's BMC or a wrong one: the whole request is refused. A node powered off by this module
is tainted only once its lease has gone stale as well.

``state: on`` powers nodes on again through their BMCs, nothing else: the out-of-service taint and the record
stay until ``state: unfenced`` (recover.yml clears them only once the datastore and the storage are whole again).
A BMC that does not answer, cannot report the power state or reports another machine refuses the whole request.

Layer 3 (plan). See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.twinroom.ha.plugins.module_utils import bmc_identity
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError, join_words

RECORDED_BY = 'twinroom.ha.fence'
METHODS = ('bmc', 'confirmed-down')
POWER_STATES = ('on', 'off', 'unknown')
STATES = ('fenced', 'unfenced', 'on')


class FenceError(TwinroomError):
    """A refusal or failure of the fence modules."""


# Steps in the order they are carried out. power_off, verify_off, power_on and verify_on go to the BMC; the rest to
# the API. verify_lease_stale: after the power-off of a node whose lease was fresh, its lease must go stale before
# the taint.
STEPS = ('power_off', 'verify_off', 'verify_lease_stale', 'taint', 'release', 'annotate', 'event', 'untaint',
         'unannotate', 'power_on', 'verify_on')
BMC_STEPS = ('power_off', 'verify_off', 'power_on', 'verify_on')

_OBSERVED_DEFAULTS = dict(
    name=None,
    bmc=None,             # 'address:port', for messages
    bmc_reachable=None,   # the BMC answered (None: not asked, as for state=unfenced)
    power_state=None,     # on | off | unknown (None: not asked)
    bmc_error=None,       # why the BMC did not answer, or why its power state could not be read
    exists=True,          # the Node object exists in the API
    tainted=False,        # it carries the out-of-service NoExecute taint
    record=None,          # the parsed twinroom.io/fenced annotation
    ready=None,           # its Ready condition (True, False, None when unknown)
    pods=0,               # pods still bound to it (asked only when it is to be marked out of service)
    lease_age=None,       # seconds since its Lease was last renewed (None: not known - no Lease, or not read)
    lease_fresh=None,     # lease_age below the stale threshold: the node runs (None: not known)
    lease_waited=None,    # seconds its lease was watched for going stale before the decision (None: not watched)
    lease_error=None,     # why the Lease could not be read (the node is then judged as before: by its BMC)
    machine_id=None,      # the machine UUID site.yml bound the node to (None: no binding recorded)
    bmc_identity=None,    # what its BMC reports it controls: {'uuid': ...} or {'error': ...} (None: not asked)
)


def normalize_observed(observed):
    state = copy.deepcopy(_OBSERVED_DEFAULTS)
    state.update(copy.deepcopy(observed or {}))
    if state['power_state'] is not None:
        state['power_state'] = str(state['power_state']).lower()
        if state['power_state'] not in POWER_STATES:
            raise ValueError('unknown power state %r' % (state['power_state'],))
    return state


def _target(request, names):
    return request.get('room') or ('node %s' % names[0] if len(names) == 1 else 'nodes %s' % join_words(names))


def confirmed_by(request):
    """Who confirmed that the room is down: 'operator' (confirm_room_down typed by a person), 'isolation' (the room
    watch's isolation decision, which failover.yml checked before it passed confirm_room_down with room_down_by
    isolation), or None. (A witness's vote is a room-level decision of the failover, not a flag a caller can set.)"""
    if request.get('confirm_room_down'):
        return 'isolation' if request.get('room_down_by') == 'isolation' else 'operator'
    return None


def _plan_fenced(node, confirmation):
    """(steps, method, problem) for one node; problem is 'unreachable' or 'unreadable' when it must refuse."""
    recorded = bool(node['record'])
    if not node['bmc_reachable']:
        if recorded and (node['tainted'] or not node['exists']):
            return [], node['record'].get('method'), None      # fenced before; nothing left to do
        if not node['exists']:
            if confirmation:
                return [], 'confirmed-down', None               # nothing in the API to mark
            return None, None, 'unreachable'
        if not confirmation:
            return None, None, 'unreachable'
        steps = [] if node['tainted'] else ['taint']
        if not recorded:
            steps += ['annotate', 'event']
        return steps, 'confirmed-down', None
    if node['power_state'] not in ('on', 'off'):
        return None, None, 'unreadable'
    steps = ['power_off', 'verify_off'] if node['power_state'] == 'on' else []
    if not node['exists']:
        return steps, 'bmc', None
    if not node['tainted']:
        steps.append('taint')
    if 'power_off' in steps or not recorded:
        # A new power-off, or a node found off without our record: record it (again) with an Event.
        steps += ['annotate', 'event']
    method = 'bmc' if 'annotate' in steps else node['record'].get('method', 'bmc')
    return steps, method, None


def renews_lease_yet_off(node):
    """The node renews its lease (a fresh one was read), yet its BMC reports it off or does not answer."""
    return bool(node['lease_fresh'] and node['exists'] and (
        not node['bmc_reachable'] or node['power_state'] == 'off'))


def _seconds(value):
    return '%.1f s' % value


def running_refusal(nodes, target):
    """The refusal for nodes that renew their lease while their BMC reports them off or does not answer."""
    clauses = []
    for node in nodes:
        watched = (' (watched %s for it to go stale)' % _seconds(node['lease_waited'])
                   if node.get('lease_waited') else '')
        said = 'does not answer' if not node['bmc_reachable'] else 'reports its power OFF'
        clauses.append('node %s renewed its lease %s ago%s, yet its BMC %s %s' % (
            node['name'], _seconds(node['lease_age']), watched, node['bmc'], said))
    names = [node['name'] for node in nodes]
    text = '; '.join(clauses)
    text = text[0].upper() + text[1:]
    return ('%s: a node that renews its lease is running, and is never marked out of service or counted as fenced. '
            'Refusing to fence %s. Check the BMC %s of %s (twinroom_bmc_address): %s.' % (
                text, target, 'address' if len(nodes) == 1 else 'addresses', join_words(names),
                'it may name another machine\'s BMC' if len(nodes) == 1 else 'they may name other machines\' BMCs'))


def still_renewing(name, bmc, lease_age, after):
    """The failure for a node powered off through ``bmc`` whose lease was renewed again ``after`` seconds later."""
    return ('Node %s renewed its lease %s ago, %s after its BMC %s reported its power OFF: not tainted. A node that '
            'renews its lease is running - that BMC powered off another machine (power it back on), or it reports '
            'wrongly. Check the BMC address of %s (twinroom_bmc_address).' % (
                name, _seconds(lease_age), _seconds(after), bmc, name))


def _plan_unfenced(node):
    if not node['exists']:
        return []
    steps = []
    if node['tainted']:
        steps.append('untaint')
    if node['record']:
        steps.append('unannotate')
    if steps:
        steps.append('event')
    return steps


def decide(observed, request):
    """Plans for every node, in the order given, or FenceError before anything is touched.

    ``observed``: list of per-node observations (see ``_OBSERVED_DEFAULTS``).
    ``request``: ``state`` (fenced|unfenced|on), ``room``, ``confirm_room_down``, ``out_of_service``,
    ``release_pods``.
    Returns a list of dicts: name, steps, method, fenced (predicted), power_state (predicted), changed.
    """
    nodes = [normalize_observed(item) for item in observed]
    names = [node['name'] for node in nodes]
    state = request.get('state', 'fenced')
    if state == 'unfenced':
        plans = []
        for node in nodes:
            steps = _plan_unfenced(node)
            plans.append(dict(name=node['name'], steps=steps, method=None, fenced=False,
                              power_state=node['power_state'], changed=bool(steps)))
        # A node that does not renew its lease is not running: clearing its taint would send work to it.
        stale = [node for node, plan in zip(nodes, plans) if 'untaint' in plan['steps'] and node['lease_fresh'] is False]
        if stale:
            raise FenceError(
                'refusing to clear the out-of-service taint of %s: a node that does not renew its lease is not running '
                '(powered off again, or its kubelet stopped), and clearing its taint would send work to it. Nothing '
                'was changed. Power the room on, wait until its nodes are Ready and renew their leases, then run again.'
                % join_words(['%s (lease last renewed %s ago)' % (n['name'], _seconds(n['lease_age'])) for n in stale]))
        return plans
    if state == 'on':
        return _plan_power_on(nodes, request, names)
    if state != 'fenced':
        raise ValueError('unknown state %r' % (state,))

    confirmation = confirmed_by(request)
    out_of_service = request.get('out_of_service', True)
    plans, unreachable, unreadable, running, wrong_machine = [], [], [], [], []
    for node in nodes:
        if not out_of_service:
            # Power only: what the API holds is not known and not changed.
            node.update(exists=False, tainted=False, record=None, lease_age=None, lease_fresh=None)
        if renews_lease_yet_off(node):
            # Off or dark by its BMC, yet renewing its lease: that BMC is not this node's (or it is wrong).
            running.append(node)
            continue
        if node['bmc_reachable'] and node['machine_id'] and node['power_state'] in ('on', 'off'):
            # Only a BMC whose power state was read: one that cannot be read is refused below, for its credentials.
            problem = bmc_identity.check_fence_target(node['name'], node['machine_id'], node['bmc_identity'],
                                                      node['bmc'])
            if problem:
                # Its power state says nothing about this node: never powered off through, never counted as off.
                wrong_machine.append(problem)
                continue
        steps, method, problem = _plan_fenced(node, confirmation)
        if problem == 'unreachable':
            unreachable.append(node)
            continue
        if problem == 'unreadable':
            unreadable.append(node)
            continue
        if node['lease_fresh'] and node['exists'] and 'power_off' in steps:
            # Powered off by us: counted as fenced only once the lease stops being renewed too.
            steps.insert(steps.index('verify_off') + 1, 'verify_lease_stale')
        if request.get('release_pods', True) and node['exists'] and node['pods'] and (
                node['tainted'] or 'taint' in steps):
            # Off (verified, or confirmed down) and out of service: its pods cannot be running, so they are
            # deleted now, as the pod garbage collector would do for an out-of-service node on its next cycle.
            steps.insert(steps.index('taint') + 1 if 'taint' in steps else 0, 'release')
        power = 'off' if node['bmc_reachable'] else node['power_state'] or 'unknown'
        plans.append(dict(name=node['name'], steps=steps, method=method, fenced=True, power_state=power,
                          changed=bool(steps)))
    problems = []
    target = _target(request, names)
    if wrong_machine:
        text = '; '.join(wrong_machine)
        problems.append('%s%s: refusing to fence %s, nothing was powered off.' % (text[0].upper(), text[1:], target))
    if running:
        problems.append(running_refusal(running, target))
    if unreachable:
        problems.append(
            '%s %s: refusing to fence %s without confirm_room_down: true.' % (
                join_words('BMC %s of node %s' % (node['bmc'], node['name']) for node in unreachable),
                'does not answer' if len(unreachable) == 1 else 'do not answer', target))
    if unreadable:
        problems.append(
            '%s: refusing to fence %s, since a node is tainted only once its BMC reports its power off. Check '
            'the BMC credentials and systems URI.' % (
                join_words('BMC %s of node %s answers but its power state cannot be read (%s)'
                           % (node['bmc'], node['name'], node['bmc_error'] or 'no error text') for node in unreadable),
                target))
    if problems:
        raise FenceError(' '.join(problems))
    return plans


def _plan_power_on(nodes, request, names):
    """state=on: power on what its BMC reports off; refuse (nothing touched) a BMC that does not answer, cannot
    report the power state, or reports another machine than the one bound to the node."""
    plans, dark, unreadable, wrong_machine = [], [], [], []
    for node in nodes:
        if not node['bmc_reachable']:
            dark.append(node)
            continue
        if node['power_state'] not in ('on', 'off'):
            unreadable.append(node)
            continue
        if node['machine_id']:
            problem = bmc_identity.check_fence_target(node['name'], node['machine_id'], node['bmc_identity'],
                                                      node['bmc'])
            if problem:
                wrong_machine.append(problem)
                continue
        steps = ['power_on', 'verify_on'] if node['power_state'] == 'off' else []
        plans.append(dict(name=node['name'], steps=steps, method=None, fenced=None, power_state='on',
                          changed=bool(steps)))
    target = _target(request, names)
    problems = []
    if wrong_machine:
        text = '; '.join(wrong_machine)
        problems.append('%s%s: refusing to power on %s.' % (text[0].upper(), text[1:], target))
    if dark:
        problems.append('%s %s: cannot power on %s. Check that %s power and network.' % (
            join_words('BMC %s of node %s' % (node['bmc'], node['name']) for node in dark),
            'does not answer' if len(dark) == 1 else 'do not answer', target,
            'the BMC has' if len(dark) == 1 else 'those BMCs have'))
    if unreadable:
        problems.append('%s: refusing to power on %s. Check the BMC credentials and systems URI.' % (
            join_words('BMC %s of node %s answers but its power state cannot be read (%s)'
                       % (node['bmc'], node['name'], node['bmc_error'] or 'no error text') for node in unreadable),
            target))
    if problems:
        raise FenceError(' '.join(problems) + ' Nothing was powered on.')
    return plans


def predicted_after(before, plans, request):
    """The diff's ``after``: ``before`` ({node: {power_state, tainted, record}}) changed as ``plans`` will."""
    after = copy.deepcopy(before)
    for plan in plans:
        view = after[plan['name']]
        view['power_state'] = plan['power_state']
        steps = plan['steps']
        if 'taint' in steps:
            view['tainted'] = True
        if 'untaint' in steps:
            view['tainted'] = False
        if 'annotate' in steps:
            view['record'] = fence_record('(at fencing time)', plan['method'], request['room'], confirmed_by(request))
        if 'unannotate' in steps:
            view['record'] = None
    return after


def fenced_message(method, at, record):
    """The text of the Fenced Event."""
    if method == 'confirmed-down':
        by = {'isolation': "room watch's isolation decision: its nodes have powered themselves off"}.get(
            record.get('confirmed_by'), record.get('confirmed_by') or 'operator')
        return ('Fenced at %s by twinroom.ha.fence: BMC did not answer; the room is confirmed down (by the %s). '
                'Out-of-service taint set.' % (at, by))
    return 'Fenced at %s by twinroom.ha.fence: powered off through its BMC, verified off. Out-of-service taint set.' % at


def fence_record(at, method, room=None, confirmation=None):
    """The value of the twinroom.io/fenced annotation (a dict; stored as compact JSON)."""
    record = dict(at=at, method=method, by=RECORDED_BY, room=room)
    if method == 'confirmed-down' and confirmation:
        record['confirmed_by'] = confirmation
    return record


# Every wait is bounded: 0 or a negative value would mean "no limit" to some layers and "give up at once" to others.
TIMEOUT_BOUNDS = dict(bmc_timeout=(1, 300), api_timeout=(1, 600), timeout=(1, 3600), lease_stale_after=(2, 600))


def check_timeouts(params):
    """Refuse a timeout outside its bounds, naming the option, its value and the bounds."""
    wrong = ['%s is %s; it must be %d-%d seconds' % (name, params[name], low, high)
             for name, (low, high) in sorted(TIMEOUT_BOUNDS.items())
             if params.get(name) is not None and not low <= params[name] <= high]
    if wrong:
        raise FenceError('%s. Nothing was done.' % '; '.join(wrong))


def check_bmc_settings(params):
    """Refuse missing BMC settings, naming the node and the inventory variable, and unbounded timeouts."""
    check_timeouts(params)
    missing = []
    for node in params['nodes']:
        wanted = ['address']
        if (params.get('fence_method') or 'redfish') == 'redfish':
            wanted.append('systems_uri')
        for key in wanted:
            if not node.get('bmc_' + key):
                missing.append('%s (bmc_%s, inventory twinroom_bmc_%s)' % (node['name'], key, key))
    if missing:
        raise FenceError('BMC settings missing for %s: every node to fence needs them.' % join_words(missing))
