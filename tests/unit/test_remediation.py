"""MediK8s value choices (plugins/module_utils/remediation.py): parametrized over
tests/unit/fixtures/remediation/plan.yml, plus minHealthy on its own."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils import remediation

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "remediation" / "plan.yml").read_text())
OPTIONS = dict(namespace="medik8s", template_name="twinroom-fence-redfish", min_healthy=1)


def inventory_node(n):
    """A node as the role hands it over: the inventory's variable names, plus its room."""
    node = {"inventory_hostname": n["name"], "room": n["room"], "twinroom_zone": n["zone"],
            "twinroom_bmc_address": n["address"], "twinroom_bmc_systems_uri": n.get("uri", "/redfish/v1/Systems/1"),
            "twinroom_bmc_username": n.get("user", "fencer"), "twinroom_bmc_password": n.get("password", "secret"),
            "twinroom_bmc_validate_certs": n.get("validate", True)}
    if "port" in n:
        node["twinroom_bmc_port"] = n["port"]
    return node


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_plan(case):
    secret_name = "fence-creds"
    result = remediation.plan([inventory_node(n) for n in case["nodes"]],
                              dict(OPTIONS, secret_name=secret_name, **case.get("options", {})))
    expect = case["expect"]
    assert result["errors"] == [" ".join(e.split()) for e in expect["errors"]]
    if "template_spec" in expect:
        assert result["template"]["spec"] == {"template": {"spec": expect["template_spec"]}}
        assert result["template"]["metadata"] == {"name": "twinroom-fence-redfish", "namespace": "medik8s",
                                                  "labels": {"app.kubernetes.io/managed-by": "twinroom.ha"}}
    if "secrets" in expect:
        assert dict((s["metadata"]["name"], s["stringData"]) for s in result["secrets"]) == expect["secrets"]
        assert all(s["metadata"]["namespace"] == "medik8s" for s in result["secrets"])
    if "health_checks" in expect:
        checks = dict((c["metadata"]["name"], c["spec"]) for c in result["health_checks"])
        assert sorted(checks) == sorted(expect["health_checks"])
        for name, wanted in expect["health_checks"].items():
            assert dict((k, checks[name][k]) for k in wanted) == wanted
            assert checks[name]["remediationTemplate"] == {
                "apiVersion": "fence-agents-remediation.medik8s.io/v1alpha1",
                "kind": "FenceAgentsRemediationTemplate", "name": "twinroom-fence-redfish", "namespace": "medik8s"}
            assert checks[name]["unhealthyConditions"] == [
                {"type": "Ready", "status": "False", "duration": "300s"},
                {"type": "Ready", "status": "Unknown", "duration": "300s"}]


@pytest.mark.parametrize("value,selected,result", [
    (1, 2, 1), ("1", 3, 1), (0, 2, 0), (2, 3, 2), (1, None, 1), (5, None, 5),
])
def test_min_healthy_accepts_absolute_numbers(value, selected, result):
    assert remediation.min_healthy("nhc", value, selected) == result


@pytest.mark.parametrize("value,selected,message", [
    ("51%", 2, "NodeHealthCheck nhc: min_healthy is '51%', a percentage. Give an absolute number of nodes: "
               "NodeHealthCheck rounds a percentage up, and with one control-plane node per room 51% of 2 nodes is "
               "2, so the first failure blocks all remediation. Here 51% of 2 nodes rounds up to 2 healthy nodes, "
               "so a single failure already blocks every remediation."),
    ("34%", 6, "NodeHealthCheck nhc: min_healthy is '34%', a percentage. Give an absolute number of nodes: "
               "NodeHealthCheck rounds a percentage up, and with one control-plane node per room 51% of 2 nodes is "
               "2, so the first failure blocks all remediation. Here 34% of 6 nodes rounds up to 3 healthy nodes, "
               "so remediation stops after 3 failures."),
    ("51%", None, "NodeHealthCheck nhc: min_healthy is '51%', a percentage. Give an absolute number of nodes: "
                  "NodeHealthCheck rounds a percentage up, and with one control-plane node per room 51% of 2 nodes "
                  "is 2, so the first failure blocks all remediation."),
    (2, 2, "NodeHealthCheck nhc: min_healthy 2 with 2 nodes selected blocks all remediation: once one node is "
           "unhealthy, fewer than 2 are healthy. Use at most 1."),
    (1, 1, "NodeHealthCheck nhc selects a single node: with min_healthy 1 it can never remediate it, and with 0 "
           "MediK8s would fence the last node standing. Leave that node to the room failover, or select more "
           "nodes."),
    (-1, None, "NodeHealthCheck nhc: min_healthy is '-1': give an absolute number of nodes, such as 1."),
    (True, None, "NodeHealthCheck nhc: min_healthy is 'True': give an absolute number of nodes, such as 1."),
    ("one", None, "NodeHealthCheck nhc: min_healthy is 'one': give an absolute number of nodes, such as 1."),
])
def test_min_healthy_refuses(value, selected, message):
    with pytest.raises(ValueError) as raised:
        remediation.min_healthy("nhc", value, selected)
    assert str(raised.value) == message
