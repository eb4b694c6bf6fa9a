"""Drill tools for the twinroom lab bed: Redfish BMC emulators, the power bridge, room disasters.

Everything here acts on the lab's own podman containers and loopback addresses only.
"""

import subprocess


class LabError(Exception):
    """A failure the operator can act on; the message says what is wrong and what to do."""


class UsageError(LabError):
    """Bad input on the command line (unknown room, unknown node, ...)."""


def run_command(argv, timeout, check=True, missing="", env=None):
    """Run argv with a time limit; a missing program, a timeout or (with check) a failure is a LabError.

    missing: what the operator should know when the program is not installed (appended to 'X not found')."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError:
        raise LabError("%s not found%s" % (argv[0], missing)) from None
    except subprocess.TimeoutExpired:
        raise LabError("'%s' did not finish within %ds" % (" ".join(argv), timeout)) from None
    if check and proc.returncode != 0:
        raise LabError("'%s' failed (exit %d): %s"
                       % (" ".join(argv), proc.returncode, proc.stderr.strip() or proc.stdout.strip()))
    return proc
