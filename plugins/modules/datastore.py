#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: datastore
short_description: Promote, rejoin and set synchronous replication of the kine PostgreSQL pair
version_added: 0.1.0
description:
  - Manages the state of one node of the kine datastore, PostgreSQL 15 with the primary in one room and a
    streaming standby in the other, synchronous while both are up (C(synchronous_standby_names) on the
    primary names the standby's C(application_name), which is its inventory hostname).
  - Runs on the node itself. It reads the local cluster over the unix socket as C(postgres) and the peer
    over TCP as O(replication_user), decides what to do, and then does it. The decision refuses anything
    that could lose an acknowledged write or make two primaries; the message says what to do instead.
  - O(state=primary) promotes a standby. It is refused while the peer still answers (as primary, or at
    all when O(peer_fenced=true), which means fencing did not take), and refused when the peer does not
    answer but O(peer_fenced) is not true, because a dead primary and a cut link look the same. When it
    goes ahead, synchronous replication is turned off first, since the fenced standby can never
    acknowledge a write. A node that is primary already is left alone.
  - Before a promotion (or a start of a stopped former primary), the datastore history (O(history) merged with
    O(history_file)) must show that this node has every write the last primary acknowledged - it is that
    primary on its own timeline, or the standby that primary last named synchronous. A node stopped as a
    former primary on an older timeline, one whose rejoin never finished, or one whose cluster has another
    system identifier is refused with both nodes' timelines, unless O(discard_newer_writes=true).
  - O(state=standby) makes the node a streaming standby of the primary at O(primary_address). Nothing
    changes when it already streams from it. Otherwise the server is stopped, rewound with C(pg_rewind)
    when it diverged (it was primary on an older timeline), or cloned afresh with C(pg_basebackup) when
    there is no cluster, the cluster is not a copy of the primary's, or C(pg_rewind) fails
    (RV(rejoin_method) says which); then C(standby.signal) and C(primary_conninfo) (with
    C(application_name=<node_name>), O(ssl_mode) and O(ca_cert)) are written, the server is started and the
    module waits until it streams. Refused when the primary does not answer, when its TLS certificate does
    not verify, or when this node is not behind it. A standby that streams from it already, but with another
    O(ssl_mode) or O(ca_cert), only has C(primary_conninfo) rewritten and reloaded.
  - O(synchronous) turns synchronous replication on or off on the primary. Off requires O(peer_fenced=true);
    on requires the standby to be streaming, since otherwise every write would block.
  - Every wait is bounded by O(timeout); on timeout the module fails and shows the state it last saw.
options:
  state:
    description:
      - V(primary) - this node should be the primary (promote it if it is a standby).
      - V(standby) - this node should stream from the primary at O(primary_address).
      - Omit to change only O(synchronous).
    type: str
    choices: [primary, standby]
  synchronous:
    description:
      - Whether the primary waits for the standby to acknowledge each commit.
      - V(true) sets C(synchronous_standby_names) to the standby (O(peer_name), or the one standby that
        streams); V(false) empties it and requires O(peer_fenced=true).
      - Applies to the primary; cannot be combined with O(state=standby).
    type: bool
  peer_address:
    description:
      - Address of the other control-plane node's PostgreSQL (its C(twinroom_node_address)).
      - With O(state=standby) it is the primary to follow; with O(state=primary) it is the old primary
        that must not answer.
    type: str
    aliases: [primary_address]
  peer_fenced:
    description:
      - The peer has been fenced (powered off through its BMC) and that was confirmed. Required to
        promote when the peer does not answer, and to turn synchronous replication off.
    type: bool
    default: false
  before_fencing:
    description:
      - Decide the takeover as it will run once the peer is fenced, without asking the peer (it may still
        run), and change nothing. Only in check mode; with O(state=primary).
      - C(failover.yml) runs this on the surviving node before it powers anything off, so a survivor that
        cannot take over (no cluster, not answering, lacking writes the lost room acknowledged) is refused
        while the lost room is still untouched.
    type: bool
    default: false
  node_name:
    description:
      - This node's name as the primary knows it (C(application_name) in C(primary_conninfo), named in
        the primary's C(synchronous_standby_names)). Pass the inventory hostname.
      - Defaults to the host's short hostname.
    type: str
  peer_name:
    description:
      - The standby's C(application_name) (its inventory hostname), for O(synchronous=true). Defaults to
        the one standby that streams.
    type: str
  allow_clone:
    description:
      - Allow O(state=standby) to replace the data directory with a fresh C(pg_basebackup) copy of the
        primary when it cannot be rewound. The old directory is kept as C(<data_dir>.replaced) until the
        next clone.
    type: bool
    default: true
  history:
    description:
      - The datastore history the caller keeps (the controller's copy, RV(history) of earlier runs), merged
        with the node's own O(history_file). The peer that knows of the newest promotion may be the one that
        is gone, so pass every copy there is.
    type: list
    elements: dict
    default: []
  discard_newer_writes:
    description:
      - Promote even though the history says another node holds newer acknowledged writes. Those writes are
        lost. Only for a node that is gone for good.
    type: bool
    default: false
  timeout:
    description:
      - Seconds each step may take (promotion, stop, start, rewind, clone, waiting to stream or to
        become synchronous).
    type: int
    default: 120
extends_documentation_fragment:
  - twinroom.ha.datastore
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the state of both nodes and returns the plan as RV(plan) with C(changed) set, without doing it.
  diff_mode:
    support: full
    details: Before and after of role, C(synchronous_standby_names), the host the node follows and its C(sslmode).
  platform:
    platforms: debian
notes:
  - Run as root on the node (C(become)); server programs run as O(os_user) through C(runuser).
  - The module never fences anything. Fence the peer first (power it off through its BMC), then pass
    O(peer_fenced=true).
seealso:
  - module: twinroom.ha.datastore_info
author:
  - twinroom developers (@twinroom)
'''

EXAMPLES = r'''
- name: After fencing room A, promote the standby in room B
  twinroom.ha.datastore:
    state: primary
    peer_address: "{{ hostvars['a-cp1'].twinroom_node_address }}"
    peer_fenced: true
    node_name: "{{ inventory_hostname }}"
    replication_password: "{{ twinroom_kine_replication_password }}"
  become: true

- name: Rejoin the old primary as standby of the new one (pg_rewind, or a fresh clone)
  twinroom.ha.datastore:
    state: standby
    primary_address: "{{ hostvars['b-cp1'].twinroom_node_address }}"
    node_name: "{{ inventory_hostname }}"
    replication_password: "{{ twinroom_kine_replication_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/postgresql/15/kine/tls/ca.crt
  become: true

- name: Make replication synchronous again once the standby streams
  twinroom.ha.datastore:
    synchronous: true
    peer_name: a-cp1
  become: true

- name: Show what a promotion would do, without doing it
  twinroom.ha.datastore:
    state: primary
    peer_address: 10.77.0.110
    peer_fenced: true
  check_mode: true
  diff: true
  become: true
  register: would
'''

RETURN = r'''
history:
  description:
    - The datastore history (oldest first) - C(event) V(primary) (a primary with no synchronous standby) or
      V(synchronous) (a primary whose C(standby) confirms every commit), C(node), C(timeline),
      C(system_identifier), C(lsn), C(at) (UTC).
      - Also written to O(history_file) on the node (not in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{event: synchronous, node: a-cp1, standby: b-cp1, timeline: 1, system_identifier: '7312', lsn: 0/3000148,
            at: '2026-12-03T07:00:00Z'}]
plan:
  description:
    - The steps decided, in order (done unless in check mode). Empty when nothing needed doing.
    - "Steps: C(promote), C(set_synchronous(on)), C(set_synchronous(off)), C(stop), C(start),
      C(rewind_from(<address>:<port>)), C(clone_from(<address>:<port>)),
      C(write_standby_config(<address>:<port>)), C(wait_streaming(<address>:<port>))."
  returned: always
  type: list
  elements: str
  sample: ['stop', 'rewind_from(10.77.0.210:5432)', 'write_standby_config(10.77.0.210:5432)', 'start', 'wait_streaming(10.77.0.210:5432)']
role:
  description: Role of the node afterwards (predicted in check mode).
  returned: always
  type: str
  sample: standby
timeline:
  description: Timeline of the node afterwards (predicted in check mode).
  returned: always
  type: int
  sample: 2
synchronous_standby_names:
  description: C(synchronous_standby_names) afterwards (predicted in check mode).
  returned: always
  type: str
  sample: '"b-cp1"'
rejoin_method:
  description: How the node was brought back as standby; null when no rewind or clone was needed or in check mode.
  returned: always
  type: str
  sample: rewind
rewind_output:
  description: Last lines of C(pg_rewind)'s output.
  returned: when pg_rewind succeeded
  type: str
  sample: 'pg_rewind: Done!'
rewind_error:
  description: Why C(pg_rewind) failed before the node was cloned instead.
  returned: when the rewind fell back to a clone
  type: str
replaced_data_dir:
  description: Where the data directory was moved before a clone.
  returned: when the node was cloned
  type: str
  sample: /var/lib/postgresql/15/kine.replaced
waited:
  description: Seconds spent waiting for the server (promotion, start, stop, streaming, synchronous).
  returned: always
  type: float
  sample: 3.4
peer:
  description: The peer as observed before deciding.
  returned: always
  type: dict
  contains:
    address:
      description: Address probed.
      type: str
    port:
      description: Port probed.
      type: int
    answers:
      description: PostgreSQL on the peer answered (an authentication error counts as answering).
      type: bool
    role:
      description: V(primary), V(standby) or V(unknown) when it answers.
      type: str
    timeline:
      description: The peer's timeline, when it answers.
      type: int
    lsn:
      description: The peer's current (primary) or replayed (standby) WAL position.
      type: str
    synchronous_standby_names:
      description: The peer's setting, when it answers.
      type: str
    fenced:
      description: The value of O(peer_fenced).
      type: bool
    error:
      description: Why the peer did not answer, or what it answered.
      type: str
    tls_error:
      description: The peer answered but the TLS connection to it failed (certificate check, no TLS); see RV(peer.error).
      type: bool
  sample: {address: 10.77.0.110, port: 5432, answers: false, role: null, fenced: true, error: 'connection timeout expired',
           tls_error: false}
diff:
  description:
    - Before and after of role, C(synchronous_standby_names), C(primary_conninfo_host) and
      C(primary_conninfo_sslmode) (with C(--diff)).
  returned: when diff mode is on
  type: dict
  sample: {before: {role: standby, synchronous_standby_names: '', primary_conninfo_host: 10.77.0.110,
                    primary_conninfo_sslmode: verify-full},
           after: {role: primary, synchronous_standby_names: '', primary_conninfo_host: null,
                   primary_conninfo_sslmode: null}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils.datastore import (
    DatastoreError,
    datastore_argument_spec,
    run_datastore,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=datastore_argument_spec(
            state=dict(type='str', choices=['primary', 'standby']),
            synchronous=dict(type='bool'),
            peer_address=dict(type='str', aliases=['primary_address']),
            peer_fenced=dict(type='bool', default=False),
            before_fencing=dict(type='bool', default=False),
            node_name=dict(type='str'),
            peer_name=dict(type='str'),
            allow_clone=dict(type='bool', default=True),
            history=dict(type='list', elements='dict', default=[]),
            discard_newer_writes=dict(type='bool', default=False),
            timeout=dict(type='int', default=120),
        ),
        required_one_of=[('state', 'synchronous')],
        required_if=[('state', 'primary', ('peer_address',)), ('state', 'standby', ('peer_address',))],
        supports_check_mode=True,
    )
    finish(module, run_datastore, DatastoreError, module.params, check_mode=module.check_mode, diff=module._diff)


if __name__ == '__main__':
    main()
