# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kine datastore's records and text formats, shared by its access (postgres.py), its plan
(datastore_plan.py) and its runner (datastore.py): the shape of an observed node and peer, the error every
datastore refusal is, and the small formats PostgreSQL speaks - libpq conninfo, synchronous_standby_names,
postgresql.auto.conf, pgpass, pg_controldata output, pg_hba.conf - plus kine's KINE_ENDPOINT.

Layer 2: pure (no I/O, no decisions); imports only the vocabulary. See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError


class DatastoreError(TwinroomError):
    """A refusal or failure of the datastore modules."""


# libpq's default: what a conninfo without sslmode means.
DEFAULT_SSL_MODE = 'prefer'
VERIFYING_SSL_MODES = ('verify-ca', 'verify-full')


# ---------------------------------------------------------------------------------------------
# Observed state: this node and its peer
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


def short_state(state):
    """The parts of a node's state that a timeout or failure message shows."""
    keep = ('role', 'stopped_as', 'timeline', 'lsn', 'synchronous_standby_names', 'upstream', 'error')
    shown = dict((key, state.get(key)) for key in keep if state.get(key) not in (None, '', []))
    if state.get('standbys'):
        shown['standbys'] = [dict((k, row.get(k)) for k in ('application_name', 'state', 'sync_state'))
                             for row in state['standbys']]
    return shown


# ---------------------------------------------------------------------------------------------
# kine's KINE_ENDPOINT
# ---------------------------------------------------------------------------------------------

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
# Small text formats: libpq conninfo, pg_hba.conf, postgresql.auto.conf, pgpass, pg_controldata
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


def parse_conninfo(text):
    """key=value conninfo into a dict (not URIs; twinroom writes the key=value form)."""
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
