# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""LAB STAND-IN for KubeVirt's virt-handler and virt-launcher, one per lab node that takes launcher pods.

KubeVirt's own virt-handler and virt-launcher are not run in the lab (lab/build/kubevirt/LAUNCHER-PROBE.md).
Everything above them is the real program: KubeVirt's own virt-controller creates the VMI and its virt-launcher
pod, kube-scheduler places the pod, kwok reports it running, and virt-controller moves the VMI to Scheduled on
that node. This stand-in does the node side's least part:

- it labels its Node ``kubevirt.io/schedulable=true`` (virt-handler does, once its device plugins are up;
  the launcher pod's node selector asks for it);
- for each VMI that virt-controller marked Scheduled on its node it starts one QEMU process, the guest
  (``--guest-dir``: the lab's test guest, kernel and initramfs; vmrunner.py beside this file: vCPUs, memory and
  the first disk from the VMI's spec; a PVC disk is the file ``<disk dir>/<namespace>_<claim>.raw``, one file
  both rooms see, the stand-in for the replicated volume), and moves the VMI to Running, appending the Running
  phase transition time, only once the guest says READY on its console;
- it stops the guest of a VMI that is gone, being deleted, or no longer on its node, and marks Failed a VMI whose
  guest died or that it finds Running on its node without a guest (the stand-in or the node restarted): KubeVirt's
  VM controller then starts the VM again, as after a crashed launcher.

It sets no heartbeat annotation, so virt-controller's node controller, which fails the VMIs of a node whose
heartbeat went stale, never acts: in the lab, a lost node's VMIs fail because fencing removes their launcher
pods. It does no live migration. It runs inside the node with its guests, so when the node loses power they stop
with it.

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


def vmi_key(vmi):
    meta = vmi.get('metadata') or {}
    return '%s/%s' % (meta.get('namespace'), meta.get('name'))


def hypervisor_plan(vmis, node, guests):
    """What this node's hypervisor does in one round, from the VMIs labelled for node (as listed) and its guests.

    guests: {VMI uid: {'alive': bool, 'ready': bool}}. Returns {'start': [vmi], 'running': [vmi], 'failed': [vmi],
    'stop': [uid]}: start a guest for a Scheduled VMI without one; report Running a Scheduled VMI whose guest is
    ready; report Failed a Scheduled or Running VMI whose guest died, or a Running one without a guest; stop every
    guest whose VMI is gone, being deleted, finished or on another node."""
    plan = {'start': [], 'running': [], 'failed': [], 'stop': []}
    keep = set()
    for vmi in vmis:
        meta, status = vmi.get('metadata') or {}, vmi.get('status') or {}
        uid, phase = meta.get('uid'), status.get('phase')
        if not uid or meta.get('deletionTimestamp') or status.get('nodeName') != node:
            continue
        if phase not in ('Scheduled', 'Running'):
            continue
        keep.add(uid)
        guest = guests.get(uid)
        if guest is not None and not guest['alive']:
            plan['failed'].append(vmi)
        elif phase == 'Running' and guest is None:
            plan['failed'].append(vmi)
        elif phase == 'Scheduled' and guest is None:
            plan['start'].append(vmi)
        elif phase == 'Scheduled' and guest['ready']:
            plan['running'].append(vmi)
    plan['stop'] = sorted(uid for uid in guests if uid not in keep)
    return plan


def disk_paths(vmi, disk_dir):
    """{claimName: file} for the VMI's PVC volumes: one file per claim in disk_dir, the same in both rooms."""
    namespace = (vmi.get('metadata') or {}).get('namespace')
    found = {}
    for volume in (vmi.get('spec') or {}).get('volumes') or []:
        claim = (volume.get('persistentVolumeClaim') or {}).get('claimName')
        if claim:
            found[claim] = os.path.join(disk_dir, '%s_%s.raw' % (namespace, claim))
    return found


def phase_patch(vmi, phase, at):
    """The JSON merge patch moving vmi to phase at time at (RFC 3339), appending that phase's transition time. It
    carries the resourceVersion it was computed from, so a VMI changed meanwhile is refused (409) instead of
    overwritten."""
    status = vmi.get('status') or {}
    transitions = [t for t in status.get('phaseTransitionTimestamps') or [] if t.get('phase') != phase]
    transitions.append({'phase': phase, 'phaseTransitionTimestamp': at})
    return {
        'metadata': {'resourceVersion': vmi['metadata']['resourceVersion']},
        'status': {'phase': phase, 'phaseTransitionTimestamps': transitions},
    }


def running_patch(vmi, at):
    return phase_patch(vmi, 'Running', at)


def failed_patch(vmi, at):
    return phase_patch(vmi, 'Failed', at)


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


class Hypervisor:
    """The node's guests: one vmrunner.Guest per VMI uid, under workdir/<namespace>_<name>_<uid>/."""

    DISK_BYTES = 8 * 1024 * 1024  # a new disk file: room for the guest's counter sector, sparse

    def __init__(self, guest_dir, disk_dir, workdir, accel='auto'):
        import vmrunner  # pylint: disable=import-outside-toplevel  # beside this file on the node
        self.vmrunner = vmrunner
        self.guest = vmrunner.guest_files(guest_dir)
        self.disk_dir, self.workdir, self.accel = disk_dir, workdir, accel
        self.guests = {}

    def states(self):
        return dict((uid, {'alive': guest.alive(), 'ready': guest.console_state()['ready']})
                    for uid, guest in self.guests.items())

    def start(self, vmi):
        meta = vmi['metadata']
        paths = disk_paths(vmi, self.disk_dir)
        for path in paths.values():
            if not os.path.exists(path):
                with open(path, 'wb') as handle:
                    handle.truncate(self.DISK_BYTES)
        workdir = os.path.join(self.workdir, '%s_%s_%s' % (meta['namespace'], meta['name'], meta['uid']))
        guest = self.vmrunner.Guest(vmi, workdir, accel=self.accel, disk_paths=paths, say=log, guest=self.guest)
        self.guests[meta['uid']] = guest
        return guest

    def stop(self, uid):
        guest = self.guests.pop(uid)
        guest.stop()
        return guest


def patch_vmi(api, vmi, body):
    """PATCH the VMI; False when it is gone or changed meanwhile (the next round reads it again)."""
    meta = vmi['metadata']
    path = '/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s' % (meta['namespace'], meta['name'])
    try:
        api.request('PATCH', path, body)
        return True
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 409):
            raise
        return False


def round_with_guests(api, node, vmis, hypervisor):
    plan = hypervisor_plan(vmis, node, hypervisor.states())
    for uid in plan['stop']:
        guest = hypervisor.stop(uid)
        log('guest of VMI uid %s stopped on %s (its VMI is gone, finished or elsewhere; QEMU pid %d)'
            % (uid, node, guest.pid))
    for vmi in plan['failed']:
        uid = vmi['metadata']['uid']
        why = 'its guest died' if uid in hypervisor.guests else 'it runs here without a guest'
        if uid in hypervisor.guests:
            hypervisor.stop(uid)
        if patch_vmi(api, vmi, failed_patch(vmi, now_text())):
            log('VMI %s (uid %s) Failed on %s: %s' % (vmi_key(vmi), uid, node, why))
    for vmi in plan['start']:
        try:
            guest = hypervisor.start(vmi)
        except (hypervisor.vmrunner.VmRunnerError, OSError) as exc:
            log('VMI %s (uid %s): the guest did not start on %s: %s (trying again)'
                % (vmi_key(vmi), vmi['metadata']['uid'], node, exc))
            continue
        log('VMI %s (uid %s): guest started on %s, QEMU pid %d (%s: %s)'
            % (vmi_key(vmi), vmi['metadata']['uid'], node, guest.pid, guest.accel, guest.accel_reason))
    for vmi in plan['running']:
        uid = vmi['metadata']['uid']
        guest = hypervisor.guests[uid]
        if patch_vmi(api, vmi, running_patch(vmi, now_text())):
            log('VMI %s (uid %s) Running on %s: its guest is ready (boot %s, %.1f s after QEMU started)'
                % (vmi_key(vmi), uid, node, guest.console_state()['boot_id'], time.monotonic() - guest.started))


def run(api, node, interval, hypervisor):
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
            round_with_guests(api, node, listing.get('items') or [], hypervisor)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log('API server %s: %s (asking again)' % (api.server, exc))
        time.sleep(interval)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--node', required=True, help='this node\'s name')
    parser.add_argument('--kubeconfig', default='/etc/kwok/kubeconfig')
    parser.add_argument('--interval', type=float, default=1.0, help='seconds between rounds')
    parser.add_argument('--guest-dir', required=True,
                        help='the lab guest (vmlinux, initramfs.cpio, cmdline): boot one per VMI')
    parser.add_argument('--disk-dir', default='/srv/twinroom-vm-disks', help='the files behind PVC disks')
    parser.add_argument('--workdir', default='/run/twinroom-vms', help='each guest\'s console log and QMP socket')
    parser.add_argument('--accel', default='auto', choices=['auto', 'kvm', 'tcg'])
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    hypervisor = Hypervisor(args.guest_dir, args.disk_dir, args.workdir, args.accel)
    log('virt-handler stand-in for node %s: one QEMU guest per VMI (%s, disks in %s)'
        % (args.node, args.guest_dir, args.disk_dir))
    run(Api(args.kubeconfig), args.node, args.interval, hypervisor)


if __name__ == '__main__':
    sys.exit(main())
