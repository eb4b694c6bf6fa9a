# -*- coding: utf-8 -*-
"""Two real PostgreSQL 15 clusters on loopback, laid out like the kine datastore of the lab.

The clusters live in a temporary directory owned by the OS user ``postgres`` (when the tests run as
root, as the module does on a node) and listen on 127.0.0.1 on free ports; the module code drives them
with ``control: pg_ctl`` instead of the systemd unit. Authentication is the nodes': the superuser over
the unix socket by peer map (root -> postgres), the replication role over TCP with a password, and TCP only
with TLS: pg_hba.conf is the role's (``hostssl`` rules, plaintext TCP rejected), the servers present a certificate
from a throwaway CA made here with openssl (SAN IP:127.0.0.1), and every client uses sslmode=verify-full with
that CA. The servers also listen on 127.0.0.2, which their certificate does not name.
Every server started here is stopped (immediate) and the directory removed when the module's tests end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, postgres, postgres_client
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, postgres, postgres_client

PG_BIN = os.environ.get('TWINROOM_PG_BIN', '/usr/lib/postgresql/15/bin')
REPLICATION_PASSWORD = 'not-a-real-secret-7'

# The role's rules (twinroom.ha.datastore_hba), for the one loopback "node" address.
HBA = datastore_formats.hba_rules(['127.0.0.1'], 'kine', 'kine', 'replicator')

CONF = """
listen_addresses = '127.0.0.1,127.0.0.2'
wal_log_hints = on
wal_keep_size = '256MB'
max_wal_senders = 5
hot_standby = on
logging_collector = off
ssl = on
ssl_cert_file = '%(tls)s/server.crt'
ssl_key_file = '%(tls)s/server.key'
"""


def make_pki(directory, user):
    """A throwaway CA and a server certificate for 127.0.0.1 (key owned by ``user``, mode 0600)."""
    os.makedirs(directory)

    def openssl(*args):
        subprocess.run(['openssl'] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=directory, timeout=60)

    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
            '-subj', '/CN=twinroom-test-datastore-ca', '-keyout', 'ca.key', '-out', 'ca.crt',
            '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
            '-subj', '/CN=datastore-test', '-keyout', 'server.key', '-out', 'server.csr')
    with open(os.path.join(directory, 'server.ext'), 'w') as stream:
        stream.write('subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n'
                     'keyUsage = digitalSignature, keyEncipherment\n')
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
            '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt')
    entry = pwd.getpwnam(user)
    for name in os.listdir(directory):
        os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid)
        os.chmod(os.path.join(directory, name), 0o600 if name.endswith('.key') else 0o644)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    os.chmod(directory, 0o755)
    return os.path.join(directory, 'ca.crt')


# What the kine_datastore role grants the replication role: pg_rewind from it, and monitoring views.
ROLE_SQL = [
    "CREATE ROLE replicator LOGIN REPLICATION PASSWORD '%s'" % REPLICATION_PASSWORD,
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO replicator',
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO replicator',
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO replicator',
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO replicator',
    'GRANT pg_monitor TO replicator',
]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def os_user():
    """postgres when running as root (initdb refuses root), else whoever runs the tests."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam('postgres')
    except KeyError:
        return None
    return 'postgres'


def why_skip():
    if not os.path.exists(os.path.join(PG_BIN, 'postgres')):
        return 'PostgreSQL server binaries not found in %s (apt-get install postgresql-15)' % PG_BIN
    if postgres_client.DRIVER_NAME is None:
        return 'neither psycopg2 nor psycopg is importable'
    if os_user() is None:
        return 'running as root but there is no OS user postgres to own the clusters'
    if os.geteuid() == 0 and not shutil.which('runuser'):
        return 'runuser is missing'
    if not shutil.which('openssl'):
        return 'openssl is missing (it makes the test CA and server certificate)'
    return None


class Cluster(object):
    """One node of the pair: its module parameters and a way to run SQL on it."""

    def __init__(self, root, name, port, user, ca_cert):
        self.root = root
        self.ca_cert = ca_cert
        self.name = name
        self.port = port
        self.user = user
        self.data_dir = os.path.join(root, name)
        self.socket_dir = os.path.join(root, 'sock')

    def params(self, **extra):
        params = dict(data_dir=self.data_dir, port=self.port, socket_dir=self.socket_dir, bin_dir=PG_BIN,
                      control='pg_ctl', os_user=self.user, replication_password=REPLICATION_PASSWORD,
                      connect_timeout=2, timeout=60, node_name=self.name, ssl_mode='verify-full',
                      ca_cert=self.ca_cert)
        params.update(extra)
        return params

    def settings(self, **extra):
        return datastore.Settings(self.params(**extra))

    def node(self):
        return postgres.LocalNode(self.settings())

    def sql(self, query, one=False):
        conn = self.node().connect()
        try:
            return postgres_client.query(conn, query, one=one)
        finally:
            conn.close()

    def as_owner(self, argv, check=True):
        return postgres_client.Executor(self.user).run(argv, as_owner=True, timeout=90, check=check)

    def pg_ctl(self, *args, check=True):
        return self.as_owner([os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data_dir] + list(args), check=check)

    def crash(self):
        """Stop the server the way a power cut does: no shutdown checkpoint."""
        self.pg_ctl('stop', '-m', 'immediate', '-w', '-t', '30')

    def start_alone(self, *options):
        """Start as whatever the data directory says, like a node powered on again (systemd would)."""
        opts = '-c port=%d -c unix_socket_directories=%s %s' % (self.port, self.socket_dir, ' '.join(options))
        self.pg_ctl('start', '-w', '-t', '60', '-l', self.data_dir + '.log', '-o', opts)

    def running(self):
        return self.pg_ctl('status', check=False)[0] == 0

    def kill_leftovers(self):
        if os.path.exists(os.path.join(self.data_dir, 'PG_VERSION')) and self.running():
            self.pg_ctl('stop', '-m', 'immediate', '-w', '-t', '30', check=False)
        pidfile = os.path.join(self.data_dir, 'postmaster.pid')
        if os.path.exists(pidfile):
            with open(pidfile) as stream:
                pid = int(stream.readline().strip() or 0)
            if pid > 1:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def pytest_configure(config):
    # Also to be registered in pytest.ini; registering twice is harmless.
    config.addinivalue_line('markers', 'postgres: needs PostgreSQL server binaries on this host')


# The tests of this directory tell one story in order: after a failure, the rest are skipped.
_failed = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == 'call' and outcome.get_result().failed and item.get_closest_marker('postgres'):
        _failed.append(item.name)


@pytest.fixture(autouse=True)
def story_in_order():
    if _failed:
        pytest.skip('an earlier step of the story failed: %s' % _failed[0])


@pytest.fixture(scope='module')
def pair():
    """a-cp1 initialised and running as primary; b-cp1 not created yet (the module clones it)."""
    reason = why_skip()
    if reason:
        pytest.skip(reason)
    user = os_user()
    root = tempfile.mkdtemp(prefix='twinroom-datastore-')
    entry = pwd.getpwnam(user)
    os.chmod(root, 0o755)
    os.chown(root, entry.pw_uid, entry.pw_gid)
    os.makedirs(os.path.join(root, 'sock'))
    os.chown(os.path.join(root, 'sock'), entry.pw_uid, entry.pw_gid)
    ports = set()
    while len(ports) < 3:
        ports.add(free_port())
    port_a, port_b, unused = sorted(ports)
    ca_cert = os.path.join(root, 'tls', 'ca.crt')
    a = Cluster(root, 'a-cp1', port_a, user, ca_cert)
    b = Cluster(root, 'b-cp1', port_b, user, ca_cert)
    try:
        make_pki(os.path.join(root, 'tls'), user)
        a.as_owner([os.path.join(PG_BIN, 'initdb'), '-D', a.data_dir, '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8',
                    '--auth-local=peer',
                    '--auth-host=scram-sha-256'])
        admins = sorted(set(['root', user, 'postgres']))
        for path, text in ((os.path.join(a.data_dir, 'pg_hba.conf'), HBA),
                           (os.path.join(a.data_dir, 'pg_ident.conf'),
                            ''.join('admin %s postgres\n' % name for name in admins))):
            with open(path, 'w') as stream:
                stream.write(text)
        with open(os.path.join(a.data_dir, 'postgresql.conf'), 'a') as stream:
            stream.write(CONF % dict(tls=os.path.join(root, 'tls')))
        a.node().start()
        for statement in ROLE_SQL:
            a.sql(statement)
        yield dict(a=a, b=b, unused_port=unused, root=root)
    finally:
        deadline = time.monotonic() + 120
        for cluster in (a, b):
            if time.monotonic() < deadline:
                cluster.kill_leftovers()
        if os.environ.get('TWINROOM_KEEP_PG_TEST_DIR'):
            sys.stderr.write('kept %s\n' % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    # Nothing of ours may keep running.
    out = subprocess.run(['pgrep', '-f', root], stdout=subprocess.PIPE, universal_newlines=True,
                         check=False).stdout.split()
    assert not out, 'PostgreSQL processes of %s still running: %s' % (root, out)
