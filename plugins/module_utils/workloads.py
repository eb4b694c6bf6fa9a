# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of a lost room's workloads do not yet run in the surviving room - a pure function of two pod
listings (before the failover and now)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _owner(pod):
    refs = pod.get('metadata', {}).get('ownerReferences') or []
    controller = [r for r in refs if r.get('controller')] or refs
    return (controller[0].get('kind'), controller[0].get('name')) if controller else None


def _key(pod, owner):
    return '%s/%s/%s' % (pod['metadata'].get('namespace', 'default'), owner[0], owner[1])


def workloads_waiting(pods_before, pods_now, lost_nodes):
    """For every controller (not DaemonSet) that had a pod on a lost node: how many of its pods ran
    before, and how many now run, not terminating, on nodes outside the lost room. Returns the ones still
    short, as sorted strings 'namespace/Kind/name: k of n running'."""
    lost_nodes = set(lost_nodes)
    wanted, affected = {}, set()
    for pod in pods_before:
        owner = _owner(pod)
        if owner is None or owner[0] == 'DaemonSet':
            continue
        key = _key(pod, owner)
        wanted[key] = wanted.get(key, 0) + 1
        if pod.get('spec', {}).get('nodeName') in lost_nodes:
            affected.add(key)
    running = {}
    for pod in pods_now:
        owner = _owner(pod)
        if owner is None or pod.get('metadata', {}).get('deletionTimestamp'):
            continue
        if pod.get('status', {}).get('phase') != 'Running' or pod.get('spec', {}).get('nodeName') in lost_nodes:
            continue
        key = _key(pod, owner)
        running[key] = running.get(key, 0) + 1
    return sorted('%s: %d of %d running' % (key, running.get(key, 0), wanted[key])
                  for key in affected if running.get(key, 0) < wanted[key])
