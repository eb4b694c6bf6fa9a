# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kine datastore's PostgreSQL nodes: :class:`LocalNode` (the cluster on this host, read over the unix
socket as ``postgres`` and changed one plan step at a time) and :func:`probe_peer` (the other room's node, as
the replication role sees it over TCP, bounded by the connect timeout), plus the bounded waiter and the
readiness predicates the steps wait on. Paths, ports and how the server is started and stopped (systemd
unit or ``pg_ctl``) come from the settings, so the same code runs on a node and in a test on loopback.

Layer 1 (access): reads and acts, decides nothing; built on postgres_client.py, and on the pure records
and formats of datastore_formats.py. See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import threading
import time

from ansible_collections.twinroom.ha.plugins.module_utils import postgres_client as pg
from ansible_collections.twinroom.ha.plugins.module_utils.datastore_formats import (
    DatastoreError,
    endpoint,
    normalize_local,
    normalize_peer,
    parse_conninfo,
    parse_controldata,
    pgpass_line,
    read_auto_conf,
    replication_conninfo,
    set_auto_conf,
    short_state,
    sql_literal,
    standby_names_value,
)


# ---------------------------------------------------------------------------------------------
# Waiting
# ---------------------------------------------------------------------------------------------

def wait_for(what, probe, ready, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep, show=None):
    """Poll ``probe()`` until ``ready(observed)``; bounded by ``timeout`` seconds of ``clock``.

    Returns ``(seconds waited, last observation)``; on timeout raises :class:`DatastoreError` showing
    the last observation, so the operator sees what was still missing.
    """
    start = clock()
    while True:
        observed = probe()
        if ready(observed):
            return round(clock() - start, 2), observed
        waited = clock() - start
        if waited >= timeout:
            shown = show(observed) if show else observed
            raise DatastoreError('timed out after %ds waiting for %s; last seen: %s' % (timeout, what, shown),
                                 partial_state=shown)
        sleep(min(interval, max(0.05, timeout - waited)))


def _is_running_role(state):
    return state['role'] in ('primary', 'standby')


def _streams_from(address, port, sslmode=None):
    def ready(state):
        upstream = state.get('upstream') or {}
        # After a reload the old WAL receiver may still stream for a moment: with the receiver's own conninfo
        # known (the local superuser sees it), it must be the new one.
        receiver_mode = upstream.get('receiver_sslmode')
        return (state['role'] == 'standby' and upstream.get('status') == 'streaming'
                and upstream.get('host') == address and str(upstream.get('port')) == str(port)
                and (sslmode is None or receiver_mode is None or receiver_mode == sslmode))
    return ready


def _sync_with(name):
    def ready(state):
        return any(row.get('application_name') == name and row.get('sync_state') == 'sync'
                   for row in state.get('standbys') or ())
    return ready


def _standby_names_are(value):
    def ready(state):
        return _is_running_role(state) and state['synchronous_standby_names'] == value
    return ready


# The readiness predicates each step waits on.
READY = dict(
    accepting_connections=_is_running_role,
    primary=lambda state: state['role'] == 'primary',
    streaming_from=_streams_from,
    synchronous_with=_sync_with,
    standby_names=_standby_names_are,
)


# ---------------------------------------------------------------------------------------------
# This node and its peer
# ---------------------------------------------------------------------------------------------

class LocalNode(object):
    """The cluster on this host: observe it and apply plan steps to it."""

    def __init__(self, settings, executor=None, control=None):
        self.settings = settings
        self.executor = executor or pg.Executor(settings.os_user)
        self.control = control or pg.CONTROLS[settings.control](settings, self.executor)

    # -- reading -------------------------------------------------------------------------------
    def connect(self, statement_timeout_ms=10000):
        s = self.settings
        return pg.connect(statement_timeout_ms, host=s.socket_dir, port=s.port, user='postgres', dbname='postgres',
                          connect_timeout=s.connect_timeout, application_name='twinroom-datastore')

    def _exists(self):
        return os.path.exists(os.path.join(self.settings.data_dir, 'PG_VERSION'))

    def _signal(self):
        return os.path.exists(os.path.join(self.settings.data_dir, 'standby.signal'))

    def observe(self):
        pg.require_driver()
        try:
            conn = self.connect()
        except pg.driver.Error as exc:
            return self._observe_down(pg.error_text(exc))
        try:
            return normalize_local(pg.read_server(conn, superuser=True))
        except pg.driver.Error as exc:
            return normalize_local(dict(role='unknown', error=pg.error_text(exc)))
        finally:
            conn.close()

    def _observe_down(self, error):
        if not self._exists():
            return normalize_local(dict(role='absent', error=error))
        if self.control.running():
            return normalize_local(dict(role='unknown', error=error))
        s = self.settings
        _rc, out, _err = self.executor.run([s.program('pg_controldata'), '-D', s.data_dir], as_owner=True, timeout=30)
        control = parse_controldata(out)
        timelines = []
        for key in ("Latest checkpoint's TimeLineID", "Min recovery ending loc's timeline"):
            try:
                timelines.append(int(control.get(key, '0')))
            except ValueError:
                pass
        state = dict(role='stopped', stopped_as='standby' if self._signal() else 'primary',
                     timeline=max(timelines) or None, lsn=control.get('Latest checkpoint location'),
                     system_identifier=control.get('Database system identifier'),
                     error='not running (cluster state: %s)' % control.get('Database cluster state', 'unknown'))
        auto = self._read_auto_conf()
        state['synchronous_standby_names'] = read_auto_conf(auto, 'synchronous_standby_names') or ''
        conninfo = parse_conninfo(read_auto_conf(auto, 'primary_conninfo') or '')
        if conninfo:
            state['upstream'] = dict(host=conninfo.get('host'), port=int(conninfo.get('port') or 5432),
                                     user=conninfo.get('user'), application_name=conninfo.get('application_name'),
                                     sslmode=conninfo.get('sslmode'), sslrootcert=conninfo.get('sslrootcert'),
                                     status=None)
        return normalize_local(state)

    def read_history(self):
        """The datastore history file on this node, as stored: [] when there is none yet; a damaged file is an
        error, not [] (datastore_history checks the events)."""
        path = self.settings.history_file
        if not path or not os.path.exists(path):
            return []
        try:
            with open(path) as stream:
                return json.load(stream)
        except ValueError as exc:
            raise DatastoreError('the datastore history %s is not valid JSON (%s): restore it from the controller\'s '
                                 'copy or the other control-plane node\'s' % (path, exc))

    def write_history(self, history):
        """On disk before the module returns: the controller may be the next thing lost."""
        path = self.settings.history_file
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), 0o755)
        self.executor.write_file(path, json.dumps(history, indent=1, sort_keys=True), mode=0o644)

    def _auto_conf_path(self):
        return os.path.join(self.settings.data_dir, 'postgresql.auto.conf')

    def _read_auto_conf(self):
        try:
            with open(self._auto_conf_path()) as stream:
                return stream.read()
        except (IOError, OSError):
            return ''

    def wait(self, what, ready, timeout=None):
        return wait_for(what, self.observe, ready, timeout or self.settings.timeout, show=short_state)

    # -- acting --------------------------------------------------------------------------------
    def set_synchronous(self, on, standby=None):
        value = standby_names_value(standby) if on else ''
        conn = self.connect()
        try:
            pg.query(conn, 'ALTER SYSTEM SET synchronous_standby_names = %s' % sql_literal(value))
            pg.query(conn, 'SELECT pg_reload_conf()')
        finally:
            conn.close()
        if on:
            return self.wait('standby %s to be synchronous' % standby, READY['synchronous_with'](standby))[0]
        return self.wait('synchronous_standby_names to be empty', READY['standby_names'](''))[0]

    def promote(self):
        timeout = self.settings.timeout
        conn = self.connect(statement_timeout_ms=(timeout + 10) * 1000)
        try:
            started = time.monotonic()
            done = pg.query(conn, 'SELECT pg_promote(true, %d)' % int(timeout))[0]
            if done:
                # Promotion leaves the end-of-recovery checkpoint to the checkpointer; until it runs, the
                # control file still names the old timeline and pg_rewind against this node would find
                # "no rewind required" for a diverged old primary.
                pg.query(conn, 'CHECKPOINT')
        finally:
            conn.close()
        if not done:
            seen = short_state(self.observe())
            raise DatastoreError('timed out after %ds waiting for the promotion to finish; last seen: %s'
                                 % (timeout, seen), partial_state=seen)
        return round(time.monotonic() - started, 2)

    def stop(self):
        self.control.stop(self.settings.timeout)
        return wait_for('PostgreSQL to stop', self.control.running, lambda running: not running,
                        self.settings.timeout)[0]

    def start(self):
        self.control.start(self.settings.timeout)
        return self.wait('PostgreSQL to accept connections', READY['accepting_connections'])[0]

    def _passfile_env(self):
        s = self.settings
        if s.replication_password is not None:
            text = pgpass_line(s.peer_address, s.peer_port, s.replication_user, s.replication_password)
            current = None
            if os.path.exists(s.passfile):
                with open(s.passfile) as stream:
                    current = stream.read()
            if current != text:
                self.executor.write_file(s.passfile, text, 0o600)
        return dict(PGPASSFILE=s.passfile) if os.path.exists(s.passfile) else {}

    def _source_conninfo(self, dbname=None):
        s = self.settings
        return replication_conninfo(s.peer_address, s.peer_port, s.replication_user, s.ssl_mode, s.ca_cert,
                                    dbname=dbname, connect_timeout=s.connect_timeout)

    def rewind_from(self):
        s = self.settings
        argv = [s.program('pg_rewind'), '--target-pgdata=%s' % s.data_dir,
                '--source-server=%s' % self._source_conninfo('postgres')]
        if s.config_file:
            argv.append('--config-file=%s' % s.config_file)
        _rc, out, err = self.executor.run(argv, as_owner=True, env=self._passfile_env(), timeout=s.timeout)
        return pg.tail(err or out, 2)

    def clone_from(self):
        s = self.settings
        aside = s.data_dir.rstrip('/') + '.replaced'
        if os.path.lexists(aside):
            shutil.rmtree(aside)
        moved = False
        if os.path.exists(s.data_dir):
            os.rename(s.data_dir, aside)
            moved = True
        try:
            self.executor.run([s.program('pg_basebackup'), '--pgdata=%s' % s.data_dir,
                               '--dbname=%s' % self._source_conninfo(), '--wal-method=stream',
                               '--checkpoint=fast', '--no-password'],
                              as_owner=True, env=self._passfile_env(), timeout=s.timeout)
        except DatastoreError:
            if moved:
                if os.path.exists(s.data_dir):
                    shutil.rmtree(s.data_dir)
                os.rename(aside, s.data_dir)
            raise
        return aside if moved else None

    def write_standby_config(self, node_name):
        s = self.settings
        env = self._passfile_env()
        conninfo = replication_conninfo(s.peer_address, s.peer_port, s.replication_user, s.ssl_mode, s.ca_cert,
                                        passfile=env.get('PGPASSFILE'), application_name=node_name,
                                        connect_timeout=s.connect_timeout)
        text = set_auto_conf(self._read_auto_conf(), dict(primary_conninfo=conninfo, primary_slot_name=None))
        self.executor.write_file(self._auto_conf_path(), text, 0o600)
        self.executor.write_file(os.path.join(s.data_dir, 'standby.signal'), '', 0o600)

    def reload(self):
        """Reload the configuration (a standby's WAL receiver reconnects with a changed primary_conninfo)."""
        conn = self.connect()
        try:
            pg.query(conn, 'SELECT pg_reload_conf()')
        finally:
            conn.close()
        return 0.0

    def wait_streaming(self):
        s = self.settings
        return self.wait('streaming from %s with sslmode %s' % (endpoint(s.peer_address, s.peer_port), s.ssl_mode),
                         READY['streaming_from'](s.peer_address, s.peer_port, s.ssl_mode))[0]


def probe_peer(settings, fenced=False):
    """The peer as the replication role sees it over TCP; bounded by the connect timeout."""
    s = settings
    peer = dict(address=s.peer_address, port=s.peer_port, fenced=bool(fenced))
    if not s.peer_address:
        return normalize_peer(peer)
    pg.require_driver()
    outcome = {}

    def probe():
        try:
            kwargs = dict(host=s.peer_address, port=s.peer_port, user=s.replication_user, dbname='postgres',
                          connect_timeout=s.connect_timeout, application_name='twinroom-datastore-probe',
                          sslmode=s.ssl_mode)
            if s.ca_cert and s.ssl_mode != 'disable':
                kwargs['sslrootcert'] = s.ca_cert
            if s.replication_password is not None:
                kwargs['password'] = s.replication_password
            elif os.path.exists(s.passfile):
                kwargs['passfile'] = s.passfile
            conn = pg.connect(s.connect_timeout * 1000, **kwargs)
        except pg.driver.Error as exc:
            # An error the server sent (bad password, starting up) means the server is there; so does a failed
            # TLS handshake or certificate check (something listens there, and it may be a primary).
            text = pg.error_text(exc)
            tls = pg.is_tls_failure(text)
            outcome.update(answers=pg.sqlstate(exc) is not None or tls,
                           role='unknown' if (pg.sqlstate(exc) or tls) else None, error=text, tls_error=tls)
            return
        outcome['answers'] = True
        try:
            outcome.update(pg.read_server(conn, superuser=False))
        except pg.driver.Error as exc:
            outcome.update(role='unknown', error=pg.error_text(exc))
        finally:
            conn.close()

    worker = threading.Thread(target=probe, name='twinroom-peer-probe')
    worker.daemon = True
    worker.start()
    worker.join(s.connect_timeout * 2 + 5)
    if worker.is_alive():
        # Connected, then no answer in time: the host is up, so it counts as answering.
        outcome = dict(answers=True, role='unknown', error='no answer within %ds' % (s.connect_timeout * 2 + 5))
    peer.update(outcome)
    return normalize_peer(peer)
