# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API client the twinroom modules that use the kubernetes library directly share.

One difference from ``kubernetes.config.new_client_from_config``: requests are not retried. urllib3
retries a read timeout three times by default, so a request with a 4 s timeout against an API server
that cannot read its datastore (its primary was in the lost room) took 16 s to fail, and every failover
from the room without the primary paid for it. A module that wants another try asks again itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    HAS_KUBERNETES = True
except ImportError:  # reported by the modules
    HAS_KUBERNETES = False


def api_client(kubeconfig=None, context=None, retries=0):
    """An ApiClient for ``kubeconfig`` (default: $KUBECONFIG or ~/.kube/config) and ``context``."""
    # type.__call__: a fresh Configuration, not a copy of the library's process-wide default.
    configuration = type.__call__(k8s_client.Configuration)
    configuration.retries = retries
    return k8s_config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False,
                                             client_configuration=configuration)


# An API server answers 429 "storage is (re)initializing" while its watch cache of a resource fills: for a
# CRD just established, and for every resource right after the server starts (a room's control-plane
# node powered on again). It says when to ask again (Retry-After, 1 s); this is how long a read keeps asking.
INITIALIZING_BUDGET = 30.0
INITIALIZING_STATUS = 429


def while_initializing(call, *args, **kwargs):
    """call(*args, **kwargs), asked again while the API server answers 429, for up to INITIALIZING_BUDGET s.

    Keyword-only controls: ``budget`` (seconds), ``sleep`` and ``clock`` (for tests). Any other error, and
    the last 429 once the budget is spent, is raised as it came.
    """
    import time  # pylint: disable=import-outside-toplevel
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
