"""k8s.wait_for: one listing, then a watch from its resourceVersion; a re-list when the watch ends; a monotonic
deadline; the time waited back, or the partial state in the timeout. And k8s.api_error's messages.

No cluster: the listing and the watch are fake callables, the clock a counter.
"""
import pytest
from kubernetes.client.rest import ApiException

from ansible_collections.twinroom.ha.plugins.module_utils import k8s
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(round(seconds, 3))
        self.now += seconds

    def __call__(self):
        return self.now


def pod(name, ready=False, uid=None):
    return {"metadata": {"name": name, "namespace": "shop", "uid": uid or "u-" + name},
            "status": {"phase": "Running" if ready else "Pending"}}


def all_running(pods):
    return bool(pods) and all(p["status"]["phase"] == "Running" for p in pods)


def pending(pods):
    return ", ".join(sorted(p["metadata"]["name"] for p in pods if p["status"]["phase"] != "Running")) or "none"


class Api:
    """Listings in turn (the last one repeats), each with a resourceVersion; watches in turn (lists of events,
    each taking ``per_event`` seconds of the clock); records what was asked."""

    def __init__(self, clock, listings, watches=(), per_event=1.0):
        self.clock, self.listings, self.watches, self.per_event = clock, list(listings), list(watches), per_event
        self.listed, self.watched = 0, []

    def list_objects(self):
        self.listed += 1
        items = self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]
        return [dict(p) for p in items], str(self.listed)

    def watch_events(self, resource_version, timeout_seconds):
        self.watched.append((resource_version, timeout_seconds))
        events = self.watches.pop(0) if self.watches else []
        for event in events:
            self.clock.now += self.per_event
            yield event
        if not events:
            self.clock.now += timeout_seconds  # the server holds an idle watch open until its timeout


def test_ready_at_the_first_listing_does_not_watch():
    clock = Clock()
    api = Api(clock, [[pod("web-1", ready=True)]])
    waited, pods = k8s.wait_for("web", api.list_objects, all_running, 30, api.watch_events, clock=clock,
                                sleep=clock.sleep)
    assert (waited, [p["metadata"]["name"] for p in pods], api.listed, api.watched) == (0, ["web-1"], 1, [])


def test_a_watch_event_makes_it_ready_without_listing_again():
    clock = Clock()
    api = Api(clock, [[pod("web-1"), pod("web-2", ready=True)]],
              watches=[[("MODIFIED", pod("web-2", ready=True)), ("MODIFIED", pod("web-1", ready=True))]])
    waited, pods = k8s.wait_for("web", api.list_objects, all_running, 30, api.watch_events, clock=clock,
                                sleep=clock.sleep)
    assert waited == 2.0 and all_running(pods) and len(pods) == 2
    assert api.listed == 1 and api.watched == [("1", 30)]  # from the listing's resourceVersion, until the deadline


def test_added_and_deleted_events_change_the_objects_the_predicate_sees():
    clock = Clock()
    api = Api(clock, [[pod("web-1")]],
              watches=[[("ADDED", pod("web-1-new", ready=True)), ("BOOKMARK", {"metadata": {}}),
                        ("DELETED", pod("web-1"))]])
    _waited, pods = k8s.wait_for("web", api.list_objects, all_running, 30, api.watch_events, clock=clock,
                                 sleep=clock.sleep)
    assert [p["metadata"]["name"] for p in pods] == ["web-1-new"]


def test_when_the_watch_ends_it_lists_again_and_watches_from_there():
    clock = Clock()
    api = Api(clock, [[pod("web-1")], [pod("web-1")], [pod("web-1", ready=True)]],
              watches=[[("MODIFIED", pod("web-1"))], [("MODIFIED", pod("web-1"))]], per_event=0.25)
    waited, pods = k8s.wait_for("web", api.list_objects, all_running, 30, api.watch_events, clock=clock,
                                sleep=clock.sleep)
    assert all_running(pods) and api.listed == 3
    # Each watch ended after 0.25 s: the waiter waits out the rest of its 1 s before listing again.
    assert clock.slept == [0.75, 0.75]
    assert api.watched == [("1", 30), ("2", 29)]
    assert waited == 2.0


def test_without_a_watch_it_lists_every_interval():
    clock = Clock()
    api = Api(clock, [[pod("web-1")], [pod("web-1")], [pod("web-1", ready=True)]])
    waited, _pods = k8s.wait_for("web", api.list_objects, all_running, 30, clock=clock, sleep=clock.sleep)
    assert (waited, api.listed, clock.slept) == (2.0, 3, [1.0, 1.0])


def test_a_listing_without_resource_version_is_not_watched():
    clock = Clock()
    calls = []
    answers = [([pod("web-1")], None), ([pod("web-1", ready=True)], None)]

    def watch(*args):
        calls.append(args)
        return iter(())
    waited, _pods = k8s.wait_for("web", lambda: answers.pop(0), all_running, 30, watch, clock=clock,
                                 sleep=clock.sleep)
    assert (waited, calls) == (1.0, [])


def test_timeout_raises_with_the_partial_state_and_how_long_it_waited():
    clock = Clock()
    api = Api(clock, [[pod("web-1"), pod("web-2", ready=True)]])
    with pytest.raises(k8s.WaitTimeout) as raised:
        k8s.wait_for("the web pods to run", api.list_objects, all_running, 5, api.watch_events, describe=pending,
                     clock=clock, sleep=clock.sleep)
    exc = raised.value
    assert exc.msg == "timed out after 5s waiting for the web pods to run; last seen: web-1"
    assert exc.details == {"waited": 5.0, "partial_state": "web-1"}
    assert [p["metadata"]["name"] for p in exc.objects] == ["web-1", "web-2"]
    assert isinstance(exc, TwinroomError) and api.listed == 1 and api.watched == [("1", 5)]


def test_timeout_zero_still_lists_once():
    clock = Clock()
    api = Api(clock, [[pod("web-1")]])
    with pytest.raises(k8s.WaitTimeout) as raised:
        k8s.wait_for("web", api.list_objects, all_running, 0, api.watch_events, clock=clock, sleep=clock.sleep)
    assert api.listed == 1 and api.watched == [] and raised.value.msg.endswith("last seen: 1 object(s)")


def test_a_watch_stopped_early_is_closed():
    clock = Clock()
    closed = []

    def watch(version, seconds):
        try:
            while True:
                clock.now += 10
                yield "MODIFIED", pod("web-1")
        finally:
            closed.append(True)
    with pytest.raises(k8s.WaitTimeout):
        k8s.wait_for("web", lambda: ([pod("web-1")], "7"), all_running, 25, watch, clock=clock, sleep=clock.sleep)
    assert closed == [True]


def test_watched_lists_custom_objects_and_a_failing_watch_ends_quietly():
    seen = []

    def list_vmis(namespace, **kwargs):
        seen.append(kwargs)
        if kwargs.get("watch"):
            raise ApiException(status=410, reason="Gone")
        return {"metadata": {"resourceVersion": "42"}, "items": [{"metadata": {"name": "vm1"}}]}
    list_vmis.__doc__ = ":return: object"
    list_objects, watch_events = k8s.watched(list_vmis, None, "shop", label_selector="app=vm")
    assert list_objects() == ([{"metadata": {"name": "vm1"}}], "42")
    assert seen[0] == {"label_selector": "app=vm", "_request_timeout": k8s.API_TIMEOUT}
    assert list(watch_events("42", 10)) == []
    assert seen[1]["resource_version"] == "42" and seen[1]["timeout_seconds"] == 10


def api_exception(status, reason, body=None):
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return exc


@pytest.mark.parametrize("exc, message", [
    (api_exception(403, "Forbidden", b'{"kind": "Status", "message": "pods is forbidden: User \\"x\\" cannot list"}'),
     "cannot list pods: the Kubernetes API answered 403 Forbidden (pods is forbidden: User \"x\" cannot list). "
     "Check the kubeconfig user's RBAC permissions for this resource."),
    (api_exception(401, "Unauthorized"),
     "cannot list pods: the Kubernetes API answered 401 Unauthorized. Check the credentials in the kubeconfig "
     "(expired client certificate or token?)."),
    (api_exception(503, "Service Unavailable", "not json"),
     "cannot list pods: the Kubernetes API answered 503 Service Unavailable. Check the API server's datastore "
     "(kine and its PostgreSQL primary): the API server answers but cannot read or write it."),
    (ConnectionRefusedError("[Errno 111] Connection refused"),
     "cannot list pods: [Errno 111] Connection refused. Check that the API server runs and is reachable at the "
     "address in the kubeconfig (context, network, certificates)."),
], ids=["403", "401", "503", "refused"])
def test_api_error_messages(exc, message):
    assert k8s.api_error_message(exc, "list pods") == message


def test_api_error_is_the_callers_class_with_status_and_reason():
    class FailbackError(TwinroomError):
        pass
    error = k8s.api_error(api_exception(404, "Not Found"), "read node a-w1", FailbackError)
    assert isinstance(error, FailbackError)
    assert error.details == {"status": 404, "reason": "Not Found"}
    assert error.msg.startswith("cannot read node a-w1: the Kubernetes API answered 404 Not Found. Check that")
    assert isinstance(k8s.api_error(OSError("boom"), "x"), k8s.KubernetesError)
