# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kine datastore's decisions: observed state of this node and of its peer plus the request give an
ordered plan of :class:`Step` objects, or raise :class:`DatastoreError` with text that tells the operator
what to do. Also the views of a node's state that the modules return (``--diff``, the replication summary).

Safety rules, in words (see docs of the ``datastore`` module):
promotion only after the other side is fenced and does not answer; synchronous replication is turned
off only when the standby is fenced, and on only when the standby streams; a node rejoins only a
primary that answers and is not behind it.

Layer 3: pure - no I/O; unit-tested with YAML fixtures (tests/unit/fixtures/datastore). It imports the
datastore's records and formats, never the access layer (postgres.py). See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.twinroom.ha.plugins.module_utils.datastore_formats import (
    DEFAULT_SSL_MODE,
    DatastoreError,
    endpoint,
    normalize_local,
    normalize_peer,
    parse_standby_names,
    standby_names_value,
)


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
# The plan
# ---------------------------------------------------------------------------------------------

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
