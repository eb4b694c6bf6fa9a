"""Drill tools for the twinroom lab bed: Redfish BMC emulators, the power bridge, room disasters.

Everything here acts on the lab's own podman containers and loopback addresses only.
"""


class LabError(Exception):
    """A failure the operator can act on; the message says what is wrong and what to do."""


class UsageError(LabError):
    """Bad input on the command line (unknown room, unknown node, ...)."""
