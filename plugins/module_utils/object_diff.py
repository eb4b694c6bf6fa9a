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


def written_changes(results):
    """'Kind/name' of each object a kubernetes.core.k8s write changed, judged as `compare` judges: the module calls
    an object changed when anything differs between its read and the returned object, so a Deployment whose status
    a controller updated meanwhile (new resourceVersion, managedFields, status) would count; here it does not.

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
        if isinstance(diff, dict) and not compare(diff.get('before'), diff.get('after'))[0]:
            continue
        obj = item.get('result') or {}
        changed.append('%s/%s' % (obj.get('kind', '?'), (obj.get('metadata') or {}).get('name', '?')))
    return changed

