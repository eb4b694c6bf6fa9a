# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control plane's leader leases: which ones nobody renews any more, and may be released.

One kube-controller-manager and one kube-scheduler lead for both rooms, each through a Lease in kube-system.
client-go stops leading at its renew deadline, which is shorter than the lease's duration, so a lease not
renewed for longer than its duration (plus a margin for clocks) has no leader behind it: its holder stopped
leading, or is powered off with the lost room. Candidates in the surviving room still wait a full duration
from when they first saw it; deleting it (with a resourceVersion precondition) lets one of them take it at once.

Layer 3 (plan): pure functions of the leases as the API returns them (dicts, times as RFC 3339 text) and a
UTC clock passed in, in epoch seconds. No I/O; the runner is leader_lease_runner.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError, epoch_seconds

LEADER_LEASES = ('kube-controller-manager', 'kube-scheduler')
LEASE_NAMESPACE = 'kube-system'
DEFAULT_DURATION = 15  # client-go's default lease duration, for a lease that does not say
DEFAULT_MARGIN = 5     # seconds beyond the duration, for the clocks of the holder and of the reader

# What the plan found for one lease (``state``), and what the runner did about it (``outcome``).
FRESH = 'fresh'        # renewed within its duration (plus the margin): a leader is behind it
FREE = 'free'          # no holder: any candidate takes it at once, nothing to release
ABSENT = 'absent'      # no such lease: the first candidate creates it
STALE = 'stale'        # nobody renews it: to be released
RELEASED = 'released'  # deleted (or, in check mode, the server's dry run accepted the deletion)
TAKEN = 'taken'        # changed or gone since it was read - a candidate took it meanwhile, which is the point


class LeaderLeaseError(TwinroomError):
    """A leader lease could not be read or released."""


def judge(lease, now, margin=DEFAULT_MARGIN):
    """One Lease (dict as the API returns it) -> what is known of it, and whether it is stale.

    Returns {name, holder, renewed, duration, age, state, resource_version}: ``age`` in seconds since its
    renewTime on the clock ``now`` (None when it has none), ``state`` FRESH, FREE or STALE. A lease whose
    renewTime cannot be read, or lies ahead of ``now`` (the reader's or the holder's clock is off), is fresh:
    releasing a lease that may still be led would make two leaders."""
    meta = lease.get('metadata') or {}
    spec = lease.get('spec') or {}
    holder = spec.get('holderIdentity') or None
    duration = spec.get('leaseDurationSeconds')
    duration = int(duration) if duration is not None else DEFAULT_DURATION
    renewed = spec.get('renewTime') or spec.get('acquireTime')
    renewed_at = epoch_seconds(renewed)
    age = round(now - renewed_at, 1) if renewed_at is not None else None
    if holder is None:
        state = FREE
    elif age is not None and age > duration + margin:
        state = STALE
    else:
        state = FRESH
    return dict(name=meta.get('name'), holder=holder, renewed=renewed if renewed is None else str(renewed),
                duration=duration, age=age, state=state, resource_version=meta.get('resourceVersion'))


def plan(leases, now, names=LEADER_LEASES, margin=DEFAULT_MARGIN):
    """The leases named ``names``, judged at ``now``, in that order: [judge(...) per name].

    ``leases``: the Lease objects of the namespace (others are ignored). A name with no lease is ABSENT.
    ``release`` says which to delete: the STALE ones, each with its resourceVersion as the precondition."""
    if margin < 0:
        raise LeaderLeaseError('margin must be 0 or more seconds, not %s.' % (margin,))
    by_name = dict(((lease.get('metadata') or {}).get('name'), lease) for lease in leases)
    judged = []
    for name in names:
        if name in by_name:
            entry = judge(by_name[name], now, margin)
        else:
            entry = dict(name=name, holder=None, renewed=None, duration=None, age=None, state=ABSENT,
                         resource_version=None)
        entry['release'] = entry['state'] == STALE
        judged.append(entry)
    return judged


def outcome_of_delete(status):
    """The outcome of a delete with a resourceVersion precondition, from its HTTP status (None: it succeeded).

    409: the lease changed since it was read - a candidate renewed or took it; 404: it is gone already. Both
    mean what the release is for has happened. Anything else is an error (None is returned for it too: the
    caller raises it)."""
    if status is None:
        return RELEASED
    if status in (404, 409):
        return TAKEN
    return None


def results(judged, outcomes):
    """Per lease, what the module reports: name, holder, age, duration, state, released, outcome.

    ``outcomes``: {name: RELEASED | TAKEN} for the leases a release was tried on."""
    report = []
    for entry in judged:
        outcome = outcomes.get(entry['name'], entry['state'])
        report.append(dict(name=entry['name'], holder=entry['holder'], renewed=entry['renewed'], age=entry['age'],
                           duration=entry['duration'], state=entry['state'], outcome=outcome,
                           released=outcome == RELEASED))
    return report


def diff(judged, outcomes):
    """before/after for --diff: each watched lease's holder and renewTime; a released one is absent after."""
    before = dict((e['name'], dict(holder=e['holder'], renewed=e['renewed'])) for e in judged if e['state'] != ABSENT)
    after = dict((name, value) for name, value in before.items() if outcomes.get(name) != RELEASED)
    return dict(before=before, after=after)
