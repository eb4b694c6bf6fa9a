# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes side of fencing: read Nodes and their Leases; write the out-of-service taint, the
twinroom.io/fenced record and Events; delete a fenced node's pods.

:class:`NodeRecorder` holds the API clients (from k8s.py) and maps every API failure to :class:`NodeApiError`,
naming the Node and the API server. How the taint sits among a node's taints and how the record is stored
(compact JSON in the annotation) are here too; what the record says, and when to write it, is the fence
plan's.

Layer 1 (access): I/O and its errors, no fencing decision. See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import socket
import time

from ansible_collections.twinroom.ha.plugins.module_utils import k8s
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import (
    FENCED_ANNOTATION,
    OUT_OF_SERVICE_TAINT_EFFECT,
    OUT_OF_SERVICE_TAINT_KEY,
    OUT_OF_SERVICE_TAINT_VALUE,
    TwinroomError,
    epoch_seconds,
    utc_now,
)

try:
    from kubernetes import client as k8s_client
    from kubernetes.client.rest import ApiException
except ImportError:  # pragma: no cover - depends on the host; k8s.HAS_KUBERNETES tells the modules
    k8s_client = None

    class ApiException(Exception):
        """Stand-in so the except clauses below stay valid without the library."""

HAS_KUBERNETES = k8s.HAS_KUBERNETES
EVENT_NAMESPACE = 'default'  # where the kubelet and node controller put Node events too
API_TIMEOUT = k8s.API_TIMEOUT  # seconds for each API request
LEASE_NAMESPACE = 'kube-node-lease'
LEASE_STALE_AFTER = 10       # seconds without renewal after which a node's lease counts as stale (as room_info)


class NodeApiError(TwinroomError):
    """A Node, its Lease, its pods or an Event could not be read or written."""


# ---------------------------------------------------------------------------------------------
# The taint and the record, as the Node carries them
# ---------------------------------------------------------------------------------------------


def parse_record(value):
    """The annotation's value as a dict; None when absent. Text that is not a JSON object is kept as ``raw``."""
    if value is None or value == '':
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return dict(raw=value)
    return parsed if isinstance(parsed, dict) else dict(raw=value)


def is_fence_taint(taint):
    """Taints are unique by key and effect; the value is not part of the identity."""
    return taint.get('key') == OUT_OF_SERVICE_TAINT_KEY and taint.get('effect') == OUT_OF_SERVICE_TAINT_EFFECT


def with_fence_taint(taints, added_at):
    """The node's taints plus ours (existing ones kept, in order); unchanged when ours is there."""
    taints = [dict(t) for t in taints or ()]
    if any(is_fence_taint(t) for t in taints):
        return taints
    return taints + [dict(key=OUT_OF_SERVICE_TAINT_KEY, value=OUT_OF_SERVICE_TAINT_VALUE,
                          effect=OUT_OF_SERVICE_TAINT_EFFECT, timeAdded=added_at)]


def without_fence_taint(taints):
    return [dict(t) for t in taints or () if not is_fence_taint(t)]


def _api_error(exc):
    if isinstance(exc, ApiException) and getattr(exc, 'status', None):
        try:
            body = json.loads(exc.body or '{}')
        except ValueError:
            body = {}
        return '%s %s' % (exc.status, body.get('message') or exc.reason)
    return str(exc) or exc.__class__.__name__


class NodeRecorder(object):
    """Reads Nodes and their Leases, and writes the out-of-service taint, the twinroom.io/fenced record and Events.

    ``api`` (a CoreV1Api) and ``leases`` (a CoordinationV1Api) can be given; with ``api`` but no ``leases``, no
    Lease is read. ``now`` is the wall clock the Lease's renewTime is compared with; ``component`` is who the
    Events say recorded them."""

    def __init__(self, kubeconfig=None, context=None, api=None, timeout=API_TIMEOUT, leases=None,
                 stale_after=LEASE_STALE_AFTER, now=time.time, component='twinroom.ha'):
        self.where = 'the API server%s' % (' of context %s' % context if context else '')
        self.timeout = timeout
        self.leases = leases
        self.stale_after = stale_after
        self.now = now
        self.component = component  # the Events' source
        if api is not None:
            self.api = api
            return
        if not HAS_KUBERNETES:
            raise NodeApiError('the kubernetes Python library is not installed where this module runs '
                               '(pip install kubernetes, or Debian python3-kubernetes).')
        try:
            api_client = k8s.api_client(kubeconfig, context)
        except Exception as exc:  # the loader raises several types for a bad or missing file
            raise NodeApiError('cannot load kubeconfig %s%s: %s' % (
                kubeconfig or '(default)', ' (context %s)' % context if context else '', exc))
        self.api = k8s_client.CoreV1Api(api_client)
        self.leases = k8s_client.CoordinationV1Api(api_client)

    def _read(self, name):
        try:
            return self.api.read_node(name, _request_timeout=self.timeout)
        except ApiException as exc:
            if getattr(exc, 'status', None) == 404:
                return None
            raise NodeApiError('cannot read Node %s from %s: %s' % (name, self.where, _api_error(exc)))
        except Exception as exc:  # connection refused, timeout: urllib3 errors
            raise NodeApiError('cannot read Node %s from %s: %s' % (name, self.where, _api_error(exc)))

    @staticmethod
    def _view(node):
        if node is None:
            return dict(exists=False, tainted=False, record=None, ready=None, taints=[])
        taints = []
        for t in node.spec.taints or ():
            fields = (('key', t.key), ('value', t.value), ('effect', t.effect), ('timeAdded', t.time_added))
            taints.append(dict((k, v) for k, v in fields if v is not None))
        for taint in taints:
            if isinstance(taint.get('timeAdded'), datetime.datetime):
                taint['timeAdded'] = taint['timeAdded'].astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        ready = None
        for condition in (node.status.conditions or ()) if node.status else ():
            if condition.type == 'Ready':
                ready = condition.status == 'True'
        annotations = node.metadata.annotations or {}
        return dict(exists=True, tainted=any(is_fence_taint(t) for t in taints),
                    record=parse_record(annotations.get(FENCED_ANNOTATION)), ready=ready, taints=taints,
                    uid=node.metadata.uid, resource_version=node.metadata.resource_version)

    def observe(self, name):
        view = self._view(self._read(name))
        if view['exists']:
            view['pods'] = len(self.pods_on(name))
            view.update(self.lease(name))
        return view

    def room_nodes(self, zone_label, zone):
        """{name: {tainted, record}} of the Nodes labelled ``zone_label=zone`` (a room's nodes)."""
        try:
            listed = self.api.list_node(label_selector='%s=%s' % (zone_label, zone), _request_timeout=self.timeout)
        except Exception as exc:  # ApiException, urllib3 errors
            raise NodeApiError('cannot list the Nodes labelled %s=%s on %s: %s'
                               % (zone_label, zone, self.where, _api_error(exc)))
        views = ((node.metadata.name, self._view(node)) for node in listed.items)
        return dict((name, dict(tainted=view['tainted'], record=view['record'])) for name, view in views)

    def lease(self, name):
        """lease_age (seconds since the node's Lease in kube-node-lease was renewed) and lease_fresh (younger than
        ``stale_after``); both None when that cannot be told - no Lease API, no Lease, no renewTime, or a read
        error (then also lease_error): the node is then judged by its BMC alone, as before Leases were read."""
        unknown = dict(lease_age=None, lease_fresh=None, lease_error=None)
        if self.leases is None:
            return unknown
        try:
            lease = self.leases.read_namespaced_lease(name, LEASE_NAMESPACE, _request_timeout=self.timeout)
        except ApiException as exc:
            if getattr(exc, 'status', None) == 404:
                return unknown
            return dict(unknown, lease_error=_api_error(exc))
        except Exception as exc:  # connection refused, timeout: urllib3 errors
            return dict(unknown, lease_error=_api_error(exc))
        renewed = lease.spec.renew_time if lease.spec is not None else None
        if renewed is None:
            return unknown
        age = round(self.now() - epoch_seconds(renewed), 1)
        return dict(lease_age=age, lease_fresh=age < self.stale_after, lease_error=None)

    def pods_on(self, name):
        """[(namespace, name, uid)] of the pods bound to Node ``name``."""
        try:
            pods = self.api.list_pod_for_all_namespaces(field_selector='spec.nodeName=%s' % name,
                                                        _request_timeout=self.timeout)
        except Exception as exc:
            raise NodeApiError('cannot list the pods of Node %s on %s: %s' % (name, self.where, _api_error(exc)))
        return [(pod.metadata.namespace, pod.metadata.name, pod.metadata.uid) for pod in pods.items]

    def release(self, name):
        """Delete the pods bound to Node ``name`` at once (grace period 0, the UID as precondition, so a
        replacement with the same name is never hit). Only called for a node that is verified off and marked
        out of service. Returns 'namespace/name' of each pod deleted."""
        released = []
        for namespace, pod, uid in self.pods_on(name):
            body = k8s_client.V1DeleteOptions(grace_period_seconds=0,
                                              preconditions=k8s_client.V1Preconditions(uid=uid))
            try:
                self.api.delete_namespaced_pod(pod, namespace, body=body, grace_period_seconds=0,
                                               _request_timeout=self.timeout)
            except ApiException as exc:
                if getattr(exc, 'status', None) in (404, 409):  # gone already, or replaced (other UID)
                    continue
                raise NodeApiError('cannot delete pod %s/%s of fenced Node %s on %s: %s' % (
                    namespace, pod, name, self.where, _api_error(exc)))
            except Exception as exc:
                raise NodeApiError('cannot delete pod %s/%s of fenced Node %s on %s: %s' % (
                    namespace, pod, name, self.where, _api_error(exc)))
            released.append('%s/%s' % (namespace, pod))
        return released

    def _patch(self, name, change):
        """Read, change, patch with the read resourceVersion (a conflict re-reads); the view afterwards."""
        for attempt in range(3):
            view = self.observe(name)
            if not view['exists']:
                raise NodeApiError('Node %s disappeared from %s while it was being changed.' % (name, self.where))
            body = change(view)
            if body is None:
                return view
            body.setdefault('metadata', {})['resourceVersion'] = view['resource_version']
            try:
                # Strategic merge: spec.taints has no merge key, so the list sent replaces the node's.
                node = self.api.patch_node(name, body, _request_timeout=self.timeout,
                                           _content_type='application/strategic-merge-patch+json')
                return self._view(node)
            except ApiException as exc:
                if getattr(exc, 'status', None) == 409 and attempt < 2:
                    continue
                raise NodeApiError('cannot update Node %s on %s: %s' % (name, self.where, _api_error(exc)))
            except Exception as exc:
                raise NodeApiError('cannot update Node %s on %s: %s' % (name, self.where, _api_error(exc)))
        raise NodeApiError('Node %s kept changing on %s: gave up after 3 tries.' % (name, self.where))  # pragma: no cover

    def taint(self, name, at):
        def change(view):
            if view['tainted']:
                return None
            return dict(spec=dict(taints=with_fence_taint(view['taints'], at)))
        return self._patch(name, change)

    def untaint(self, name):
        def change(view):
            if not view['tainted']:
                return None
            return dict(spec=dict(taints=without_fence_taint(view['taints'])))
        return self._patch(name, change)

    def annotate(self, name, record):
        value = json.dumps(record, sort_keys=True, separators=(',', ':'))
        return self._patch(name, lambda view: dict(metadata=dict(annotations={FENCED_ANNOTATION: value})))

    def unannotate(self, name):
        def change(view):
            if view['record'] is None:
                return None
            return dict(metadata=dict(annotations={FENCED_ANNOTATION: None}))  # null deletes the key
        return self._patch(name, change)

    def event(self, name, reason, message, uid=None, event_type='Warning'):
        now = utc_now()
        body = dict(
            apiVersion='v1', kind='Event',
            metadata=dict(name='%s.%x' % (name, time.time_ns()), namespace=EVENT_NAMESPACE),
            involvedObject=dict(apiVersion='v1', kind='Node', name=name, uid=uid),
            reason=reason, message=message, type=event_type, count=1,
            firstTimestamp=now, lastTimestamp=now,
            source=dict(component=self.component), reportingComponent=self.component,
            reportingInstance=socket.gethostname())
        try:
            self.api.create_namespaced_event(EVENT_NAMESPACE, body, _request_timeout=self.timeout,
                                             _content_type='application/json')
        except Exception as exc:
            raise NodeApiError('cannot record the %s Event of Node %s on %s: %s' % (
                reason, name, self.where, _api_error(exc)))
