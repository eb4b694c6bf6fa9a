"""A continuous writer for drills: creates ConfigMaps one after another through one API server and
remembers which writes the API server acknowledged, so a drill can check that none was lost and
measure the gap in writes around a room loss.

Each write has a new name (a write that timed out may or may not have been committed; retrying the
same name would blur that), a short client timeout, and the wall-clock and monotonic time of its
acknowledgement.
"""

import threading
import time

from kubernetes import client, config
from .workloads import create_namespace

NAMESPACE = "twinroom-writer"


def api_for(kubeconfig, context):
    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=context))


def ensure_namespace(kubeconfig, context):
    """Create the writer's namespace; call it while the cluster accepts writes (before a drill)."""
    create_namespace(api_for(kubeconfig, context), NAMESPACE)


class Writer:
    def __init__(self, kubeconfig, context, prefix, interval=0.05, timeout=2.0):
        self.api = api_for(kubeconfig, context)
        self.prefix = prefix
        self.interval = interval
        self.timeout = timeout
        self.acked = []  # (name, monotonic time of ack)
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)
        return self

    def _run(self):
        seq = 0
        while not self._stop.is_set():
            seq += 1
            name = "%s-%07d" % (self.prefix, seq)
            body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"seq": str(seq)})
            try:
                self.api.create_namespaced_config_map(NAMESPACE, body, _request_timeout=self.timeout)
                self.acked.append((name, time.monotonic()))
            except Exception:  # pylint: disable=broad-except  # any failure is simply "not acknowledged"
                self.failures += 1
                self._stop.wait(self.interval)
            self._stop.wait(self.interval)

    def outage(self, since):
        """The longest pause in acknowledged writes that ends after `since` (monotonic).

        Returns (last ack before the pause, first ack after it), or None when nothing was
        acknowledged after `since`. Writes go on between the moment a drill starts and the moment the
        room really goes dark, so the outage is found in the acknowledgements, not assumed.
        """
        times = [acked_at for _name, acked_at in self.acked]
        pauses = [(b - a, a, b) for a, b in zip(times, times[1:]) if b > since]
        if not pauses:
            return None
        _pause, last_before, first_after = max(pauses)
        return last_before, first_after


def missing_acknowledged(kubeconfig, context, writers, attempts=10):
    """Names acknowledged by the writers that the API server (through context) does not have."""
    api = api_for(kubeconfig, context)
    last_error = None
    for _attempt in range(attempts):
        try:
            present = {cm.metadata.name for cm in api.list_namespaced_config_map(NAMESPACE, _request_timeout=10).items}
            break
        except Exception as exc:  # pylint: disable=broad-except  # retried, bounded
            last_error = exc
            time.sleep(2)
    else:
        raise RuntimeError("could not list the writer's objects through %s: %s" % (context, last_error))
    return sorted(name for w in writers for name, _acked_at in w.acked if name not in present)
