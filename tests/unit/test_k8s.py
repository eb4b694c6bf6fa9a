"""k8s.while_initializing: a read is asked again while the API server answers 429 (its watch cache
is filling), within a budget; every other error goes up at once.

Seen on the lab: `room_capacity_info` failed site.yml with "429 storage is (re)initializing" right after
the KubeVirt CRDs were established, and again after a room's control-plane node was powered on.
"""
import pytest
from kubernetes.client.rest import ApiException

from ansible_collections.twinroom.ha.plugins.module_utils.k8s import while_initializing


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def api_error(status, retry_after=None):
    exc = ApiException(status=status, reason="storage is (re)initializing" if status == 429 else "error")
    exc.headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return exc


def answers(*outcomes):
    """A call that raises or returns each outcome in turn and records its arguments."""
    seen = []
    queue = list(outcomes)

    def call(*args, **kwargs):
        seen.append((args, kwargs))
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return call, seen


def test_asks_again_after_429_and_returns_the_answer():
    clock = Clock()
    call, seen = answers(api_error(429, "1"), api_error(429, "2"), {"items": []})
    assert while_initializing(call, "kubevirt.io", _request_timeout=20, sleep=clock.sleep, clock=clock) == {"items": []}
    assert clock.slept == [1.0, 2.0]
    assert seen == [(("kubevirt.io",), {"_request_timeout": 20})] * 3


def test_gives_up_with_the_last_429_once_the_budget_is_spent():
    clock = Clock()
    call, seen = answers(*[api_error(429, "1")] * 10)
    with pytest.raises(ApiException) as raised:
        while_initializing(call, budget=3, sleep=clock.sleep, clock=clock)
    assert raised.value.status == 429
    assert clock.slept == [1.0, 1.0, 1.0]
    assert len(seen) == 4


@pytest.mark.parametrize("status", [403, 404, 500, 503])
def test_other_errors_are_not_retried(status):
    clock = Clock()
    call, seen = answers(api_error(status))
    with pytest.raises(ApiException) as raised:
        while_initializing(call, sleep=clock.sleep, clock=clock)
    assert raised.value.status == status
    assert (clock.slept, len(seen)) == ([], 1)


def test_a_connection_error_is_not_retried():
    clock = Clock()
    call, seen = answers(ConnectionRefusedError(111, "Connection refused"))
    with pytest.raises(ConnectionRefusedError):
        while_initializing(call, sleep=clock.sleep, clock=clock)
    assert (clock.slept, len(seen)) == ([], 1)


@pytest.mark.parametrize("header, wait", [(None, 1.0), ("0", 1.0), ("junk", 1.0), ("3", 3.0), ("120", 5.0)])
def test_retry_after_is_honoured_within_1_to_5_seconds(header, wait):
    clock = Clock()
    call, _seen = answers(api_error(429, header), "ok")
    assert while_initializing(call, sleep=clock.sleep, clock=clock) == "ok"
    assert clock.slept == [wait]
