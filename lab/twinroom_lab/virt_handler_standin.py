# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""LAB STAND-IN for KubeVirt's virt-handler and virt-launcher, one per lab node that takes launcher pods.

It runs on the lab's kwok nodes, which run no containers; KubeVirt's own virt-handler and virt-launcher run on the
lab's kubelet nodes (lab/build/kubevirt/LAUNCHER-PROBE.md).
Everything above them is the real program: KubeVirt's own virt-controller creates the VMI and its virt-launcher
pod, kube-scheduler places the pod, kwok reports it running, and virt-controller moves the VMI to Scheduled on
that node. This stand-in does the node side's least part:

- it labels its Node ``kubevirt.io/schedulable=true`` (virt-handler does, once its device plugins are up;
  the launcher pod's node selector asks for it), with the machine types and architecture the launcher pod asks for;
- for each VMI that virt-controller marked Scheduled on its node it starts one QEMU process, the guest
  (``--guest-dir``: the lab's test guest, kernel and initramfs; vmrunner.py beside this file: vCPUs, memory and
  the first disk from the VMI's spec; a PVC disk is the file ``<disk dir>/<namespace>_<claim>.raw``, one file
  both rooms see, the stand-in for the replicated volume), and moves the VMI to Running, appending the Running
  phase transition time, only once the guest says READY on its console;
- it stops the guest of a VMI that is gone, being deleted, or no longer on its node, and marks Failed a VMI whose
  guest died or that it finds Running on its node without a guest (the stand-in or the node restarted): KubeVirt's
  VM controller then starts the VM again, as after a crashed launcher.

- live migration, both nodes' part of KubeVirt's protocol once virt-controller has handed a
  VirtualMachineInstanceMigration off to them (``status.migrationState`` names the target node): the target
  starts a QEMU with ``-incoming`` on its node address and publishes ``targetNodeAddress`` and the port; the
  source sets ``startTimestamp`` and sends the guest there (vmrunner.migrate_out: QEMU's own live migration over
  the nodes' network, within the migration configuration's bandwidth and completion timeout); once the target's
  QEMU runs the guest, the target takes the VMI over (``nodeName``, its node label, ``completed``) and the source
  ends its launcher pod, as virt-launcher does by exiting. A migration that does not complete sets ``failed`` and
  ``failureReason``; the source guest keeps running and the target's QEMU is stopped.

It sets no heartbeat annotation, so virt-controller's node controller, which fails the VMIs of a node whose
heartbeat went stale, never acts: in the lab, a lost node's VMIs fail because fencing removes their launcher
pods. It runs inside the node with its guests, so when the node loses power they stop with it.

Python standard library only (the node image has no kubernetes client): it reads the API server and the
node agent's client certificate from kwok's kubeconfig on the same node, and writes VMIs as virt-handler's service
account on its node (impersonated with that certificate): KubeVirt takes a VMI's status from its own components only. Polls once a second, asking the
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
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

SCHEDULABLE_LABEL = 'kubevirt.io/schedulable'
# What virt-handler's node labeller would also say of this node, and virt-api's defaults make a launcher pod ask for:
# the machine types its QEMU runs (q35, the VMs' default, and pc) and the node's architecture (a kubelet's label,
# which kwok does not set).
NODE_LABELS = {SCHEDULABLE_LABEL: 'true', 'machine-type.node.kubevirt.io/q35': 'true',
               'machine-type.node.kubevirt.io/pc': 'true', 'kubernetes.io/arch': 'amd64'}
NODE_NAME_LABEL = 'kubevirt.io/nodeName'
MIGRATION_TARGET_LABEL = 'kubevirt.io/migrationTargetNodeName'
CREATED_BY_LABEL = 'kubevirt.io/created-by'
MIGRATION_PORT_BASE = 49152  # the incoming QEMUs' ports: one per VMI migrating here at once
# After a hand-over the API's watch cache may still list the VMI on its old node for a moment: neither side acts on
# a stale listing of a VMI it handed over or took over this long ago.
HANDOVER_GRACE_SECONDS = 60.0
_QUANTITY = re.compile(r'^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$')
_UNITS = {None: 1, 'Ki': 1024, 'Mi': 1024 ** 2, 'Gi': 1024 ** 3, 'Ti': 1024 ** 4,
          'k': 1000, 'K': 1000, 'M': 1000 ** 2, 'G': 1000 ** 3, 'T': 1000 ** 4}
VMI_PATH = '/apis/kubevirt.io/v1/virtualmachineinstances'
_KUBECONFIG_LINE = re.compile(r'^\s*(server|certificate-authority-data|client-certificate-data|client-key-data):'
                              r'\s*(\S+)\s*$')


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def vmi_key(vmi):
    meta = vmi.get('metadata') or {}
    return '%s/%s' % (meta.get('namespace'), meta.get('name'))


def hypervisor_plan(vmis, node, guests, away=()):
    """What this node's hypervisor does in one round, from the VMIs labelled for node (as listed) and its guests.

    guests: {VMI uid: {'alive': bool, 'ready': bool}}. Returns {'start': [vmi], 'running': [vmi], 'failed': [vmi],
    'stop': [uid]}: start a guest for a Scheduled VMI without one; report Running a Scheduled VMI whose guest is
    ready; report Failed a Scheduled or Running VMI whose guest died, or a Running one without a guest; stop every
    guest whose VMI is gone, being deleted, finished or on another node. ``away``: uids whose guest this node is
    migrating out or has just migrated out (listed here until the target takes them over: neither Failed nor
    stopped here)."""
    plan = {'start': [], 'running': [], 'failed': [], 'stop': []}
    keep = set()
    for vmi in vmis:
        meta, status = vmi.get('metadata') or {}, vmi.get('status') or {}
        uid, phase = meta.get('uid'), status.get('phase')
        if not uid or meta.get('deletionTimestamp') or status.get('nodeName') != node:
            continue
        if uid in away:
            keep.add(uid)  # its guest is on its way out: the migration decides
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
    # A guest on its way out is never stopped by a round, even once its VMI is listed on the target: the migration's
    # own thread stops the source QEMU when QEMU reports the migration done, and may still be asking it.
    plan['stop'] = sorted(uid for uid in guests if uid not in keep and uid not in away)
    return plan


def parse_quantity(text):
    """Bytes in a Kubernetes quantity ("64Mi", "1Gi", "268435456"); None when it is not one."""
    match = _QUANTITY.match(str(text).strip()) if text is not None else None
    return int(float(match.group(1)) * _UNITS[match.group(2)]) if match else None


def migration_limits(vmi):
    """(bytes per second or None, completion timeout in seconds) of the VMI's migration, from the configuration
    virt-controller handed off with it (status.migrationState.migrationConfiguration; KubeVirt's defaults where it
    says nothing): bandwidthPerMigration (0 or unset: unlimited), and completionTimeoutPerGiB (default 150) times
    the guest's memory in GiB, as KubeVirt computes it, at least 10 s."""
    spec, status = vmi.get('spec') or {}, vmi.get('status') or {}
    config = (status.get('migrationState') or {}).get('migrationConfiguration') or {}
    bandwidth = parse_quantity(config.get('bandwidthPerMigration')) or None
    domain = spec.get('domain') or {}
    memory = parse_quantity((domain.get('memory') or {}).get('guest')
                            or ((domain.get('resources') or {}).get('requests') or {}).get('memory')) or 1024 ** 3
    per_gib = config.get('completionTimeoutPerGiB')
    per_gib = 150 if per_gib is None else int(per_gib)
    return bandwidth, max(10.0, per_gib * memory / float(1024 ** 3))


def _migration(vmi):
    """(uid, status.migrationState, status) of a VMI, {} for a missing state."""
    meta, status = vmi.get('metadata') or {}, vmi.get('status') or {}
    return meta.get('uid'), status.get('migrationState') or {}, status


def _in_flight(state):
    return bool(state.get('migrationUid')) and not state.get('completed') and not state.get('failed')


def migration_plan(targeted, vmis, node, address, incoming, sending, recent=()):
    """This node's part of KubeVirt's live migrations in one round (pure).

    targeted: the VMIs labelled with this node as their migration target; vmis: those labelled as on this node;
    incoming: {uid: {'migration': migrationUid, 'port': int, 'alive': bool, 'arrived': bool, 'advertised': bool}},
    the QEMUs waiting here for a guest (arrived: it runs the guest now; advertised: its address was published, which
    a listing from before may not show yet); sending: the uids this node is migrating out or has just
    migrated out; recent: uids handed over in either direction a moment ago (a stale listing of them is ignored).

    Returns {'prepare': [vmi], 'advertise': [(vmi, port)], 'take_over': [vmi], 'abandon': [uid], 'send': [vmi]}:
    as the target, start an incoming QEMU for an in-flight migration to this node, publish its address and port,
    take the VMI over once the guest runs here, and stop an incoming QEMU whose migration ended or went elsewhere;
    as the source, send a Running guest once the target has published its address and no start is recorded.
    """
    plan = {'prepare': [], 'advertise': [], 'take_over': [], 'abandon': [], 'send': []}
    keep = set()
    for vmi in targeted:
        uid, state, status = _migration(vmi)
        if (not uid or uid in recent or (vmi.get('metadata') or {}).get('deletionTimestamp')
                or state.get('targetNode') != node or status.get('nodeName') == node or not _in_flight(state)
                or status.get('phase') != 'Running'):
            continue
        keep.add(uid)
        waiting = incoming.get(uid)
        if waiting is None:
            plan['prepare'].append(vmi)
        elif waiting['migration'] != state['migrationUid']:
            keep.discard(uid)  # an older migration's QEMU: stop it; the next round prepares for this one
        elif waiting['arrived']:
            plan['take_over'].append(vmi)
        elif waiting['alive'] and not waiting.get('advertised') and (
                state.get('targetNodeAddress') != address
                or str(waiting['port']) not in (state.get('targetDirectMigrationNodePorts') or {})):
            plan['advertise'].append((vmi, waiting['port']))
    plan['abandon'] = sorted(uid for uid in incoming if uid not in keep)
    for vmi in vmis:
        uid, state, status = _migration(vmi)
        if (not uid or uid in sending or uid in recent or status.get('nodeName') != node
                or status.get('phase') != 'Running' or not _in_flight(state)):
            continue
        if (state.get('targetNode') not in (None, '', node) and state.get('targetNodeAddress')
                and state.get('targetDirectMigrationNodePorts') and not state.get('startTimestamp')):
            plan['send'].append(vmi)
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
    """Running, with the SELinux context virt-handler records once the guest runs ("none": the nodes run without
    SELinux); virt-controller needs it to create a migration's target pod."""
    patch = phase_patch(vmi, 'Running', at)
    patch['status']['selinuxContext'] = 'none'
    return patch


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
    """The API server, as the node agent (kwok's kubeconfig); ``as_handler``: the headers of virt-handler's identity
    on this node (:func:`handler_identity`), for the VMI updates."""

    def __init__(self, kubeconfig, timeout=5, as_handler=None):
        self.as_handler = as_handler or {}
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

    def request(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header('Accept', 'application/json')
        if data is not None:
            request.add_header('Content-Type', 'application/merge-patch+json' if method == 'PATCH' else 'application/json')
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, context=self.context, timeout=self.timeout) as response:
            return json.loads(response.read() or b'{}')


def log(message):
    print('%s %s' % (now_text(), message), flush=True)


class Hypervisor:
    """The node's guests: one vmrunner.Guest per VMI uid, under workdir/<namespace>_<name>_<uid>/; the QEMUs
    waiting here for a migrating guest (incoming), and the migrations this node sends out (sending)."""

    DISK_BYTES = 8 * 1024 * 1024  # a new disk file: room for the guest's counter sector, sparse

    def __init__(self, guest_dir, disk_dir, workdir, accel='auto'):
        import vmrunner  # pylint: disable=import-outside-toplevel  # beside this file on the node
        self.vmrunner = vmrunner
        self.guest = vmrunner.guest_files(guest_dir)
        self.disk_dir, self.workdir, self.accel = disk_dir, workdir, accel
        self.guests = {}
        self.incoming = {}  # uid: {'migration', 'port', 'guest'}
        self.sending = {}  # uid: {'migration', 'thread', 'result', 'ended'}
        self.handed = {}  # uid: monotonic time of its last hand-over, in either direction

    def states(self):
        return dict((uid, {'alive': guest.alive(), 'ready': guest.console_state()['ready']})
                    for uid, guest in self.guests.items())

    def _workdir(self, vmi):
        meta = vmi['metadata']
        return os.path.join(self.workdir, '%s_%s_%s' % (meta['namespace'], meta['name'], meta['uid']))

    def start(self, vmi, incoming=None):
        paths = disk_paths(vmi, self.disk_dir)
        if incoming is None:
            for path in paths.values():
                if not os.path.exists(path):
                    with open(path, 'wb') as handle:
                        handle.truncate(self.DISK_BYTES)
        return self.vmrunner.Guest(vmi, self._workdir(vmi), accel=self.accel, disk_paths=paths, incoming=incoming,
                                   say=log, guest=self.guest)

    def boot(self, vmi):
        guest = self.start(vmi)
        self.guests[vmi['metadata']['uid']] = guest
        return guest

    def stop(self, uid):
        guest = self.guests.pop(uid)
        guest.stop()
        return guest

    def recent(self, now=None):
        now = time.monotonic() if now is None else now
        for uid in [uid for uid, at in self.handed.items() if now - at > HANDOVER_GRACE_SECONDS]:
            del self.handed[uid]
        return set(self.handed)

    def incoming_states(self):
        found = {}
        for uid, entry in self.incoming.items():
            alive = entry['guest'].alive()
            try:
                arrived = alive and entry['guest'].status() == 'running'
            except (self.vmrunner.VmRunnerError, OSError, ValueError):  # QEMU going away mid-answer
                arrived = False
            found[uid] = {'migration': entry['migration'], 'port': entry['port'], 'alive': alive,
                          'arrived': arrived, 'advertised': entry['advertised']}
        return found

    def receive(self, vmi, address):
        """Start a QEMU waiting for vmi's guest on address, on the first port no other incoming QEMU holds."""
        used = set(entry['port'] for entry in self.incoming.values())
        port = next(p for p in range(MIGRATION_PORT_BASE, MIGRATION_PORT_BASE + 1000) if p not in used)
        guest = self.start(vmi, incoming='tcp:%s:%d' % (address, port))
        self.incoming[vmi['metadata']['uid']] = {'migration': vmi['status']['migrationState']['migrationUid'],
                                                 'port': port, 'guest': guest, 'advertised': False, 'vmi': vmi}
        return guest, port

    def take_over(self, uid):
        self.guests[uid] = self.incoming.pop(uid)['guest']
        self.handed[uid] = time.monotonic()

    def abandon(self, uid):
        entry = self.incoming.pop(uid)
        entry['guest'].kill()
        return entry

    def send(self, vmi):
        """Migrate vmi's guest to the address and port the target published, in a thread of its own."""
        uid, state, _status = _migration(vmi)
        address = '%s:%s' % (state['targetNodeAddress'], sorted(state['targetDirectMigrationNodePorts'])[0])
        bandwidth, timeout = migration_limits(vmi)
        entry = {'migration': state['migrationUid'], 'target': state['targetNode'], 'address': address,
                 'result': None, 'ended': None, 'vmi': vmi, 'pods': False}
        guest = self.guests[uid]

        def migrate():
            try:
                entry['result'] = ('done', self.vmrunner.migrate_out(guest, address, timeout, bandwidth, say=log))
            except self.vmrunner.VmRunnerError as exc:
                entry['result'] = ('failed', str(exc))
            except Exception as exc:  # pylint: disable=broad-except  # reported as the migration's failure
                entry['result'] = ('failed', 'the stand-in failed: %r' % (exc,))

        entry['thread'] = threading.Thread(target=migrate, name='migrate-%s' % uid, daemon=True)
        self.sending[uid] = entry
        entry['thread'].start()
        return entry, bandwidth, timeout


def merged(target, patch):
    """``target`` with the JSON merge patch ``patch`` applied (RFC 7386: a null removes the key); a new object."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merged(result.get(key), value)
    return result


def patch_vmi(api, vmi, body):
    """Write ``body`` (a JSON merge patch of the VMI's metadata and status) as virt-handler does: an update (PUT) of
    the whole VMI, as virt-handler's service account on this node (``api.as_handler``, impersonated).

    KubeVirt's VMI CRD has no status subresource; its mutating webhook puts back the old status of any VMI update
    made by a user that is not one of KubeVirt's service accounts, without an error (vmi-mutator.go), and
    virt-handler's role may update VMIs, not patch them. With a resourceVersion in ``body`` the update carries it,
    so a VMI changed since is refused (409); without, the listed VMI's version is used, and on a 409 the VMI is read
    again once and the update repeated.

    False when the VMI is gone or changed meanwhile (the next round reads it again), or when the API server refuses
    the update (logged: one VMI's refusal must not stop the rounds of the others). A server error or no answer goes
    up: the round ends and the next one asks again."""
    meta = vmi['metadata']
    path = '/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s' % (meta['namespace'], meta['name'])
    pinned = (body.get('metadata') or {}).get('resourceVersion') is not None
    current = vmi
    try:
        for _attempt in range(1 if pinned else 2):
            try:
                api.request('PUT', path, merged(current, body), headers=api.as_handler)
                return True
            except urllib.error.HTTPError as exc:
                if exc.code != 409 or pinned:
                    raise
                current = api.request('GET', path)
        return False
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise
        if exc.code not in (404, 409):
            detail = exc.read()[:300]
            log('VMI %s: the API server refused an update (HTTP %d %s): %s'
                % (vmi_key(vmi), exc.code, exc.reason, detail))
        return False


def handler_identity(namespace, node):
    """The headers that make a request virt-handler's on ``node``: its service account in KubeVirt's namespace, with
    the node name its bound token carries (KubeVirt's node restriction checks it)."""
    return {'Impersonate-User': 'system:serviceaccount:%s:kubevirt-handler' % namespace,
            'Impersonate-Extra-' + urllib.parse.quote('authentication.kubernetes.io/node-name', safe=''): node}


def round_with_guests(api, node, vmis, hypervisor, targeted=(), address=None):
    """One round: finish the migrations sent out, run the guests of the VMIs on this node, then (with an address)
    this node's part of the live migrations to and from it."""
    finish_sends(api, node, hypervisor)
    recent = hypervisor.recent()
    plan = hypervisor_plan(vmis, node, hypervisor.states(), away=set(hypervisor.sending))
    for uid in plan['stop']:
        if uid in recent and runs_on(api, hypervisor.guests[uid].vmi, node):
            continue  # taken over a moment ago: a listing from before the take-over does not stop it
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
            guest = hypervisor.boot(vmi)
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
    if address:
        round_of_migrations(api, node, address, targeted, vmis, hypervisor, recent)


def round_of_migrations(api, node, address, targeted, vmis, hypervisor, recent):
    plan = migration_plan(targeted, vmis, node, address, hypervisor.incoming_states(), set(hypervisor.sending),
                          recent)
    for uid in plan['abandon']:
        entry = hypervisor.abandon(uid)
        log('incoming QEMU for VMI uid %s stopped on %s (migration %s ended or went elsewhere; port %d)'
            % (uid, node, entry['migration'], entry['port']))
        if not runs_on(api, entry['vmi'], node):
            end_launcher_pods(api, node, entry['vmi'], 'its migration here ended without the guest')
    for vmi in plan['prepare']:
        try:
            guest, port = hypervisor.receive(vmi, address)
        except (hypervisor.vmrunner.VmRunnerError, OSError) as exc:
            log('VMI %s: the incoming QEMU did not start on %s: %s (trying again)' % (vmi_key(vmi), node, exc))
            continue
        log('VMI %s (uid %s): migration %s: incoming QEMU on %s:%d, pid %d'
            % (vmi_key(vmi), vmi['metadata']['uid'], vmi['status']['migrationState']['migrationUid'], address, port,
               guest.pid))
        plan['advertise'].append((vmi, port))
    for vmi, port in plan['advertise']:
        if patch_vmi(api, vmi, {'status': {'migrationState': {
                'targetNodeAddress': address, 'targetDirectMigrationNodePorts': {str(port): 0}}}}):
            hypervisor.incoming[vmi['metadata']['uid']]['advertised'] = True
            log('VMI %s: migration target ready on %s (%s:%d)' % (vmi_key(vmi), node, address, port))
    for vmi in plan['take_over']:
        uid, at = vmi['metadata']['uid'], now_text()
        body = {'metadata': {'labels': {NODE_NAME_LABEL: node}},
                'status': {'nodeName': node, 'migrationState': {
                    'targetNodeDomainDetected': True, 'targetNodeDomainReadyTimestamp': at, 'endTimestamp': at,
                    'completed': True}}}
        if patch_vmi(api, vmi, body):
            hypervisor.take_over(uid)
            log('VMI %s (uid %s) migrated to %s: its guest runs here (QEMU pid %d)'
                % (vmi_key(vmi), uid, node, hypervisor.guests[uid].pid))
    for vmi in plan['send']:
        started = {'metadata': {'resourceVersion': vmi['metadata']['resourceVersion']},
                   'status': {'migrationState': {'startTimestamp': now_text(), 'mode': 'PreCopy'}}}
        if not patch_vmi(api, vmi, started):
            continue
        entry, bandwidth, timeout = hypervisor.send(vmi)
        log('VMI %s (uid %s): migration %s to %s (%s) started, bandwidth %s, completion timeout %.0f s'
            % (vmi_key(vmi), vmi['metadata']['uid'], entry['migration'], entry['target'], entry['address'],
               '%d B/s' % bandwidth if bandwidth else 'unlimited', timeout))


def finish_sends(api, node, hypervisor):
    """Report the migrations this node sent that have ended: a failure on the VMI (the guest runs here still); a
    success by ending the source's launcher pod, as virt-launcher does by exiting once its guest has left."""
    now = time.monotonic()
    for uid, entry in list(hypervisor.sending.items()):
        if entry['thread'].is_alive():
            continue
        if entry['ended'] is not None:
            if entry['pods'] and not runs_on(api, entry['vmi'], node, completed=True):
                end_launcher_pods(api, node, entry['vmi'], 'its guest migrated away')
                entry['pods'] = False
            if now - entry['ended'] > HANDOVER_GRACE_SECONDS:
                del hypervisor.sending[uid]  # not taken over in time: the VMI fails here (no guest), as in KubeVirt
            continue
        vmi = entry['vmi']
        outcome, detail = entry['result']
        if outcome == 'failed':
            # Reported before it is forgotten: an API error here leaves it for the next round.
            patch_vmi(api, vmi, {'status': {'migrationState': {'failed': True, 'endTimestamp': now_text(),
                                                               'failureReason': detail}}})
            del hypervisor.sending[uid]
            log('VMI %s (uid %s): migration %s failed: %s' % (vmi_key(vmi), uid, entry['migration'], detail))
            continue
        entry['ended'] = now
        hypervisor.guests.pop(uid, None)
        hypervisor.handed[uid] = now
        entry['pods'] = True  # ended once the target has taken the VMI over, not before
        log('VMI %s (uid %s): guest sent to %s: QEMU total %s ms, downtime %s ms, %s bytes, %.1f s'
            % (vmi_key(vmi), uid, entry['target'], detail['total_ms'], detail['downtime_ms'], detail['transferred'],
               detail['seconds']))


def runs_on(api, vmi, node, completed=False):
    """Whether vmi (this uid) is on node, as the API server says now. completed: it counts as elsewhere only once
    its migration has completed there. The source's launcher pod ends once the target has taken the VMI over, not
    before, so that virt-controller never sees the VMI's pod gone while the VMI is still here; a target's ends only
    for a VMI that is not here. Unreadable: on node (nothing is ended)."""
    meta = vmi['metadata']
    path = '/apis/kubevirt.io/v1/namespaces/%s/virtualmachineinstances/%s' % (meta['namespace'], meta['name'])
    try:
        now = api.request('GET', path)
    except urllib.error.HTTPError as exc:
        return exc.code != 404
    except (urllib.error.URLError, OSError, ValueError):
        return True
    status = now.get('status') or {}
    if (now.get('metadata') or {}).get('uid') != meta['uid']:
        return False
    if status.get('nodeName') == node:
        return True
    return completed and not (status.get('migrationState') or {}).get('completed')


def end_launcher_pods(api, node, vmi, why):
    """Delete vmi's launcher pods on node, as virt-launcher ends its pod by exiting."""
    meta = vmi['metadata']
    path = '/api/v1/namespaces/%s/pods' % meta['namespace']
    query = urllib.parse.urlencode({'labelSelector': '%s=%s' % (CREATED_BY_LABEL, meta['uid']),
                                    'fieldSelector': 'spec.nodeName=%s' % node})
    try:
        for pod in api.request('GET', '%s?%s' % (path, query)).get('items') or []:
            api.request('DELETE', '%s/%s' % (path, pod['metadata']['name']))
            log('launcher pod %s/%s on %s ended (%s)' % (meta['namespace'], pod['metadata']['name'], node, why))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log('VMI %s: could not end its launcher pod on %s: %s' % (vmi_key(vmi), node, exc))


def node_address(api, node):
    """The node's InternalIP, where the other nodes reach it (its incoming migrations listen there); None while the
    Node reports none (a node that has just come back may not yet)."""
    for entry in (api.request('GET', '/api/v1/nodes/%s' % node).get('status') or {}).get('addresses') or []:
        if entry.get('type') == 'InternalIP':
            return entry['address']
    return None


def run(api, node, interval, hypervisor, address=None):
    labelled = waiting = False
    on_node = urllib.parse.quote('%s=%s' % (NODE_NAME_LABEL, node))
    to_node = urllib.parse.quote('%s=%s' % (MIGRATION_TARGET_LABEL, node))
    while True:
        try:
            if not labelled:
                api.request('PATCH', '/api/v1/nodes/%s' % node, {'metadata': {'labels': NODE_LABELS}})
                labelled = True
                log('node %s labelled %s' % (node, ', '.join('%s=%s' % item for item in sorted(NODE_LABELS.items()))))
            if address is None:
                address = node_address(api, node)
                if address or not waiting:
                    log('node %s: migrations to it listen on %s' % (node, address) if address else
                        'node %s reports no InternalIP yet: its guests run, migrations wait for it' % node)
                waiting = not address
            listing = api.request('GET', '%s?labelSelector=%s&resourceVersion=0' % (VMI_PATH, on_node))
            targeted = api.request('GET', '%s?labelSelector=%s&resourceVersion=0' % (VMI_PATH, to_node))
            round_with_guests(api, node, listing.get('items') or [], hypervisor, targeted.get('items') or [], address)
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
    parser.add_argument('--kubevirt-namespace', default='kubevirt',
                        help='where virt-operator installed KubeVirt: the VMI updates are made as its virt-handler')
    parser.add_argument('--migration-address', default=None,
                        help='where incoming migrations listen (default: the node\'s InternalIP, once it has one)')
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    hypervisor = Hypervisor(args.guest_dir, args.disk_dir, args.workdir, args.accel)
    log('virt-handler stand-in for node %s: one QEMU guest per VMI (%s, disks in %s)'
        % (args.node, args.guest_dir, args.disk_dir))
    run(Api(args.kubeconfig, as_handler=handler_identity(args.kubevirt_namespace, args.node)), args.node,
        args.interval, hypervisor, args.migration_address)


if __name__ == '__main__':
    sys.exit(main())
