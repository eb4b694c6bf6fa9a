# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of a lost room's workloads do not yet run in the surviving room - a pure function of two pod
listings (before the failover and now)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime


def _owner(pod):
    refs = pod.get('metadata', {}).get('ownerReferences') or []
    controller = [r for r in refs if r.get('controller')] or refs
    return (controller[0].get('kind'), controller[0].get('name')) if controller else None


def _key(pod, owner):
    return '%s/%s/%s' % (pod['metadata'].get('namespace', 'default'), owner[0], owner[1])


def _affected(pods_before, lost_nodes):
    """({workload key: pods it had}, {workload key: how many of them were on a lost node}); a workload is
    affected when it had at least one pod there."""
    wanted, moved = {}, {}
    for pod in pods_before:
        owner = _owner(pod)
        if owner is None or owner[0] == 'DaemonSet':
            continue
        if pod.get('metadata', {}).get('deletionTimestamp'):
            continue  # already being deleted before the failover (its workload scaled down or removed)
        key = _key(pod, owner)
        wanted[key] = wanted.get(key, 0) + 1
        if pod.get('spec', {}).get('nodeName') in lost_nodes:
            moved[key] = moved.get(key, 0) + 1
    return wanted, moved


def is_serving(pod):
    """Running and Ready: a pod that runs but fails its readiness probe serves nothing yet."""
    status = pod.get('status', {})
    ready = [c for c in status.get('conditions') or () if c.get('type') == 'Ready']
    return status.get('phase') == 'Running' and bool(ready) and ready[0].get('status') == 'True'


def _running_outside(pods_now, lost_nodes):
    """{workload key: [its pods running and Ready, not terminating, outside the lost room]}."""
    running = {}
    for pod in pods_now:
        owner = _owner(pod)
        if owner is None or pod.get('metadata', {}).get('deletionTimestamp'):
            continue
        if not is_serving(pod) or pod.get('spec', {}).get('nodeName') in lost_nodes:
            continue
        running.setdefault(_key(pod, owner), []).append(pod)
    return running


def _epoch(text):
    """Kubernetes time ('2026-11-21T18:40:01Z', maybe with fractions) as epoch seconds; None if absent."""
    if not text:
        return None
    text = str(text).replace('Z', '+00:00')
    if '.' in text:
        head, tail = text.split('.', 1)
        zone = tail[tail.index('+'):] if '+' in tail else ''
        text = head + zone
    return datetime.datetime.fromisoformat(text).timestamp()


def running_since(pod):
    """When the pod became Ready (its Ready condition's transition), else its start time; epoch seconds."""
    status = pod.get('status', {})
    for condition in status.get('conditions') or ():
        if condition.get('type') == 'Ready' and condition.get('status') == 'True' and condition.get('lastTransitionTime'):
            return _epoch(condition.get('lastTransitionTime'))
    return _epoch(status.get('startTime'))


def workloads_timeline(pods_before, pods_now, lost_nodes, started):
    """Per workload of the lost room, when it ran again in full outside the lost room.

    ``started``: epoch seconds of the failover's start. Returns a list sorted by time of dicts
    ``workload`` ('namespace/Kind/name'), ``pods`` (how many it had), ``moved`` (how many were on lost
    nodes), ``running_after_s`` (seconds from ``started`` until the last pod it needed was Ready; null while
    it is still short). Times come from the API (second resolution).
    """
    lost_nodes = set(lost_nodes)
    wanted, moved = _affected(pods_before, lost_nodes)
    running = _running_outside(pods_now, lost_nodes)
    timeline = []
    for key in sorted(moved):
        times = sorted(t for t in (running_since(pod) for pod in running.get(key, ())) if t is not None)
        done = None
        if len(times) >= wanted[key]:
            # The first `wanted` pods to be Ready make the workload whole; the last of them is the moment.
            done = round(max(0.0, times[wanted[key] - 1] - float(started)), 1)
        timeline.append(dict(workload=key, pods=wanted[key], moved=moved[key], running_after_s=done))
    return sorted(timeline, key=lambda item: (item['running_after_s'] is None, item['running_after_s'] or 0,
                                              item['workload']))


def workloads_waiting(pods_before, pods_now, lost_nodes):
    """For every controller (not DaemonSet) that had a pod on a lost node: how many of its pods ran
    before, and how many now run, not terminating, on nodes outside the lost room. Returns the ones still
    short, as sorted strings 'namespace/Kind/name: k of n running' (running means Running and Ready)."""
    lost_nodes = set(lost_nodes)
    wanted, affected = _affected(pods_before, lost_nodes)
    running = dict((key, len(pods)) for key, pods in _running_outside(pods_now, lost_nodes).items())
    return sorted('%s: %d of %d running' % (key, running.get(key, 0), wanted[key])
                  for key in affected if running.get(key, 0) < wanted[key])
