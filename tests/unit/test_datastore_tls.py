# -*- coding: utf-8 -*-
"""TLS between the rooms: the conninfo the standby, pg_basebackup and pg_rewind use, pg_hba.conf of the kine
cluster, the checks of ssl_mode / ca_cert, and which libpq errors mean "the TLS connection failed".
Exact strings; no PostgreSQL needed."""

from __future__ import annotations

import os
import sys

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, postgres, postgres_client
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, postgres, postgres_client

CA = '/etc/postgresql/15/kine/tls/ca.crt'


@pytest.mark.parametrize('kwargs, text', [
    pytest.param(dict(ssl_mode='verify-full', ca_cert=CA, passfile='/var/lib/postgresql/15/kine.pgpass',
                      application_name='b-cp1', connect_timeout=5),
                 'host=10.77.0.110 port=5432 user=replicator passfile=/var/lib/postgresql/15/kine.pgpass '
                 'application_name=b-cp1 connect_timeout=5 sslmode=verify-full '
                 'sslrootcert=/etc/postgresql/15/kine/tls/ca.crt', id='primary_conninfo'),
    pytest.param(dict(ssl_mode='verify-full', ca_cert=CA, dbname='postgres', connect_timeout=2),
                 'host=10.77.0.110 port=5432 user=replicator dbname=postgres connect_timeout=2 sslmode=verify-full '
                 'sslrootcert=/etc/postgresql/15/kine/tls/ca.crt', id='pg_rewind-source'),
    pytest.param(dict(ssl_mode='verify-full', ca_cert=CA, connect_timeout=2),
                 'host=10.77.0.110 port=5432 user=replicator connect_timeout=2 sslmode=verify-full '
                 'sslrootcert=/etc/postgresql/15/kine/tls/ca.crt', id='pg_basebackup-source'),
    pytest.param(dict(), 'host=10.77.0.110 port=5432 user=replicator sslmode=prefer', id='libpq-default'),
    pytest.param(dict(ssl_mode='disable', ca_cert=CA), 'host=10.77.0.110 port=5432 user=replicator sslmode=disable',
                 id='disable-names-no-ca'),
    pytest.param(dict(ssl_mode='require', ca_cert='/etc/pki/my ca.crt'),
                 "host=10.77.0.110 port=5432 user=replicator sslmode=require sslrootcert='/etc/pki/my ca.crt'",
                 id='quoted-ca-path'),
])
def test_replication_conninfo(kwargs, text):
    assert datastore_formats.replication_conninfo('10.77.0.110', 5432, 'replicator', **kwargs) == text
    parsed = datastore_formats.parse_conninfo(text)
    assert parsed['sslmode'] == kwargs.get('ssl_mode', 'prefer')


def test_hba_rules():
    assert datastore_formats.hba_rules(['10.77.0.110', '10.77.0.210'], 'kine', 'kine', 'replicator') == (
        '# TYPE     DATABASE     USER        ADDRESS         METHOD\n'
        'local      all          postgres                    peer map=admin\n'
        'local      all          all                         peer\n'
        'hostnossl  all          all         0.0.0.0/0       reject\n'
        'hostnossl  replication  all         0.0.0.0/0       reject\n'
        'hostnossl  all          all         ::/0            reject\n'
        'hostnossl  replication  all         ::/0            reject\n'
        'hostssl    kine         kine        127.0.0.1/32    scram-sha-256\n'
        'hostssl    kine         kine        10.77.0.110/32  scram-sha-256\n'
        'hostssl    replication  replicator  10.77.0.110/32  scram-sha-256\n'
        'hostssl    postgres     replicator  10.77.0.110/32  scram-sha-256\n'
        'hostssl    kine         kine        10.77.0.210/32  scram-sha-256\n'
        'hostssl    replication  replicator  10.77.0.210/32  scram-sha-256\n'
        'hostssl    postgres     replicator  10.77.0.210/32  scram-sha-256\n')


def test_hba_rules_ipv6_and_no_plain_host_rule():
    text = datastore_formats.hba_rules(['fd00::1'], 'k8s', 'kine', 'repl')
    assert 'hostssl    replication  repl      fd00::1/128   scram-sha-256\n' in text
    tcp = [line.split()[0] for line in text.splitlines() if not line.startswith(('#', 'local'))]
    assert set(tcp) == {'hostssl', 'hostnossl'}


def test_hba_filter_refuses_a_missing_address():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.twinroom.ha.plugins.filter.datastore_hba import datastore_hba
    with pytest.raises(AnsibleFilterError) as caught:
        datastore_hba(['10.77.0.110', None], 'kine', 'kine', 'replicator')
    assert str(caught.value) == "datastore_hba needs the address of every control-plane node, got ['10.77.0.110', None]"


@pytest.mark.parametrize('mode, ca_cert, problem', [
    ('verify-full', None, "ssl_mode verify-full verifies the peer's server certificate, so it needs ca_cert: the CA "
                          'certificate that signed it (the datastore CA of twinroom.ha.cluster_pki, datastore-ca.crt)'),
    ('verify-ca', '', "ssl_mode verify-ca verifies the peer's server certificate, so it needs ca_cert: the CA "
                      'certificate that signed it (the datastore CA of twinroom.ha.cluster_pki, datastore-ca.crt)'),
    ('verify-full', CA, None),
    ('require', None, None),
    (None, None, None),
])
def test_tls_settings_problem(mode, ca_cert, problem):
    assert datastore_formats.tls_settings_problem(mode, ca_cert) == problem


def test_settings_refuse_verify_full_without_ca():
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.Settings(dict(ssl_mode='verify-full', peer_address='10.77.0.110'))
    assert caught.value.msg == (
        "ssl_mode verify-full verifies the peer's server certificate, so it needs ca_cert: the CA certificate that "
        'signed it (the datastore CA of twinroom.ha.cluster_pki, datastore-ca.crt).')


def test_settings_refuse_a_missing_ca_only_when_the_peer_is_reached(tmp_path):
    missing = str(tmp_path / 'ca.crt')
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.Settings(dict(ssl_mode='verify-full', ca_cert=missing, peer_address='10.77.0.110'))
    assert caught.value.msg == (
        'ca_cert %s does not exist on this node: install the datastore CA there (role twinroom.ha.kine_datastore) '
        'or point ca_cert at it.' % missing)
    # datastore_info of a new node, before the CA is installed, reads only the local cluster.
    assert datastore.Settings(dict(ssl_mode='verify-full', ca_cert=missing)).ca_cert == missing


@pytest.mark.parametrize('text, tls', [
    ('connection to server at "127.0.0.1", port 5433 failed: server certificate for "wrong.example" (and 1 other '
     'name) does not match host name "127.0.0.1"', True),
    ('connection to server at "10.77.0.110", port 5432 failed: SSL error: certificate verify failed', True),
    ('connection to server at "10.77.0.110", port 5432 failed: server does not support SSL, but SSL was required',
     True),
    ('connection to server at "10.77.0.110", port 5432 failed: Connection refused', False),
    ('connection to server at "10.77.0.110", port 5432 failed: timeout expired', False),
    ('connection to server at "127.0.0.1", port 5433 failed: FATAL:  pg_hba.conf rejects connection for host '
     '"127.0.0.1", user "replicator", database "postgres", no encryption', False),
    (None, False),
])
def test_is_tls_failure(text, tls):
    assert postgres_client.is_tls_failure(text) is tls


@pytest.mark.parametrize('upstream, ready', [
    (dict(status='streaming', host='10.77.0.110', port=5432, receiver_sslmode='verify-full'), True),
    # The old WAL receiver, still streaming right after the reload.
    (dict(status='streaming', host='10.77.0.110', port=5432, receiver_sslmode='prefer'), False),
    # The receiver's conninfo not visible: host and port decide.
    (dict(status='streaming', host='10.77.0.110', port=5432), True),
    (dict(status='waiting', host='10.77.0.110', port=5432, receiver_sslmode='verify-full'), False),
])
def test_streaming_waits_for_the_receiver_with_the_new_sslmode(upstream, ready):
    state = dict(role='standby', upstream=upstream)
    assert postgres.READY['streaming_from']('10.77.0.110', 5432, 'verify-full')(state) is ready
