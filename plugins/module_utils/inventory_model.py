# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory as the validation rules see it (docs/inventory-model.md): its groups, the hosts' values and what a
broken rule reports. Shared by the model rules (inventory_rules.py) and the site rules (inventory_site.py).

The input is what Ansible knows about the inventory, already reduced to plain data:

* ``groups``: group name -> list of host names (Ansible's ``groups`` magic variable);
* ``hostvars``: host name -> dict of the variables the rules read. A variable Ansible could not evaluate is passed
  as an :class:`Unreadable` value.

Layer 2 (a format of two plans). Pure.
"""

from __future__ import annotations

from collections import namedtuple

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS

CONTROL_PLANE = 'control_plane'
WORKERS = 'workers'
WITNESS = 'witness'
CONTROLLER = 'localhost'

ALL_ROOM_NODES = 'all room nodes'

Violation = namedtuple('Violation', ['rule', 'subject', 'message'])


class Unreadable(object):
    """Stands for a variable that is defined but could not be evaluated (e.g. an undefined reference)."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return 'Unreadable(%r)' % (self.error,)

    def __eq__(self, other):
        return isinstance(other, Unreadable) and other.error == self.error

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.error)


def violation(rule, subject, text):
    return Violation(rule, subject, "Inventory rule '%s' failed for %s: %s" % (rule, subject, text))


def unique(hosts):
    seen = set()
    result = []
    for host in hosts or ():
        if host not in seen:
            seen.add(host)
            result.append(host)
    return result


def names(hosts):
    return ', '.join(hosts)


def value(hostvars, host, name):
    """The variable's value, or None when it is not set (undefined, null or empty string)."""
    value = (hostvars.get(host) or {}).get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def subject(hosts, room_nodes):
    """Name the hosts, or say 'all room nodes' when the problem is everywhere (a group_vars/all value)."""
    if len(hosts) > 1 and set(hosts) >= set(room_nodes):
        return ALL_ROOM_NODES
    return names(hosts)


def by_value(hosts, hostvars, name):
    """[(value, [hosts])] in order of first appearance; unset and unreadable values are left out."""
    def readable(host):
        found = value(hostvars, host, name)
        return None if isinstance(found, Unreadable) else found
    return group_hosts(hosts, readable)


class Layout(object):
    """Group membership, computed once."""

    def __init__(self, groups):
        self.room = dict((room, unique(groups.get(room))) for room in ROOMS)
        self.room_defined = dict((room, room in groups) for room in ROOMS)
        self.control_plane = unique(groups.get(CONTROL_PLANE))
        self.workers = unique(groups.get(WORKERS))
        self.witness = unique(groups.get(WITNESS))
        self.in_both_rooms = [host for host in self.room[ROOMS[0]] if host in self.room[ROOMS[1]]]
        # Nodes that are fenced and carry a room's settings. A witness put in a room is reported as
        # such and left out here, so the fix (take it out of the room) does not hide behind BMC noise.
        self.room_nodes = [host for host in unique(self.room[ROOMS[0]] + self.room[ROOMS[1]])
                           if host not in self.witness]

    def zone_nodes(self, room):
        return [host for host in self.room[room]
                if host not in self.in_both_rooms and host not in self.witness]


def group_hosts(hosts, key):
    """[(key, [hosts])] in order of first appearance, for hosts whose key is not None."""
    order, members = [], {}
    for host in hosts:
        value = key(host)
        if value is None:
            continue
        marker = repr(value)
        if marker not in members:
            order.append((marker, value))
            members[marker] = []
        members[marker].append(host)
    return [(value, members[marker]) for marker, value in order]


def relevant_hosts(groups):
    """The hosts whose variables the rules read, in inventory order."""
    return unique([host for group in ROOMS + (CONTROL_PLANE, WORKERS, WITNESS) for host in groups.get(group) or ()])
