# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""I/O of the storage-layer modules, on kubernetes.core's module_utils: K8sService to read, and
runner.perform_action to write by server-side apply (server-side dry run in check mode, diff of the
object before and after).

Server-side apply writes nothing when nothing changes, so a second run reports changed=0 without a write.
The decisions (what the object is, what may change) are the pure functions of piraeus.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.twinroom.ha.plugins.module_utils import piraeus
from ansible_collections.twinroom.ha.plugins.module_utils.module_run import finish
from ansible_collections.twinroom.ha.plugins.module_utils.piraeus import PiraeusError

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.runner import perform_action
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.service import K8sService
    HAS_KUBERNETES_CORE = True
except ImportError:  # reported by make_module() when kubernetes.core is not installed
    AUTH_ARG_SPEC = {}
    HAS_KUBERNETES_CORE = False

    class CoreException(Exception):
        pass

FIELD_MANAGER = 'twinroom.ha'
# Server-maintained bookkeeping; shown neither in --diff nor in the returned object.
HIDDEN_FIELDS = ['metadata.managedFields']
# What perform_action and K8sService read from the module's params besides the auth options: a
# server-side apply owned by this collection, no waiting, no label filter.
ACTION_PARAMS = dict(
    apply=True,
    server_side_apply=dict(field_manager=FIELD_MANAGER, force_conflicts=True),
    force=False,
    wait=False,
    label_selectors=None,
    hidden_fields=HIDDEN_FIELDS,
    delete_options=None,
    append_hash=False,
)


def argument_spec(**options):
    """kubernetes.core's auth options (doc fragment kubernetes.core.k8s_auth_options) plus the module's own."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(options)
    return spec


def make_module(options, **kwargs):
    if not HAS_KUBERNETES_CORE:
        module = AnsibleModule(argument_spec=options, supports_check_mode=True, **kwargs)
        module.fail_json(msg='the kubernetes.core collection (>= 6.0.0) is required')
    return AnsibleK8SModule(module_class=AnsibleModule, argument_spec=options, supports_check_mode=True, **kwargs)


def missing_crd(kind, api_version):
    if api_version == piraeus.API_VERSION:
        return ('the API server has no %s %s: install the Piraeus operator (or, on the lab, its CRDs: '
                'lab/build/piraeus/fetch-crds.sh) first' % (api_version, kind))
    return 'the API server has no %s %s' % (api_version, kind)


class Objects(object):
    """One module run's view of the cluster: a K8sService on kubernetes.core's client."""

    def __init__(self, module):
        self.module = module
        for key, value in ACTION_PARAMS.items():
            module.params.setdefault(key, value)
        try:
            self.client = get_api_client(module)
        except CoreException as exc:
            raise PiraeusError(str(exc))
        self.svc = K8sService(self.client, module)

    def resource(self, kind, api_version):
        try:
            resource = self.svc.find_resource(kind, api_version, fail=False)
        except Exception as exc:  # pylint: disable=broad-except  # discovery: connection, auth, TLS
            raise PiraeusError('cannot reach the API server: %s' % exc)
        if resource is None:
            raise PiraeusError(missing_crd(kind, api_version))
        return resource

    def read(self, definition):
        """The object as it is now, as a dict, or None."""
        resource = self.resource(definition['kind'], definition['apiVersion'])
        try:
            existing = self.svc.retrieve(resource, definition)
        except CoreException as exc:
            raise PiraeusError(str(exc))
        return existing.to_dict() if existing else None

    def _perform(self, definition, state):
        params = dict(self.module.params, state=state)
        try:
            return perform_action(self.svc, copy.deepcopy(definition), params)
        except CoreException as exc:
            raise PiraeusError(piraeus.schema_refusal(definition, str(exc)) or str(exc))

    def present(self, definition):
        """Server-side apply of definition (a server-side dry run in check mode); the result of perform_action
        (changed, result, diff). An apply that changes nothing writes nothing."""
        self.resource(definition['kind'], definition['apiVersion'])
        return _quiet_diff(self._perform(definition, 'present'))

    def absent(self, definition):
        """Delete (a server-side dry run in check mode); the diff shows the object that goes."""
        before = self.read(definition)
        if before is None:
            return dict(changed=False, method='delete', result={})
        result = self._perform(definition, 'absent')
        result['changed'] = True
        if self.module._diff:
            result['diff'] = dict(before=_hide(before), after={})
        return result

    def recreate(self, definition, existing):
        """Delete and create again, for objects whose fields cannot change in place (StorageClass). Check mode
        reports the change without a dry run: the API server cannot rehearse a create over an existing name."""
        result = dict(changed=True, method='recreate', result=definition)
        if not self.module.check_mode:
            self._perform(definition, 'absent')
            result['result'] = self._perform(definition, 'present').get('result')
        if self.module._diff:
            result['diff'] = dict(before=_hide(existing), after=_hide(result['result']))
        return result

    def find(self, kind, api_version, name=None, label_selectors=None):
        self.resource(kind, api_version)
        try:
            found = self.svc.find(kind, api_version, name=name, label_selectors=label_selectors,
                                  hidden_fields=HIDDEN_FIELDS)
        except CoreException as exc:
            raise PiraeusError(str(exc))
        return found['resources']


def _hide(obj):
    if not obj:
        return obj or {}
    obj = copy.deepcopy(obj)
    obj.get('metadata', {}).pop('managedFields', None)
    return obj


def _quiet_diff(result):
    """Leave out of --diff what the API server bumps on every write (the comparison already ignores it)."""
    for side in (result.get('diff') or {}).values():
        metadata = side.get('metadata') if isinstance(side, dict) else None
        if isinstance(metadata, dict):
            for key in ('generation', 'resourceVersion'):
                metadata.pop(key, None)
            if not metadata:
                side.pop('metadata')
    return result


def run(module, build, recreate_ok=None):
    """The body of every storage-layer module: build the definition from the options (pure), then make the
    cluster match it. recreate_ok: for objects with immutable fields, a function(existing, definition)
    returning the refusal text, or None when an in-place apply works."""
    definition = build(module.params)
    objects = Objects(module)
    if module.params['state'] == 'absent':
        return objects.absent(definition)
    if recreate_ok is not None:
        existing = objects.read(definition)
        if existing is not None:
            refusal = recreate_ok(existing, definition)
            if refusal:
                if not module.params.get('recreate'):
                    raise PiraeusError(refusal)
                return objects.recreate(definition, existing)
    return objects.present(definition)


def run_info(module, kind, api_version):
    objects = Objects(module)
    resources = objects.find(kind, api_version, name=module.params.get('name'),
                             label_selectors=module.params.get('label_selectors'))
    return dict(changed=False, resources=resources)


def info_main(kind, api_version=piraeus.API_VERSION):
    """The whole main() of an _info twin: its options (name, label_selectors and the API's), then run_info."""
    module = make_module(argument_spec(name=dict(type='str'), label_selectors=dict(type='list', elements='str')))
    finish(module, run_info, PiraeusError, module, kind, api_version)
