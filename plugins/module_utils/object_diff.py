# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What counts as a change of a Kubernetes object: the object as read against the object as the API server returned it
after a write, without status and the metadata the API server and the controllers keep up to date by themselves.

Layer 2 (a format any plan comparing Kubernetes objects can share). Pure.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# Fields the API server or a controller keeps up to date by themselves; never a change of ours.
IGNORED_METADATA = ('resourceVersion', 'generation', 'managedFields', 'creationTimestamp', 'uid')


def clean(obj):
    """A copy without status and the metadata the API server maintains; what a change is judged on."""
    obj = copy.deepcopy(obj or {})
    obj.pop('status', None)
    meta = obj.get('metadata')
    if isinstance(meta, dict):
        for key in IGNORED_METADATA:
            meta.pop(key, None)
    return obj


def recursive_diff(before, after):
    """(before-only, after-only) parts of two dicts, or None when equal - nested dicts by key, the rest whole."""
    if before == after:
        return None
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return before, after
    left, right = {}, {}
    for key in set(before) | set(after):
        if key not in after:
            left[key] = before[key]
        elif key not in before:
            right[key] = after[key]
        else:
            sub = recursive_diff(before[key], after[key])
            if sub is not None:
                left[key], right[key] = sub
    return left, right


def compare(before, after):
    """(changed, diff) between an object as read and as the API server returned it after the write.

    status, resourceVersion, generation, managedFields, uid and creationTimestamp are ignored: the API server
    and the controllers (KubeVirt's, for a VM) change them without any change of ours."""
    diff = recursive_diff(clean(before), clean(after))
    if diff is None:
        return False, {'before': {}, 'after': {}}
    return True, {'before': diff[0], 'after': diff[1]}


def _owned(side, field_manager):
    """The fields ``field_manager`` owns by server-side apply in one side of a diff, or None when it owns none."""
    meta = (side or {}).get('metadata') or {}
    for entry in meta.get('managedFields') or []:
        if entry.get('manager') == field_manager and entry.get('operation') == 'Apply':
            return entry.get('fieldsV1')
    return None


def written_changes(results, field_manager=None):
    """'Kind/name' of each object a kubernetes.core.k8s write changed, judged as `compare` judges: the module calls
    an object changed when anything differs between its read and the returned object, so a Deployment whose status
    a controller updated meanwhile (new resourceVersion, managedFields, status) would count; here it does not.

    With a server-side apply the module's diff may show only metadata even when the write changed the object (seen
    with kubernetes.core 6.2: a Service port put back showed as a managedFields change alone). So with
    ``field_manager`` given, a change of the fields that manager owns counts too: the server records there what the
    apply set, and a no-op apply leaves it as it was.

    results: the registered result of one definition, or the list a multi-document write returns (.result.results).
    A result without a diff counts as the module says.
    """
    if isinstance(results, dict):
        results = [results]
    changed = []
    for item in results or []:
        if not item.get('changed'):
            continue
        diff = item.get('diff')
        # Without a diff (the write ran without --diff / diff: true) the module's word is all there is.
        if isinstance(diff, dict) and not compare(diff.get('before'), diff.get('after'))[0] and not (
                field_manager and _owned(diff.get('before'), field_manager) != _owned(diff.get('after'), field_manager)):
            continue
        obj = item.get('result') or {}
        changed.append('%s/%s' % (obj.get('kind', '?'), (obj.get('metadata') or {}).get('name', '?')))
    return changed
