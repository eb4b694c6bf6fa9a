# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-room status, and whether a failover of one room is justified - pure functions of observed state.

Observations come from the API server of a room that still answers (Nodes and their Leases, Pods) and
optionally from the fence module's BMC readings; only :func:`read_cluster` and :func:`read_rooms` do I/O
(through k8s.py, and the BMC readers the caller passes). Layer 4 with them; see docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.twinroom.ha.plugins.module_utils import k8s
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import (
    FENCED_ANNOTATION,
    OUT_OF_SERVICE_TAINT_KEY,
    ROOMS,
    ZONE_LABEL,
    TwinroomError,
    join_words,
    other_room,
)


class RoomStatusError(TwinroomError):
    """A failover refused on the rooms' state (or on untrustworthy clocks)."""


def node_summary(node, now, stale_after=10):
    """One Node object (dict as the API returns it) and its Lease renew time -> a flat summary.

    `alive` is Ready with a lease renewed within `stale_after` seconds: the Ready condition lags a
    power loss by the controller-manager's grace period, the lease does not."""
    meta = node.get('metadata', {})
    conditions = dict((c.get('type'), c.get('status')) for c in node.get('status', {}).get('conditions', []) or [])
    taints = [t.get('key') for t in node.get('spec', {}).get('taints', []) or []]
    renewed = node.get('lease_renewed')
    ready = conditions.get('Ready') == 'True'
    lease_age = round(now - renewed, 1) if renewed is not None else None
    return {
        'name': meta.get('name'),
        'zone': meta.get('labels', {}).get(ZONE_LABEL),
        'ready': ready,
        'alive': ready and lease_age is not None and lease_age < stale_after,
        'lease_age': lease_age,
        'out_of_service': OUT_OF_SERVICE_TAINT_KEY in taints,
        'fenced': FENCED_ANNOTATION in (meta.get('annotations') or {}),
    }


def rooms_status(room_nodes, summaries, pods_by_node=None, extra=None):
    """room_nodes: {room: [node names]}; summaries: {name: node_summary}; pods_by_node: {name: count}.

    Returns {room: {'nodes': [...], 'ready': n, 'total': n, 'state': healthy|degraded|down, 'workloads': n}}
    plus whatever `extra` adds per room (datastore role, BMC power states).
    """
    pods_by_node = pods_by_node or {}
    status = {}
    for room in sorted(room_nodes):
        nodes = [summaries.get(name, {'name': name, 'ready': False, 'lease_age': None, 'missing': True})
                 for name in room_nodes[room]]
        ready = sum(1 for n in nodes if n.get('alive', n.get('ready')))
        state = 'healthy' if ready == len(nodes) else ('down' if ready == 0 else 'degraded')
        status[room] = dict(nodes=nodes, ready=ready, total=len(nodes), state=state,
                            workloads=sum(pods_by_node.get(n['name'], 0) for n in nodes))
        status[room].update((extra or {}).get(room, {}))
    return status


def _alive(node):
    return node.get('alive', node.get('ready'))


def check_failover(lost_room, status, force=False):
    """Refuse a failover that is not justified; returns the surviving room's name.

    The lost room counts as up only if its nodes are alive (Ready and renewing their leases). The
    surviving room is judged by the Ready condition alone: when the lost room held the synchronous
    standby, the primary blocks every write until the takeover, so the survivor's leases go stale too
    while its nodes are fine - and nothing can flip their Ready condition either.

    Without ``force``, the lost room is failed over only when it is lost as a whole:

    * no node of it has a stale lease while its BMC reports it powered on (``power_state`` from
      :func:`power_summary`): such a room runs behind a cut link, or its kubelets stopped. Nodes
      without a BMC reading are judged by their lease alone;
    * every node of it is down - its lease stale, or its BMC reporting it off. A node reported off whose
      lease is still fresh may have lost its power a moment ago; the fence module taints it only once its
      lease has gone stale too, and refuses it when it keeps being renewed (then the BMC is not its own).
    """
    if lost_room not in ROOMS:
        raise RoomStatusError("Unknown room '%s': choose room_a or room_b." % (lost_room,))
    survivor = other_room(lost_room)
    lost, alive = status[lost_room], status[survivor]
    not_ready = [n['name'] for n in alive['nodes'] if not n.get('ready')]
    if not_ready and not force:
        not_ready = ', '.join(not_ready)
        raise RoomStatusError(
            "The surviving room %s is itself degraded (%s not Ready): failing %s over to it would not bring "
            "every workload back. Restore %s first, or run again with force: true if you accept that."
            % (survivor, not_ready, lost_room, survivor))
    if force:
        return survivor
    running = [n['name'] for n in lost['nodes'] if not _alive(n) and n.get('power_state') == 'on']
    if running:
        words = dict(bmc='BMC', reports='reports', it='it', lease='its lease is', kubelet='kubelet') if len(running) == 1 \
            else dict(bmc='BMCs', reports='report', it='them', lease='their leases are', kubelet='kubelets')
        raise RoomStatusError(
            "%s is not lost: the %s of %s %s %s powered on, yet %s stale - the room is running behind a cut "
            "link, or its kubelets stopped. Refusing to fail it over without force: true. Check the link between "
            "the rooms and the %s of %s; run again with force: true only to power %s off through the %s and "
            "fail %s over anyway."
            % (lost_room, words['bmc'], join_words(running), words['reports'], words['it'], words['lease'],
               words['kubelet'], join_words(running), words['it'], words['bmc'], lost_room))
    up = [n['name'] for n in lost['nodes'] if _alive(n) and n.get('power_state') != 'off']
    if up and len(up) < len(lost['nodes']):
        down = [n['name'] for n in lost['nodes'] if n['name'] not in up]
        raise RoomStatusError(
            "%s is not lost: %s still %s (down: %s). A room is failed over only when every node of it is down - "
            "its lease stale, or its BMC reporting it off: refusing to fail it over without force: true. Bring %s "
            "back, or run again with force: true to fence the whole room, the running %s included."
            % (lost_room, join_words(up), 'renews its lease' if len(up) == 1 else 'renew their leases', ', '.join(down),
               join_words(down), 'node' if len(up) == 1 else 'nodes'))
    if lost['state'] == 'healthy' and up:
        raise RoomStatusError(
            "%s looks healthy (%s Ready): refusing to fail it over. If it must be failed over anyway, "
            "run again with force: true." % (lost_room, ', '.join(n['name'] for n in lost['nodes'])))
    return survivor


API_DOWN = 'down'                  # nothing answers at the API server's address
API_NO_DATASTORE = 'no_datastore'  # the API server answers, but not from its datastore (it times out or 5xx)
API_ERROR = 'error'                # it answers and refuses (credentials, certificates, a bad request)

# Exceptions (by class name, anywhere in the cause chain): no connection could be made at all, or one was
# made and no answer came in time.
_NOT_CONNECTED = ('NewConnectionError', 'ConnectTimeoutError', 'ConnectTimeout', 'ConnectionRefusedError',
                  'NameResolutionError')
_NO_ANSWER = ('ReadTimeoutError', 'ReadTimeout', 'ProtocolError', 'RemoteDisconnected', 'TimeoutError', 'timeout')


def _causes(exc):
    seen = []
    while isinstance(exc, BaseException) and exc not in seen and len(seen) < 10:
        seen.append(exc)
        exc = getattr(exc, 'reason', None) or exc.__cause__ or exc.__context__
    return seen


def classify_api_error(exc):
    """How an API read failed: API_DOWN, API_NO_DATASTORE or API_ERROR (see their comments).

    A failover that finds the surviving room's API server down must not fence anything: after the takeover,
    the cluster is served through that API server. One that times out, or answers 5xx, is an API server whose
    datastore primary was in the lost room - the case the takeover is for."""
    names = set(type(cause).__name__ for cause in _causes(exc))
    status = getattr(exc, 'status', None)
    if isinstance(status, int) and status >= 500:
        return API_NO_DATASTORE
    if names.intersection(_NOT_CONNECTED):
        return API_DOWN
    if names.intersection(_NO_ANSWER):
        return API_NO_DATASTORE
    return API_ERROR


def api_failure_message(context, error, state, lost_room=None):
    """What an operator reads when the API could not be read (``state`` from :func:`classify_api_error`)."""
    text = str(error) or error.__class__.__name__
    if lost_room is not None and state == API_DOWN:
        return ('refusing to fail %s over: the API server of the surviving room does not answer through context %s '
                '(%s). After the takeover the cluster is served through it, so fencing %s now would leave no cluster '
                'at all. Start the API server of the surviving room (and its kine), then run again. Nothing was powered '
                'off.' % (lost_room, context, _connect_failure(error), lost_room))
    return 'cannot read the cluster through context %s: %s' % (context, text)


def _connect_failure(error):
    """The text of the connection failure in ``error``'s cause chain, without urllib3's object repr."""
    for cause in _causes(error):
        if type(cause).__name__ in _NOT_CONNECTED:
            # urllib3 names the connection first: '<...HTTPSConnection object at 0x..>: ' or 'HTTPSConnection(host=..): '.
            text = re.sub(r'^(<[^>]*>|\w+\([^)]*\)):\s*', '', str(cause)).strip()
            return text or type(cause).__name__
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def api_skew(before, after, date_header):
    """(skew, uncertainty) in seconds: the API server's clock minus the controller's, from one request sent at
    ``before`` and answered at ``after`` (controller clock, epoch seconds) with an HTTP ``Date`` header.

    The header has whole seconds, so the server's time is taken as the middle of that second; the uncertainty
    adds half the round trip. None when there is no usable header."""
    import email.utils  # pylint: disable=import-outside-toplevel

    try:
        parsed = email.utils.parsedate_tz(date_header or '')
    except (TypeError, ValueError):
        parsed = None
    if not parsed:
        return None
    server = email.utils.mktime_tz(parsed) + 0.5
    return round(server - (before + after) / 2.0, 2), round(0.5 + (after - before) / 2.0, 2)


def check_clocks(status, skew, max_skew, context=None):
    """Refuse when lease ages cannot be trusted: the controller's clock and the API server's differ by more
    than ``max_skew`` seconds, or a node renews its lease from a clock running that far ahead.

    Lease ages are computed on the API server's clock (``skew`` corrects the controller's), so the
    controller's own clock does not decide; a node's clock that runs ahead would hide its lease going stale."""
    if skew is not None:
        offset, uncertainty = skew
        if abs(offset) - uncertainty > max_skew:
            raise RoomStatusError(
                "The controller's clock and the API server's%s differ by %.1f s (+/- %.1f s), more than "
                "max_clock_skew (%d s): lease ages cannot be trusted, and a failover decided on them could fence a "
                "running room. Synchronise the clocks (chrony or NTP on the controller and every node), then run "
                "again." % (' (context %s)' % context if context else '', offset, uncertainty, max_skew))
    ahead = [(n['name'], -n['lease_age']) for info in status.values() for n in info['nodes']
             if n.get('lease_age') is not None and n['lease_age'] < -max_skew]
    if ahead:
        raise RoomStatusError(
            "%s renew%s %s lease from a clock running ahead of the API server's (%s), by more than max_clock_skew "
            "(%d s): a lease from such a clock looks fresh after the node has stopped. Synchronise the clocks "
            "(chrony or NTP on every node), then run again."
            % (join_words([name for name, _age in ahead]), 's' if len(ahead) == 1 else '', 'its' if len(ahead) == 1 else 'their',
               ', '.join('%s by %.1f s' % item for item in ahead), max_skew))


def bmc_power(observed):
    """The fence module's BMC observations (``fence.observe``) -> {node: {power_state, bmc_reachable, bmc_error}}."""
    return dict((entry['name'], dict(power_state=entry.get('power_state'), bmc_reachable=entry.get('bmc_reachable'),
                                     bmc_error=entry.get('bmc_error')))
                for entry in observed if 'power_state' in entry)


def power_summary(status, power):
    """Add each asked node's BMC power state to ``status`` (in place) and a per-room count; returns it.

    ``power``: {node: {power_state, ...}} from :func:`bmc_power`. Rooms none of whose nodes were asked get
    ``power: None``."""
    for info in status.values():
        counts = {}
        for node in info['nodes']:
            if node['name'] in power:
                node['power_state'] = power[node['name']]['power_state']
                counts[node['power_state']] = counts.get(node['power_state'], 0) + 1
        info['power'] = counts or None
    return status


def _power_cell(counts):
    if not counts:
        return '-'
    return ','.join('%d %s' % (counts[state], state) for state in ('on', 'off', 'unknown') if counts.get(state))


def status_table(status):
    """A short table for an operator."""
    lines = ['%-7s %-9s %-6s %-9s %-9s %s' % ('ROOM', 'STATE', 'READY', 'WORKLOADS', 'BMC-POWER', 'NODES')]
    for room, info in sorted(status.items()):
        nodes = ' '.join('%s%s' % (n['name'], '' if n.get('alive', n.get('ready')) else '(NotReady)')
                         for n in info['nodes'])
        lines.append('%-7s %-9s %-6s %-9d %-9s %s' % (room, info['state'], '%d/%d' % (info['ready'], info['total']),
                                                      info['workloads'], _power_cell(info.get('power')), nodes))
    return lines


def read_rooms(read_api, read_bmcs=None):
    """Ask the API server and the BMCs at the same time; (read_api's answer or None, api_error, bmc_observed).

    ``read_api()`` returns ``(nodes, pods_by_node, skew)`` (see :func:`read_cluster`); ``read_bmcs()`` the fence
    module's observations, or None when no BMC is to be asked. An API server whose datastore primary was in
    the lost room answers only with its timeout; the BMCs' answer is what the failover needs then, so it is
    read in parallel rather than after. An API failure is returned (the exception); a BMC failure is raised.
    """
    from ansible_collections.twinroom.ha.plugins.module_utils.fence import run_parallel  # pylint: disable=import-outside-toplevel

    calls = [read_api] + ([read_bmcs] if read_bmcs is not None else [])
    results = run_parallel(calls, lambda call: call())
    cluster, api_error = results[0], None
    if isinstance(cluster, Exception):  # the caller tells the failures apart with classify_api_error
        cluster, api_error = None, cluster
    observed = results[1] if read_bmcs is not None else None
    if isinstance(observed, Exception):
        raise observed
    return cluster, api_error, observed


def read_cluster(kubeconfig=None, context=None, timeout=k8s.API_TIMEOUT):
    """Nodes (with their Lease renew time, epoch seconds), pod counts per node, and the API server's clock
    against the controller's (:func:`api_skew`), from one API server."""
    import calendar  # pylint: disable=import-outside-toplevel

    from kubernetes import client  # pylint: disable=import-outside-toplevel

    api_client = k8s.api_client(kubeconfig, context)
    core = client.CoreV1Api(api_client)
    coordination = client.CoordinationV1Api(api_client)
    before = time.time()
    node_list, _status, headers = core.list_node_with_http_info(_request_timeout=timeout)
    skew = api_skew(before, time.time(), (headers or {}).get('Date'))
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
