# -*- coding: utf-8 -*-
"""STAND-IN for the LINSTOR controller's REST API - not LINSTOR.

The LINSTOR controller (Java) cannot run on this machine, and there is no DRBD. This small HTTP server answers
the few REST calls twinroom.ha's LINSTOR modules make through python-linstor, with the response shapes of
LINSTOR's documented REST API (docs/rest_v1_openapi.yaml of linstor-server: ``Node``, ``ResourceGroup``,
``ResourceDefinition``, ``ResourceWithVolumes``, ``ApiCallRcList``, ``ControllerVersion``):

    GET  /v1/controller/version
    GET  /v1/nodes                                        (?nodes=)
    GET  /v1/resource-groups                              (?resource_groups=)
    POST /v1/resource-groups                              ResourceGroup -> ApiCallRcList (201)
    PUT  /v1/resource-groups/{resource_group}             ResourceGroupModify -> ApiCallRcList
    GET  /v1/resource-definitions                         (?resource_definitions=)
    GET  /v1/view/resources                               (?nodes=, ?resources=)
    PUT  /v1/resource-definitions/{resource}/resources/{node}   ResourceModify -> ApiCallRcList

It keeps an in-memory model that tests set up through Python (:meth:`LinstorStandIn.add_node`,
:meth:`add_resource_group`, :meth:`add_resource`, ...): nodes with their Aux zone property, resource groups with
properties and select filter, resource definitions, resources with their flags (``DRBD_DISKLESS``,
``TIE_BREAKER``, ``CLIENT``) and per-volume disk states. It stores what it is told and reports it back; it does
not place replicas, create tiebreakers, compute quorum or apply DRBD options - nothing a real controller or
satellite decides is decided here, so it cannot agree with the code under test by accident. Every request is
logged in :attr:`LinstorStandIn.requests` so tests can assert that check mode wrote nothing.

Loopback only, a random free port, plain HTTP.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ZONE_PROPERTY = 'Aux/topology.kubernetes.io/zone'
REST_API_VERSION = '1.27.0'  # the version of the openapi document these shapes follow

# ApiCallRc return codes, built from LINSTOR's ApiConsts masks (a signed 64-bit integer on the wire).
MASK_ERROR = 0xC000000000000000
MASK_CRT = 0x0000000001000000
MASK_MOD = 0x0000000002000000
MASK_RSC_GRP = 0x0000000000440000
MASK_RSC = 0x0000000000340000
CREATED = 1
MODIFIED = 3
FAIL_NOT_FOUND_RSC_DFN = 301 | MASK_ERROR
FAIL_NOT_FOUND_RSC = 302 | MASK_ERROR
FAIL_NOT_FOUND_RSC_GRP = 317 | MASK_ERROR
FAIL_EXISTS_RSC_GRP = 522 | MASK_ERROR
FAIL_UNKNOWN_ERROR = 998 | MASK_ERROR


def _signed64(value):
    return value - (1 << 64) if value >= (1 << 63) else value


def api_call_rc(ret_code, message, **refs):
    return dict(ret_code=_signed64(ret_code), message=message, obj_refs=refs)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'   # python-linstor keeps one connection open for all its requests
    server_version = 'LinstorStandIn/0'

    def log_message(self, *args):   # quiet: tests read self.server.standin.requests instead
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get('Content-Length') or 0)
        return json.loads(self.rfile.read(length) or b'{}') if length else {}

    def _handle(self, method):
        standin = self.server.standin
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.strip('/').split('/') if s]
        query = parse_qs(parts.query)
        body = self._body() if method in ('POST', 'PUT') else None
        with standin.lock:
            standin.requests.append(dict(method=method, path=parts.path, query=query, body=body))
            try:
                status, reply = standin.route(method, segments, query, body)
            except Exception as exc:  # a bug in the stand-in shows as LINSTOR's generic failure, with the text
                status, reply = 500, [api_call_rc(FAIL_UNKNOWN_ERROR, 'stand-in error: %r' % (exc,))]
        self._reply(status, reply)

    def do_GET(self):
        self._handle('GET')

    def do_POST(self):
        self._handle('POST')

    def do_PUT(self):
        self._handle('PUT')

    def do_DELETE(self):
        self._handle('DELETE')


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A module process that exits drops python-linstor's kept-alive connection; that is not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def _key(name):
    return name.lower()  # LINSTOR object names are case-insensitive


class LinstorStandIn(object):
    """The stand-in controller. Use as a context manager; ``url`` is what ``controller_url`` gets."""

    def __init__(self):
        self.lock = threading.RLock()
        self.requests = []
        self.nodes = {}
        self.resource_groups = {}
        self.resource_definitions = {}
        self.resources = {}          # (rsc key, node key) -> resource dict
        self.add_resource_group('DfltRscGrp')
        self._server = None
        self._thread = None

    # -- life cycle ------------------------------------------------------------------------------

    def start(self):
        self._server = _Server(('127.0.0.1', 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, name='linstor-standin', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self._server.server_address[1]

    # -- scenario set-up (Python side) -------------------------------------------------------------

    def add_node(self, name, zone=None, online=True, props=None, address=None):
        node_props = {'CurStltConnName': 'default', 'NodeUname': name}
        if zone is not None:
            node_props[ZONE_PROPERTY] = zone
        node_props.update(props or {})
        with self.lock:
            self.nodes[_key(name)] = dict(
                name=name, type='SATELLITE', flags=[], props=node_props,
                net_interfaces=[dict(name='default', address=address or '192.0.2.%d' % (len(self.nodes) + 10),
                                     satellite_port=3366, satellite_encryption_type='PLAIN', is_active=True,
                                     uuid=str(uuid.uuid4()))],
                connection_status='ONLINE' if online else 'OFFLINE', uuid=str(uuid.uuid4()),
                storage_providers=['DISKLESS', 'LVM_THIN'], resource_layers=['DRBD', 'STORAGE'])

    def set_online(self, name, online):
        with self.lock:
            self.nodes[_key(name)]['connection_status'] = 'ONLINE' if online else 'OFFLINE'

    def add_resource_group(self, name, props=None, select_filter=None, description=''):
        with self.lock:
            self.resource_groups[_key(name)] = dict(name=name, description=description, props=dict(props or {}),
                                                    select_filter=dict(select_filter or {}), uuid=str(uuid.uuid4()))

    def add_resource_definition(self, name, resource_group='DfltRscGrp', props=None):
        with self.lock:
            if _key(resource_group) not in self.resource_groups:
                raise KeyError('no resource group %s in the stand-in' % resource_group)
            self.resource_definitions[_key(name)] = dict(
                name=name, props=dict(props or {}), flags=[], uuid=str(uuid.uuid4()),
                resource_group_name=self.resource_groups[_key(resource_group)]['name'],
                layer_data=[dict(type='DRBD', data=dict(peer_slots=7, al_stripes=1, al_stripe_size_kib=32,
                                                        port=7000 + len(self.resource_definitions),
                                                        transport_type='IP', secret='standin', down=False)),
                            dict(type='STORAGE')])

    def add_resource(self, name, node, diskless=False, tiebreaker=False, client=False, disk_state='UpToDate',
                     props=None, resource_group='DfltRscGrp', volumes=1):
        """A resource of ``name`` on ``node``. ``disk_state`` None leaves the state out, as for an offline node."""
        with self.lock:
            if _key(node) not in self.nodes:
                raise KeyError('no node %s in the stand-in' % node)
            if _key(name) not in self.resource_definitions:
                self.add_resource_definition(name, resource_group)
            flags = []
            if diskless or tiebreaker or client:
                flags += ['DISKLESS', 'DRBD_DISKLESS']
                if tiebreaker:
                    flags.append('TIE_BREAKER')
                if client:
                    flags.append('CLIENT')
            state = disk_state if not flags else (disk_state if disk_state != 'UpToDate' else 'Diskless')
            vols = []
            for number in range(volumes):
                volume = dict(volume_number=number, storage_pool_name='DfltDisklessStorPool' if flags else 'thin',
                              provider_kind='DISKLESS' if flags else 'LVM_THIN',
                              device_path='/dev/drbd%d' % (1000 + number), allocated_size_kib=0 if flags else 1048576,
                              usable_size_kib=1048576, props={}, flags=[], uuid=str(uuid.uuid4()),
                              layer_data_list=[dict(type='DRBD', data=dict(device_path='/dev/drbd%d' % (1000 + number),
                                                                           disk_state=state))])
                if state is not None:
                    volume['state'] = dict(disk_state=state)
                vols.append(volume)
            self.resources[(_key(name), _key(node))] = dict(
                name=self.resource_definitions[_key(name)]['name'], node_name=self.nodes[_key(node)]['name'],
                props=dict(props or {}), flags=flags, uuid=str(uuid.uuid4()), create_timestamp=1767225600000,
                state=dict(in_use=False),
                layer_object=dict(type='DRBD', resource_name_suffix='', children=[dict(type='STORAGE')],
                                  drbd=dict(node_id=len(self.resources), peer_slots=7, al_stripes=1, flags=[])),
                volumes=vols)

    def set_disk_state(self, name, node, state):
        with self.lock:
            for volume in self.resources[(_key(name), _key(node))]['volumes']:
                if state is None:
                    volume.pop('state', None)
                else:
                    volume['state'] = dict(disk_state=state)

    # -- inspection ------------------------------------------------------------------------------

    def resource_group(self, name):
        with self.lock:
            return copy.deepcopy(self.resource_groups.get(_key(name)))

    def resource(self, name, node):
        with self.lock:
            return copy.deepcopy(self.resources.get((_key(name), _key(node))))

    def writes(self):
        with self.lock:
            return [r for r in self.requests if r['method'] != 'GET']

    # -- the REST API ----------------------------------------------------------------------------

    def route(self, method, segments, query, body):
        if segments[:1] != ['v1']:
            return 404, [api_call_rc(FAIL_UNKNOWN_ERROR, 'not a LINSTOR v1 path')]
        path = segments[1:]
        if method == 'GET' and path == ['controller', 'version']:
            return 200, dict(version='1.29.0-standin', git_hash='stand-in', build_time='2026-01-01T00:00:00+00:00',
                             rest_api_version=REST_API_VERSION)
        if method == 'GET' and path == ['nodes']:
            return 200, self._filtered(self.nodes.values(), query.get('nodes'))
        if path[:1] == ['resource-groups']:
            return self._resource_groups(method, path[1:], query, body)
        if method == 'GET' and path == ['resource-definitions']:
            return 200, self._filtered(self.resource_definitions.values(), query.get('resource_definitions'))
        if method == 'GET' and path == ['view', 'resources']:
            wanted_nodes = set(_key(n) for n in query.get('nodes', []))
            wanted = set(_key(n) for n in query.get('resources', []))
            result = [r for (rsc, node), r in sorted(self.resources.items())
                      if (not wanted or rsc in wanted) and (not wanted_nodes or node in wanted_nodes)]
            return 200, copy.deepcopy(result)
        if method == 'PUT' and len(path) == 4 and path[0] == 'resource-definitions' and path[2] == 'resources':
            return self._modify_resource(path[1], path[3], body)
        return 404, [api_call_rc(FAIL_UNKNOWN_ERROR, 'the stand-in does not serve %s /v1/%s'
                                 % (method, '/'.join(path)))]

    @staticmethod
    def _filtered(objects, names):
        wanted = set(_key(n) for n in names or [])
        return copy.deepcopy([o for o in sorted(objects, key=lambda o: _key(o['name']))
                              if not wanted or _key(o['name']) in wanted])

    @staticmethod
    def _apply_props(target, body):
        for key in body.get('delete_props') or []:
            target.pop(key, None)
        target.update(body.get('override_props') or {})

    def _resource_groups(self, method, rest, query, body):
        if method == 'GET' and not rest:
            return 200, self._filtered(self.resource_groups.values(), query.get('resource_groups'))
        if method == 'POST' and not rest:
            name = body['name']
            if _key(name) in self.resource_groups:
                return 500, [api_call_rc(FAIL_EXISTS_RSC_GRP, "A resource group with the name '%s' already exists."
                                         % name, RscGrp=name)]
            self.add_resource_group(name, body.get('props'), body.get('select_filter'), body.get('description', ''))
            return 201, [api_call_rc(MASK_RSC_GRP | MASK_CRT | CREATED, "New resource group '%s' created." % name,
                                     RscGrp=name)]
        if method == 'PUT' and len(rest) == 1:
            group = self.resource_groups.get(_key(rest[0]))
            if group is None:
                return 404, [api_call_rc(FAIL_NOT_FOUND_RSC_GRP, "Resource group '%s' not found." % rest[0],
                                         RscGrp=rest[0])]
            self._apply_props(group['props'], body)
            if body.get('description') is not None:
                group['description'] = body['description']
            for key, value in (body.get('select_filter') or {}).items():
                group['select_filter'][key] = value
            return 200, [api_call_rc(MASK_RSC_GRP | MASK_MOD | MODIFIED,
                                     "Resource group '%s' modified." % group['name'], RscGrp=group['name'])]
        return 404, [api_call_rc(FAIL_UNKNOWN_ERROR, 'the stand-in does not serve %s on resource groups' % method)]

    def _modify_resource(self, name, node, body):
        if _key(name) not in self.resource_definitions:
            return 404, [api_call_rc(FAIL_NOT_FOUND_RSC_DFN, "Resource definition '%s' not found." % name,
                                     RscDfn=name)]
        resource = self.resources.get((_key(name), _key(node)))
        if resource is None:
            return 404, [api_call_rc(FAIL_NOT_FOUND_RSC, "Resource '%s' on node '%s' not found." % (name, node),
                                     RscDfn=name, Node=node)]
        self._apply_props(resource['props'], body)
        return 200, [api_call_rc(MASK_RSC | MASK_MOD | MODIFIED, "Resource '%s' on node '%s' modified."
                                 % (resource['name'], resource['node_name']), RscDfn=name, Node=node)]


if __name__ == '__main__':  # a manual look: python tests/standins/linstor_controller.py
    import time
    with LinstorStandIn() as standin:
        standin.add_node('a-w1', 'room-a')
        print('LINSTOR stand-in (not LINSTOR) on %s; Ctrl-C stops it' % standin.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
