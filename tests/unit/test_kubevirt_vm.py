"""KubeVirt VMs with two-room defaults: the pure builder and decisions of plugins/module_utils/kubevirt_vm.py."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils import kubevirt_vm as kv, object_diff, vm_runner

RUN_STRATEGY_CASES = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "kubevirt_vm" / "run_strategy.yml").read_text())
ZONE = "topology.kubernetes.io/zone"


def params(**overrides):
    """The module's parameters as AnsibleModule hands them over (unset options are None)."""
    base = dict((key, spec.get("default")) for key, spec in vm_runner.VM_SPEC.items())
    base.update(name="web-1", namespace="prod")
    base.update(overrides)
    return base


def existing_vm(**spec):
    return {"metadata": {"name": "web-1", "namespace": "prod"}, "spec": spec}


@pytest.mark.parametrize("case", RUN_STRATEGY_CASES, ids=[c["name"] for c in RUN_STRATEGY_CASES])
def test_run_strategy_for_each_state(case):
    existing = None if case["existing"] is None else existing_vm(**case["existing"])
    if "error" in case:
        with pytest.raises(kv.VmError) as raised:
            kv.decide_run_strategy(case["state"], case["requested"], existing)
        assert raised.value.msg == case["error"]
    else:
        assert kv.decide_run_strategy(case["state"], case["requested"], existing) == case["expect"]


def test_new_vm_gets_the_two_room_defaults():
    vm = kv.build_vm(params())
    spec = vm["spec"]
    template = spec["template"]["spec"]
    assert vm["apiVersion"] == "kubevirt.io/v1" and vm["kind"] == "VirtualMachine"
    assert spec["runStrategy"] == "Always"
    assert "running" not in spec
    assert template["evictionStrategy"] == "LiveMigrate"
    assert template["domain"]["cpu"] == {"cores": 1}
    assert template["domain"]["memory"] == {"guest": "1Gi"}
    assert template["domain"]["devices"]["interfaces"] == [{"name": "default", "masquerade": {}}]
    assert template["networks"] == [{"name": "default", "pod": {}}]
    assert template["volumes"] == [{"name": "rootdisk", "dataVolume": {"name": "web-1-rootdisk"}}]
    assert spec["dataVolumeTemplates"] == [{
        "metadata": {"name": "web-1-rootdisk"},
        "spec": {
            "storage": {"storageClassName": "twinroom-vm-replicated", "accessModes": ["ReadWriteMany"],
                        "volumeMode": "Block", "resources": {"requests": {"storage": "10Gi"}}},
            "source": {"blank": {}},
        },
    }]
    assert "affinity" not in template
    assert spec["template"]["metadata"]["labels"] == {"twinroom.io/vm": "web-1"}


@pytest.mark.parametrize("source,expected", [
    ({"type": "blank"}, {"blank": {}}),
    ({"type": "http", "url": "https://images.example/d.qcow2"}, {"http": {"url": "https://images.example/d.qcow2"}}),
    ({"type": "registry", "url": "docker://registry.example/disk:1"}, {"registry": {"url": "docker://registry.example/disk:1"}}),
    ({"type": "pvc", "name": "golden"}, {"pvc": {"name": "golden", "namespace": "prod"}}),
    ({"type": "pvc", "name": "golden", "namespace": "images"}, {"pvc": {"name": "golden", "namespace": "images"}}),
], ids=["blank", "http", "registry", "pvc-same-namespace", "pvc-other-namespace"])
def test_datavolume_source(source, expected):
    vm = kv.build_vm(params(source=source, storage_class="fast", disk_size="40Gi"))
    dv = vm["spec"]["dataVolumeTemplates"][0]["spec"]
    assert dv["source"] == expected
    assert dv["storage"]["storageClassName"] == "fast"
    assert dv["storage"]["resources"]["requests"]["storage"] == "40Gi"


@pytest.mark.parametrize("source,message", [
    ({"type": "http"}, "The http source of VirtualMachine prod/web-1 needs source.url (for example https://host/disk.qcow2)."),
    ({"type": "registry"},
     "The registry source of VirtualMachine prod/web-1 needs source.url (for example docker://registry/image:tag)."),
    ({"type": "pvc"}, "The pvc source of VirtualMachine prod/web-1 needs source.name, the PVC to clone."),
    ({"type": "blank", "url": "https://x"}, "source.url does not apply to a blank source of VirtualMachine prod/web-1."),
    ({"type": "http", "url": "https://x", "name": "n"},
     "source.name does not apply to a http source of VirtualMachine prod/web-1."),
], ids=["http-no-url", "registry-no-url", "pvc-no-name", "blank-with-url", "http-with-name"])
def test_bad_source_is_refused(source, message):
    with pytest.raises(kv.VmError) as raised:
        kv.build_vm(params(source=source))
    assert raised.value.msg == message


def test_home_room_is_a_preferred_zone_affinity_and_a_label():
    vm = kv.build_vm(params(home_room="room-a"))
    assert vm["metadata"]["labels"] == {"twinroom.io/home-room": "room-a"}
    node_affinity = vm["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    assert list(node_affinity) == ["preferredDuringSchedulingIgnoredDuringExecution"]
    assert node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] == [{
        "weight": 100,
        "preference": {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["room-a"]}]},
    }]
    assert kv.home_room_of(vm) == "room-a"


@pytest.mark.parametrize("required,updating,key,absent", [
    (False, False, "preferredDuringSchedulingIgnoredDuringExecution", None),
    (True, False, "requiredDuringSchedulingIgnoredDuringExecution", None),
    (False, True, "preferredDuringSchedulingIgnoredDuringExecution", "requiredDuringSchedulingIgnoredDuringExecution"),
    (True, True, "requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution"),
], ids=["preferred-new", "required-new", "preferred-patch-clears-required", "required-patch-clears-preferred"])
def test_anti_affinity_group(required, updating, key, absent):
    p = params(anti_affinity_group="db", anti_affinity_required=required)
    vm = kv.build_vm(p, existing_vm(runStrategy="Always") if updating else None)
    template = vm["spec"]["template"]
    assert template["metadata"]["labels"] == {"twinroom.io/vm": "web-1", "twinroom.io/anti-affinity-group": "db"}
    anti = template["spec"]["affinity"]["podAntiAffinity"]
    term = {
        "labelSelector": {
            "matchLabels": {"twinroom.io/anti-affinity-group": "db"},
            "matchExpressions": [{"key": "twinroom.io/vm", "operator": "NotIn", "values": ["web-1"]}],
        },
        "topologyKey": ZONE,
    }
    assert anti[key] == ([term] if required else [{"weight": 100, "podAffinityTerm": term}])
    if absent:
        assert anti[absent] is None      # JSON merge patch: remove the other kind of term
    else:
        assert set(anti) == {key}


def test_existing_vm_gets_only_what_the_options_set():
    vm = kv.build_vm(params(memory="2Gi", state="present"), existing_vm(runStrategy="Halted"))
    assert vm["spec"] == {
        "template": {"metadata": {"labels": {"twinroom.io/vm": "web-1"}},
                     "spec": {"domain": {"memory": {"guest": "2Gi"}}}},
    }


def test_stopping_an_existing_vm_sends_the_run_strategy_and_drops_spec_running():
    vm = kv.build_vm(params(state="stopped"), existing_vm(running=True))
    assert vm["spec"]["runStrategy"] == "Halted"
    assert vm["spec"]["running"] is None
    assert "dataVolumeTemplates" not in vm["spec"]
    assert vm["spec"]["template"]["spec"] == {}


def test_started_on_a_running_vm_sends_no_run_strategy():
    vm = kv.build_vm(params(state="started"), existing_vm(runStrategy="RerunOnFailure"))
    assert "runStrategy" not in vm["spec"]


def test_cloud_init_adds_a_disk_and_a_volume():
    vm = kv.build_vm(params(cloud_init_user_data="#cloud-config\n"))
    template = vm["spec"]["template"]["spec"]
    assert template["domain"]["devices"]["disks"][1] == {"name": "cloudinitdisk", "disk": {"bus": "virtio"}}
    assert template["volumes"][1] == {"name": "cloudinitdisk", "cloudInitNoCloud": {"userData": "#cloud-config\n"}}


@pytest.mark.parametrize("options,drift", [
    ({}, []),
    ({"disk_size": "10Gi", "storage_class": "twinroom-vm-replicated", "source": {"type": "blank"}}, []),
    ({"disk_size": "20Gi"}, ["disk_size"]),
    ({"storage_class": "other", "source": {"type": "http", "url": "https://x"}}, ["storage_class", "source"]),
    ({"cloud_init_user_data": "#cloud-config\n"}, ["cloud_init_user_data"]),
], ids=["nothing-given", "same-values", "bigger-disk", "class-and-source", "cloud-init-added"])
def test_create_only_options_that_differ_are_named(options, drift):
    created = kv.build_vm(params())
    assert kv.creation_only_drift(params(**options), created) == drift


def test_creation_only_drift_is_empty_for_a_new_vm():
    assert kv.creation_only_drift(params(disk_size="1Ti"), None) == []


@pytest.mark.parametrize("home,known,source,message", [
    ("room-c", ["room-a", "room-b"], "nodes",
     "Unknown home room 'room-c' for VirtualMachine prod/web-1: the known rooms are room-a and room-b "
     "(from the topology.kubernetes.io/zone labels of the cluster's Nodes)."),
    ("room_a", ["room-a", "room-b"], "rooms",
     "Unknown home room 'room_a' for VirtualMachine prod/web-1: the known rooms are room-a and room-b "
     "(from the option rooms)."),
    ("room-a", [], "nodes",
     "Unknown home room 'room-a' for VirtualMachine prod/web-1: no Node carries the label "
     "topology.kubernetes.io/zone, so the cluster has no rooms yet. Label the nodes (site.yml does) or give "
     "the rooms option."),
    ("room-a", [], "rooms", "Unknown home room 'room-a' for VirtualMachine prod/web-1: the option rooms is empty."),
], ids=["unknown-from-nodes", "group-name-instead-of-zone", "no-labelled-nodes", "empty-rooms-option"])
def test_unknown_home_room_is_refused_naming_the_known_ones(home, known, source, message):
    with pytest.raises(kv.VmError) as raised:
        kv.check_home_room(home, known, source, "VirtualMachine prod/web-1")
    assert raised.value.msg == message


def test_known_home_room_passes():
    assert kv.check_home_room("room-b", ["room-a", "room-b"], "nodes", "VirtualMachine prod/web-1") == "room-b"


def test_known_rooms_are_the_distinct_zone_labels_of_the_nodes():
    nodes = [
        {"metadata": {"name": "a-w1", "labels": {ZONE: "room-a"}}},
        {"metadata": {"name": "a-w2", "labels": {ZONE: "room-a"}}},
        {"metadata": {"name": "b-w1", "labels": {ZONE: "room-b"}}},
        {"metadata": {"name": "witness1", "labels": {}}},
        {"metadata": {"name": "bare"}},
    ]
    assert kv.known_rooms_from_nodes(nodes) == ["room-a", "room-b"]


@pytest.mark.parametrize("before,after,changed,diff", [
    ({"metadata": {"name": "v", "resourceVersion": "1", "generation": 1}, "spec": {"a": 1}, "status": {"x": 1}},
     {"metadata": {"name": "v", "resourceVersion": "2", "generation": 2, "managedFields": [{}]}, "spec": {"a": 1},
      "status": {"x": 2}},
     False, {"before": {}, "after": {}}),
    ({"metadata": {"name": "v"}, "spec": {"t": {"m": "1Gi", "c": 1}}},
     {"metadata": {"name": "v"}, "spec": {"t": {"m": "2Gi", "c": 1}}},
     True, {"before": {"spec": {"t": {"m": "1Gi"}}}, "after": {"spec": {"t": {"m": "2Gi"}}}}),
    ({"metadata": {"name": "v"}, "spec": {"runStrategy": "Always"}},
     {"metadata": {"name": "v", "labels": {"k": "v"}}, "spec": {"runStrategy": "Halted"}},
     True, {"before": {"metadata": {}, "spec": {"runStrategy": "Always"}},
            "after": {"metadata": {"labels": {"k": "v"}}, "spec": {"runStrategy": "Halted"}}}),
], ids=["bookkeeping-only", "memory", "label-and-run-strategy"])
def test_compare_ignores_status_and_api_bookkeeping(before, after, changed, diff):
    assert object_diff.compare(before, after) == (changed, diff)


@pytest.mark.parametrize("node,zones,home,room,in_home", [
    ("a-w1", {"a-w1": "room-a"}, "room-a", "room-a", True),
    ("b-w1", {"b-w1": "room-b"}, "room-a", "room-b", False),
    (None, {}, "room-a", None, None),
    ("a-w1", {"a-w1": "room-a"}, None, "room-a", None),
], ids=["at-home", "away", "not-running", "no-home-room"])
def test_vm_summary(node, zones, home, room, in_home):
    vm = kv.build_vm(params(home_room=home, anti_affinity_group="db"))
    vm["status"] = {"printableStatus": "Running" if node else "Stopped",
                    "conditions": [{"type": "Ready", "status": "True" if node else "False"}]}
    vmi = {"status": {"phase": "Running", "nodeName": node}} if node else None
    summary = kv.vm_summary(vm, vmi, zones)
    assert summary == {
        "name": "web-1", "namespace": "prod", "run_strategy": "Always",
        "status": "Running" if node else "Stopped", "ready": bool(node), "vmi_phase": "Running" if node else None,
        "node": node, "room": room, "home_room": home, "in_home_room": in_home,
        "anti_affinity_group": "db", "eviction_strategy": "LiveMigrate", "migration": None,
    }


def test_home_room_read_from_affinity_when_the_label_is_gone():
    vm = kv.build_vm(params(home_room="room-b"))
    del vm["metadata"]["labels"]
    assert kv.home_room_of(vm) == "room-b"
