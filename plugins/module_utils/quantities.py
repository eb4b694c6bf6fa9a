# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes resource quantities as the scheduler counts them: CPU in millicores, memory in bytes, both integers
rounded up, parsed with the kubernetes library's ``parse_quantity``; and back into the API's notation.

Layer 2 (a format shared by the plans that weigh requests against allocatable). Pure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

try:
    from kubernetes.utils.quantity import parse_quantity
    HAS_KUBERNETES = True
except ImportError:  # pragma: no cover - depends on the host
    parse_quantity = None
    HAS_KUBERNETES = False


def cpu_milli(value):
    """'500m', '2', '1.5', 2 -> millicores, rounded up like the API server does; None/'' -> 0."""
    if value in (None, ''):
        return 0
    return int(math.ceil(parse_quantity(value) * 1000))


def memory_bytes(value):
    """'1Gi', '512M', '1e3', 1024 -> bytes, rounded up; None/'' -> 0."""
    if value in (None, ''):
        return 0
    return int(math.ceil(parse_quantity(value)))


def format_cpu(milli):
    """2000 -> '2', 2500 -> '2500m', -500 -> '-500m'."""
    return str(milli // 1000) if milli % 1000 == 0 else '%dm' % milli


def format_memory(value):
    """Bytes in the largest binary unit that divides them exactly: 17179869184 -> '16Gi', 1000 -> '1000'."""
    for unit, size in (('Ti', 1 << 40), ('Gi', 1 << 30), ('Mi', 1 << 20), ('Ki', 1 << 10)):
        if value and value % size == 0:
            return '%d%s' % (value // size, unit)
    return str(value)


def resources(cpu=0, memory=0):
    return {'cpu': cpu, 'memory': memory}


def formatted(res):
    return {'cpu': format_cpu(res['cpu']), 'memory': format_memory(res['memory'])}


def add(a, b):
    return resources(a['cpu'] + b['cpu'], a['memory'] + b['memory'])


def sub(a, b):
    return resources(a['cpu'] - b['cpu'], a['memory'] - b['memory'])
