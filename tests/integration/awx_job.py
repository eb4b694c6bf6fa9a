"""A job of one of awx/defaults.yml's job templates, run the way AWX runs it: through ansible-runner (the engine AWX
hands every job to), in a private data directory laid out as AWX writes it.

- ``project/``: the project's checkout (this repository), where the template's playbook is found and whose
  ``ansible.cfg`` applies.
- ``inventory/hosts``: an executable script printing the inventory as JSON. AWX imports an SCM inventory source with
  ``ansible-inventory --list --export`` (group variables kept on their groups) and writes the job's inventory back as
  such a script; here the script prints what that command printed for the inventory path.
- ``env/extravars``: the survey's answers and the variables the credentials inject (each credential type's
  ``injectors.extra_vars``, rendered with the credential's inputs and ``tower.filename``); ``env/envvars``: their
  ``injectors.env``; each ``injectors.file`` template written to a file of its own, mode 0600.
- ``env/cmdline``: ``--check`` for a job of type check.

The SSH credential (Machine) is left out: AWX gives its key to ssh-agent, and the lab's inventory names its own key.
"""
import json
import stat
import subprocess
from pathlib import Path

import ansible_runner
import jinja2
import yaml

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / "awx"


def template(name):
    """The job template called name in awx/defaults.yml."""
    templates = yaml.safe_load((AWX / "defaults.yml").read_text())["awx_setup_job_templates"]
    return next(t for t in templates if t["name"] == name)


def _write(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _inject(root, credentials):
    """(extra vars, env vars) the credentials inject: {credential type file stem: inputs}."""
    extra_vars, env_vars = {}, {}
    render = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for kind, inputs in credentials.items():
        injectors = json.loads((AWX / "credential_types" / (kind + ".json")).read_text())["injectors"]
        files = {}
        for key, text in injectors.get("file", {}).items():
            path = root / "env" / ("credential-%s-%s" % (kind, key.split(".", 1)[1]))
            _write(path, render.from_string(text).render(**inputs))
            files[key.split(".", 1)[1]] = str(path)
        values = dict(inputs, tower={"filename": files})
        extra_vars.update((k, render.from_string(v).render(**values)) for k, v in injectors.get("extra_vars", {}).items())
        env_vars.update((k, render.from_string(v).render(**values)) for k, v in injectors.get("env", {}).items())
    return extra_vars, env_vars


def private_data_dir(root, job_template, inventory, answers=None, credentials=None, check=False):
    """Lay out root as AWX does for a job of job_template (a dict of awx/defaults.yml) on inventory (a path in the
    repository), with the survey's answers and the credentials' inputs ({credential type: inputs})."""
    root = Path(root)
    (root / "project").symlink_to(REPO)
    listed = subprocess.run(["ansible-inventory", "-i", str(REPO / inventory), "--list", "--export"], check=True,
                            capture_output=True, text=True, cwd=REPO).stdout
    _write(root / "inventory" / "hosts", "#!/usr/bin/env python3\nprint(%r)\n" % listed, 0o700)
    extra_vars, env_vars = _inject(root, credentials or {})
    extra_vars.update(answers or {})
    _write(root / "env" / "extravars", yaml.safe_dump(extra_vars))
    _write(root / "env" / "envvars", yaml.safe_dump(env_vars))
    if check:
        _write(root / "env" / "cmdline", "--check")
    return root


def run(root, job_template, timeout=900):
    """Run the job as AWX would hand it to ansible-runner; the runner's Runner (status, rc, stdout)."""
    assert stat.S_IMODE((Path(root) / "inventory" / "hosts").stat().st_mode) & 0o100
    return ansible_runner.run(private_data_dir=str(root), playbook=job_template["playbook"], quiet=True,
                              timeout=timeout)


def stdout(runner):
    """The job's output, as AWX shows it."""
    return runner.stdout.read()
