# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""room_info's runner: optionally wait until rooms' nodes are Ready, read both rooms through one API server and
the lost room's BMCs at the same time, then decide through room_status (the plan).

Layer 4: observes through k8s.py (the API) and the fence module's agents (the BMCs), decides through
room_status.py, and changes nothing. The module ends through module_run.finish.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.twinroom.ha.plugins.module_utils import bmc, fence_plan, k8s, room_status

# What room_info fails with: a refusal on the rooms' state, BMC settings it cannot use, a BMC that does not answer.
ERRORS = (room_status.RoomStatusError, fence_plan.FenceError, bmc.BmcError)

WAIT_INTERVAL = 2.0  # seconds between two reads of the Nodes while waiting for them to be Ready


# --- observe -----------------------------------------------------------------------------------------------------

def read_rooms(read_api, read_bmcs=None):
    """Ask the API server and the BMCs at the same time; (read_api's answer or None, api_error, bmc_observed).

    ``read_api()`` returns ``(nodes, pods_by_node, skew)`` (see :func:`read_cluster`); ``read_bmcs()`` the fence
    module's observations, or None when no BMC is to be asked. An API server whose datastore primary was in
    the lost room answers only with its timeout; the BMCs' answer is what the failover needs then, so it is
    read in parallel rather than after. An API failure is returned (the exception); a BMC failure is raised.
    """
    calls = [read_api] if read_bmcs is None else [read_api, read_bmcs]
    results = bmc.run_parallel(calls, lambda call: call())
    cluster, api_error = results[0], None
    if isinstance(cluster, Exception):  # the caller tells the failures apart with classify_api_error
        cluster, api_error = None, cluster
    observed = None if read_bmcs is None else results[1]
    if isinstance(observed, Exception):
        raise observed
    return cluster, api_error, observed


def read_cluster(kubeconfig=None, context=None, timeout=k8s.API_TIMEOUT):
    """Nodes (with their Lease renew time, epoch seconds), pod counts per node, and the API server's clock
    against the controller's (room_status.api_skew), from one API server."""
    import calendar  # pylint: disable=import-outside-toplevel

    from kubernetes import client  # pylint: disable=import-outside-toplevel

    api_client = k8s.api_client(kubeconfig, context)
    core = client.CoreV1Api(api_client)
    coordination = client.CoordinationV1Api(api_client)
    before = time.time()
    node_list, _status, headers = core.list_node_with_http_info(_request_timeout=timeout)
    skew = room_status.api_skew(before, time.time(), (headers or {}).get('Date'))
    nodes = api_client.sanitize_for_serialization(node_list)['items']
    leases = dict((lease.metadata.name, lease.spec.renew_time)
                  for lease in coordination.list_namespaced_lease('kube-node-lease', _request_timeout=timeout).items)
    for node in nodes:
        renewed = leases.get(node['metadata']['name'])
        node['lease_renewed'] = calendar.timegm(renewed.utctimetuple()) + renewed.microsecond / 1e6 if renewed else None
    pods_by_node = {}
    for pod in core.list_pod_for_all_namespaces(_request_timeout=timeout).items:
        if pod.spec.node_name and pod.status.phase in ('Pending', 'Running'):
            pods_by_node[pod.spec.node_name] = pods_by_node.get(pod.spec.node_name, 0) + 1
    return nodes, pods_by_node, skew


def read_nodes(kubeconfig=None, context=None, timeout=k8s.API_TIMEOUT):
    """The Node objects (dicts), asked again while the API server's watch cache initializes (429)."""
    from kubernetes import client  # pylint: disable=import-outside-toplevel

    api_client = k8s.api_client(kubeconfig, context)
    node_list = k8s.while_initializing(client.CoreV1Api(api_client).list_node, _request_timeout=timeout)
    return api_client.sanitize_for_serialization(node_list)['items']


# --- wait --------------------------------------------------------------------------------------------------------

def wait_ready(read, names, timeout, context=None, clock=time.monotonic, sleep=time.sleep, interval=WAIT_INTERVAL):
    """Read the Nodes (``read()``) until every one of ``names`` is Ready, for up to ``timeout`` s.

    Returns {'ready': [...], 'not_ready': {}, 'waited_s': s}. On timeout raises RoomStatusError with the partial
    state (which nodes are Ready, which not and why) in its details as ``wait``. An API server that does not
    answer yet (down, without its datastore, or still initializing) is asked again; one that refuses the request
    (credentials, certificates) fails at once.

    A bounded poll on a monotonic clock, with room_status.readiness as its predicate: the shared watch-based
    waiter of k8s.py (issue 11, branch i11-vocab) replaces this loop and keeps the predicate.
    """
    start = clock()
    state, api_note = dict(ready=[], not_ready=dict((name, 'not read yet') for name in names)), None
    while True:
        try:
            state = room_status.readiness(read(), names)
        except Exception as exc:  # the API's failures, told apart by classify_api_error
            api_state, api_error = room_status.classify_api_error(exc), room_status.failure_text(exc)
            # It refuses (credentials, certificates, no such context): waiting will not help. A 429 past
            # while_initializing's budget is a server still starting, as is one not answering (down, no datastore).
            if api_state == room_status.API_ERROR and getattr(exc, 'status', None) != k8s.INITIALIZING_STATUS:
                raise room_status.RoomStatusError(
                    'cannot read the Nodes%s: %s' % (' through context %s' % context if context else '', api_error),
                    wait=dict(state, waited_s=round(clock() - start, 1), api_state=api_state, api_error=api_error))
            api_note = dict(api_state=api_state, api_error=api_error)
        else:
            api_note = None
        waited = clock() - start
        if not state['not_ready']:
            return dict(state, waited_s=round(waited, 1))
        if waited + interval > timeout:
            partial = dict(state, waited_s=round(waited, 1))
            message = room_status.not_ready_message(state, waited, timeout, context)
            if api_note:
                partial.update(api_note)
                message += ' The API server did not answer at the last try (%(api_state)s): %(api_error)s.' % api_note
            raise room_status.RoomStatusError(message, wait=partial)
        sleep(interval)


# --- run ---------------------------------------------------------------------------------------------------------

def run_room_info(params, read_api=None, read_node_list=None, make_agents=None, wall_clock=time.time,
                  clock=time.monotonic, sleep=time.sleep):
    """room_info's result; raises RoomStatusError, fence_plan.FenceError or bmc.BmcError (with the observed
    state) on a refusal.

    The keyword arguments replace the API, the BMCs and the clocks in tests."""
    context = params['context']
    result = dict(changed=False, api_state=room_status.API_ANSWERS)
    read_bmcs = None
    if params.get('nodes'):  # the BMCs are asked only for the nodes given
        fence_plan.check_bmc_settings(params)
        agents = (make_agents or bmc.make_agents)(params)

        def read_bmcs():
            return bmc.read_power([node['name'] for node in params['nodes']], agents)

    if params.get('wait_ready'):
        names = room_status.wait_names(params['rooms'], params['wait_ready'])
        read_node_list = read_node_list or (lambda: read_nodes(params['kubeconfig'], context, params['api_timeout']))
        result['wait'] = wait_ready(read_node_list, names, params['wait_timeout'], context, clock=clock, sleep=sleep)

    read_api = read_api or (lambda: read_cluster(params['kubeconfig'], context, params['api_timeout']))
    try:
        cluster, api_error, observed = read_rooms(read_api, read_bmcs)
    except bmc.BmcError as exc:
        raise bmc.BmcError('cannot read the BMCs: %s' % exc.msg)
    power = room_status.bmc_power(observed or [])
    if read_bmcs is not None:
        result['bmc'] = power
    if api_error is not None:
        result['api_state'] = room_status.classify_api_error(api_error)
        raise room_status.RoomStatusError(
            room_status.api_failure_message(context, api_error, result['api_state'], params.get('lost_room')), **result)

    nodes, pods_by_node, skew = cluster
    if skew is not None:
        result['clock_skew'] = dict(offset_s=skew[0], uncertainty_s=skew[1])
    # Lease ages on the API server's clock: the controller's own clock does not decide.
    now = wall_clock() + (skew[0] if skew is not None else 0.0)
    summaries = dict((n['metadata']['name'], room_status.node_summary(n, now, params['stale_after'])) for n in nodes)
    status = room_status.power_summary(room_status.rooms_status(params['rooms'], summaries, pods_by_node), power)
    result.update(rooms=status, table=room_status.status_table(status))
    if params.get('lost_room') is not None:
        try:
            room_status.check_clocks(status, skew, params['max_clock_skew'], context)
            result['survivor'] = room_status.check_failover(params['lost_room'], status, params['force'])
        except room_status.RoomStatusError as exc:
            raise room_status.RoomStatusError(exc.msg, **result)
    return result
