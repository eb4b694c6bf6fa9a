# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fencing: power a node off through its BMC, verify it is off, then tell Kubernetes; or power it on again.

What the modules fence and fence_info call: :func:`run_fence` and :func:`run_fence_info` observe through the
BMC access (bmc.py: the fence agents) and the Kubernetes access (k8s_nodes.py: Nodes, Leases, taint, record,
Events), decide through the plan (fence_plan.py, where the safety rules are written down) and act.

Layer 4 (runner). See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.twinroom.ha.plugins.module_utils import bmc
from ansible_collections.twinroom.ha.plugins.module_utils.bmc import BmcError
from ansible_collections.twinroom.ha.plugins.module_utils.fence_plan import (
    RECORDED_BY,
    FenceError,
    check_bmc_settings,
    confirmed_by,
    decide,
    fence_record,
    fenced_message,
    normalize_observed,
    predicted_after,
    renews_lease_yet_off,
    still_renewing,
)
from ansible_collections.twinroom.ha.plugins.module_utils.k8s_nodes import (
    API_TIMEOUT,
    HAS_KUBERNETES,
    LEASE_STALE_AFTER,
    NodeApiError,
    NodeRecorder,
)
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import join_words, utc_now

__all__ = ['ERRORS', 'HAS_KUBERNETES', 'FenceError', 'run_fence', 'run_fence_info']

# What the fence modules fail with: a refusal or failure of the plan, of a BMC, or of the API.
ERRORS = (FenceError, BmcError, NodeApiError)
# What an API read or write fails with (FenceError too: a recorder may say it so).
API_ERRORS = (NodeApiError, FenceError)


def watch_leases(recorder, names, limit, clock=time.monotonic, sleep=time.sleep, interval=1.0, want_fresh=False):
    """Read the Leases of ``names`` until none is fresh (or, with ``want_fresh``, none is stale) or ``limit``
    seconds have passed.

    Returns {name: the last reading (see NodeRecorder.lease) plus lease_waited, the seconds watched until then}."""
    started = clock()
    last, pending = {}, list(names)
    while pending:
        waited = round(clock() - started, 1)
        for name in pending:
            last[name] = dict(recorder.lease(name), lease_waited=waited)
        pending = [name for name in pending if bool(last[name].get('lease_fresh')) != want_fresh]
        if not pending or clock() - started >= limit:
            break
        sleep(interval)
    return last


def _rewatch_leases(recorder, observed, names, limit, clock, sleep, want_fresh=False):
    """watch_leases for ``names``, each last reading written into its entry of ``observed`` (in place)."""
    by_name = dict((entry['name'], entry) for entry in observed)
    for name, lease in watch_leases(recorder, names, limit, clock=clock, sleep=sleep, want_fresh=want_fresh).items():
        by_name[name].update(lease)


UNFENCE_LEASE_WAIT = 90  # s a tainted node may take, after it is powered on, to renew its lease before unfencing


def _stale_after(params):
    return params.get('lease_stale_after') or LEASE_STALE_AFTER


def _request(params):
    out_of_service = params.get('out_of_service')
    return dict(state=params.get('state') or 'fenced', room=params.get('room'),
                confirm_room_down=bool(params.get('confirm_room_down')),
                room_down_by=params.get('room_down_by') or 'operator',
                out_of_service=True if out_of_service is None else bool(out_of_service),
                release_pods=params.get('release_pods') is not False)


def observe(params, recorder, agents, with_bmc=True):
    """(observations, api_error): the BMCs in parallel (bounded), then the API (``recorder`` None: not asked).

    When the API cannot be read, api_error is its error and the observations hold the BMC part only,
    so the caller can still give the BMC's answer, which matters more.
    """
    names = [node['name'] for node in params['nodes']]
    duplicates = sorted(set(name for name in names if names.count(name) > 1))
    if duplicates:
        raise FenceError('nodes names %s more than once.' % join_words(duplicates))
    if with_bmc:
        observed = bmc.read_power(names, agents, bmc.read_record(params.get('bmc_bindings')))
    else:
        observed = [dict(name=name) for name in names]
    api_error = None
    for entry in observed:
        if recorder is not None and api_error is None:
            try:
                entry.update(recorder.observe(entry['name']))
            except API_ERRORS as exc:
                api_error = exc
    return observed, api_error


def _public(observed):
    keys = ('name', 'bmc', 'bmc_reachable', 'power_state', 'bmc_error', 'machine_id', 'bmc_identity', 'exists',
            'tainted', 'record', 'ready', 'lease_age')
    return dict((node['name'], dict((key, node.get(key)) for key in keys if key != 'name')) for node in observed)


def _diff_view(node):
    return dict(power_state=node.get('power_state'), tainted=node.get('tainted'), record=node.get('record'))


def run_fence(params, check_mode=False, diff=False, recorder=None, executor=None, probe=None,
              clock=time.monotonic, sleep=time.sleep):
    """Read state, decide, and (unless ``check_mode``) apply. Returns the module result. ``params['state']``:
    fenced, unfenced, or on (powered on through the BMC only; see _run_power_on).

    ``recorder`` (a :class:`NodeRecorder`), ``executor`` and ``probe`` (see :class:`FenceAgent`) can be
    replaced in tests.
    """
    started = clock()
    request = _request(params)
    if request['state'] == 'on':
        return _run_power_on(params, request, check_mode, diff, executor, probe, clock, sleep, started)
    fencing = request['state'] == 'fenced'
    if fencing:
        check_bmc_settings(params)
    marking = not fencing or request['out_of_service']
    if marking:
        recorder = recorder or NodeRecorder(params.get('kubeconfig'), params.get('context'),
                                            timeout=params.get('api_timeout') or API_TIMEOUT,
                                            stale_after=_stale_after(params), component=RECORDED_BY)
    else:
        recorder = None  # power only: the API is not asked
    agents = bmc.make_agents(params, executor, probe)
    observed, api_error = observe(params, recorder, agents, with_bmc=fencing)
    if fencing and recorder is not None and api_error is None:
        # A node reported off (or behind a dark BMC) whose lease is still fresh may have lost power a moment ago:
        # watch its lease until it goes stale. One that keeps renewing it runs, and decide refuses it.
        suspect = [entry['name'] for entry in observed if renews_lease_yet_off(normalize_observed(entry))]
        _rewatch_leases(recorder, observed, suspect, 2 * _stale_after(params), clock, sleep)
    if not fencing and api_error is None:
        # A node just powered on may not have renewed its lease yet (its Ready condition can still say True from
        # before it lost power): give it time to, bounded; one that stays stale is refused by decide.
        stale = [entry['name'] for entry in observed
                 if entry.get('tainted') and entry.get('lease_fresh') is False]
        _rewatch_leases(recorder, observed, stale, UNFENCE_LEASE_WAIT, clock, sleep, want_fresh=True)
    by_name = dict((node['name'], node) for node in observed)
    try:
        plans = decide(observed, request)
    except FenceError as exc:
        # A BMC refusal stands even when the API could not be read: it needs the operator, the API does not.
        exc.details.setdefault('nodes', _public(observed))
        if api_error is not None:
            exc.details.setdefault('api_error', api_error.msg)
        raise
    if api_error is not None:
        raise api_error
    warnings = []
    for node in observed:
        if node.get('lease_error'):
            warnings.append('the Lease of Node %s could not be read from %s (%s): it was judged by its BMC alone'
                            % (node['name'], recorder.where, node['lease_error']))
        if not node.get('exists', True):
            warnings.append('Node %s does not exist in %s: %s' % (
                node['name'], recorder.where,
                'only its power was handled, nothing to taint' if fencing else 'nothing to unfence'))

    results = dict((plan['name'], dict(
        fenced=plan['fenced'], method=plan['method'], power_state=plan['power_state'], changed=plan['changed'],
        plan=list(plan['steps']), fenced_at=(by_name[plan['name']].get('record') or {}).get('at') if fencing else None,
        seconds=None, released=[])) for plan in plans)
    result = dict(changed=any(plan['changed'] for plan in plans), nodes=results, room=request['room'],
                  warnings=warnings)
    if diff:
        before = dict((node['name'], _diff_view(node)) for node in observed)
        result['diff'] = dict(before=before, after=predicted_after(before, plans, request))
    if check_mode or not result['changed']:
        result['elapsed'] = round(clock() - started, 2)
        return result

    confirmation = confirmed_by(request)
    powered = [plan for plan in plans if 'power_off' in plan['steps']]

    def power_off(plan):
        agent = agents[plan['name']]
        t0 = clock()
        ok, message = agent.power('off', params['timeout'])
        off, last, _waited = agent.wait_off(max(0, params['timeout'] - (clock() - t0)), clock=clock, sleep=sleep)
        return dict(off=off, agent_ok=ok, agent_message=message, last=last, seconds=round(clock() - t0, 2))

    outcomes = dict(zip([plan['name'] for plan in powered], bmc.run_parallel(powered, power_off)))
    # A node whose lease was fresh is counted as fenced only once its lease has gone stale after the power-off:
    # one that keeps renewing it still runs, and the BMC that was used is not its own.
    verified = [name for name, outcome in outcomes.items() if not isinstance(outcome, Exception) and outcome['off']
                and 'verify_lease_stale' in next(plan['steps'] for plan in plans if plan['name'] == name)]
    leases = watch_leases(recorder, verified, 2 * _stale_after(params), clock=clock, sleep=sleep) if verified else {}
    failures, api_failed = [], None
    for plan in plans:
        name = plan['name']
        entry = results[name]
        outcome = outcomes.get(name)
        if isinstance(outcome, Exception):
            failures.append('%s: %s' % (name, getattr(outcome, 'msg', None) or outcome))
            entry.update(fenced=False, power_state='unknown', changed=True)
            continue
        if outcome is not None:
            entry['seconds'] = outcome['seconds']
            if not outcome['off']:
                last = outcome['last']
                entry.update(fenced=False, power_state=last['power_state'], changed=True)
                failures.append(
                    'power-off of node %s was sent to BMC %s (agent said: %s) but it still reports power %s%s after '
                    '%ss: not tainted. Check the node and its BMC.' % (
                        name, agents[name].where, outcome['agent_message'] or 'nothing', last['power_state'].upper(),
                        ' (%s)' % last['error'] if last.get('error') else '', params['timeout']))
                continue
        if leases.get(name, {}).get('lease_fresh'):
            entry.update(fenced=False, changed=True)
            failures.append(still_renewing(name, agents[name].where, leases[name]['lease_age'],
                                           leases[name]['lease_waited']))
            continue
        at = utc_now()
        if 'annotate' in plan['steps'] or 'power_off' in plan['steps']:
            entry['fenced_at'] = at
        uid = by_name[name].get('uid')
        record = fence_record(at, plan['method'], request['room'], confirmation) if fencing else None
        api_steps = [step for step in plan['steps'] if step not in ('power_off', 'verify_off')]
        if api_steps and api_failed:
            entry['fenced'] = False if fencing else entry['fenced']
            failures.append('Node %s was not %s either.' % (name, 'marked out of service' if fencing else 'unfenced'))
            continue
        try:
            for step in plan['steps']:
                if step == 'taint':
                    recorder.taint(name, at)
                elif step == 'release':
                    pass  # below, once every node of the request is tainted
                elif step == 'untaint':
                    recorder.untaint(name)
                elif step == 'annotate':
                    recorder.annotate(name, record)
                elif step == 'unannotate':
                    recorder.unannotate(name)
                elif step == 'event':
                    if fencing:
                        recorder.event(name, 'Fenced', fenced_message(plan['method'], at, record), uid)
                    else:
                        recorder.event(name, 'Unfenced', 'Unfenced at %s by twinroom.ha.fence: out-of-service taint '
                                                         'and fencing record removed.' % at, uid, event_type='Normal')
        except API_ERRORS as exc:
            api_failed = exc
            entry['fenced'] = False if fencing else entry['fenced']
            failures.append(exc.msg)
            if fencing and plan['method'] == 'bmc' and entry['power_state'] == 'off':
                failures.append(
                    'Node %s is powered off (verified through its BMC) but not marked out of service. Run again once '
                    'the API server accepts writes (with synchronous replication, after the datastore takeover), or '
                    'fence with out_of_service: false first.' % name)
    if fencing and not api_failed and any('release' in plan['steps'] for plan in plans):
        fenced = [plan['name'] for plan in plans if results[plan['name']]['fenced'] and by_name[plan['name']].get('exists')]
        try:
            for name, pods in release_pods(recorder, fenced, clock=clock, sleep=sleep).items():
                results[name]['released'] = pods
        except API_ERRORS as exc:
            failures.append(exc.msg)
    if diff and recorder is not None:
        after_observed = [dict(by_name[n], **recorder.observe(n)) for n in by_name if by_name[n]['exists']]
        for node in after_observed:
            node['power_state'] = results[node['name']]['power_state']
            result['diff']['after'][node['name']] = _diff_view(node)
    result['elapsed'] = round(clock() - started, 2)
    if failures:
        text = ' '.join(f if f.endswith('.') else f + '.' for f in failures)
        raise FenceError(text, nodes=results, elapsed=result['elapsed'], changed=True)
    return result


def _run_power_on(params, request, check_mode, diff, executor, probe, clock, sleep, started):
    """state=on: read every BMC, power on the nodes it reports off, wait until it reports them on. The API is
    neither read nor written: the out-of-service taint and the record stay until state=unfenced."""
    check_bmc_settings(params)
    agents = bmc.make_agents(params, executor, probe)
    observed, _api_error = observe(params, None, agents)
    try:
        plans = decide(observed, request)
    except FenceError as exc:
        exc.details.setdefault('nodes', _public(observed))
        raise
    results = dict((plan['name'], dict(
        fenced=None, method=None, power_state=plan['power_state'], changed=plan['changed'], plan=list(plan['steps']),
        fenced_at=None, seconds=None, released=[])) for plan in plans)
    result = dict(changed=any(plan['changed'] for plan in plans), nodes=results, room=request['room'])
    if diff:
        result['diff'] = dict(before=dict((node['name'], dict(power_state=node['power_state'])) for node in observed),
                              after=dict((plan['name'], dict(power_state=plan['power_state'])) for plan in plans))
    if check_mode or not result['changed']:
        result['elapsed'] = round(clock() - started, 2)
        return result

    def power_on(plan):
        agent = agents[plan['name']]
        t0 = clock()
        _ok, message = agent.power('on', params['timeout'])
        on, last, _waited = agent.wait_for('on', max(0, params['timeout'] - (clock() - t0)), clock=clock, sleep=sleep)
        return dict(on=on, agent_message=message, last=last, seconds=round(clock() - t0, 2))

    powered = [plan for plan in plans if 'power_on' in plan['steps']]
    failures = []
    for plan, outcome in zip(powered, bmc.run_parallel(powered, power_on)):
        name, entry = plan['name'], results[plan['name']]
        if isinstance(outcome, Exception):
            entry['power_state'] = 'unknown'
            failures.append('%s: %s' % (name, getattr(outcome, 'msg', None) or outcome))
            continue
        entry['seconds'] = outcome['seconds']
        if not outcome['on']:
            last = outcome['last']
            entry['power_state'] = last['power_state']
            failures.append(
                'power-on of node %s was sent to BMC %s (agent said: %s) but it still reports power %s%s after %ss. '
                'Check the node and its BMC.' % (
                    name, agents[name].where, outcome['agent_message'] or 'nothing', last['power_state'].upper(),
                    ' (%s)' % last['error'] if last.get('error') else '', params['timeout']))
    if diff:
        result['diff']['after'] = dict((name, dict(power_state=entry['power_state'])) for name, entry in results.items())
    result['elapsed'] = round(clock() - started, 2)
    if failures:
        text = ' '.join(f if f.endswith('.') else f + '.' for f in failures)
        raise FenceError(text, nodes=results, elapsed=result['elapsed'], changed=True)
    return result


def release_pods(recorder, names, settle=2.0, limit=15.0, clock=time.monotonic, sleep=time.sleep):
    """Delete the pods bound to the fenced, tainted nodes ``names``, in rounds, until a round finds none
    and ``settle`` seconds have passed. Returns {node: ['namespace/pod', ...]}.

    Rounds, because a controller recreates a deleted pod at once and a scheduler that has not seen the new
    taint yet may bind the replacement to a fenced node again (it never runs there: the node is off). Once the
    scheduler sees the taints it places them in the surviving room. Bounded by ``limit`` seconds.
    """
    released = dict((name, []) for name in names)
    started = clock()
    while True:
        found = False
        for name in names:
            pods = recorder.release(name)
            released[name].extend(pods)
            found = found or bool(pods)
        elapsed = clock() - started
        if (not found and elapsed >= settle) or elapsed >= limit:
            return released
        sleep(0.5)


def run_fence_info(params, recorder=None, executor=None, probe=None):
    """Everything the info module reports; changes nothing."""
    with_bmc = any(node.get('bmc_address') for node in params['nodes'])
    recorder = recorder or NodeRecorder(params.get('kubeconfig'), params.get('context'),
                                        timeout=params.get('api_timeout') or API_TIMEOUT, component=RECORDED_BY)
    agents = bmc.make_agents(params, executor, probe)
    if with_bmc:
        check_bmc_settings(params)
    observed, api_error = observe(params, recorder, agents, with_bmc=with_bmc)
    # An API server that cannot be read (its datastore primary was in the lost room) leaves the BMCs'
    # answers just as true: report them, with the API's fields unknown and the reason.
    nodes = {}
    for node in observed:
        record = (node.get('record') or None) if api_error is None else None
        known = api_error is None
        nodes[node['name']] = dict(
            bmc=node.get('bmc'), bmc_reachable=node.get('bmc_reachable'), power_state=node.get('power_state'),
            bmc_error=node.get('bmc_error'), exists=node.get('exists') if known else None,
            ready=node.get('ready') if known else None, tainted=node.get('tainted') if known else None,
            record=record, fenced=bool(record and node.get('tainted')) if known else None)
    return dict(changed=False, nodes=nodes, api_error=api_error.msg if api_error is not None else None)
