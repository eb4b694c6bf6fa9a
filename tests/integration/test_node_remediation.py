"""The node_remediation role: off by default, refuses values that would not work before it touches the
cluster, and refuses a cluster without the MediK8s CRDs (the `api` fixture: a real kube-apiserver, which
has no MediK8s CRDs - they are not reachable from this machine's registries, see docs/node-remediation.md).
"""
import json
import os
import subprocess

import pytest
import yaml

from playbook import REPO

INVENTORY = {
    "all": {
        "children": {
            "room_a": {
                "hosts": {
                    "a-cp1": {"twinroom_bmc_address": "192.0.2.11", "twinroom_bmc_systems_uri": "/redfish/v1/Systems/1"},
                    "a-w1": {"twinroom_bmc_address": "192.0.2.12", "twinroom_bmc_systems_uri": "/redfish/v1/Systems/1"},
                },
                "vars": {"twinroom_zone": "room-a"},
            },
            "room_b": {
                "hosts": {
                    "b-cp1": {"twinroom_bmc_address": "192.0.2.21", "twinroom_bmc_systems_uri": "/redfish/v1/Systems/1"},
                    "b-w1": {"twinroom_bmc_address": "192.0.2.22", "twinroom_bmc_systems_uri": "/redfish/v1/Systems/1"},
                },
                "vars": {"twinroom_zone": "room-b"},
            },
        },
        "vars": {"twinroom_fence_method": "redfish", "twinroom_bmc_port": 443, "twinroom_bmc_validate_certs": True,
                 "twinroom_bmc_username": "fencer", "twinroom_bmc_password": "not-a-real-password"},
    }
}


def run(tmp_path, extra_vars, check=False):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    command = ["ansible-playbook", "-i", str(inventory), str(REPO / "tests/integration/fixtures/node_remediation.yml"),
               "--extra-vars", json.dumps(extra_vars)]
    if check:
        command.append("--check")
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=300,
                            check=False)
    report = json.loads(result.stdout)
    tasks = [(task["task"]["name"], task["hosts"]["localhost"]) for task in report["plays"][0]["tasks"]]
    return result, report, tasks


def failed(tasks):
    return [(name, outcome) for name, outcome in tasks if outcome.get("failed")]


def test_off_by_default_reads_and_changes_nothing(tmp_path):
    result, report, tasks = run(tmp_path, {"node_remediation_kubeconfig": "/nonexistent/kubeconfig"})
    assert result.returncode == 0, result.stdout[-2000:]
    assert report["stats"]["localhost"]["changed"] == 0
    ran = [name for name, outcome in tasks if not outcome.get("skipped")]
    skipped = [name for name, outcome in tasks if outcome.get("skipped")]
    assert len(ran) == 1 and ran[0].startswith("twinroom.ha.node_remediation : Validating arguments against arg spec")
    assert skipped == ["twinroom.ha.node_remediation : MediK8s node remediation"]


@pytest.mark.parametrize("extra,message", [
    ({"node_remediation_min_healthy": "51%"},
     "NodeHealthCheck twinroom-room-a: min_healthy is '51%', a percentage. Give an absolute number of nodes: "
     "NodeHealthCheck rounds a percentage up, and with one control-plane node per room 51% of 2 nodes is 2, so the "
     "first failure blocks all remediation. Here 51% of 2 nodes rounds up to 2 healthy nodes, so a single failure "
     "already blocks every remediation. "
     "NodeHealthCheck twinroom-room-b: min_healthy is '51%', a percentage. Give an absolute number of nodes: "
     "NodeHealthCheck rounds a percentage up, and with one control-plane node per room 51% of 2 nodes is 2, so the "
     "first failure blocks all remediation. Here 51% of 2 nodes rounds up to 2 healthy nodes, so a single failure "
     "already blocks every remediation."),
    ({"node_remediation_health_checks": [
        {"name": "control-plane", "nodes": 2, "min_healthy": "51%",
         "selector": {"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}}]},
     "NodeHealthCheck control-plane: min_healthy is '51%', a percentage. Give an absolute number of nodes: "
     "NodeHealthCheck rounds a percentage up, and with one control-plane node per room 51% of 2 nodes is 2, so the "
     "first failure blocks all remediation. Here 51% of 2 nodes rounds up to 2 healthy nodes, so a single failure "
     "already blocks every remediation."),
    ({"twinroom_fence_method": "ipmi"},
     "twinroom_fence_method is 'ipmi': node remediation drives fence_redfish only; use redfish, or leave "
     "node_remediation_enabled false."),
], ids=["percentage-per-room", "percentage-control-plane", "ipmi"])
def test_values_that_would_not_work_are_refused_before_the_cluster_is_read(tmp_path, extra, message):
    result, _report, tasks = run(tmp_path, dict(extra, node_remediation_enabled=True,
                                                node_remediation_kubeconfig="/nonexistent/kubeconfig"))
    assert result.returncode != 0
    assert [(name, outcome["msg"]) for name, outcome in failed(tasks)] == [("twinroom.ha.node_remediation : Refuse values that would not work",
                                                                            message)]
    assert "not-a-real-password" not in result.stdout + result.stderr


@pytest.mark.apiserver
@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_a_cluster_without_medik8s_is_refused_and_left_alone(tmp_path, api, check):
    result, report, tasks = run(tmp_path, {"node_remediation_enabled": True,
                                           "node_remediation_kubeconfig": str(api.kubeconfig)}, check=check)
    assert result.returncode != 0
    assert [(name, outcome["msg"]) for name, outcome in failed(tasks)] == [(
        "twinroom.ha.node_remediation : Refuse without the MediK8s operators",
        "MediK8s is not installed on this cluster (no CustomResourceDefinition nodehealthchecks.remediation.medik8s.io, "
        "fenceagentsremediationtemplates.fence-agents-remediation.medik8s.io). Install the Node Healthcheck and Fence "
        "Agents Remediation operators first (MediK8s ships them as bundles for the Operator Lifecycle Manager, from "
        "OperatorHub.io; this collection does not install them), or leave node_remediation_enabled false.")]
    assert report["stats"]["localhost"]["changed"] == 0
    assert api.kubectl("get", "namespace", "medik8s", check=False).returncode != 0
    assert "not-a-real-password" not in result.stdout + result.stderr
