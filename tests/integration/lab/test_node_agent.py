"""The node agent role keeps taints it did not set: a fenced node's out-of-service taint (and the
controller-manager's own taints) survive a site.yml run."""
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from playbook import failed_tasks, output, play_recap, run_playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
from twinroom_lab import drill  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.lab

NODE = "a-w1"
FOREIGN = {"key": "twinroom.io/test-keep-me", "value": "1", "effect": "PreferNoSchedule"}


def node_api():
    return client.CoreV1Api(config.new_client_from_config(config_file=drill.KUBECONFIG, context="room-a"))


def taints():
    return [(t.key, t.effect) for t in node_api().read_node(NODE).spec.taints or []]


def test_a_taint_set_by_someone_else_survives_the_node_agent():
    api = node_api()
    node = api.read_node(NODE)
    kept = client.ApiClient().sanitize_for_serialization(node.spec.taints or [])
    api.patch_node(NODE, {"spec": {"taints": kept + [FOREIGN]}})
    try:
        result = run_playbook("tests/integration/fixtures/node_agent.yml", drill.INVENTORY,
                              extra_vars={"node_agent_hosts": NODE})
        assert result.returncode == 0, failed_tasks(result)
        assert (FOREIGN["key"], FOREIGN["effect"]) in taints()
        assert play_recap(output(result))[NODE]["changed"] == 0, output(result)[-3000:]
    finally:
        current = client.ApiClient().sanitize_for_serialization(api.read_node(NODE).spec.taints or [])
        api.patch_node(NODE, {"spec": {"taints": [t for t in current if t["key"] != FOREIGN["key"]]}})
    assert (FOREIGN["key"], FOREIGN["effect"]) not in taints()
