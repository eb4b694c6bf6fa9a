# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""LAB STAND-IN for KubeVirt's virt-handler and the KVM hypervisor under it, one per lab node.

The lab has no KVM, no libvirt and no container runtime (kwok stands in for the kubelet), so virt-handler
cannot run. Everything above it is the real program: KubeVirt's own virt-controller creates the VMI and its
virt-launcher pod, kube-scheduler places the pod, kwok reports it running, and virt-controller moves the
VMI to Scheduled on that node. This stand-in does the node side's least part, what virt-handler does once
libvirt reports the domain running:

- it labels its Node ``kubevirt.io/schedulable=true`` (virt-handler does, once its device plugins are up;
  the launcher pod's node selector asks for it);
- it moves each VMI that virt-controller marked Scheduled on its node to Running, appending the Running
  phase transition time (KubeVirt's VM controller tells a crash at start from a guest that ran by it).

It sets no heartbeat annotation, so virt-controller's node controller, which fails the VMIs of a node whose
heartbeat went stale, never acts: in the lab, a lost node's VMIs fail because fencing removes their launcher
pods. It does no live migration and no guest shutdown. It runs inside the node, so when the node loses
power it stops with it, as virt-handler would.

Python standard library only (the node image has no kubernetes client): it reads the API server and the
node agent's client certificate from kwok's kubeconfig on the same node. Polls once a second, asking the
API server's watch cache (resourceVersion=0) so the datastore is not read.
"""

from __future__ import absolute_import, division, print_function

import argparse
import base64
import datetime
import json
import os
import re
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SCHEDULABLE_LABEL = 'kubevirt.io/schedulable'
NODE_NAME_LABEL = 'kubevirt.io/nodeName'
VMI_PATH = '/apis/kubevirt.io/v1/virtualmachineinstances'
_KUBECONFIG_LINE = re.compile(r'^\s*(server|certificate-authority-data|client-certificate-data|client-key-data):'
                              r'\s*(\S+)\s*$')


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def to_start(vmis, node):
    """The VMIs of node that this stand-in's hypervisor should report running: phase Scheduled, on node,
    not being deleted. vmis: VMI dicts as the API returns them."""
    chosen = []
    for vmi in vmis:
        meta, status = vmi.get('metadata') or {}, vmi.get('status') or {}
        if meta.get('deletionTimestamp') or status.get('phase') != 'Scheduled':
            continue
        if status.get('nodeName') != node:
            continue
        chosen.append(vmi)
    return chosen


def running_patch(vmi, at):
    """The JSON merge patch moving vmi to Running at time at (RFC 3339). It carries the resourceVersion it
    was computed from, so a VMI changed meanwhile is refused (409) instead of overwritten."""
    status = vmi.get('status') or {}
    transitions = [t for t in status.get('phaseTransitionTimestamps') or [] if t.get('phase') != 'Running']
    transitions.append({'phase': 'Running', 'phaseTransitionTimestamp': at})
    return {
        'metadata': {'resourceVersion': vmi['metadata']['resourceVersion']},
        'status': {'phase': 'Running', 'phaseTransitionTimestamps': transitions},
    }


def read_kubeconfig(path):
    """{server, ca, cert, key} from a kubeconfig with one cluster and one user, embedded data (kwok's,
    written by twinroom.ha.node_agent)."""
    found = {}
    with open(path, encoding='utf-8') as handle:
        for line in handle:
            match = _KUBECONFIG_LINE.match(line)
            if match:
                found.setdefault(match.group(1), match.group(2))
    missing = [key for key in ('server', 'certificate-authority-data', 'client-certificate-data',
                               'client-key-data') if key not in found]
    if missing:
        raise SystemExit('%s: no %s (expected a kubeconfig with embedded certificate data)' % (path, ', '.join(missing)))
    return found


class Api:
    def __init__(self, kubeconfig, timeout=5):
        config = read_kubeconfig(kubeconfig)
        self.server = config['server'].rstrip('/')
        self.timeout = timeout
        workdir = tempfile.mkdtemp(prefix='virt-handler-standin-')
        files = {}
        for key in ('certificate-authority-data', 'client-certificate-data', 'client-key-data'):
            files[key] = os.path.join(workdir, key)
            with open(os.open(files[key], os.O_WRONLY | os.O_CREAT, 0o600), 'wb') as handle:
                handle.write(base64.b64decode(config[key]))
        self.context = ssl.create_default_context(cafile=files['certificate-authority-data'])
        self.context.load_cert_chain(files['client-certificate-data'], files['client-key-data'])

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header('Accept', 'application/json')
        if data is not None:
            request.add_header('Content-Type', 'application/merge-patch+json')
        with urllib.request.urlopen(request, context=self.context, timeout=self.timeout) as response:
            return json.loads(response.read() or b'{}')


def log(message):
    print('%s %s' % (now_text(), message), flush=True)


def run(api, node, interval):
    labelled = False
    selector = urllib.parse.quote('%s=%s' % (NODE_NAME_LABEL, node))
    while True:
        try:
            if not labelled:
                api.request('PATCH', '/api/v1/nodes/%s' % node,
                            {'metadata': {'labels': {SCHEDULABLE_LABEL: 'true'}}})
                labelled = True
                log('node %s labelled %s=true' % (node, SCHEDULABLE_LABEL))
            listing = api.request('GET', '%s?labelSelector=%s&resourceVersion=0' % (VMI_PATH, selector))
            for vmi in to_start(listing.get('items') or [], node):
                meta = vmi['metadata']
                path = '/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s' % (meta['namespace'],
                                                                                          meta['name'])
                try:
                    api.request('PATCH', path, running_patch(vmi, now_text()))
                    log('VMI %s/%s (uid %s) Running on %s' % (meta['namespace'], meta['name'], meta.get('uid'), node))
                except urllib.error.HTTPError as exc:
                    if exc.code not in (404, 409):  # gone or changed meanwhile: the next round reads it again
                        raise
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log('API server %s: %s (asking again)' % (api.server, exc))
        time.sleep(interval)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--node', required=True, help='this node\'s name')
    parser.add_argument('--kubeconfig', default='/etc/kwok/kubeconfig')
    parser.add_argument('--interval', type=float, default=1.0, help='seconds between rounds')
    args = parser.parse_args(argv)
    log('virt-handler stand-in for node %s (no KVM here: VMIs are reported running, no guest runs)' % args.node)
    run(Api(args.kubeconfig), args.node, args.interval)


if __name__ == '__main__':
    sys.exit(main())
