# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How twinroom reaches PostgreSQL: the DB-API driver (psycopg2 on the nodes, psycopg 3 on the controller),
connections and queries, what a running server says about itself, libpq's errors, the server's programs
(run with a timeout, as the cluster's OS user) and starting and stopping it (systemd unit or pg_ctl).

Layer 1 (access): no datastore decisions; the node-level access built on it is postgres.py.
See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import re
import subprocess
import tempfile

from ansible_collections.twinroom.ha.plugins.module_utils.datastore_formats import DatastoreError, parse_conninfo

try:  # the driver Debian ships on the nodes (python3-psycopg2)
    import psycopg2 as driver
except ImportError:  # pragma: no cover - depends on the host
    try:  # psycopg 3: the controller venv's driver; same DB-API calls are used
        import psycopg as driver
    except ImportError:
        driver = None

DRIVER_NAME = getattr(driver, '__name__', None)


# ---------------------------------------------------------------------------------------------
# Connections and queries
# ---------------------------------------------------------------------------------------------

def require_driver():
    if driver is None:
        raise DatastoreError('neither psycopg2 nor psycopg is importable by %s; install python3-psycopg2 on the node'
                             % (os.environ.get('_', 'this Python'),))


def sqlstate(exc):
    return getattr(exc, 'pgcode', None) or getattr(exc, 'sqlstate', None)


def error_text(exc):
    text = str(exc).strip().splitlines()
    if not text:
        return exc.__class__.__name__
    # psycopg 3 puts "connection failed: " before libpq's message; psycopg2 (on the nodes) does not.
    first = text[0]
    return first[len('connection failed: '):] if first.startswith('connection failed: ') else first


def connect(timeout_ms, **kwargs):
    require_driver()
    kwargs['options'] = '-c statement_timeout=%d' % timeout_ms
    kwargs['client_encoding'] = 'UTF8'
    conn = driver.connect(**kwargs)
    conn.autocommit = True
    return conn


def query(conn, sql, one=True):
    cur = conn.cursor()
    try:
        cur.execute(sql)
        if cur.description is None:
            return None
        if one:
            return _decoded(cur.fetchone())
        return [_decoded(row) for row in cur.fetchall()]
    finally:
        cur.close()


def _decoded(row):
    # psycopg 3 hands out bytes for text from a SQL_ASCII database.
    if row is None:
        return None
    return tuple(value.decode('utf-8', 'replace') if isinstance(value, bytes) else value for value in row)


def _try_query(conn, sql, one=True):
    """A query the connected role may lack the privilege for: None instead of an error."""
    try:
        return query(conn, sql, one)
    except driver.Error:
        return None


def _timeline_of_walfile(name):
    try:
        return int(name[:8], 16)
    except (TypeError, ValueError):
        return None


def read_server(conn, superuser):
    """Role, timeline, LSNs and replication of a running server (local or peer)."""
    recovery, names = query(conn, "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')")
    state = dict(role='standby' if recovery else 'primary', synchronous_standby_names=names or '',
                 standbys=[], upstream=None, error=None)
    row = _try_query(conn, 'SELECT timeline_id, (SELECT system_identifier::text FROM pg_control_system()) '
                           'FROM pg_control_checkpoint()')
    checkpoint_tli = row[0] if row else None
    state['system_identifier'] = row[1] if row else None
    if not recovery:
        lsn, walfile = query(conn, 'SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn())')
        state['lsn'] = lsn
        state['timeline'] = _timeline_of_walfile(walfile) or checkpoint_tli
        rows = _try_query(conn, (
            'SELECT application_name, client_addr::text, state, sync_state, sent_lsn::text, replay_lsn::text, '
            'pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, '
            'EXTRACT(epoch FROM replay_lag)::float8 FROM pg_stat_replication ORDER BY application_name'), one=False)
        for name, addr, rstate, sync_state, sent, replay, lag_bytes, lag_seconds in rows or ():
            if lag_seconds is None and lag_bytes == 0:
                lag_seconds = 0.0
            state['standbys'].append(dict(
                application_name=name, client_addr=addr, state=rstate, sync_state=sync_state, sent_lsn=sent,
                replay_lsn=replay, lag_bytes=lag_bytes, lag_seconds=lag_seconds))
        return state

    receive, replay, lag_bytes, lag_seconds = query(conn, (
        'SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, '
        'GREATEST(COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::bigint, '
        'CASE WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 '
        'ELSE EXTRACT(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8'))
    state['lsn'] = replay
    receiver = _try_query(conn, 'SELECT status, received_tli, sender_host, sender_port, conninfo '
                                'FROM pg_stat_wal_receiver')
    upstream = dict(status=receiver[0] if receiver else None, received_lsn=receive,
                    lag_bytes=lag_bytes, lag_seconds=lag_seconds)
    if receiver and receiver[2]:
        upstream.update(host=receiver[2], port=receiver[3])
    if receiver and receiver[4]:  # NULL unless superuser (or pg_read_all_stats)
        upstream['receiver_sslmode'] = parse_conninfo(receiver[4]).get('sslmode')
    if superuser:
        conninfo = parse_conninfo(query(conn, "SELECT current_setting('primary_conninfo')")[0])
        upstream.update(host=conninfo.get('host', upstream.get('host')),
                        port=int(conninfo.get('port') or 5432),
                        user=conninfo.get('user'), application_name=conninfo.get('application_name'),
                        sslmode=conninfo.get('sslmode'), sslrootcert=conninfo.get('sslrootcert'))
    state['upstream'] = upstream
    timelines = [tli for tli in (checkpoint_tli, receiver[1] if receiver else None) if tli]
    state['timeline'] = max(timelines) if timelines else None
    return state


# libpq's own words for a connection that failed in TLS (the server answered, the handshake or the check did not).
_TLS_FAILURES = re.compile(r'SSL error|SSL SYSCALL error|server certificate for .* does not match host name|'
                           r'server does not support SSL|certificate verify failed')


def is_tls_failure(text):
    """A libpq connection error that comes from TLS (certificate check, no TLS on the server)."""
    return bool(text) and bool(_TLS_FAILURES.search(text))


# ---------------------------------------------------------------------------------------------
# Programs and server control
# ---------------------------------------------------------------------------------------------

class Executor(object):
    """Runs programs with a timeout, as the cluster's OS user when asked (runuser from root)."""

    def __init__(self, os_user):
        self.os_user = os_user

    def _as_owner(self, argv):
        if pwd.getpwuid(os.geteuid()).pw_name == self.os_user:
            return list(argv)
        if os.geteuid() != 0:
            raise DatastoreError('cannot run %s as %s: this process is neither root nor %s'
                                 % (os.path.basename(argv[0]), self.os_user, self.os_user))
        return ['runuser', '-u', self.os_user, '--'] + list(argv)

    def run(self, argv, as_owner=False, env=None, timeout=60, check=True):
        command = self._as_owner(argv) if as_owner else list(argv)
        environ = dict(PATH=os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin'), LC_ALL='C', LANG='C')
        environ.update(env or {})
        try:
            proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=environ, cwd='/', timeout=timeout,
                                  universal_newlines=True, check=False)
        except subprocess.TimeoutExpired:
            raise DatastoreError('timed out after %ds running %s' % (timeout, ' '.join(argv[:2])))
        except OSError as exc:
            raise DatastoreError('cannot run %s: %s' % (argv[0], exc))
        if check and proc.returncode != 0:
            raise DatastoreError('%s failed (exit %d): %s' % (
                os.path.basename(argv[0]), proc.returncode, tail(proc.stderr or proc.stdout)),
                rc=proc.returncode)
        return proc.returncode, proc.stdout, proc.stderr

    def chown(self, path):
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def write_file(self, path, text, mode=0o600):
        """Write ``path`` atomically, owned by the cluster's OS user."""
        directory = os.path.dirname(path) or '.'
        handle, temp = tempfile.mkstemp(dir=directory, prefix='.twinroom-')
        try:
            with os.fdopen(handle, 'w') as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temp, mode)
            self.chown(temp)
            os.rename(temp, path)
        except Exception:
            if os.path.exists(temp):
                os.unlink(temp)
            raise


def tail(text, lines=5):
    return ' | '.join(line.strip() for line in (text or '').strip().splitlines()[-lines:]) or 'no output'


class SystemdControl(object):
    """Start and stop the cluster through its systemd unit (Debian: postgresql@15-kine)."""

    def __init__(self, settings, executor):
        self.settings = settings
        self.executor = executor

    def running(self):
        rc, out, _err = self.executor.run(['systemctl', 'is-active', self.settings.unit], check=False, timeout=15)
        return out.strip() in ('active', 'activating', 'reloading', 'deactivating')

    def start(self, timeout):
        rc, out, err = self.executor.run(['systemctl', 'start', self.settings.unit], check=False, timeout=timeout)
        if rc != 0:
            raise DatastoreError('systemctl start %s failed: %s; see journalctl -u %s'
                                 % (self.settings.unit, tail(err or out), self.settings.unit))

    def stop(self, timeout):
        rc, out, err = self.executor.run(['systemctl', 'stop', self.settings.unit], check=False, timeout=timeout)
        if rc != 0:
            raise DatastoreError('systemctl stop %s failed: %s' % (self.settings.unit, tail(err or out)))


class PgCtlControl(object):
    """Start and stop with pg_ctl on a data directory (no systemd: tests, or hosts without units)."""

    def __init__(self, settings, executor):
        self.settings = settings
        self.executor = executor

    def running(self):
        rc, _out, _err = self.executor.run([self.settings.program('pg_ctl'), 'status', '-D', self.settings.data_dir],
                                           as_owner=True, check=False, timeout=15)
        return rc == 0

    def start(self, timeout):
        s = self.settings
        options = '-c port=%d -c unix_socket_directories=%s' % (s.port, _shell_quote(s.socket_dir))
        if s.config_file:
            options += ' -c config_file=%s' % _shell_quote(s.config_file)
        rc, out, err = self.executor.run(
            [s.program('pg_ctl'), 'start', '-D', s.data_dir, '-l', s.pg_ctl_log, '-w', '-t', str(int(timeout)),
             '-o', options], as_owner=True, check=False, timeout=timeout + 10)
        if rc != 0:
            log = ''
            try:
                with open(s.pg_ctl_log) as stream:
                    log = stream.read()[-2000:]
            except (IOError, OSError):
                pass
            raise DatastoreError('pg_ctl start failed for %s: %s; log: %s'
                                 % (s.data_dir, tail(err or out), tail(log)))

    def stop(self, timeout):
        s = self.settings
        rc, out, err = self.executor.run(
            [s.program('pg_ctl'), 'stop', '-D', s.data_dir, '-m', 'fast', '-w', '-t', str(int(timeout))],
            as_owner=True, check=False, timeout=timeout + 10)
        if rc != 0 and self.running():
            raise DatastoreError('pg_ctl stop failed for %s: %s' % (s.data_dir, tail(err or out)))


def _shell_quote(value):
    # pg_ctl hands -o to a shell.
    return "'%s'" % str(value).replace("'", "'\"'\"'")


CONTROLS = dict(systemd=SystemdControl, pg_ctl=PgCtlControl)
