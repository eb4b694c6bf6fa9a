"""Bounded waiting: a readiness check, a monotonic clock, progress lines, a clear timeout."""

import time

from . import LabError


def wait_for(what, check, timeout, interval=0.5, say=print, report_every=5.0):
    """Call check() until it returns (True, _); return the seconds waited.

    check() returns (done, still_missing): still_missing is a short text naming what is not there
    yet, printed as progress and in the timeout error so the operator sees the partial state.
    """
    start = time.monotonic()
    next_report = start + report_every
    while True:
        done, missing = check()
        now = time.monotonic()
        if done:
            return now - start
        if now - start >= timeout:
            raise LabError("gave up after %.0fs waiting for %s; still: %s" % (timeout, what, missing))
        if now >= next_report:
            say("  ... %.0fs: waiting for %s; still: %s" % (now - start, what, missing))
            next_report = now + report_every
        time.sleep(interval)
