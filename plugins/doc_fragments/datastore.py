# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where the kine PostgreSQL cluster lives on the node and how to reach it and its peer.
    # Matches datastore_argument_spec() in plugins/module_utils/datastore.py.
    DOCUMENTATION = r'''
options:
  cluster_version:
    description:
      - PostgreSQL major version of the cluster (Debian C(pg_createcluster) version).
    type: str
    default: '15'
  cluster_name:
    description:
      - Debian cluster name. With O(cluster_version) it names the systemd unit
        C(postgresql@<version>-<name>) and the default paths.
    type: str
    default: kine
  data_dir:
    description:
      - Data directory of the cluster.
      - Defaults to C(/var/lib/postgresql/<cluster_version>/<cluster_name>).
    type: path
  config_file:
    description:
      - Main configuration file, passed to C(pg_rewind --config-file) (it may run the server in
        single-user mode to finish crash recovery) and, with O(control=pg_ctl), to the server.
      - Defaults to C(/etc/postgresql/<cluster_version>/<cluster_name>/postgresql.conf) when that file
        exists, else none (the configuration is in the data directory).
    type: path
  bin_dir:
    description:
      - Directory of the server programs (C(pg_ctl), C(pg_rewind), C(pg_basebackup), C(pg_controldata)).
      - Defaults to C(/usr/lib/postgresql/<cluster_version>/bin).
    type: path
  port:
    description:
      - Port of the local cluster; the module connects to it over the unix socket in O(socket_dir).
    type: int
    default: 5432
  socket_dir:
    description:
      - Directory of the local server's unix socket. The module runs as root and connects as the
        database superuser C(postgres) through peer authentication (an C(admin) map from C(root) to
        C(postgres) in C(pg_ident.conf)).
    type: path
    default: /var/run/postgresql
  os_user:
    description:
      - Operating-system user that owns the cluster. Server programs run as this user
        (C(runuser -u <os_user> --) when the module runs as root), and files the module writes in the
        data directory belong to it.
    type: str
    default: postgres
  control:
    description:
      - How the server is started and stopped.
      - V(systemd) uses the unit C(postgresql@<cluster_version>-<cluster_name>) (Debian nodes).
      - V(pg_ctl) runs C(pg_ctl) on O(data_dir) with O(port) and O(socket_dir) given on its command line
        and its log next to the data directory (C(<data_dir>.log)); for hosts without the unit, and tests.
    type: str
    choices: [systemd, pg_ctl]
    default: systemd
  replication_user:
    description:
      - Role used to stream WAL and to read the peer's state over TCP (pg_hba must allow it from the peer
        for both C(replication) and the C(postgres) database).
      - For C(pg_rewind) it needs EXECUTE on C(pg_ls_dir(text, boolean, boolean)),
        C(pg_stat_file(text, boolean)), C(pg_read_binary_file(text)) and
        C(pg_read_binary_file(text, bigint, bigint, boolean)); membership in C(pg_monitor) lets
        M(twinroom.ha.datastore_info) on a standby see how the primary counts it (sync or async).
    type: str
    default: replicator
  replication_password:
    description:
      - Password of O(replication_user). Never logged, never put on a command line; the module writes it
        to O(passfile) for the WAL receiver, C(pg_rewind) and C(pg_basebackup), and hands it to the driver
        directly for its own peer connection.
      - When omitted, an existing O(passfile) is used.
    type: str
  passfile:
    description:
      - libpq password file for O(replication_user) (mode 0600, owned by O(os_user)); C(primary_conninfo)
        refers to it by path.
      - Defaults to C(<data_dir>.pgpass), outside the data directory so a clone or rewind leaves it alone.
    type: path
  peer_port:
    description:
      - PostgreSQL port of the peer node. Defaults to O(port).
    type: int
  history_file:
    description:
      - The datastore's history on this node - which node was primary on which timeline and which standby held
        its synchronous copy (JSON). Each run that leaves a primary records what it left here, and a promotion
        is refused unless the node has every write the last recorded primary acknowledged.
      - Defaults to C(<data_dir>.history.json), outside the data directory so a clone or rewind keeps it.
    type: path
  connect_timeout:
    description:
      - Seconds to wait for a connection (minimum 2). The whole peer probe is bounded by twice this plus
        five seconds; a peer whose host accepts the connection but does not answer in that time counts as
        answering.
    type: int
    default: 5
  ssl_mode:
    description:
      - libpq C(sslmode) of every connection to the peer over TCP - the module's own probe, the standby's
        C(primary_conninfo), C(pg_basebackup) and C(pg_rewind). The local cluster is reached over its unix
        socket, without TLS.
      - V(verify-full) checks that the peer's server certificate is signed by O(ca_cert) and names the
        address it is reached at (O(peer_address)); use it between rooms. V(verify-ca) checks only the
        signature. V(require) encrypts without checking who answers; V(prefer) (libpq's default) and
        V(allow) fall back to plaintext, and V(disable) never encrypts.
      - A standby that already streams from the peer with another C(sslmode) or O(ca_cert) gets its
        C(primary_conninfo) rewritten and reloaded, without a restart.
      - A peer whose TLS handshake or certificate check fails counts as answering (something listens
        there), so it blocks a promotion, and a rejoin as standby (M(twinroom.ha.datastore)) is refused with the TLS
        error.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: prefer
  ca_cert:
    description:
      - CA certificate (PEM) that signed the peer's server certificate, C(sslrootcert) of every connection
        to the peer. Required with O(ssl_mode=verify-ca) and O(ssl_mode=verify-full).
      - Must be readable by O(os_user) too (the WAL receiver, C(pg_basebackup) and C(pg_rewind) run as it),
        and must exist when O(peer_address) is given.
      - The role C(twinroom.ha.kine_datastore) installs the datastore CA of C(twinroom.ha.cluster_pki) as
        C(/etc/postgresql/<version>/<cluster>/tls/ca.crt).
    type: path
requirements:
  - psycopg2 on the node (Debian C(python3-psycopg2)); psycopg 3 is used when psycopg2 is absent.
  - PostgreSQL server programs on the node (Debian C(postgresql-15)).
'''
