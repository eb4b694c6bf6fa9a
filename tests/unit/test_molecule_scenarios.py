# -*- coding: utf-8 -*-
"""Every role site.yml applies on the rooms' hosts has a Molecule scenario (roles/<role>/molecule/default) that
converges it on containers, checks idempotence and verifies with testinfra - what `make molecule` runs."""

from __future__ import annotations

import os

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def host_roles(site):
    """Roles a play of ``site`` (a parsed playbook) applies whole on hosts other than the controller: its ``roles``
    and its include_role tasks without tasks_from."""
    found = set()
    for play in site:
        if "hosts" not in play or play["hosts"] == "localhost":
            continue
        for role in play.get("roles", []):
            found.add(role["role"] if isinstance(role, dict) else role)
        for task in play.get("tasks", []):
            include = task.get("ansible.builtin.include_role")
            if include and "tasks_from" not in include:
                found.add(include["name"])
    return sorted(name.split(".")[-1] for name in found)


def scenario_problems(role):
    base = os.path.join(REPO, "roles", role, "molecule", "default")
    if not os.path.isfile(os.path.join(base, "molecule.yml")):
        return ["%s: no roles/%s/molecule/default/molecule.yml" % (role, role)]
    problems = []
    with open(os.path.join(base, "molecule.yml")) as handle:
        sequence = yaml.safe_load(handle)["scenario"]["test_sequence"]
    for step in ("converge", "idempotence", "verify"):
        if step not in sequence:
            problems.append("%s: the test sequence has no %s" % (role, step))
    with open(os.path.join(base, "converge.yml")) as handle:
        converge = handle.read()
    if "twinroom.ha.%s" % role not in converge:
        problems.append("%s: converge.yml does not apply twinroom.ha.%s" % (role, role))
    tests = os.path.join(base, "tests")
    if not any(name.startswith("test_") and name.endswith(".py") for name in os.listdir(tests)):
        problems.append("%s: no testinfra tests in %s" % (role, tests))
    return problems


def test_every_role_site_applies_on_hosts_has_a_molecule_scenario():
    with open(os.path.join(REPO, "playbooks", "site.yml")) as handle:
        roles = host_roles(yaml.safe_load(handle))
    assert {"kine_datastore", "control_plane", "node_agent", "isolation_guard", "storage_host"} <= set(roles), roles
    assert [problem for role in roles for problem in scenario_problems(role)] == []


def test_a_role_without_a_scenario_is_named():
    whole = {"ansible.builtin.include_role": {"name": "twinroom.ha.no_such"}}
    part = {"ansible.builtin.include_role": {"name": "twinroom.ha.lab_bed", "tasks_from": "virt_handler_standin"}}
    site = [{"hosts": "room_a:room_b", "tasks": [whole, part]},
            {"hosts": "localhost", "roles": [{"role": "twinroom.ha.cluster_dns"}]}]
    assert host_roles(site) == ["no_such"]
    assert scenario_problems("no_such") == ["no_such: no roles/no_such/molecule/default/molecule.yml"]
