# -*- coding: utf-8 -*-
"""A throw-away kube-apiserver for module tests: the lab's own binaries, off the lab.

The storage and VM modules are tested against the real kube-apiserver (validation, server-side dry run,
CRD schemas), but they do not need rooms, BMCs or a replicated datastore. This starts kine on SQLite
and one kube-apiserver on loopback ports of their own, so module tests neither disturb nor depend on
a lab drill. The binaries are the ones `make lab` builds into $TWINROOM_CACHE (lab/versions.env);
nothing here is a mock.

    with ApiServer(workdir) as api:
        api.kubeconfig   # path of an admin kubeconfig (token in system:masters)
        api.kubectl('get', 'ns')
"""

from __future__ import annotations

import datetime
import os
import pathlib
import socket
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

REPO = pathlib.Path(__file__).resolve().parents[2]
CACHE = pathlib.Path(os.environ.get('TWINROOM_CACHE', '/var/cache/twinroom'))
START_TIMEOUT = 120  # seconds; kube-apiserver on 2 busy cores takes 10-40 s


def versions():
    """lab/versions.env as a dict."""
    result = {}
    for line in (REPO / 'lab' / 'versions.env').read_text().splitlines():
        line = line.strip()
        if line and not line.startswith('#') and '=' in line:
            key, value = line.split('=', 1)
            result[key] = value
    return result


def binary(component, name):
    """Path of a binary the lab build cached, or a RuntimeError saying how to build it."""
    version = versions()['%s_VERSION' % component.upper()]
    path = CACHE / 'bin' / ('%s-%s' % (component, version)) / name
    if not path.exists():
        raise RuntimeError('%s is missing: run `lab/build/build-binaries.sh %s` (or `make lab`) first'
                           % (path, component))
    return path


def crd_files():
    """The CRD bundles module tests install, built from Go modules by lab/build/build-binaries.sh."""
    kubevirt = CACHE / 'bin' / ('kubevirt-%s' % versions()['KUBEVIRT_VERSION']) / 'crds'
    files = [kubevirt / 'kubevirt-crds.yaml', kubevirt / 'cdi-crds.yaml']
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise RuntimeError('CRDs missing (%s): run `lab/build/build-binaries.sh kubevirt` first' % ', '.join(missing))
    return files


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _write_pki(directory):
    """CA, serving certificate for 127.0.0.1 and a service-account key, all fresh."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'twinroom-test-apiserver-ca')])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'kube-apiserver')]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address('127.0.0.1')),
                                                        x509.DNSName('localhost')]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = serialization.Encoding.PEM
    files = {
        'ca.crt': ca.public_bytes(pem),
        'server.crt': cert.public_bytes(pem),
        'server.key': key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        'sa.key': sa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        'sa.pub': sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
        os.chmod(directory / name, 0o600)


class ApiServer:
    """kine (SQLite) + kube-apiserver on loopback; a context manager that always stops both."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kine_port = free_port()
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.kubeconfig = self.workdir / 'admin.kubeconfig'
        self._procs = []

    @property
    def url(self):
        return 'https://127.0.0.1:%d' % self.port

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, name, argv):
        log = open(self.workdir / ('%s.log' % name), 'wb')
        self._procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True))

    def start(self):
        _write_pki(self.workdir)
        (self.workdir / 'tokens.csv').write_text('%s,twinroom-test-admin,uid-admin,system:masters\n' % self.token)
        os.chmod(self.workdir / 'tokens.csv', 0o600)
        self._spawn('kine', [
            str(binary('kine', 'kine')),
            '--endpoint', 'sqlite://%s/state.db?_journal=WAL&cache=shared&_busy_timeout=30000' % self.workdir,
            '--listen-address', '127.0.0.1:%d' % self.kine_port,
            '--metrics-bind-address', '127.0.0.1:%d' % free_port(),
        ])
        d = self.workdir
        self._spawn('kube-apiserver', [
            str(binary('kubernetes', 'kube-apiserver')),
            '--etcd-servers', 'http://127.0.0.1:%d' % self.kine_port,
            '--storage-media-type', 'application/json',
            '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1',
            '--secure-port', str(self.port),
            '--tls-cert-file', str(d / 'server.crt'), '--tls-private-key-file', str(d / 'server.key'),
            '--token-auth-file', str(d / 'tokens.csv'),
            '--authorization-mode', 'RBAC',
            '--service-account-issuer', 'https://kubernetes.default.svc',
            '--service-account-key-file', str(d / 'sa.pub'),
            '--service-account-signing-key-file', str(d / 'sa.key'),
            '--service-cluster-ip-range', '10.96.0.0/24',
            '--enable-priority-and-fairness=false',
            '--profiling=false',
        ])
        self.kubeconfig.write_text(KUBECONFIG % {'ca': d / 'ca.crt', 'url': self.url, 'token': self.token})
        os.chmod(self.kubeconfig, 0o600)
        self.wait_ready()
        return self

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        last = ''
        while time.monotonic() < deadline:
            for proc in self._procs:
                if proc.poll() is not None:
                    raise RuntimeError('%s exited with %s; see %s' % (proc.args[0], proc.returncode, self.workdir))
            result = self.kubectl('get', '--raw', '/readyz', check=False)
            if result.returncode == 0 and result.stdout.strip() == 'ok':
                # The default namespace appears shortly after /readyz; objects go there.
                if self.kubectl('get', 'namespace', 'default', check=False).returncode == 0:
                    return
            last = result.stderr.strip() or result.stdout.strip()
            time.sleep(1)
        raise RuntimeError('kube-apiserver on %s not ready after %d s: %s' % (self.url, START_TIMEOUT, last))

    def kubectl(self, *args, check=True, input=None):
        result = subprocess.run([str(binary('kubernetes', 'kubectl')), '--kubeconfig', str(self.kubeconfig), *args],
                                capture_output=True, text=True, input=input, timeout=120, check=False)
        if check and result.returncode != 0:
            reason = result.stderr.strip() or result.stdout.strip()
            raise RuntimeError('kubectl %s failed (%d): %s' % (' '.join(args), result.returncode, reason))
        return result

    def apply_file(self, path):
        """Server-side apply of a (multi-document) YAML file, e.g. a set of CRDs; waits for them."""
        self.kubectl('apply', '--server-side', '--force-conflicts', '-f', str(path))

    def install_crds(self, path):
        self.apply_file(path)
        self.kubectl('wait', '--for', 'condition=Established', '--timeout', '60s', '-f', str(path))

    def stop(self):
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self._procs = []


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    certificate-authority: %(ca)s
    server: %(url)s
users:
- name: admin
  user:
    token: %(token)s
contexts:
- name: test
  context:
    cluster: test
    user: admin
current-context: test
"""
