# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's vocabulary, defined once: the two rooms, the labels, taints and annotations twinroom
reads and writes, the error every refusal is, and how messages and times are written.

Layer 0: this file imports nothing from the collection, and every other module_utils file may import it.
See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import re

# The two rooms, as the inventory's groups name them.
ROOMS = ('room_a', 'room_b')

# Labels.
ZONE_LABEL = 'topology.kubernetes.io/zone'            # a node's room, as the scheduler and Piraeus see it
HOME_ROOM_LABEL = 'twinroom.io/home-room'              # the room a workload belongs in (failback brings it there)
ANTI_AFFINITY_LABEL = 'twinroom.io/anti-affinity-group'  # VMs that must not share a room
VM_LABEL = 'twinroom.io/vm'                            # on a VMI's pods: the VM they belong to

# The taint that lets Kubernetes release a fenced node's pods and volumes (non-graceful node shutdown).
OUT_OF_SERVICE_TAINT_KEY = 'node.kubernetes.io/out-of-service'
OUT_OF_SERVICE_TAINT_VALUE = 'nodeshutdown'
OUT_OF_SERVICE_TAINT_EFFECT = 'NoExecute'

# The BMC port when twinroom_bmc_port is not set: Redfish over HTTPS, IPMI over LAN (UDP).
BMC_DEFAULT_PORTS = dict(redfish=443, ipmi=623)

# The record twinroom.ha.fence keeps on a node it powered off: when, how, by whom.
FENCED_ANNOTATION = 'twinroom.io/fenced'


# The programs that run the collection's playbooks, outermost first choice: ansible-playbook lives as long as the
# run; ansible-runner (AWX, ansible-navigator) when no ansible-playbook process is found above the module.
PLAYBOOK_PROGRAMS = ('ansible-playbook', 'ansible-runner')
# The shortest lease of the operation lock (operation_lock_plan.py; rule operation-lock): a run renews its lock
# between steps, and a step (a fence, a takeover) must fit in one lease.
LOCK_LEASE_MIN_SECONDS = 60


class TwinroomError(Exception):
    """The collection's error shape: ``msg`` says what is wrong and what to do; ``details`` (the state
    that was observed, the steps done) go into the module's result."""

    def __init__(self, msg, **details):
        super(TwinroomError, self).__init__(msg)
        self.msg = msg
        self.details = details


def other_room(room, rooms=ROOMS):
    """The room that is not ``room``: ``rooms`` is a pair of names (or a dict keyed by them)."""
    names = sorted(rooms)
    if len(names) != 2 or room not in names:
        raise TwinroomError('%s is not one of the rooms %s.' % (room, join_words(names)))
    return names[1] if room == names[0] else names[0]


def join_words(words):
    """['a', 'b', 'c'] -> 'a, b and c': how messages list things."""
    words = list(words)
    if len(words) <= 1:
        return ''.join(words)
    return '%s and %s' % (', '.join(words[:-1]), words[-1])


def utc_now():
    """UTC time, ISO 8601 to the second with a Z: how Kubernetes writes times."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace('+00:00', 'Z')


_STAMP = re.compile(r'^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?$', re.I)


def epoch_seconds(stamp):
    """An RFC 3339 time (a Lease's renewTime: '2026-12-03T16:52:49.123456Z'), or a datetime -> epoch seconds.

    None for None or text that is not such a time. A time without an offset is taken as UTC."""
    if stamp is None:
        return None
    if isinstance(stamp, datetime.datetime):
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return calendar.timegm(stamp.timetuple()) + stamp.microsecond / 1e6
    match = _STAMP.match(str(stamp).strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0))
    if fraction:
        seconds += float('0.' + fraction)
    if offset and offset.upper() != 'Z':
        sign = -1 if offset[0] == '-' else 1
        digits = offset[1:].replace(':', '')
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds
