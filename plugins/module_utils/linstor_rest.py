# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to reach the LINSTOR controller: its REST API through python-linstor, for what the Piraeus CRs do not
cover (DRBD quorum and tiebreaker settings of a resource group, where each resource's replicas are, and the
properties the failover-time quorum override sets).

:class:`LinstorApi` wraps python-linstor's ``Linstor`` client (``node_list``, ``resource_group_list_raise``,
``resource_group_create`` / ``resource_group_modify``, ``resource_dfn_list``, ``volume_list``
(``GET /v1/view/resources``) and ``resource_modify``) and turns every failure into :class:`LinstorApiError`,
naming the controller. :func:`linstor_argument_spec` is the connection options every LINSTOR module shares.

Layer 1 (access): I/O and its errors, no quorum decision. See docs/architecture.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import env_fallback

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, ZONE_LABEL, TwinroomError

try:
    import linstor
    HAS_LINSTOR = True
except ImportError:  # pragma: no cover - depends on the host
    linstor = None
    HAS_LINSTOR = False

# The zone label value of each room when the module is not told (room_a -> room-a).
DEFAULT_ROOMS = dict((room, room.replace('_', '-')) for room in ROOMS)


class LinstorApiError(TwinroomError):
    """The LINSTOR controller could not be reached, or refused a call."""


# ---------------------------------------------------------------------------------------------
# Shared argument specs (documented by the doc fragments twinroom.ha.linstor_api and twinroom.ha.kubeconfig)
# ---------------------------------------------------------------------------------------------

_LINSTOR_SPEC = dict(
    controller_url=dict(type='str', required=True, fallback=(env_fallback, ['LS_CONTROLLERS'])),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    auth_token=dict(type='str', no_log=True),
    ca_file=dict(type='path'),
    client_cert=dict(type='path'),
    client_key=dict(type='path', no_log=False),
    validate_certs=dict(type='bool', default=True),
    allow_insecure_auth=dict(type='bool', default=False),
    timeout=dict(type='int', default=30),
)

_ROOMS_SPEC = dict(
    rooms=dict(type='dict', default=DEFAULT_ROOMS),
    zone_label=dict(type='str', default=ZONE_LABEL),
)

_KUBECONFIG_SPEC = dict(
    kubeconfig=dict(type='path'),
    context=dict(type='str'),
)


def linstor_argument_spec(kubernetes=False, **extra):
    """The controller connection and room options (deep-copied), the Kubernetes ones if asked, and the module's."""
    spec = copy.deepcopy(_LINSTOR_SPEC)
    spec.update(copy.deepcopy(_ROOMS_SPEC))
    if kubernetes:
        spec.update(copy.deepcopy(_KUBECONFIG_SPEC))
    spec.update(copy.deepcopy(extra))
    return spec


def _replies_text(replies):
    texts = []
    for reply in replies:
        message = getattr(reply, 'message', None) or str(reply)
        cause = getattr(reply, 'cause', None)
        texts.append('%s%s' % (message, ' (%s)' % cause if cause else ''))
    return '; '.join(texts)


class LinstorApi(object):
    """The calls the modules make, on python-linstor's ``Linstor`` client. ``client`` can be given in tests."""

    def __init__(self, params, client=None):
        self.url = params['controller_url']
        self.where = 'LINSTOR controller %s' % self.url
        if client is not None:
            self.api = client
            return
        if not HAS_LINSTOR:
            raise LinstorApiError('python-linstor is not installed where this module runs (pip install '
                                  'python-linstor, or Debian python3-linstor).')
        secure = self.url.startswith(('https://', 'linstor+ssl://'))
        if secure and params.get('validate_certs', True) and not params.get('ca_file'):
            raise LinstorApiError(
                'controller_url %s uses TLS but no ca_file is given: python-linstor checks the controller\'s '
                'certificate only against ca_file. Give the CA that signed it, or set validate_certs: false.'
                % self.url)
        try:
            api = linstor.Linstor(self.url, timeout=params.get('timeout') or 30,
                                  agent_info='twinroom.ha', auth_token=params.get('auth_token'))
            api.username = params.get('username')
            api.password = params.get('password')
            api.certfile = params.get('client_cert')
            api.keyfile = params.get('client_key')
            if params.get('validate_certs', True):
                api.cafile = params.get('ca_file')
            api.allow_insecure = bool(params.get('allow_insecure_auth'))
            api.connect()
        except linstor.LinstorError as exc:
            raise LinstorApiError('cannot connect to the %s: %s' % (self.where, exc))
        except (OSError, ValueError) as exc:
            raise LinstorApiError('cannot connect to the %s: %s' % (self.where, exc))
        self.api = api

    def _call(self, what, method, *args, **kwargs):
        try:
            return getattr(self.api, method)(*args, **kwargs)
        except Exception as exc:  # python-linstor raises LinstorError subclasses and socket errors
            raise LinstorApiError('%s failed on the %s: %s' % (what, self.where, exc))

    def _list(self, what, replies):
        """The REST list (python-linstor's ``data_v1``) of a list call, or its error replies as our error."""
        if not replies:
            return []
        first = replies[0]
        if getattr(first, 'ret_code', None) is not None and hasattr(first, 'is_error'):
            if any(reply.is_error() for reply in replies):
                raise LinstorApiError('%s failed on the %s: %s' % (what, self.where, _replies_text(replies)))
            return []
        return list(first.data_v1 or [])

    def _check(self, what, replies):
        errors = [reply for reply in replies or [] if hasattr(reply, 'is_error') and reply.is_error()]
        if errors:
            raise LinstorApiError('%s failed on the %s: %s' % (what, self.where, _replies_text(errors)))

    def nodes(self):
        return self._list('listing nodes', self._call('listing nodes', 'node_list'))

    def resource_groups(self, names=None):
        what = 'listing resource groups'
        result = self._call(what, 'resource_group_list_raise', filter_by_resource_groups=names or None)
        return list(result.data_v1 or [])

    def resource_group(self, name):
        groups = [group for group in self.resource_groups([name]) if group.get('name', '').lower() == name.lower()]
        return groups[0] if groups else None

    def create_resource_group(self, name, props, select_filter, description=None):
        what = 'creating resource group %s' % name
        self._check(what, self._call(
            what, 'resource_group_create', name, description=description,
            place_count=select_filter.get('place_count'), storage_pool=select_filter.get('storage_pool_list'),
            x_replicas_on_different=select_filter.get('x_replicas_on_different_map'), property_dict=props))

    def modify_resource_group(self, name, props, select_filter, description=None):
        what = 'modifying resource group %s' % name
        self._check(what, self._call(
            what, 'resource_group_modify', name, description=description,
            place_count=select_filter.get('place_count'), storage_pool=select_filter.get('storage_pool_list'),
            x_replicas_on_different=select_filter.get('x_replicas_on_different_map'), property_dict=props or None))

    def resource_definitions(self, names=None):
        what = 'listing resource definitions'
        return self._list(what, self._call(what, 'resource_dfn_list', query_volume_definitions=False,
                                           filter_by_resource_definitions=names or None))

    def resources(self, names=None):
        what = 'listing resources'
        return self._list(what, self._call(what, 'volume_list', filter_by_resources=names or None))

    def modify_resource(self, node, name, props, delete):
        what = 'setting the properties of resource %s on node %s' % (name, node)
        self._check(what, self._call(what, 'resource_modify', node, name, property_dict=props or None,
                                     delete_props=delete or None))
