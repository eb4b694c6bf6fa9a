# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: datastore_hba
short_description: pg_hba.conf rules of the kine PostgreSQL cluster, TLS only over TCP
version_added: 0.1.0
description:
  - Renders the client authentication rules of the kine datastore's PostgreSQL cluster from the control-plane
    nodes' addresses.
  - Local (unix socket) connections use peer authentication, C(postgres) through the C(admin) map.
  - Every TCP rule is C(hostssl) with C(scram-sha-256) - kine from each node and from loopback, the replication
    role for C(replication) and the C(postgres) database (the datastore module's probe and C(pg_rewind)).
  - C(hostnossl ... reject) rules come first, for IPv4 and IPv6, for databases and for replication, so a plaintext
    TCP connection is refused by name before any password is asked.
options:
  _input:
    description: Addresses of every control-plane node (C(twinroom_node_address)).
    type: list
    elements: str
    required: true
  database:
    description: Database of kine.
    type: str
    required: true
  user:
    description: Role kine logs in as.
    type: str
    required: true
  replication_user:
    description: Role the standby streams, clones and rewinds as.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Write pg_hba.conf
  ansible.builtin.copy:
    content: "{{ ['10.77.0.110', '10.77.0.210'] | twinroom.ha.datastore_hba('kine', 'kine', 'replicator') }}"
    dest: /etc/postgresql/15/kine/pg_hba.conf
    owner: postgres
    mode: "0640"
"""

RETURN = r"""
_value:
  description: The rules, one per line, columns aligned, ending with a newline.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.twinroom.ha.plugins.module_utils.datastore_formats import hba_rules


def datastore_hba(addresses, database, user, replication_user):
    if not addresses or any(not address for address in addresses):
        raise AnsibleFilterError('datastore_hba needs the address of every control-plane node, got %r' % (addresses,))
    return hba_rules(list(addresses), database, user, replication_user)


class FilterModule(object):
    def filters(self):
        return {"datastore_hba": datastore_hba}
