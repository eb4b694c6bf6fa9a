# -*- coding: utf-8 -*-
"""The datastore module logic against two real PostgreSQL 15 clusters on this host (loopback).

One story, in order (each test needs the previous ones): build a primary and a synchronous standby;
promotion refused while the primary answers, and refused when it is down but not fenced; promotion
once it is fenced (synchronous turned off); the old primary, which wrote on its own after coming back,
rejoins through pg_rewind; synchronous on again; rejoining an address where nothing answers is
refused; then the way back, where the rewind is impossible and the module clones instead.
Every TCP connection is TLS with verify-full (see conftest): right after the pair is built, a plaintext
connection is refused by pg_hba, a server reached at an address its certificate does not name is refused
by the client, and a standby streaming with an older sslmode is switched to verify-full by a reload.
Refusals are checked by their exact message.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

try:
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, postgres_client
except ImportError:  # not run through ansible-test: find the collection where devenv.sh links it
    sys.path[:0] = [p for p in os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    from ansible_collections.twinroom.ha.plugins.module_utils import datastore, datastore_formats, postgres_client

from conftest import REPLICATION_PASSWORD  # noqa: E402  (the pair's password, set in conftest)

pytestmark = pytest.mark.postgres


def eventually(check, timeout=15):
    """Replay on the standby trails the synchronous flush a little: poll, bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def run(cluster, **params):
    return datastore.run_datastore(cluster.params(**params), diff=True)


def refusal(cluster, **params):
    with pytest.raises(datastore.DatastoreError) as caught:
        datastore.run_datastore(cluster.params(**params))
    return caught.value.msg


def info(cluster, **params):
    return datastore.run_datastore_info(cluster.params(**params))


def rows(cluster):
    return [row[0] for row in cluster.sql('SELECT v FROM story ORDER BY n')]


def where(cluster):
    return '127.0.0.1:%d' % cluster.port


def test_build_primary_and_synchronous_standby(pair):
    a, b = pair['a'], pair['b']
    result = run(b, state='standby', peer_address='127.0.0.1', peer_port=a.port)
    assert result['plan'] == ['clone_from(%s)' % where(a), 'write_standby_config(%s)' % where(a), 'start',
                              'wait_streaming(%s)' % where(a)]
    assert (result['changed'], result['rejoin_method'], result['role']) == (True, 'clone', 'standby')
    assert result['diff']['after']['primary_conninfo_host'] == '127.0.0.1'

    result = run(a, synchronous=True, peer_name='b-cp1')
    assert (result['plan'], result['synchronous_standby_names']) == (['set_synchronous(on)'], '"b-cp1"')

    # Second runs change nothing.
    assert run(b, state='standby', peer_address='127.0.0.1', peer_port=a.port)['changed'] is False
    assert run(a, synchronous=True, peer_name='b-cp1')['plan'] == []

    a.sql('CREATE TABLE story (n serial PRIMARY KEY, v text)')
    a.sql("INSERT INTO story (v) VALUES ('one')")
    assert eventually(lambda: b.sql("SELECT count(*) FROM pg_class WHERE relname = 'story'", one=True)[0] == 1)

    seen = info(a, peer_address='127.0.0.1', peer_port=b.port)
    assert (seen['role'], seen['replication']['mode'], seen['replication']['state']) == ('primary', 'sync', 'streaming')
    assert seen['replication']['standbys'][0]['sync_state'] == 'sync'
    assert seen['peer']['role'] == 'standby'
    seen = info(b, peer_address='127.0.0.1', peer_port=a.port)
    assert (seen['role'], seen['replication']['mode'], seen['replication']['state']) == ('standby', 'sync', 'streaming')
    assert seen['timeline'] == 1 and seen['replication']['upstream']['application_name'] == 'b-cp1'


def receiver_sslmode(cluster):
    row = cluster.sql('SELECT status, conninfo FROM pg_stat_wal_receiver', one=True)
    return row and (row[0], datastore_formats.parse_conninfo(row[1]).get('sslmode'))


def connect_error(cluster, host='127.0.0.1', **kwargs):
    """The first line of the error a replication-role connection to ``cluster`` gets."""
    with pytest.raises(postgres_client.driver.Error) as caught:
        postgres_client.connect(5000, host=host, port=cluster.port, user='replicator', password=REPLICATION_PASSWORD,
                                connect_timeout=2, **kwargs).close()
    return postgres_client.error_text(caught.value)


def test_tls_only_between_the_nodes(pair):
    a, b = pair['a'], pair['b']
    # The standby streams over TLS, checked against the CA, and the primary sees its WAL sender encrypted.
    conninfo = datastore_formats.parse_conninfo(b.sql("SELECT current_setting('primary_conninfo')", one=True)[0])
    assert (conninfo['sslmode'], conninfo['sslrootcert']) == ('verify-full', b.ca_cert)
    assert receiver_sslmode(b) == ('streaming', 'verify-full')
    assert a.sql("SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) "
                 "WHERE r.application_name = 'b-cp1'", one=True) == (True,)

    # Plaintext TCP is refused by pg_hba before any password is asked, for queries and for replication.
    assert connect_error(a, dbname='postgres', sslmode='disable') == (
        'connection to server at "127.0.0.1", port %d failed: FATAL:  pg_hba.conf rejects connection for host '
        '"127.0.0.1", user "replicator", database "postgres", no encryption' % a.port)
    assert connect_error(a, dbname='replication', replication='true', sslmode='disable') == (
        'connection to server at "127.0.0.1", port %d failed: FATAL:  pg_hba.conf rejects replication connection '
        'for host "127.0.0.1", user "replicator", no encryption' % a.port)

    # verify-full against a certificate that does not name the address: the client refuses the server.
    assert connect_error(a, host='127.0.0.2', dbname='postgres', sslmode='verify-full', sslrootcert=a.ca_cert) == (
        'connection to server at "127.0.0.2", port %d failed: server certificate for "127.0.0.1" does not match '
        'host name "127.0.0.2"' % a.port)
    assert refusal(b, state='standby', peer_address='127.0.0.2', peer_port=a.port) == (
        'cannot rejoin b-cp1 as standby of 127.0.0.2:%d: the TLS connection to it failed (connection to server at '
        '"127.0.0.2", port %d failed: server certificate for "127.0.0.1" does not match host name "127.0.0.2"). '
        'With ssl_mode verify-full the peer must serve TLS with a certificate signed by the CA in %s that names '
        '127.0.0.2; check the peer\'s ssl_cert_file and the ca_cert given here, then run again.'
        % (a.port, a.port, a.ca_cert))
    # Something answers there, so it is not taken for a dead primary.
    assert refusal(b, state='primary', peer_address='127.0.0.2', peer_port=a.port, peer_fenced=True) == (
        'refusing to promote b-cp1: peer_fenced is true but the peer at 127.0.0.2:%d still answers as unknown, so '
        'fencing did not take. Check the peer\'s power state through its BMC and fence it again before running '
        'this.' % a.port)

    # A standby that streams with an older sslmode (as written before TLS) is switched by a reload, no restart.
    started = b.sql("SELECT pg_postmaster_start_time()", one=True)[0]
    b.sql("ALTER SYSTEM SET primary_conninfo = '%s'" % datastore_formats.replication_conninfo(
        '127.0.0.1', a.port, 'replicator', 'require', passfile=b.data_dir + '.pgpass', application_name='b-cp1'))
    b.sql('SELECT pg_reload_conf()')
    assert eventually(lambda: receiver_sslmode(b) == ('streaming', 'require')), receiver_sslmode(b)
    params = dict(state='standby', peer_address='127.0.0.1', peer_port=a.port)
    checked = datastore.run_datastore(b.params(**params), check_mode=True, diff=True)
    assert checked['plan'] == ['write_standby_config(%s)' % where(a), 'reload', 'wait_streaming(%s)' % where(a)]
    assert (checked['diff']['before']['primary_conninfo_sslmode'], checked['diff']['after']['primary_conninfo_sslmode']) == (
        'require', 'verify-full')
    assert receiver_sslmode(b) == ('streaming', 'require')  # check mode did nothing
    result = run(b, **params)
    assert (result['changed'], result['plan']) == (True, checked['plan'])
    assert receiver_sslmode(b) == ('streaming', 'verify-full')
    assert b.sql("SELECT pg_postmaster_start_time()", one=True)[0] == started
    assert run(b, **params)['changed'] is False
    seen = info(a, peer_address='127.0.0.1', peer_port=b.port)
    assert (seen['replication']['mode'], seen['replication']['state']) == ('sync', 'streaming')


def test_promote_refused_while_the_primary_answers(pair):
    a, b = pair['a'], pair['b']
    assert refusal(b, state='primary', peer_address='127.0.0.1', peer_port=a.port) == (
        'refusing to promote b-cp1: the peer at %s still answers as primary. Fence it first (power it off '
        'through its BMC), then run again with peer_fenced: true.' % where(a))
    assert refusal(b, state='primary', peer_address='127.0.0.1', peer_port=a.port, peer_fenced=True) == (
        'refusing to promote b-cp1: peer_fenced is true but the peer at %s still answers as primary, so '
        'fencing did not take. Check the peer\'s power state through its BMC and fence it again before '
        'running this.' % where(a))
    assert info(b)['role'] == 'standby'


def test_promote_refused_when_the_primary_is_down_but_not_fenced(pair):
    a, b = pair['a'], pair['b']
    a.crash()
    assert refusal(b, state='primary', peer_address='127.0.0.1', peer_port=a.port) == (
        'refusing to promote b-cp1: the peer at %s does not answer and peer_fenced is not true, and this '
        'node cannot tell a dead primary from a cut link. Fence the peer (power it off through its BMC), '
        'then run again with peer_fenced: true.' % where(a))
    assert info(b)['role'] == 'standby'


def test_promote_once_fenced_turns_synchronous_off(pair):
    a, b = pair['a'], pair['b']
    # As a symmetric configuration would leave it: the standby names its peer too.
    b.sql("ALTER SYSTEM SET synchronous_standby_names = '\"a-cp1\"'")
    b.sql('SELECT pg_reload_conf()')
    params = dict(state='primary', peer_address='127.0.0.1', peer_port=a.port, peer_fenced=True)

    checked = datastore.run_datastore(b.params(**params), check_mode=True, diff=True)
    assert (checked['changed'], checked['plan']) == (True, ['set_synchronous(off)', 'promote'])
    assert checked['diff']['after'] == dict(role='primary', synchronous_standby_names='', primary_conninfo_host=None,
                                            primary_conninfo_sslmode=None)
    assert info(b)['role'] == 'standby'  # check mode did nothing

    result = run(b, **params)
    assert result['plan'] == ['set_synchronous(off)', 'promote']
    assert (result['role'], result['timeline'], result['synchronous_standby_names']) == ('primary', 2, '')
    assert result['diff']['before']['role'] == 'standby'
    assert rows(b) == ['one']
    b.sql("INSERT INTO story (v) VALUES ('two')")  # does not block: nothing to wait for
    assert run(b, **params)['changed'] is False


def test_old_primary_that_wrote_alone_rejoins_through_rewind(pair):
    a, b = pair['a'], pair['b']
    # Power comes back: a-cp1 starts as the primary it was and takes a write nobody acknowledged
    # synchronously (synchronous_commit=local; with the default it would wait for b-cp1 forever).
    a.start_alone()
    a.sql("SET synchronous_commit = local; INSERT INTO story (v) VALUES ('lost')")
    assert info(a)['role'] == 'primary' and info(a)['timeline'] == 1

    result = run(a, state='standby', peer_address='127.0.0.1', peer_port=b.port)
    assert result['plan'] == ['stop', 'rewind_from(%s)' % where(b), 'write_standby_config(%s)' % where(b), 'start',
                              'wait_streaming(%s)' % where(b)]
    assert (result['rejoin_method'], result['role'], result['timeline']) == ('rewind', 'standby', 2)
    assert result['diff']['before'] == dict(role='primary', synchronous_standby_names='"b-cp1"',
                                            primary_conninfo_host=None, primary_conninfo_sslmode=None)
    assert result['diff']['after']['primary_conninfo_host'] == '127.0.0.1'
    assert eventually(lambda: rows(a) == ['one', 'two']), rows(a)
    assert run(a, state='standby', peer_address='127.0.0.1', peer_port=b.port)['changed'] is False


def test_synchronous_back_on(pair):
    a, b = pair['a'], pair['b']
    assert refusal(b, synchronous=True, peer_name='nobody') == (
        'refusing to turn synchronous replication on on b-cp1: standby nobody is not streaming from it, so '
        'every write would block until one does. Rejoin the standby first (state: standby on it), then run '
        'again.')
    result = run(b, synchronous=True, peer_name='a-cp1')
    assert result['plan'] == ['set_synchronous(on)']
    seen = info(b)
    assert (seen['replication']['mode'], seen['replication']['state']) == ('sync', 'streaming')
    b.sql("INSERT INTO story (v) VALUES ('three')")
    assert eventually(lambda: rows(a) == ['one', 'two', 'three']), rows(a)


def test_refusals_on_the_running_pair(pair):
    a, b = pair['a'], pair['b']
    unused = pair['unused_port']
    assert refusal(a, state='standby', peer_address='127.0.0.1', peer_port=unused) == (
        'cannot rejoin a-cp1 as standby of 127.0.0.1:%d: the primary at 127.0.0.1:%d does not answer. Check '
        'that it is up and reachable from a-cp1, then run again.' % (unused, unused))
    assert refusal(b, synchronous=False) == (
        'refusing to turn synchronous replication off on b-cp1: this requires peer_fenced: true. While the '
        'standby may still come back, writes acknowledged only by b-cp1 could be lost on failover. Fence the '
        'standby (power it off through its BMC), then run again with peer_fenced: true.')
    seen = info(a)
    assert (seen['role'], seen['replication']['state'], seen['replication']['upstream']['port']) == (
        'standby', 'streaming', b.port)


def test_way_back_where_rewind_is_impossible_clones(pair):
    a, b = pair['a'], pair['b']
    b.crash()
    result = run(a, state='primary', peer_address='127.0.0.1', peer_port=b.port, peer_fenced=True)
    assert (result['role'], result['timeline']) == ('primary', 3)
    assert 'promote' in result['plan']
    a.sql("INSERT INTO story (v) VALUES ('four')")

    # b-cp1 comes back without wal_log_hints, writes alone, and so cannot be rewound.
    b.start_alone('-c wal_log_hints=off')
    b.sql("SET synchronous_commit = local; INSERT INTO story (v) VALUES ('lost again')")
    result = run(b, state='standby', peer_address='127.0.0.1', peer_port=a.port)
    assert result['plan'][:2] == ['stop', 'rewind_from(%s)' % where(a)]
    assert result['rejoin_method'] == 'clone'
    assert 'wal_log_hints' in result['rewind_error']
    assert result['replaced_data_dir'] == b.data_dir + '.replaced'
    assert (result['role'], result['timeline']) == ('standby', 3)
    assert eventually(lambda: rows(b) == ['one', 'two', 'three', 'four']), rows(b)

    assert run(a, synchronous=True, peer_name='b-cp1')['plan'] == ['set_synchronous(on)']
    seen = info(a, peer_address='127.0.0.1', peer_port=b.port)
    assert (seen['role'], seen['replication']['mode'], seen['replication']['state']) == ('primary', 'sync', 'streaming')
