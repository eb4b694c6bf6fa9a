# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: failover_event
short_description: The Kubernetes Event that records a failover failover.yml carried out
version_added: 0.1.0
description:
  - A core v1 Event in the namespace C(kube-system), about the Namespace C(kube-system) (a room is no Kubernetes
    object), of type V(Warning) and reason V(RoomFailedOver), reported by C(twinroom.ha); for
    M(kubernetes.core.k8s) to create.
  - Named C(twinroom-failover-<lost room>-<started, whole seconds>), one per failover. Its message gives the lost
    room, the survivor, the RTO, the trigger and, for an automatic failover, the votes of the room watch's decision.
  - Its time is O(done_at), when every workload ran again.
options:
  _input:
    description: The room that was failed over.
    type: str
    required: true
  survivor:
    description: The room that took it over.
    type: str
    required: true
  trigger:
    description: Who started the failover, V(operator) or V(room_watch).
    type: str
    required: true
  started:
    description: When the failover started, epoch seconds.
    type: float
    required: true
  done_at:
    description: When every workload of the lost room ran again, epoch seconds.
    type: float
    required: true
  decision:
    description:
      - The room watch's decision the failover was run for (C(failover_decision)), or null for an operator's.
    type: dict
  instance:
    description: The Event's C(reportingInstance); the controller's host name when not given.
    type: str
"""

EXAMPLES = r"""
- name: Record the failover as a Kubernetes Event
  kubernetes.core.k8s:
    state: present
    definition: >-
      {{ lost_room | twinroom.ha.failover_event(survivor, 'operator', started | float, done_at | float) }}
"""

RETURN = r"""
_value:
  description: The Event, as the API server takes it.
  type: dict
  sample:
    apiVersion: v1
    kind: Event
    metadata: {name: twinroom-failover-room-a-1764745200, namespace: kube-system}
    involvedObject: {apiVersion: v1, kind: Namespace, name: kube-system}
    type: Warning
    reason: RoomFailedOver
    action: Failover
    message: >-
      room_a failed over to room_b: every workload back in 28.8 s (RTO, from the start of failover.yml), trigger
      operator.
    eventTime: "2026-12-03T07:00:28.800000Z"
    firstTimestamp: "2026-12-03T07:00:28Z"
    lastTimestamp: "2026-12-03T07:00:28Z"
    count: 1
    source: {component: twinroom.ha}
    reportingComponent: twinroom.ha
    reportingInstance: controller
"""

import socket

from ansible_collections.twinroom.ha.plugins.module_utils.room_events import failover_event as build


def failover_event(lost_room, survivor, trigger, started, done_at, decision=None, instance=None):
    return build(lost_room, survivor, trigger, started, done_at, decision, instance or socket.gethostname())


class FilterModule(object):
    def filters(self):
        return {"failover_event": failover_event}
