# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""leader_lease and leader_lease_info's runner: read the leader leases, judge them (leader_lease.py, the plan),
and release the stale ones with a resourceVersion precondition.

Layer 4: reaches the API through k8s.py only; the modules end through module_run.finish.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import time

from ansible_collections.twinroom.ha.plugins.module_utils import k8s, leader_lease, room_status

# Shared by leader_lease and leader_lease_info (documented there, and by the doc fragment twinroom.ha.kubeconfig).
_SPEC = dict(
    kubeconfig=dict(type='path'),
    context=dict(type='str'),
    names=dict(type='list', elements='str', default=list(leader_lease.LEADER_LEASES)),
    namespace=dict(type='str', default=leader_lease.LEASE_NAMESPACE),
    margin=dict(type='int', default=leader_lease.DEFAULT_MARGIN),
    api_timeout=dict(type='int', default=10),
)


def leader_lease_argument_spec(**extra):
    """The shared options (deep-copied, so callers may change them) plus the module's own."""
    spec = copy.deepcopy(_SPEC)
    spec.update(copy.deepcopy(extra))
    return spec


class LeaseAccess(object):
    """The Leases of one namespace through one API server: list them, delete one on a precondition."""

    def __init__(self, kubeconfig=None, context=None, timeout=10):
        from kubernetes import client  # pylint: disable=import-outside-toplevel

        self.client = client
        self.api_client = k8s.api_client(kubeconfig, context)
        self.coordination = client.CoordinationV1Api(self.api_client)
        self.timeout = timeout

    def list(self, namespace):
        """(leases as dicts, skew): skew is the API server's clock minus ours (room_status.api_skew), or None."""
        before = time.time()
        lease_list, _status, headers = k8s.while_initializing(
            self.coordination.list_namespaced_lease_with_http_info, namespace, _request_timeout=self.timeout)
        skew = room_status.api_skew(before, time.time(), (headers or {}).get('Date'))
        return self.api_client.sanitize_for_serialization(lease_list).get('items') or [], skew

    def delete(self, namespace, name, resource_version, dry_run=False):
        """Delete the lease if it is still at ``resource_version``; None, or the HTTP status it was refused with.

        With ``dry_run`` the API server only checks the deletion (precondition included)."""
        body = self.client.V1DeleteOptions(preconditions=self.client.V1Preconditions(resource_version=resource_version))
        kwargs = dict(body=body, _request_timeout=self.timeout)
        if dry_run:
            kwargs['dry_run'] = 'All'
        try:
            k8s.while_initializing(self.coordination.delete_namespaced_lease, name, namespace, **kwargs)
        except Exception as exc:  # ApiException: its status is the answer; anything else goes up
            if getattr(exc, 'status', None) is None:
                raise
            return exc.status
        return None


def _observe(params, access, clock):
    try:
        leases, skew = access.list(params['namespace'])
    except Exception as exc:  # every failure of the read is reported the same way, with how it failed
        api_state = room_status.classify_api_error(exc)
        raise leader_lease.LeaderLeaseError(
            'cannot read the leases of namespace %s%s (%s): %s'
            % (params['namespace'], ' through context %s' % params['context'] if params['context'] else '',
               api_state, room_status.failure_text(exc)),
            api_state=api_state)
    # Ages on the API server's clock when it sent one: the controller's own clock does not decide.
    now = clock() + (skew[0] if skew is not None else 0.0)
    judged = leader_lease.plan(leases, now, params['names'], params['margin'])
    result = dict(changed=False)
    if skew is not None:
        result['clock_skew'] = dict(offset_s=skew[0], uncertainty_s=skew[1])
    return judged, result


def run_leader_lease_info(params, access=None, clock=time.time):
    """leader_lease_info's result: every named lease judged; nothing is changed."""
    access = access or LeaseAccess(params['kubeconfig'], params['context'], params['api_timeout'])
    judged, result = _observe(params, access, clock)
    result['leases'] = leader_lease.results(judged, {})
    return result


def run_leader_lease(params, check_mode=False, diff=False, access=None, clock=time.time):
    """leader_lease's result (state=released): the stale leases deleted, each on its resourceVersion.

    A 409 (or 404) means a candidate took the lease between the read and the delete: what the release is for,
    so it is reported (outcome ``taken``), not failed. In check mode the API server's dry run decides instead."""
    access = access or LeaseAccess(params['kubeconfig'], params['context'], params['api_timeout'])
    judged, result = _observe(params, access, clock)
    outcomes = {}
    for entry in judged:
        if not entry['release']:
            continue
        status = access.delete(params['namespace'], entry['name'], entry['resource_version'], dry_run=check_mode)
        outcome = leader_lease.outcome_of_delete(status)
        if outcome is None:
            raise leader_lease.LeaderLeaseError(
                'cannot release the leader lease %s/%s (held by %s, not renewed for %.1f s, longer than its %d s): '
                'the API server answered %s. Nothing else was changed after it; check the credentials of context %s '
                '(they must allow deleting Leases in %s).'
                % (params['namespace'], entry['name'], entry['holder'], entry['age'], entry['duration'], status,
                   params['context'], params['namespace']),
                leases=leader_lease.results(judged, outcomes), **result)
        outcomes[entry['name']] = outcome
    result['leases'] = leader_lease.results(judged, outcomes)
    result['changed'] = any(entry['released'] for entry in result['leases'])
    if diff:
        result['diff'] = leader_lease.diff(judged, outcomes)
    return result
