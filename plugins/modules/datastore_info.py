#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: datastore_info
short_description: Report the state of a node of the kine PostgreSQL pair
version_added: 0.1.0
description:
  - Reports the role, timeline, replication mode and lag of the kine datastore's PostgreSQL cluster on
    this node, and the endpoint kine uses (from C(/etc/twinroom/kine.env), password masked).
  - Never changes anything.
  - Reads the local cluster over the unix socket as C(postgres). With O(peer_address), also probes the
    peer over TCP as O(replication_user), which on a standby tells whether the primary counts it as
    synchronous.
options:
  peer_address:
    description:
      - Address of the other control-plane node's PostgreSQL. Optional; when given, RV(peer) is reported.
    type: str
  kine_env_file:
    description:
      - Environment file written for kine, holding C(KINE_ENDPOINT=postgres://user:password@host:5432/kine?...).
        Reported as RV(kine) when it exists.
    type: path
    default: /etc/twinroom/kine.env
extends_documentation_fragment:
  - twinroom.ha.datastore
  - ansible.builtin.action_common_attributes
  - twinroom.ha.read_only
attributes:
  platform:
    platforms: debian
notes:
  - Run as root on the node (C(become)).
seealso:
  - module: twinroom.ha.datastore
author:
  - twinroom developers (@twinroom)
'''

EXAMPLES = r'''
- name: Read the datastore state of both control-plane nodes
  twinroom.ha.datastore_info:
    peer_address: "{{ hostvars[(groups['control_plane'] | difference([inventory_hostname])) | first].twinroom_node_address }}"
  become: true
  register: datastore
  when: inventory_hostname in groups['control_plane']

- name: Stop when replication is not synchronous and streaming
  ansible.builtin.assert:
    that:
      - datastore.replication.mode == 'sync'
      - datastore.replication.state == 'streaming'
    fail_msg: "{{ inventory_hostname }}: replication is {{ datastore.replication.mode }}/{{ datastore.replication.state }}"
  when: datastore.role == 'primary'
'''

RETURN = r'''
history:
  description:
    - The datastore history (oldest first) - C(event) V(primary) (a primary with no synchronous standby) or
      V(synchronous) (a primary whose C(standby) confirms every commit), C(node), C(timeline),
      C(system_identifier), C(lsn), C(at) (UTC).
  returned: always
  type: list
  elements: dict
  sample: [{event: synchronous, node: a-cp1, standby: b-cp1, timeline: 1, system_identifier: '7312', lsn: 0/3000148,
            at: '2026-12-03T07:00:00Z'}]
role:
  description:
    - V(primary), V(standby), V(stopped) (cluster exists, server not running), V(absent) (no cluster at
      O(data_dir)) or V(unknown) (server running but not answering; see RV(error)).
  returned: always
  type: str
  sample: primary
stopped_as:
  description: For a stopped cluster, what it will start as (V(standby) when C(standby.signal) exists).
  returned: always
  type: str
  sample: null
timeline:
  description: Current timeline (for a stopped cluster, from C(pg_controldata)).
  returned: always
  type: int
  sample: 2
lsn:
  description: Current WAL position (primary), last replayed position (standby), or last checkpoint (stopped).
  returned: always
  type: str
  sample: 0/3000148
system_identifier:
  description: Database system identifier; both nodes of a pair share it.
  returned: always
  type: str
  sample: '7312345678901234567'
synchronous_standby_names:
  description: The node's C(synchronous_standby_names); only the primary's matters.
  returned: always
  type: str
  sample: '"b-cp1"'
replication:
  description: Replication as this node sees it.
  returned: always
  type: dict
  contains:
    mode:
      description:
        - V(sync) (primary with C(synchronous_standby_names) set, or a standby the primary counts as
          synchronous), V(async), V(none) (primary without standby), V(unknown) (standby without
          O(peer_address), or a peer that does not show it), null when not running.
      type: str
    state:
      description:
        - On a primary, the standby's WAL sender state (V(streaming), V(catchup), ...) or V(none).
        - On a standby, its WAL receiver status (V(streaming), V(waiting), ...) or V(stopped).
      type: str
    lag_bytes:
      description: Bytes not yet replayed on the standby.
      type: int
    lag_seconds:
      description: Replay lag in seconds (0 when nothing is outstanding).
      type: float
    standbys:
      description: On a primary, one entry per connected standby (C(pg_stat_replication)).
      type: list
      elements: dict
    upstream:
      description:
        - On a standby, the primary it follows (host, port, user, application_name, sslmode, sslrootcert from
          C(primary_conninfo)), its WAL receiver status, and the C(sslmode) the running WAL receiver connected with
          (receiver_sslmode).
      type: dict
  sample:
    mode: sync
    state: streaming
    lag_bytes: 0
    lag_seconds: 0.0
    standbys:
      - {application_name: b-cp1, client_addr: 10.77.0.210, state: streaming, sync_state: sync,
         sent_lsn: 0/3000148, replay_lsn: 0/3000148, lag_bytes: 0, lag_seconds: 0.0}
    upstream: null
error:
  description: Why the local server could not be read, when it could not.
  returned: always
  type: str
  sample: null
data_dir:
  description: The data directory looked at.
  returned: always
  type: str
  sample: /var/lib/postgresql/15/kine
peer:
  description:
    - The peer as the replication role sees it (address, port, answers, role, timeline, lsn, synchronous_standby_names,
      error, tls_error), over TCP with O(ssl_mode) and O(ca_cert).
  returned: when O(peer_address) is given
  type: dict
  sample: {address: 10.77.0.210, port: 5432, answers: true, role: standby, timeline: 2, lsn: 0/3000148,
           synchronous_standby_names: '', fenced: false, error: null, tls_error: false}
kine:
  description: kine's backend endpoint from O(kine_env_file), with the password replaced by C(***).
  returned: always; null when the file does not exist
  type: dict
  contains:
    env_file:
      description: The file read.
      type: str
    endpoint:
      description: C(KINE_ENDPOINT), password masked; null when the file has none.
      type: str
  sample:
    env_file: /etc/twinroom/kine.env
    endpoint: 'postgres://kine:***@127.0.0.1:5432/kine?sslmode=verify-full&sslrootcert=/etc/postgresql/15/kine/tls/ca.crt'
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils.datastore import (
    DatastoreError,
    datastore_argument_spec,
    run_datastore_info,
)
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish


def main():
    module = AnsibleModule(
        argument_spec=datastore_argument_spec(
            peer_address=dict(type='str'),
            kine_env_file=dict(type='path', default='/etc/twinroom/kine.env'),
        ),
        supports_check_mode=True,
    )
    finish(module, run_datastore_info, DatastoreError, module.params)


if __name__ == '__main__':
    main()
