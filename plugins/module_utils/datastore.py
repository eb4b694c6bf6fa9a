# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kine datastore: a PostgreSQL primary in one room, a synchronous standby in the other.

Two layers:

* **Pure decisions** (:func:`decide` and helpers): observed state of this node and of its peer plus
  the request give an ordered plan of :class:`Step` objects, or raise :class:`DatastoreError` with
  text that tells the operator what to do. No I/O; unit-tested with YAML fixtures.
* **I/O** (:class:`LocalNode`, :func:`probe_peer`, :func:`run_datastore`, :func:`run_datastore_info`):
  read state over the unix socket (local, as ``postgres``) and over TCP (peer, as the replication
  role), and apply a plan. Paths, ports and how the server is started and stopped (systemd unit or
  ``pg_ctl``) come from the settings, so the same code runs on a node and in a test on loopback.

Safety rules, in words (see docs of the ``datastore`` module):
promotion only after the other side is fenced and does not answer; synchronous replication is turned
off only when the standby is fenced, and on only when the standby streams; a node rejoins only a
primary that answers and is not behind it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from ansible_collections.twinroom.ha.plugins.module_utils import datastore_history
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import TwinroomError

try:  # the driver Debian ships on the nodes (python3-psycopg2)
    import psycopg2 as _driver
except ImportError:  # pragma: no cover - depends on the host
    try:  # psycopg 3: the controller venv's driver; same DB-API calls are used
        import psycopg as _driver
    except ImportError:
        _driver = None

DRIVER_NAME = getattr(_driver, '__name__', None)

# ---------------------------------------------------------------------------------------------
# Shared argument spec (documented by the doc fragment twinroom.ha.datastore)
# ---------------------------------------------------------------------------------------------

_COMMON_SPEC = dict(
    cluster_version=dict(type='str', default='15'),
    cluster_name=dict(type='str', default='kine'),
    data_dir=dict(type='path'),
    config_file=dict(type='path'),
    bin_dir=dict(type='path'),
    port=dict(type='int', default=5432),
    socket_dir=dict(type='path', default='/var/run/postgresql'),
    os_user=dict(type='str', default='postgres'),
    control=dict(type='str', default='systemd', choices=['systemd', 'pg_ctl']),
    replication_user=dict(type='str', default='replicator'),
    replication_password=dict(type='str', no_log=True),
    passfile=dict(type='path', no_log=False),
    peer_port=dict(type='int'),
    connect_timeout=dict(type='int', default=5),
    history_file=dict(type='path'),
    ssl_mode=dict(type='str', default='prefer',
                  choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
    ca_cert=dict(type='path'),
)

# libpq's default: what a conninfo without sslmode means.
DEFAULT_SSL_MODE = 'prefer'
VERIFYING_SSL_MODES = ('verify-ca', 'verify-full')


def datastore_argument_spec(**extra):
    """The shared options (deep-copied, so callers may change them) plus the module's own."""
    spec = copy.deepcopy(_COMMON_SPEC)
    spec.update(copy.deepcopy(extra))
    return spec


# ---------------------------------------------------------------------------------------------
# Errors and plan steps
# ---------------------------------------------------------------------------------------------

class DatastoreError(TwinroomError):
    """A refusal or failure of the datastore modules."""


# Steps that only wait change nothing themselves.
_WAIT_ACTIONS = frozenset(['wait_streaming'])
ACTIONS = frozenset(['promote', 'set_synchronous', 'stop', 'start', 'rewind_from', 'clone_from',
                     'write_standby_config', 'reload', 'wait_streaming'])


class Step(object):
    """One action of a plan: ``action``, its visible argument, and extra keyword data."""

    def __init__(self, action, arg=None, **extra):
        if action not in ACTIONS:
            raise ValueError('unknown action %r' % (action,))
        self.action = action
        self.arg = arg
        self.extra = extra

    @property
    def changes(self):
        return self.action not in _WAIT_ACTIONS

    def __str__(self):
        if self.arg is None:
            return self.action
        return '%s(%s)' % (self.action, self.arg)

    def __repr__(self):
        return 'Step(%s)' % (self,)

    def __eq__(self, other):
        return isinstance(other, Step) and (self.action, self.arg, self.extra) == (other.action, other.arg, other.extra)

    def __ne__(self, other):
        return not self == other

    __hash__ = None


# ---------------------------------------------------------------------------------------------
# Pure decisions
# ---------------------------------------------------------------------------------------------

ROLES = ('primary', 'standby', 'stopped', 'absent', 'unknown')

_LOCAL_DEFAULTS = dict(
    role='unknown',          # primary | standby | stopped | absent | unknown (running, not answering)
    stopped_as=None,         # for a stopped cluster: primary | standby (standby.signal present)
    timeline=None,
    lsn=None,
    system_identifier=None,
    synchronous_standby_names='',
    standbys=(),             # pg_stat_replication rows: application_name, state, sync_state, lag...
    upstream=None,           # standby: host, port, user, application_name, sslmode, sslrootcert (primary_conninfo),
                             # status, receiver_sslmode (what the running WAL receiver connected with)
    error=None,
)

_PEER_DEFAULTS = dict(
    address=None,
    port=5432,
    answers=False,           # PostgreSQL itself answered (an auth error counts: the server is up)
    role=None,               # primary | standby | unknown, when it answers
    timeline=None,
    lsn=None,
    system_identifier=None,
    synchronous_standby_names=None,
    fenced=False,            # recorded fenced (powered off through its BMC) by the caller
    error=None,
    tls_error=False,         # something answered, but the TLS connection to it failed (certificate, no TLS)
)


def _with_defaults(defaults, observed):
    state = copy.deepcopy(defaults)
    state.update(copy.deepcopy(observed or {}))
    return state


def normalize_local(observed):
    state = _with_defaults(_LOCAL_DEFAULTS, observed)
    state['standbys'] = list(state['standbys'] or ())
    if state['role'] not in ROLES:
        raise ValueError('unknown role %r' % (state['role'],))
    state['synchronous_standby_names'] = state['synchronous_standby_names'] or ''
    return state


def normalize_peer(observed):
    return _with_defaults(_PEER_DEFAULTS, observed)


def endpoint(address, port):
    """'10.77.0.110:5432', '[fd00::1]:5432'."""
    if address and ':' in address and not address.startswith('['):
        return '[%s]:%s' % (address, port)
    return '%s:%s' % (address, port)


def parse_standby_names(value):
    """Names in a synchronous_standby_names value ('"b-cp1"', 'FIRST 1 (a, "b")', 'ANY 1 (*)')."""
    text = (value or '').strip()
    if not text:
        return []
    match = re.match(r'^(?:(?:FIRST|ANY)\s+)?\d+\s*\((.*)\)\s*$', text, re.IGNORECASE)
    if match:
        text = match.group(1)
    names = []
    for item in re.findall(r'"((?:[^"]|"")*)"|([^,\s]+)', text):
        quoted, bare = item
        names.append(quoted.replace('""', '"') if quoted else bare)
    return names


def standby_names_value(name):
    """synchronous_standby_names naming one standby; quoted, since host names may hold '-'."""
    return '"%s"' % name.replace('"', '""')


def _node_label(request):
    return request.get('node_name') or 'this node'


def _was(local):
    """What a node is or was before it stopped: primary, standby, or None (absent/unknown)."""
    if local['role'] in ('primary', 'standby'):
        return local['role']
    if local['role'] == 'stopped':
        return local['stopped_as'] or 'primary'
    return None


def _refuse_unusable_local(local, request, purpose):
    node = _node_label(request)
    if local['role'] == 'absent':
        raise DatastoreError(
            'no PostgreSQL cluster at %s on %s, so it cannot %s. Create it first '
            '(role twinroom.ha.kine_datastore).' % (request.get('data_dir') or 'the data directory', node, purpose))
    if local['role'] == 'unknown':
        raise DatastoreError(
            'PostgreSQL on %s is running but does not answer (%s), so it cannot %s. Check the server log '
            'and run again once it accepts connections.'
            % (node, local['error'] or 'no error text', purpose))


def _plan_primary(local, peer, request):
    node = _node_label(request)
    was = _was(local)
    where = endpoint(peer['address'], peer['port'])
    if local['role'] == 'primary':
        if not (peer['fenced'] and local['synchronous_standby_names']):
            return []
        # The room of the synchronous standby was lost: this node stays primary, but every commit
        # waits for a standby that is gone - unless fencing did not take and the standby still runs.
        if peer['answers']:
            raise DatastoreError(
                'refusing to switch synchronous replication off on %s: peer_fenced is true but the peer at %s '
                'still answers as %s, so fencing did not take. Check the peer\'s power state through its BMC and '
                'fence it again before running this.' % (node, where, peer['role'] or 'unknown'))
        local['synchronous_standby_names'] = ''
        return [Step('set_synchronous', 'off')]
    _refuse_unusable_local(local, request, 'become primary')
    if peer['answers']:
        if peer['fenced']:
            raise DatastoreError(
                'refusing to promote %s: peer_fenced is true but the peer at %s still answers as %s, '
                'so fencing did not take. Check the peer\'s power state through its BMC and fence it '
                'again before running this.' % (node, where, peer['role'] or 'unknown'))
        # A stopped primary may start again while its standby answers as a standby (a restart).
        if not (was == 'primary' and peer['role'] == 'standby'):
            raise DatastoreError(
                'refusing to promote %s: the peer at %s still answers as %s. Fence it first (power it '
                'off through its BMC), then run again with peer_fenced: true.' % (node, where, peer['role'] or 'unknown'))
    elif not peer['fenced']:
        raise DatastoreError(
            'refusing to promote %s: the peer at %s does not answer and peer_fenced is not true, and '
            'this node cannot tell a dead primary from a cut link. Fence the peer (power it off through '
            'its BMC), then run again with peer_fenced: true.' % (node, where))

    steps = []
    if local['role'] == 'stopped':
        steps.append(Step('start'))
    if local['synchronous_standby_names'] and peer['fenced']:
        # The standby is gone for good: waiting for its acknowledgement would block every write.
        steps.append(Step('set_synchronous', 'off'))
        local['synchronous_standby_names'] = ''
    if was == 'standby':
        steps.append(Step('promote'))
        if local['timeline'] is not None:
            local['timeline'] += 1
    local.update(role='primary', stopped_as=None, upstream=None, standbys=[])
    return steps


def _follows(local, peer, request):
    upstream = local['upstream'] or {}
    return (local['role'] == 'standby'
            and upstream.get('host') == peer['address']
            and str(upstream.get('port') or 5432) == str(peer['port'])
            and upstream.get('application_name') == request.get('node_name')
            and (upstream.get('user') or request.get('replication_user')) == request.get('replication_user'))


def _wanted_tls(request):
    """(sslmode, sslrootcert) that primary_conninfo should hold for ``request``."""
    mode = request.get('ssl_mode') or DEFAULT_SSL_MODE
    return mode, (request.get('ca_cert') if mode != 'disable' else None)


def _tls_matches(upstream, request):
    upstream = upstream or {}
    return (upstream.get('sslmode') or DEFAULT_SSL_MODE, upstream.get('sslrootcert')) == _wanted_tls(request)


def _plan_standby(local, peer, request):
    node = _node_label(request)
    where = endpoint(peer['address'], peer['port'])
    if not peer['answers']:
        raise DatastoreError(
            'cannot rejoin %s as standby of %s: the primary at %s does not answer. Check that it is up '
            'and reachable from %s, then run again.' % (node, where, where, node))
    if peer['tls_error']:
        mode, ca_cert = _wanted_tls(request)
        raise DatastoreError(
            'cannot rejoin %s as standby of %s: the TLS connection to it failed (%s). With ssl_mode %s the peer '
            'must serve TLS with a certificate signed by the CA in %s that names %s; check the peer\'s '
            'ssl_cert_file and the ca_cert given here, then run again.'
            % (node, where, peer['error'] or 'no error text', mode, ca_cert or 'ca_cert', peer['address']))
    if peer['role'] != 'primary':
        raise DatastoreError(
            'cannot rejoin %s as standby of %s: it answers as %s, not as primary. Set primary_address '
            'to the current primary.' % (node, where, peer['role'] or 'unknown'))
    if local['role'] == 'unknown':
        _refuse_unusable_local(local, request, 'rejoin as standby')

    if _follows(local, peer, request):
        status = (local['upstream'] or {}).get('status')
        on_timeline = local['timeline'] is not None and local['timeline'] == peer['timeline']
        if _tls_matches(local['upstream'], request):
            if status == 'streaming':
                return []
            if on_timeline:
                # Configured right and on the primary's timeline: the WAL receiver is (re)connecting.
                return [Step('wait_streaming', where)]
        elif status == 'streaming' or on_timeline:
            # Only how it connects differs (TLS mode or CA): primary_conninfo is reloaded without a restart
            # (PostgreSQL 13+) and the WAL receiver reconnects with it.
            mode, ca_cert = _wanted_tls(request)
            local['upstream'] = dict(local['upstream'], sslmode=mode, sslrootcert=ca_cert, status='streaming')
            return [Step('write_standby_config', where), Step('reload'), Step('wait_streaming', where)]

    was = _was(local)
    method = None
    reason = None
    if local['role'] == 'absent':
        method, reason = 'clone', 'it has no cluster at %s' % (request.get('data_dir') or 'its data directory')
    elif (local['system_identifier'] and peer['system_identifier']
          and str(local['system_identifier']) != str(peer['system_identifier'])):
        method, reason = 'clone', 'its cluster (system %s) is not a copy of the primary\'s (system %s)' % (
            local['system_identifier'], peer['system_identifier'])
    else:
        mine, theirs = local['timeline'], peer['timeline']
        if mine is not None and theirs is not None and (mine > theirs or (was == 'primary' and mine == theirs)):
            raise DatastoreError(
                'refusing to rejoin %s as standby of %s: %s was %s on timeline %s, not behind the primary '
                '(timeline %s), so rejoining could discard writes that only %s has. Find out which node holds '
                'the newest data; to discard %s\'s data, remove %s and run again to clone it.'
                % (node, where, node, was, mine, theirs, node, node,
                   request.get('data_dir') or 'its data directory'))
        if mine is None or theirs is None or mine < theirs:
            method = 'rewind'  # pg_rewind itself says "no rewind required" when nothing diverged

    if method == 'clone' and not request.get('allow_clone', True):
        raise DatastoreError(
            'cannot rejoin %s as standby of %s without a fresh clone: %s. Run again with allow_clone: true '
            'to replace its data directory by a copy of the primary.' % (node, where, reason))

    steps = []
    if local['role'] in ('primary', 'standby'):
        steps.append(Step('stop'))
    if method == 'rewind':
        steps.append(Step('rewind_from', where))
    elif method == 'clone':
        steps.append(Step('clone_from', where, reason=reason))
    steps += [Step('write_standby_config', where), Step('start'), Step('wait_streaming', where)]
    if method in ('rewind', 'clone') and peer['synchronous_standby_names'] is not None:
        local['synchronous_standby_names'] = peer['synchronous_standby_names']  # copied with the files
    local.update(
        role='standby', stopped_as=None, timeline=peer['timeline'], standbys=[],
        upstream=dict(host=peer['address'], port=peer['port'], user=request.get('replication_user'),
                      application_name=request.get('node_name'), status='streaming',
                      sslmode=_wanted_tls(request)[0], sslrootcert=_wanted_tls(request)[1]))
    return steps


def _plan_synchronous(local, peer, request):
    node = _node_label(request)
    if local['role'] != 'primary':
        _refuse_unusable_local(local, request, 'change synchronous replication')
        raise DatastoreError(
            'synchronous is a setting of the primary, but %s is %s. Run it on the primary (or together '
            'with state: primary).' % (node, local['role']))
    names = parse_standby_names(local['synchronous_standby_names'])
    if not request['synchronous']:
        if not names:
            return []
        if not peer['fenced']:
            raise DatastoreError(
                'refusing to turn synchronous replication off on %s: this requires peer_fenced: true. While '
                'the standby may still come back, writes acknowledged only by %s could be lost on failover. '
                'Fence the standby (power it off through its BMC), then run again with peer_fenced: true.'
                % (node, node))
        local['synchronous_standby_names'] = ''
        return [Step('set_synchronous', 'off')]

    wanted = request.get('peer_name')
    if names and (wanted is None or wanted in names or '*' in names):
        return []
    streaming = [row for row in local['standbys'] if row.get('state') == 'streaming']
    if wanted:
        streaming = [row for row in streaming if row.get('application_name') == wanted]
    if not streaming:
        raise DatastoreError(
            'refusing to turn synchronous replication on on %s: %s, so every write would block until one '
            'does. Rejoin the standby first (state: standby on it), then run again.'
            % (node, ('standby %s is not streaming from it' % wanted) if wanted else 'no standby is streaming from it'))
    if len(streaming) > 1:
        raise DatastoreError(
            'cannot tell which standby to make synchronous on %s: %s stream from it. Set peer_name.'
            % (node, ', '.join(sorted(row.get('application_name') or '?' for row in streaming))))
    name = streaming[0].get('application_name')
    local['synchronous_standby_names'] = standby_names_value(name)
    return [Step('set_synchronous', 'on', standby=name)]


def decide(local, peer, request):
    """Plan for ``request`` given observed ``local`` and ``peer`` state.

    ``request``: state (primary | standby | None), synchronous (True | False | None), node_name,
    peer_name, replication_user, allow_clone, data_dir. ``peer['fenced']`` is the caller's record.
    Returns ``(steps, predicted)``: the ordered :class:`Step` list (empty: nothing to do) and the
    local state expected afterwards. Raises :class:`DatastoreError` when the request is unsafe.
    """
    local = normalize_local(local)
    peer = normalize_peer(peer)
    steps = []
    if request.get('state') == 'primary':
        steps += _plan_primary(local, peer, request)
    elif request.get('state') == 'standby':
        if request.get('synchronous') is not None:
            raise DatastoreError(
                'synchronous cannot be combined with state: standby: it is a setting of the primary. '
                'Run it on the primary once %s streams.' % _node_label(request))
        steps += _plan_standby(local, peer, request)
    elif request.get('state') is not None:
        raise DatastoreError('unknown state %r: use primary or standby' % (request.get('state'),))
    if request.get('synchronous') is not None:
        steps += _plan_synchronous(local, peer, request)
    return steps, local


def diff_view(state):
    """What ``--diff`` shows of a node: its role, synchronous_standby_names, whom it follows and with which
    sslmode."""
    state = normalize_local(state)
    follows = sslmode = None
    if _was(state) == 'standby' or state['role'] == 'standby':
        upstream = state['upstream'] or {}
        follows = upstream.get('host')
        if upstream:
            sslmode = upstream.get('sslmode') or DEFAULT_SSL_MODE
    return dict(role=state['role'], synchronous_standby_names=state['synchronous_standby_names'],
                primary_conninfo_host=follows, primary_conninfo_sslmode=sslmode)


def replication_summary(local, peer_view=None):
    """Replication mode (sync | async | none | unknown), state and lag, from one node's view.

    ``peer_view``: for a standby, the primary's pg_stat_replication row naming it, when known.
    """
    local = normalize_local(local)
    names = parse_standby_names(local['synchronous_standby_names'])
    summary = dict(mode='none', state='none', lag_bytes=None, lag_seconds=None, standbys=local['standbys'],
                   upstream=local['upstream'])
    if local['role'] == 'primary':
        rows = local['standbys']
        sync_rows = [row for row in rows if row.get('sync_state') == 'sync']
        main = (sync_rows or rows or [None])[0]
        if names:
            summary['mode'] = 'sync'
        elif rows:
            summary['mode'] = 'async'
        if main:
            summary.update(state=main.get('state') or 'unknown', lag_bytes=main.get('lag_bytes'),
                           lag_seconds=main.get('lag_seconds'))
    elif local['role'] == 'standby':
        upstream = local['upstream'] or {}
        summary.update(state=upstream.get('status') or 'stopped', lag_bytes=upstream.get('lag_bytes'),
                       lag_seconds=upstream.get('lag_seconds'), mode='unknown')
        if peer_view:
            summary['mode'] = 'sync' if peer_view.get('sync_state') in ('sync', 'quorum') else 'async'
    else:
        summary['mode'] = None
        summary['state'] = None
    return summary


def mask_endpoint(value):
    """KINE_ENDPOINT with its password replaced by ***: postgres://user:***@host:5432/kine?..."""
    if not value:
        return value
    masked = re.sub(r'^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*):[^/?#]*@', r'\1:***@', value)
    if masked == value and '@' in value.split('?', 1)[0]:
        # userinfo with characters the simple form does not expect: mask everything after ':'.
        head, _sep, rest = value.partition('://')
        userinfo, _at, hostpart = rest.partition('@')
        masked = '%s://%s:***@%s' % (head, userinfo.split(':', 1)[0], hostpart) if ':' in userinfo else value
    masked = re.sub(r'([?&]password=)[^&]*', r'\1***', masked)
    return masked


def read_kine_env(text):
    """KINE_ENDPOINT from the kine.env text (KEY=value lines, values optionally quoted)."""
    for line in (text or '').splitlines():
        line = line.strip()
        if line.startswith('export '):
            line = line[len('export '):].strip()
        key, sep, value = line.partition('=')
        if sep and key.strip() == 'KINE_ENDPOINT':
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
                value = value[1:-1]
            return value
    return None


# ---------------------------------------------------------------------------------------------
# Small text formats: libpq conninfo, postgresql.auto.conf, pgpass
# ---------------------------------------------------------------------------------------------

def conninfo_quote(value):
    value = str(value)
    if value and re.match(r'^[A-Za-z0-9_.:/@+-]+$', value):
        return value
    return "'%s'" % value.replace('\\', '\\\\').replace("'", "\\'")


def build_conninfo(**params):
    return ' '.join('%s=%s' % (key, conninfo_quote(value)) for key, value in params.items() if value is not None)


def replication_conninfo(host, port, user, ssl_mode=None, ca_cert=None, dbname=None, passfile=None,
                         application_name=None, connect_timeout=None):
    """libpq conninfo to the peer as the replication role: primary_conninfo, pg_basebackup, pg_rewind.

    ``sslrootcert`` is written only with TLS on (any mode but disable) and a CA given.
    """
    mode = ssl_mode or DEFAULT_SSL_MODE
    return build_conninfo(host=host, port=port, user=user, dbname=dbname, passfile=passfile,
                          application_name=application_name, connect_timeout=connect_timeout, sslmode=mode,
                          sslrootcert=ca_cert if mode != 'disable' else None)


def tls_settings_problem(ssl_mode, ca_cert):
    """Why ``ssl_mode`` and ``ca_cert`` cannot work together, or None."""
    if (ssl_mode or DEFAULT_SSL_MODE) in VERIFYING_SSL_MODES and not ca_cert:
        return ('ssl_mode %s verifies the peer\'s server certificate, so it needs ca_cert: the CA certificate that '
                'signed it (the datastore CA of twinroom.ha.cluster_pki, datastore-ca.crt)' % ssl_mode)
    return None


# libpq's own words for a connection that failed in TLS (the server answered, the handshake or the check did not).
_TLS_FAILURES = re.compile(r'SSL error|SSL SYSCALL error|server certificate for .* does not match host name|'
                           r'server does not support SSL|certificate verify failed')


def is_tls_failure(error_text):
    """A libpq connection error that comes from TLS (certificate check, no TLS on the server)."""
    return bool(error_text) and bool(_TLS_FAILURES.search(error_text))


def parse_conninfo(text):
    """key=value conninfo into a dict (not URIs; this module writes the key=value form)."""
    result = {}
    pos, text = 0, text or ''
    pattern = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")
    while pos < len(text):
        match = pattern.match(text, pos)
        if not match:
            break
        key, value = match.group(1), match.group(2)
        if value.startswith("'"):
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        result[key] = value
        pos = match.end()
    return result


def _hba_address(address):
    """One host as a pg_hba address: 10.77.0.110/32, fd00::1/128."""
    return '%s/%d' % (address, 128 if ':' in address else 32)


def hba_rules(addresses, database, user, replication_user, loopback='127.0.0.1'):
    """pg_hba.conf of the kine cluster: TLS for every TCP connection, plaintext TCP refused by name.

    ``addresses``: every control-plane node's address (replication, kine and the module's probe come from
    them); kine on the primary's own node connects over ``loopback``. Local connections use peer
    authentication (root maps to postgres). ``hostnossl`` rules come first: the first matching line decides,
    so a plaintext TCP connection is rejected before any password is asked; ``all`` does not match
    replication connections, hence the separate replication lines.
    """
    rows = [('# TYPE', 'DATABASE', 'USER', 'ADDRESS', 'METHOD'),
            ('local', 'all', 'postgres', '', 'peer map=admin'),
            ('local', 'all', 'all', '', 'peer')]
    for network in ('0.0.0.0/0', '::/0'):
        rows += [('hostnossl', 'all', 'all', network, 'reject'),
                 ('hostnossl', 'replication', 'all', network, 'reject')]
    rows.append(('hostssl', database, user, _hba_address(loopback), 'scram-sha-256'))
    for address in addresses:
        rows += [('hostssl', database, user, _hba_address(address), 'scram-sha-256'),
                 ('hostssl', 'replication', replication_user, _hba_address(address), 'scram-sha-256'),
                 ('hostssl', 'postgres', replication_user, _hba_address(address), 'scram-sha-256')]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return ''.join(('  '.join(value.ljust(widths[column]) if column < 4 else value
                              for column, value in enumerate(row)) + '\n') for row in rows)


def sql_literal(value):
    # standard_conforming_strings is on (the default since 9.1): only quotes need doubling.
    return "'%s'" % str(value).replace("'", "''")


def _config_quote(value):
    return "'%s'" % str(value).replace('\\', '\\\\').replace("'", "''")


def set_auto_conf(text, settings):
    """postgresql.auto.conf text with ``settings`` (name -> value, None removes) replaced."""
    names = set(settings)
    kept = []
    for line in (text or '').splitlines():
        match = re.match(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?', line)
        if match and match.group(1).lower() in names:
            continue
        kept.append(line)
    if not kept:
        kept = ['# Do not edit this file manually!', '# It will be overwritten by the ALTER SYSTEM command.']
    for name in sorted(settings):
        if settings[name] is not None:
            kept.append('%s = %s' % (name, _config_quote(settings[name])))
    return '\n'.join(kept) + '\n'


def read_auto_conf(text, name):
    value = None
    for line in (text or '').splitlines():
        match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*'((?:[^'\\]|''|\\.)*)'", line)
        if match and match.group(1).lower() == name:
            value = re.sub(r'\\(.)', r'\1', match.group(2).replace("''", "'"))
    return value


def pgpass_line(host, port, user, password):
    def esc(value):
        return str(value).replace('\\', '\\\\').replace(':', '\\:')
    return '%s:%s:*:%s:%s\n' % (esc(host), esc(port), esc(user), esc(password))


def parse_controldata(text):
    return dict((key.strip(), value.strip()) for key, sep, value in
                (line.partition(':') for line in (text or '').splitlines()) if sep)


# ---------------------------------------------------------------------------------------------
# Settings and waiting
# ---------------------------------------------------------------------------------------------

class Settings(object):
    """Where the cluster lives and how to reach it, from the module parameters."""

    def __init__(self, params):
        p = dict((key, spec.get('default')) for key, spec in _COMMON_SPEC.items())
        p.update(dict((key, value) for key, value in params.items() if value is not None))
        self.version = str(p['cluster_version'])
        self.name = p['cluster_name']
        self.data_dir = p['data_dir'] or '/var/lib/postgresql/%s/%s' % (self.version, self.name)
        self.bin_dir = p['bin_dir'] or '/usr/lib/postgresql/%s/bin' % self.version
        config_file = p['config_file']
        if not config_file:
            debian = '/etc/postgresql/%s/%s/postgresql.conf' % (self.version, self.name)
            config_file = debian if os.path.exists(debian) else None
        self.config_file = config_file
        self.port = int(p['port'])
        self.socket_dir = p['socket_dir']
        self.os_user = p['os_user']
        self.control = p['control']
        self.unit = 'postgresql@%s-%s' % (self.version, self.name)
        self.replication_user = p['replication_user']
        self.replication_password = p['replication_password']
        self.passfile = p['passfile'] or self.data_dir.rstrip('/') + '.pgpass'
        self.peer_address = params.get('peer_address')
        self.peer_port = int(p['peer_port'] or self.port)
        self.connect_timeout = max(2, int(p['connect_timeout']))
        self.timeout = int(params.get('timeout') or 120)
        self.pg_ctl_log = self.data_dir.rstrip('/') + '.log'
        # Beside the data directory, like the passfile: it outlives a re-clone of the data directory.
        self.history_file = p['history_file'] or self.data_dir.rstrip('/') + '.history.json'
        self.ssl_mode = p['ssl_mode']
        self.ca_cert = p['ca_cert']
        problem = tls_settings_problem(self.ssl_mode, self.ca_cert)
        if problem:
            raise DatastoreError(problem + '.')
        # Checked only where the peer is reached over TCP: a new node reads its state before the CA is installed.
        if self.peer_address and self.ca_cert and self.ssl_mode != 'disable' and not os.path.isfile(self.ca_cert):
            raise DatastoreError('ca_cert %s does not exist on this node: install the datastore CA there (role '
                                 'twinroom.ha.kine_datastore) or point ca_cert at it.' % self.ca_cert)

    def program(self, name):
        return os.path.join(self.bin_dir, name)


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


def _short(state):
    """The parts of a node's state that a timeout message shows."""
    keep = ('role', 'stopped_as', 'timeline', 'lsn', 'synchronous_standby_names', 'upstream', 'error')
    shown = dict((key, state.get(key)) for key in keep if state.get(key) not in (None, '', []))
    if state.get('standbys'):
        shown['standbys'] = [dict((k, row.get(k)) for k in ('application_name', 'state', 'sync_state'))
                             for row in state['standbys']]
    return shown


# ---------------------------------------------------------------------------------------------
# I/O: programs, server control, connections
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
                os.path.basename(argv[0]), proc.returncode, _tail(proc.stderr or proc.stdout)),
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


def _tail(text, lines=5):
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
                                 % (self.settings.unit, _tail(err or out), self.settings.unit))

    def stop(self, timeout):
        rc, out, err = self.executor.run(['systemctl', 'stop', self.settings.unit], check=False, timeout=timeout)
        if rc != 0:
            raise DatastoreError('systemctl stop %s failed: %s' % (self.settings.unit, _tail(err or out)))


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
                                 % (s.data_dir, _tail(err or out), _tail(log)))

    def stop(self, timeout):
        s = self.settings
        rc, out, err = self.executor.run(
            [s.program('pg_ctl'), 'stop', '-D', s.data_dir, '-m', 'fast', '-w', '-t', str(int(timeout))],
            as_owner=True, check=False, timeout=timeout + 10)
        if rc != 0 and self.running():
            raise DatastoreError('pg_ctl stop failed for %s: %s' % (s.data_dir, _tail(err or out)))


def _shell_quote(value):
    # pg_ctl hands -o to a shell.
    return "'%s'" % str(value).replace("'", "'\"'\"'")


CONTROLS = dict(systemd=SystemdControl, pg_ctl=PgCtlControl)


def _require_driver():
    if _driver is None:
        raise DatastoreError('neither psycopg2 nor psycopg is importable by %s; install python3-psycopg2 on the node'
                             % (os.environ.get('_', 'this Python'),))


def _sqlstate(exc):
    return getattr(exc, 'pgcode', None) or getattr(exc, 'sqlstate', None)


def _error_text(exc):
    text = str(exc).strip().splitlines()
    if not text:
        return exc.__class__.__name__
    # psycopg 3 puts "connection failed: " before libpq's message; psycopg2 (on the nodes) does not.
    first = text[0]
    return first[len('connection failed: '):] if first.startswith('connection failed: ') else first


def _connect(timeout_ms, **kwargs):
    _require_driver()
    kwargs['options'] = '-c statement_timeout=%d' % timeout_ms
    kwargs['client_encoding'] = 'UTF8'
    conn = _driver.connect(**kwargs)
    conn.autocommit = True
    return conn


def _query(conn, sql, one=True):
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
        return _query(conn, sql, one)
    except _driver.Error:
        return None


def _timeline_of_walfile(name):
    try:
        return int(name[:8], 16)
    except (TypeError, ValueError):
        return None


def read_server(conn, superuser):
    """Role, timeline, LSNs and replication of a running server (local or peer)."""
    recovery, names = _query(conn, "SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names')")
    state = dict(role='standby' if recovery else 'primary', synchronous_standby_names=names or '',
                 standbys=[], upstream=None, error=None)
    row = _try_query(conn, 'SELECT timeline_id, (SELECT system_identifier::text FROM pg_control_system()) '
                           'FROM pg_control_checkpoint()')
    checkpoint_tli = row[0] if row else None
    state['system_identifier'] = row[1] if row else None
    if not recovery:
        lsn, walfile = _query(conn, 'SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn())')
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

    receive, replay, lag_bytes, lag_seconds = _query(conn, (
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
        conninfo = parse_conninfo(_query(conn, "SELECT current_setting('primary_conninfo')")[0])
        upstream.update(host=conninfo.get('host', upstream.get('host')),
                        port=int(conninfo.get('port') or 5432),
                        user=conninfo.get('user'), application_name=conninfo.get('application_name'),
                        sslmode=conninfo.get('sslmode'), sslrootcert=conninfo.get('sslrootcert'))
    state['upstream'] = upstream
    timelines = [tli for tli in (checkpoint_tli, receiver[1] if receiver else None) if tli]
    state['timeline'] = max(timelines) if timelines else None
    return state


class LocalNode(object):
    """The cluster on this host: observe it and apply plan steps to it."""

    def __init__(self, settings, executor=None, control=None):
        self.settings = settings
        self.executor = executor or Executor(settings.os_user)
        self.control = control or CONTROLS[settings.control](settings, self.executor)

    # -- reading -------------------------------------------------------------------------------
    def connect(self, statement_timeout_ms=10000):
        s = self.settings
        return _connect(statement_timeout_ms, host=s.socket_dir, port=s.port, user='postgres', dbname='postgres',
                        connect_timeout=s.connect_timeout, application_name='twinroom-datastore')

    def _exists(self):
        return os.path.exists(os.path.join(self.settings.data_dir, 'PG_VERSION'))

    def _signal(self):
        return os.path.exists(os.path.join(self.settings.data_dir, 'standby.signal'))

    def observe(self):
        _require_driver()
        try:
            conn = self.connect()
        except _driver.Error as exc:
            return self._observe_down(_error_text(exc))
        try:
            return normalize_local(read_server(conn, superuser=True))
        except _driver.Error as exc:
            return normalize_local(dict(role='unknown', error=_error_text(exc)))
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
        return read_history(self.settings.history_file)

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
        return wait_for(what, self.observe, ready, timeout or self.settings.timeout, show=_short)

    # -- acting --------------------------------------------------------------------------------
    def set_synchronous(self, on, standby=None):
        value = standby_names_value(standby) if on else ''
        conn = self.connect()
        try:
            _query(conn, 'ALTER SYSTEM SET synchronous_standby_names = %s' % sql_literal(value))
            _query(conn, 'SELECT pg_reload_conf()')
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
            done = _query(conn, 'SELECT pg_promote(true, %d)' % int(timeout))[0]
            if done:
                # Promotion leaves the end-of-recovery checkpoint to the checkpointer; until it runs, the
                # control file still names the old timeline and pg_rewind against this node would find
                # "no rewind required" for a diverged old primary.
                _query(conn, 'CHECKPOINT')
        finally:
            conn.close()
        if not done:
            seen = _short(self.observe())
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
        return _tail(err or out, 2)

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
            _query(conn, 'SELECT pg_reload_conf()')
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
    _require_driver()
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
            conn = _connect(s.connect_timeout * 1000, **kwargs)
        except _driver.Error as exc:
            # An error the server sent (bad password, starting up) means the server is there; so does a failed
            # TLS handshake or certificate check (something listens there, and it may be a primary).
            text = _error_text(exc)
            tls = is_tls_failure(text)
            outcome.update(answers=_sqlstate(exc) is not None or tls,
                           role='unknown' if (_sqlstate(exc) or tls) else None, error=text, tls_error=tls)
            return
        outcome['answers'] = True
        try:
            outcome.update(read_server(conn, superuser=False))
        except _driver.Error as exc:
            outcome.update(role='unknown', error=_error_text(exc))
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


# ---------------------------------------------------------------------------------------------
# Runners: what the modules call
# ---------------------------------------------------------------------------------------------

def _request(params, settings):
    return dict(state=params.get('state'), synchronous=params.get('synchronous'),
                node_name=params.get('node_name') or socket.gethostname().split('.')[0],
                peer_name=params.get('peer_name'), replication_user=settings.replication_user,
                allow_clone=params.get('allow_clone', True), data_dir=settings.data_dir,
                ssl_mode=settings.ssl_mode, ca_cert=settings.ca_cert)


def _public_peer(peer):
    if not peer or not peer.get('address'):
        return None
    keys = ('address', 'port', 'answers', 'role', 'timeline', 'lsn', 'synchronous_standby_names', 'fenced', 'error',
            'tls_error')
    return dict((key, peer.get(key)) for key in keys)


def apply_step(node, step, request, result):
    """Carry out one step on ``node``; returns seconds waited."""
    if step.action == 'promote':
        return node.promote()
    if step.action == 'set_synchronous':
        return node.set_synchronous(step.arg == 'on', step.extra.get('standby'))
    if step.action == 'stop':
        return node.stop()
    if step.action == 'start':
        return node.start()
    if step.action == 'rewind_from':
        try:
            result['rewind_output'] = node.rewind_from()
            result['rejoin_method'] = 'rewind'
        except DatastoreError as exc:
            if not request.get('allow_clone', True):
                raise DatastoreError('pg_rewind from %s failed and allow_clone is false: %s' % (step.arg, exc.msg))
            result['rewind_error'] = exc.msg
            result['replaced_data_dir'] = node.clone_from()
            result['rejoin_method'] = 'clone'
        return 0.0
    if step.action == 'clone_from':
        result['replaced_data_dir'] = node.clone_from()
        result['rejoin_method'] = 'clone'
        return 0.0
    if step.action == 'write_standby_config':
        node.write_standby_config(request['node_name'])
        return 0.0
    if step.action == 'reload':
        return node.reload()
    if step.action == 'wait_streaming':
        return node.wait_streaming()
    raise ValueError('unknown action %s' % step.action)  # pragma: no cover


def _observe_quietly(node):
    try:
        return _short(node.observe())
    except DatastoreError as exc:
        return dict(error=exc.msg)


def run_datastore(params, check_mode=False, diff=False, node=None, probe=None):
    """Read state, decide, and (unless ``check_mode``) apply. Returns the module result.

    ``node`` (a :class:`LocalNode`) and ``probe`` (like :func:`probe_peer`) can be replaced in tests.
    """
    settings = Settings(params)
    node = node or LocalNode(settings)
    request = _request(params, settings)
    local = node.observe()
    if params.get('before_fencing'):
        if params.get('state') != 'primary':
            raise DatastoreError('before_fencing decides a takeover: use it with state: primary.')
        if not check_mode:
            raise DatastoreError('before_fencing decides a takeover without making it, so it runs only in check '
                                 'mode: add check_mode: true to the task.')
        # The failover asks before it powers the lost room off: the peer may still run, and what counts is
        # whether this node can take over once it is fenced.
        peer = normalize_peer(dict(address=settings.peer_address, port=settings.peer_port, fenced=True))
    else:
        peer = (probe or probe_peer)(settings, params.get('peer_fenced'))
    on_node = node.read_history()
    try:
        history = datastore_history.merge(on_node, params.get('history') or [])
    except datastore_history.HistoryError as exc:
        raise DatastoreError(exc.msg)
    try:
        if (request.get('state') == 'primary' and local['role'] != 'primary'
                and not params.get('discard_newer_writes')):
            try:
                datastore_history.check_promotion(request['node_name'], local, history)
            except datastore_history.HistoryError as exc:
                raise DatastoreError(exc.msg)
        steps, predicted = decide(local, peer, request)
    except DatastoreError as exc:
        exc.details.setdefault('state', _short(local))
        exc.details.setdefault('peer', _public_peer(peer))
        exc.details.setdefault('history', history[-3:])
        raise
    result = dict(changed=any(step.changes for step in steps), plan=[str(step) for step in steps],
                  peer=_public_peer(peer), rejoin_method=None, waited=0.0, warnings=[])
    if local['role'] == 'primary' and peer['answers'] and peer['role'] == 'primary':
        result['warnings'].append(
            'both %s and the peer at %s answer as primary. Fence the one that must not be primary, then rejoin '
            'it with state: standby.' % (request['node_name'], endpoint(peer['address'], peer['port'])))
    after = predicted
    if not check_mode and steps:
        done = []
        for step in steps:
            try:
                result['waited'] += apply_step(node, step, request, result) or 0.0
            except DatastoreError as exc:
                exc.details.update(plan=result['plan'], done=done, failed_step=str(step), state=_observe_quietly(node))
                raise
            done.append(str(step))
        result['waited'] = round(result['waited'], 2)
        after = node.observe()
    elif not steps:
        after = local
    result.update(role=after['role'], timeline=after['timeline'],
                  synchronous_standby_names=after['synchronous_standby_names'])
    # What this run left is recorded on the node at once (the controller may die next), and returned so the
    # caller keeps a copy on the controller and can hand it to the other room.
    history = datastore_history.record(history, datastore_history.current_event(request['node_name'], after, utc_now()))
    if history != on_node and not check_mode:
        node.write_history(history)
    result['history'] = history
    if diff:
        result['diff'] = dict(before=diff_view(local), after=diff_view(after))
    return result


def utc_now():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


def read_history(path):
    """The history file on this node: [] when there is none yet; a damaged file is an error, not []."""
    if not path or not os.path.exists(path):
        return []
    try:
        with open(path) as stream:
            return datastore_history.normalize(json.load(stream))
    except ValueError as exc:
        raise DatastoreError('the datastore history %s is not valid JSON (%s): restore it from the controller\'s '
                             'copy or the other control-plane node\'s' % (path, exc))


def run_datastore_info(params, node=None, probe=None):
    """Everything the info module reports; changes nothing."""
    settings = Settings(params)
    node = node or LocalNode(settings)
    local = node.observe()
    peer = (probe or probe_peer)(settings) if settings.peer_address else None
    peer_view = None
    if peer and peer['answers'] and local['role'] == 'standby':
        mine = (local['upstream'] or {}).get('application_name')
        peer_view = next((row for row in peer.get('standbys') or () if row.get('application_name') == mine), None)
    summary = replication_summary(local, peer_view)
    result = dict(changed=False, role=local['role'], stopped_as=local['stopped_as'], timeline=local['timeline'],
                  lsn=local['lsn'], system_identifier=local['system_identifier'],
                  synchronous_standby_names=local['synchronous_standby_names'], replication=summary,
                  error=local['error'], data_dir=settings.data_dir, peer=_public_peer(peer) if peer else None,
                  kine=None, warnings=[], history=node.read_history())
    if local['role'] == 'primary' and summary['mode'] == 'sync' and not any(
            row.get('state') == 'streaming' for row in local['standbys']):
        result['warnings'].append(
            'synchronous replication is on but no standby streams: writes wait until %s streams again, or until '
            'synchronous is turned off with peer_fenced: true' % ', '.join(parse_standby_names(
                local['synchronous_standby_names'])))
    env_file = params.get('kine_env_file')
    if env_file and os.path.exists(env_file):
        with open(env_file) as stream:
            endpoint_value = read_kine_env(stream.read())
        result['kine'] = dict(env_file=env_file, endpoint=mask_endpoint(endpoint_value))
    return result
