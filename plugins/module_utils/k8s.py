# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes access: the one way the twinroom modules that use the kubernetes library reach an API server.

Layer 1 (access): I/O, no domain decisions; it imports only the vocabulary (rooms.py). See docs/architecture.md.

What is here, and how to use it:

``api_client(kubeconfig, context)``
    An ApiClient whose requests are not retried. urllib3 retries a read timeout three times by default, so a
    request with a 4 s timeout against an API server that cannot read its datastore (its primary was in the lost
    room) took 16 s to fail, and every failover from the room without the primary paid for it. A module that
    wants another try asks again itself.

``API_TIMEOUT``
    Seconds for one API request (``_request_timeout=API_TIMEOUT``), for every call in module_utils that has no
    timeout option of its own. A module option (``api_timeout``) overrides it where there is one.

``while_initializing(call, *args, **kwargs)``
    ``call`` asked again while the API server answers 429 "storage is (re)initializing", honouring
    Retry-After, for up to ``INITIALIZING_BUDGET`` seconds.

``post_event(kubeconfig, context, body, timeout=EVENT_TIMEOUT)``
    Create one core v1 Event (a dict) through ``context``'s API server within a short timeout, not retried:
    for records that must never hold anything up (the room watch's decisions). ``offer_event`` tries contexts
    in order, round after round, for a bounded time.

``api_error(exc, what, error=KubernetesError)``
    An ApiException (or a connection failure) as a TwinroomError subclass (``error``: the runner's own
    class, so its module's ``finish`` reports it) whose message says what failed, the status and reason,
    and what to check. ``api_error_message`` is the text alone.

``wait_for(what, list_objects, ready, timeout, watch_events=None, describe=None)``
    The one waiter. ``ready(objects)`` is a pure readiness predicate over the objects of one listing
    (dicts as the API returns them). The waiter lists once, then follows a watch from the listing's
    resourceVersion, applying each ADDED/MODIFIED/DELETED event to its copy and asking ``ready`` again;
    when the watch ends (the server closes it after ``timeout_seconds``, a 410 Gone, a broken
    connection) it lists again and watches again from there, never listing more often than every
    ``interval`` seconds. Without ``watch_events`` it only lists, every ``interval`` seconds. It is
    bounded by a deadline on a monotonic clock and returns ``(seconds waited, objects)``; on timeout it
    raises :class:`WaitTimeout` with the objects last seen (``exc.objects``) and ``describe(objects)``
    in the message and in ``partial_state``, so the operator sees what was still missing.

    ``list_objects()`` returns ``(objects, resource_version)``; ``watch_events(resource_version,
    timeout_seconds)`` yields ``(event type, object dict)``. :func:`watched` makes both from a kubernetes
    list call (``CoreV1Api.list_pod_for_all_namespaces``, ``CustomObjectsApi.list_namespaced_custom_object``,
    ...) and its arguments::

        list_objects, watch_events = k8s.watched(core.list_namespaced_pod, api, 'shop', label_selector='app=web')
        waited, pods = k8s.wait_for('web pods Ready', list_objects, all_ready, 120, watch_events,
                                    describe=not_ready_names)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    HAS_KUBERNETES = True
except ImportError:  # reported by the modules
    HAS_KUBERNETES = False

# Seconds for one API request. An answer to a list of every pod of a busy cluster takes a few seconds; an API
# server that does not answer within this is treated as not answering (the failover passes a shorter one).
API_TIMEOUT = 20

# An API server answers 429 "storage is (re)initializing" while its watch cache of a resource fills: for a
# CRD just established, and for every resource right after the server starts (a room's control-plane
# node powered on again). It says when to ask again (Retry-After, 1 s); this is how long a read keeps asking.
INITIALIZING_BUDGET = 30.0
INITIALIZING_STATUS = 429

# How often a waiter lists at most (and how often it lists when it cannot watch).
WAIT_INTERVAL = 1.0

# Seconds for writing an Event that only records what happened (post_event): it must never hold anything up.
EVENT_TIMEOUT = 2


class KubernetesError(TwinroomError):
    """A Kubernetes API call failed; ``status`` and ``reason`` in the details when the server answered."""


class WaitTimeout(KubernetesError):
    """A wait ran out of time; ``objects`` is what was last seen, ``waited`` how long it waited."""

    def __init__(self, msg, objects=None, waited=None, **details):
        super(WaitTimeout, self).__init__(msg, waited=waited, **details)
        self.objects = objects if objects is not None else []
        self.waited = waited


def api_client(kubeconfig=None, context=None, retries=0):
    """An ApiClient for ``kubeconfig`` (default: $KUBECONFIG or ~/.kube/config) and ``context``."""
    # type.__call__: a fresh Configuration, not a copy of the library's process-wide default.
    configuration = type.__call__(k8s_client.Configuration)
    configuration.retries = retries
    return k8s_config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False,
                                             client_configuration=configuration)


def while_initializing(call, *args, **kwargs):
    """call(*args, **kwargs), asked again while the API server answers 429, for up to INITIALIZING_BUDGET s.

    Keyword-only controls: ``budget`` (seconds), ``sleep`` and ``clock`` (for tests). Any other error, and
    the last 429 once the budget is spent, is raised as it came.
    """
    budget = kwargs.pop('budget', INITIALIZING_BUDGET)
    sleep = kwargs.pop('sleep', time.sleep)
    clock = kwargs.pop('clock', time.monotonic)
    deadline = clock() + budget
    while True:
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # ApiException; anything else goes up unchanged
            if getattr(exc, 'status', None) != INITIALIZING_STATUS:
                raise
            wait = _retry_after(exc)
            if clock() + wait > deadline:
                raise
            sleep(wait)


def _retry_after(exc):
    """Seconds from the response's Retry-After (1 to 5; 1 when absent or not a number)."""
    headers = getattr(exc, 'headers', None) or {}
    try:
        value = float(headers.get('Retry-After') or headers.get('retry-after') or 1)
    except (TypeError, ValueError):
        value = 1.0
    return min(max(value, 1.0), 5.0)


# What to check, by the status the API server answered with.
_HINTS = {
    400: 'the request itself is wrong (a bug in twinroom: report it with this message)',
    401: 'the credentials in the kubeconfig (expired client certificate or token?)',
    403: "the kubeconfig user's RBAC permissions for this resource",
    404: 'that the object exists, and that its CRD is installed (kubectl api-resources)',
    409: 'what else changes this object at the same time, then run again',
    410: 'nothing: the watch expired; run again',
    422: 'the object the task sends (the API server refused it as invalid)',
    429: 'the API server: it is still filling its caches after a start, or rate-limits this client; run again',
}
_SERVER_HINT = ("the API server's datastore (kine and its PostgreSQL primary): the API server answers but cannot "
                "read or write it")
_CONNECTION_HINT = ('that the API server runs and is reachable at the address in the kubeconfig (context, '
                    'network, certificates)')


def api_error_message(exc, what):
    """'cannot <what>: Kubernetes API answered 403 Forbidden (...). Check ...' for an ApiException ``exc``;
    for any other exception (connection refused, timeout, a kubeconfig that does not load) its text and the
    connection hint."""
    status = getattr(exc, 'status', None)
    if isinstance(status, int) and status > 0:
        reason = (getattr(exc, 'reason', None) or '').strip()
        detail = _api_message(getattr(exc, 'body', None))
        hint = _SERVER_HINT if status >= 500 else _HINTS.get(status, 'the API server\'s answer above')
        return 'cannot %s: the Kubernetes API answered %d %s%s. Check %s.' % (
            what, status, reason or 'error', ' (%s)' % detail if detail else '', hint)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return 'cannot %s: %s. Check %s.' % (what, text, _CONNECTION_HINT)


def _api_message(body):
    """The ``message`` of a Kubernetes Status body (JSON text or bytes), else ''."""
    if not body:
        return ''
    import json  # pylint: disable=import-outside-toplevel
    try:
        if isinstance(body, bytes):
            body = body.decode('utf-8', 'replace')
        return (json.loads(body).get('message') or '').strip()
    except (ValueError, AttributeError):
        return ''


def api_error(exc, what, error=KubernetesError, **details):
    """``exc`` as an ``error`` (a TwinroomError subclass) with :func:`api_error_message`'s text."""
    status = getattr(exc, 'status', None)
    if isinstance(status, int) and status > 0:
        details.setdefault('status', status)
        details.setdefault('reason', getattr(exc, 'reason', None))
    return error(api_error_message(exc, what), **details)


def post_event(kubeconfig, context, body, timeout=EVENT_TIMEOUT):
    """Create the core v1 Event ``body`` (a dict, its namespace in its metadata) through the API server of
    ``context``, each request within ``timeout`` seconds and not retried; :class:`KubernetesError` with
    :func:`api_error_message`'s text when the kubeconfig does not load or the API server does not take it."""
    where = 'through context %s' % context if context else 'through the default context'
    what = 'write the Event %s/%s %s' % (body['metadata'].get('namespace'), body['metadata'].get('name'), where)
    try:
        client = api_client(kubeconfig, context)
    except Exception as exc:  # the loader raises several types for a bad or missing file
        raise api_error(exc, what)
    try:
        k8s_client.CoreV1Api(client).create_namespaced_event(body['metadata']['namespace'], body,
                                                             _request_timeout=timeout,
                                                             _content_type='application/json')
    except Exception as exc:  # ApiException, a timeout, a refused connection
        raise api_error(exc, what)
    finally:
        client.close()


def offer_event(post, kubeconfig, contexts, body, seconds, interval, clock=time.monotonic, sleep=time.sleep):
    """Post ``body`` with ``post`` (:func:`post_event` or a stand-in) through the first of ``contexts`` whose API
    server takes it; a round none takes is tried again every ``interval`` seconds for ``seconds``. None once one
    took it, else (rounds tried, the last round's errors)."""
    deadline = clock() + seconds
    rounds = 0
    while True:
        rounds += 1
        errors = []
        for context in contexts:
            try:
                post(kubeconfig, context, body, timeout=EVENT_TIMEOUT)
                return None
            except Exception as exc:  # ApiException, a timeout, a refused connection, a stand-in's error
                errors.append(str(exc))
        if clock() + interval > deadline:
            return rounds, errors
        sleep(interval)


def _listed(listing, api):
    """(object dicts, resourceVersion) from a list call's answer: a model (typed APIs) or a dict (custom
    objects)."""
    if isinstance(listing, dict):
        return list(listing.get('items') or []), (listing.get('metadata') or {}).get('resourceVersion')
    items = [api.sanitize_for_serialization(item) for item in listing.items or []]
    return items, getattr(listing.metadata, 'resource_version', None)


def watched(list_call, api, *args, **kwargs):
    """(list_objects, watch_events) for :func:`wait_for`, from a kubernetes list call and its arguments.

    ``api``: the ApiClient (to turn typed answers into dicts). Listing is asked again while the API server
    answers 429; a watch that fails ends quietly (the waiter lists again, which reports a real failure)."""

    def list_objects():
        listing = while_initializing(list_call, *args, _request_timeout=API_TIMEOUT, **kwargs)
        return _listed(listing, api)

    def watch_events(resource_version, timeout_seconds):
        from kubernetes import watch  # pylint: disable=import-outside-toplevel
        stream = watch.Watch()
        try:
            for event in stream.stream(list_call, *args, resource_version=resource_version,
                                       timeout_seconds=int(timeout_seconds),
                                       _request_timeout=int(timeout_seconds) + API_TIMEOUT, **kwargs):
                yield event.get('type'), event.get('raw_object') or {}
        except Exception:  # pylint: disable=broad-except
            return  # 410 Gone, a cut connection: the waiter lists again
        finally:
            stream.stop()

    return list_objects, watch_events


def _key(obj):
    meta = obj.get('metadata') or {}
    return meta.get('uid') or (meta.get('namespace'), meta.get('name'))


def apply_event(objects, event_type, obj):
    """The objects after one watch event (a new list; ``objects`` is not changed). BOOKMARK and unknown
    events change nothing."""
    key = _key(obj)
    rest = [o for o in objects if _key(o) != key]
    if event_type in ('ADDED', 'MODIFIED'):
        return rest + [obj]
    if event_type == 'DELETED':
        return rest
    return list(objects)


def wait_for(what, list_objects, ready, timeout, watch_events=None, describe=None, interval=WAIT_INTERVAL,
             clock=time.monotonic, sleep=time.sleep):
    """Wait until ``ready(objects)``; ``(seconds waited, objects)``. See the module docstring.

    Lists at least once, even with ``timeout`` 0. On timeout raises :class:`WaitTimeout`."""
    started = clock()
    deadline = started + timeout
    while True:
        listed_at = clock()
        objects, version = list_objects()
        if ready(objects):
            return round(clock() - started, 2), objects
        if watch_events is not None and version:
            remaining = deadline - clock()
            if remaining > 0:
                events = watch_events(version, max(1, int(math.ceil(remaining))))
                try:
                    for event_type, obj in events:
                        objects = apply_event(objects, event_type, obj)
                        if ready(objects):
                            return round(clock() - started, 2), objects
                        if clock() >= deadline:
                            break
                finally:
                    getattr(events, 'close', lambda: None)()  # ends the HTTP stream now, not at garbage collection
        now = clock()
        if now >= deadline:
            waited = round(now - started, 2)
            seen = describe(objects) if describe is not None else '%d object(s)' % len(objects)
            raise WaitTimeout('timed out after %ss waiting for %s; last seen: %s' % (timeout, what, seen),
                              objects=objects, waited=waited, partial_state=seen)
        # Never list more often than every ``interval`` s (a watch that ends at once would spin).
        pause = min(interval - (now - listed_at), deadline - now)
        if pause > 0:
            sleep(pause)
