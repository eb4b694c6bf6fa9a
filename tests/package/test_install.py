# -*- coding: utf-8 -*-
"""The collection as a user gets it: `ansible-galaxy collection build`, then `install` of that tarball into a
fresh path, then the playbooks by their fully qualified names from that installed copy only (a throw-away
ansible.cfg, ANSIBLE_COLLECTIONS_PATH the fresh path; the collections we depend on come from the venv's
`ansible` package, as --offline resolves them). Runs on the controller only, contacts no node and no AWX:
syntax checks, the validate playbook against the installed example inventory, the AWX set-up's checks.
About 10 s of CPU; `make package` runs it, and `make test` before the lab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((REPO / 'galaxy.yml').read_text())
PLACEHOLDER_CHECKSUM = 'sha256:' + '0' * 64
# The example inventory leaves these empty on purpose (validate refuses until a site pins what it verified).
EXAMPLE_CHECKSUMS = ('kine_datastore_kine_checksum', 'storage_layer_piraeus_operator_checksum',
                     'kubevirt_operator_checksum', 'kubevirt_cdi_operator_checksum')
LEFT_OUT = ('lab/', 'benchmarks/', 'roles/lab_bed/', 'inventories/lab/', 'tests/integration/', 'tests/unit/lab/',
            'tests/standins/', 'tests/package/', 'scripts/', 'Makefile', 'playbooks/lab.yml',
            'playbooks/lab_down.yml', 'tests/sanity/run.sh', '.cache/', '.pytest_cache/')
SHIPPED = ('MANIFEST.json', 'FILES.json', 'meta/runtime.yml', 'README.md', 'CHANGELOG.rst', 'changelogs/changelog.yaml',
           'execution-environment.yml', 'plugins/modules/fence.py', 'plugins/action/validate_inventory.py',
           'roles/validate_inventory/tasks/main.yml', 'roles/kine_datastore/tasks/takeover.yml',
           'inventories/example/hosts.yml', 'awx/defaults.yml', 'awx/surveys/failover.json',
           'awx/credential_types/bmc.json', 'playbooks/site.yml', 'playbooks/validate.yml',
           'playbooks/failover.yml', 'playbooks/recover.yml', 'playbooks/awx_setup.yml')


def tool(name):
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.skip('%s is not installed' % name)
    return found


class Installed:
    def __init__(self, work):
        self.work = work
        self.tarball = None
        self.path = work / 'collections'
        self.collection = self.path / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name']
        (work / 'ansible.cfg').write_text('[defaults]\nretry_files_enabled = false\n')
        self.env = dict((key, value) for key, value in os.environ.items() if not key.startswith('ANSIBLE_'))
        self.env.update(ANSIBLE_CONFIG=str(work / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(self.path),
                        ANSIBLE_HOME=str(work / 'home'), ANSIBLE_LOCAL_TEMP=str(work / 'tmp'),
                        ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')

    def run(self, *argv):
        return subprocess.run(argv, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=300, check=False)

    def playbook(self, *argv):
        return self.run(tool('ansible-playbook'), '-i', str(self.collection / 'inventories' / 'example'), *argv)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    box = Installed(tmp_path_factory.mktemp('package'))
    built = box.run(tool('ansible-galaxy'), 'collection', 'build', '--output-path', str(box.work / 'dist'), str(REPO))
    assert built.returncode == 0, built.stdout + built.stderr
    box.tarball = box.work / 'dist' / ('%s-%s-%s.tar.gz' % (GALAXY['namespace'], GALAXY['name'], GALAXY['version']))
    done = box.run(tool('ansible-galaxy'), 'collection', 'install', '--offline', '-p', str(box.path), str(box.tarball))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (box.collection / 'MANIFEST.json').is_file()
    assert not box.collection.is_symlink()
    return box


def test_the_tarball_ships_what_a_user_runs_and_leaves_the_lab_out(installed):
    with tarfile.open(installed.tarball) as tar:
        names = tar.getnames()
    shipped = [name for name in SHIPPED if name not in names]
    assert shipped == [], 'missing from the tarball: %s' % shipped
    leaked = sorted(name for name in names for prefix in LEFT_OUT if name == prefix.rstrip('/') or name.startswith(prefix))
    assert leaked == [], 'in the tarball but not for users: %s' % leaked[:20]
    assert not [name for name in names if '__pycache__' in name or name.endswith('.pyc')]


def test_the_installed_files_match_the_manifest(installed):
    verified = installed.run(tool('ansible-galaxy'), 'collection', 'verify', '--offline', '-p', str(installed.path),
                             '%s.%s' % (GALAXY['namespace'], GALAXY['name']))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_every_shipped_playbook_parses_by_its_fqcn_from_the_installed_copy(installed):
    """import_playbook (validate.yml) and the roles by FQCN resolve inside the installed collection."""
    names = sorted(path.stem for path in (installed.collection / 'playbooks').glob('*.yml'))
    assert {'site', 'validate', 'failover', 'recover', 'awx_setup'} <= set(names)
    checked = installed.playbook('--syntax-check', *['%s.%s.%s' % (GALAXY['namespace'], GALAXY['name'], name)
                                                     for name in names])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for name in names:
        assert 'playbook: %s' % (installed.collection / 'playbooks' / (name + '.yml')) in checked.stdout


def test_validate_by_fqcn_passes_on_the_example_inventory_and_contacts_only_localhost(installed):
    """As the example's vault.yml.example says: a copy of the inventory, its vault created and encrypted, the run given
    the vault's password. validate reads the BMC logins through the vault and shows none of them."""
    site = installed.work / 'site'
    shutil.copytree(installed.collection / 'inventories' / 'example', site)
    vault = site / 'group_vars' / 'all' / 'vault.yml'
    shutil.copy(vault.with_name('vault.yml.example'), vault)
    (installed.work / 'vault-password').write_text('example-vault-password\n')
    encrypted = installed.run(tool('ansible-vault'), 'encrypt', '--vault-password-file',
                              str(installed.work / 'vault-password'), str(vault))
    assert encrypted.returncode == 0 and vault.read_text().startswith('$ANSIBLE_VAULT;'), encrypted.stderr
    pinned = json.dumps(dict((name, PLACEHOLDER_CHECKSUM) for name in EXAMPLE_CHECKSUMS))
    ran = installed.run(tool('ansible-playbook'), '-i', str(site), '--vault-password-file',
                        str(installed.work / 'vault-password'), 'twinroom.ha.validate', '-e', pinned)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert 'change-me-room-a' not in ran.stdout + ran.stderr
    recap = ran.stdout.split('PLAY RECAP')[1].split()
    assert recap[1] == 'localhost' and 'unreachable=0' in recap and len([w for w in recap if w.endswith(':')]) == 1


def test_validate_by_fqcn_refuses_the_example_inventory_as_shipped_naming_the_placeholders(installed):
    ran = installed.playbook('twinroom.ha.validate')
    assert ran.returncode == 2
    for name in EXAMPLE_CHECKSUMS:
        assert '%s is empty (a placeholder to fill in)' % name in ran.stdout


def test_the_awx_setup_checks_find_their_surveys_in_the_installed_copy(installed):
    secrets = dict((name, 'x') for name in yaml.safe_load((REPO / 'awx' / 'defaults.yml').read_text())['awx_setup_required'])
    ran = installed.playbook('twinroom.ha.awx_setup', '--tags', 'awx_setup_check', '-e', json.dumps(secrets))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert 'item=failover_recover' in ran.stdout and 'item=datastore' in ran.stdout


def test_the_awx_setup_names_the_missing_secrets_before_contacting_awx(installed):
    ran = installed.playbook('twinroom.ha.awx_setup', '-e', 'awx_setup_scm_url=https://git.example.invalid/ha.git')
    assert ran.returncode == 2
    assert 'Missing awx_setup_ssh_username, awx_setup_ssh_private_key, awx_setup_bmc_username' in ' '.join(ran.stdout.split())
