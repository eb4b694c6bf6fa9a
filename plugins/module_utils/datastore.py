# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kine datastore: a PostgreSQL primary in one room, a synchronous standby in the other.

The runners the ``datastore`` and ``datastore_info`` modules call: observe this node and its peer through
the access layer (postgres.py), decide through the plan (datastore_plan.py) and the history
(datastore_history.py), then apply the plan one step at a time. Also the modules' shared options and
:class:`Settings`, what those options mean on a node.

Layer 4 (runner). See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import socket

from ansible_collections.twinroom.ha.plugins.module_utils import datastore_history
from ansible_collections.twinroom.ha.plugins.module_utils.datastore_formats import (
    DatastoreError,
    endpoint,
    mask_endpoint,
    normalize_peer,
    parse_standby_names,
    read_kine_env,
    short_state,
    tls_settings_problem,
)
from ansible_collections.twinroom.ha.plugins.module_utils.datastore_plan import decide, diff_view, replication_summary
from ansible_collections.twinroom.ha.plugins.module_utils.postgres import LocalNode, probe_peer
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import utc_now


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


def datastore_argument_spec(**extra):
    """The shared options (deep-copied, so callers may change them) plus the module's own."""
    spec = copy.deepcopy(_COMMON_SPEC)
    spec.update(copy.deepcopy(extra))
    return spec


# ---------------------------------------------------------------------------------------------
# Settings: what the options mean on a node
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


def _history_on(node):
    """The history file on the node, its events checked (a damaged entry is an error, not [])."""
    try:
        return datastore_history.normalize(node.read_history())
    except datastore_history.HistoryError as exc:
        raise DatastoreError(exc.msg)


def _observe_quietly(node):
    try:
        return short_state(node.observe())
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
    on_node = _history_on(node)
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
        exc.details.setdefault('state', short_state(local))
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
                  kine=None, warnings=[], history=_history_on(node))
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
