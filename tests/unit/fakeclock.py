"""A monotonic clock for tests of waits: only sleep moves it."""


class FakeClock(object):
    """Call it for the time; hand its sleep to the code under test."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
