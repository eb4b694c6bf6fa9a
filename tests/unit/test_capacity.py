"""Room capacity check: parametrized over tests/unit/fixtures/capacity/*.yml, plus the request rules.

Fixtures describe a cluster compactly (see `cluster()`); the test turns it into objects shaped as the API
returns them and compares the listed keys of the result exactly.
"""
from pathlib import Path

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils import capacity, quantities, room_capacity

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "capacity").glob("*.yml"))
CASES = [yaml.safe_load(path.read_text()) for path in FIXTURES]


def container(requests, name="c"):
    return {"name": name, "resources": {"requests": dict(requests)}}


def owner(ref):
    kind, name = ref.split("/", 1)
    return [{"apiVersion": "v1", "kind": kind, "name": name, "uid": "uid-" + name, "controller": True}]


def pod(spec):
    meta = {"namespace": spec["namespace"], "name": spec["name"]}
    if spec.get("owner"):
        meta["ownerReferences"] = owner(spec["owner"])
    if spec.get("mirror"):
        meta["annotations"] = {capacity.MIRROR_ANNOTATION: "hash"}
    body = {"containers": [container(c, "c%d" % i) for i, c in enumerate(spec.get("containers", []))]}
    if spec.get("node"):
        body["nodeName"] = spec["node"]
    if spec.get("tolerations"):
        body["tolerations"] = spec["tolerations"]
    return {"metadata": meta, "spec": body, "status": {"phase": spec.get("phase", "Running")}}


def cluster(case):
    """Nodes, Pods, VMs and VMIs from a fixture. A VMI's `launcher` becomes its launcher pod on its node."""
    nodes = [{"metadata": {"name": name},
              "spec": dict((k, n[k]) for k in ("unschedulable", "taints") if k in n),
              "status": {"allocatable": {"cpu": n["cpu"], "memory": n["memory"], "pods": "110"}}}
             for name, n in case["nodes"].items()]
    pods = [pod(p) for p in case.get("pods", [])]
    vms = [{"metadata": {"namespace": v["namespace"], "name": v["name"]},
            "spec": {"runStrategy": v["runStrategy"], "template": {"spec": {"domain": v.get("domain", {})}}}}
           for v in case.get("vms", [])]
    vmis = []
    for v in case.get("vmis", []):
        vmis.append({"metadata": {"namespace": v["namespace"], "name": v["name"]},
                     "spec": {"domain": v.get("domain", {})},
                     "status": {"phase": "Running", "nodeName": v["node"]}})
        if "launcher" in v:
            pods.append(pod({"namespace": v["namespace"], "name": "virt-launcher-%s-x1" % v["name"],
                             "node": v["node"], "owner": "VirtualMachineInstance/" + v["name"],
                             "containers": [v["launcher"]]}))
    return nodes, pods, vms, vmis


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in FIXTURES])
def test_room_capacity(case):
    nodes, pods, vms, vmis = cluster(case)
    rooms, unplaced, _warnings = capacity.plan_rooms(case["rooms"], nodes, pods, vms, vmis)
    expect = case["expect"]
    assert all(info["fits"] for info in rooms.values()) is expect["fits"]
    for room, wanted in expect["rooms"].items():
        assert dict((key, rooms[room][key]) for key in wanted) == wanted, room
    if "table" in expect:
        assert capacity.capacity_table(rooms) == expect["table"]
    if "message" in expect:
        assert capacity.shortfall_message(rooms) == expect["message"]
    elif expect["fits"]:
        assert capacity.shortfall_message(rooms) is None
    assert unplaced == expect.get("unplaced", [])
    if "workloads" in expect:
        placed = capacity.workloads(pods, vms, vmis)[0]
        seen = [dict(kind=w["kind"], name=w["name"], source=w["source"],
                     requests={"cpu": quantities.format_cpu(w["requests"]["cpu"]),
                               "memory": quantities.format_memory(w["requests"]["memory"])}) for w in placed]
        assert seen == expect["workloads"]


@pytest.mark.parametrize("value,milli", [
    ("500m", 500), ("2", 2000), ("1.5", 1500), ("0.1", 100), ("1e3", 1000000), ("100u", 1), (None, 0), (3, 3000)])
def test_cpu_quantities(value, milli):
    assert quantities.cpu_milli(value) == milli


@pytest.mark.parametrize("value,size", [
    ("1Gi", 1 << 30), ("512Mi", 512 << 20), ("1e3", 1000), ("1G", 10 ** 9), ("1.5Ki", 1536), ("", 0), (1024, 1024)])
def test_memory_quantities(value, size):
    assert quantities.memory_bytes(value) == size


@pytest.mark.parametrize("milli,text", [(0, "0"), (2000, "2"), (2500, "2500m"), (-500, "-500m")])
def test_format_cpu(milli, text):
    assert quantities.format_cpu(milli) == text


@pytest.mark.parametrize("size,text", [(0, "0"), (1 << 30, "1Gi"), (3 << 29, "1536Mi"), (1000, "1000"),
                                       (1 << 40, "1Ti")])
def test_format_memory(size, text):
    assert quantities.format_memory(size) == text


REQUESTS = [
    ("containers add up", {"containers": [container({"cpu": "1", "memory": "1Gi"}),
                                          container({"cpu": "500m", "memory": "512Mi"})]}, (1500, 1536 << 20)),
    ("the largest init container wins over a smaller sum",
     {"initContainers": [container({"cpu": "3", "memory": "256Mi"}), container({"cpu": "1", "memory": "4Gi"})],
      "containers": [container({"cpu": "1", "memory": "1Gi"})]}, (3000, 4 << 30)),
    ("init containers do not add up with each other",
     {"initContainers": [container({"cpu": "1"}), container({"cpu": "1"})],
      "containers": [container({"cpu": "1500m"})]}, (1500, 0)),
    ("a sidecar adds to the containers and to later init containers",
     {"initContainers": [dict(container({"cpu": "500m", "memory": "128Mi"}), restartPolicy="Always"),
                         container({"cpu": "2", "memory": "1Gi"})],
      "containers": [container({"cpu": "1", "memory": "1Gi"})]}, (2500, (1 << 30) + (128 << 20))),
    ("pod overhead is added", {"containers": [container({"cpu": "1", "memory": "1Gi"})],
                               "overhead": {"cpu": "250m", "memory": "160Mi"}}, (1250, (1 << 30) + (160 << 20))),
    ("no requests", {"containers": [{"name": "c"}]}, (0, 0)),
]


@pytest.mark.parametrize("spec,expected", [c[1:] for c in REQUESTS], ids=[c[0] for c in REQUESTS])
def test_pod_requests(spec, expected):
    req = capacity.pod_requests({"spec": spec})
    assert (req["cpu"], req["memory"]) == expected


@pytest.mark.parametrize("domain,overhead,expected", [
    ({"memory": {"guest": "8Gi"}}, "256Mi", (100, (8 << 30) + (16 << 20) + (256 << 20))),
    ({"cpu": {"cores": 2, "sockets": 2, "threads": 2}, "memory": {"guest": "1Gi"}}, "0",
     (800, (1 << 30) + (2 << 20))),
    ({"resources": {"requests": {"cpu": "3", "memory": "2Gi"}}}, "100Mi", (3000, (2 << 30) + (4 << 20) + (100 << 20))),
    ({}, "256Mi", (100, 256 << 20)),
])
def test_vm_estimate(domain, overhead, expected):
    req = capacity.vm_estimate(domain, overhead)
    assert (req["cpu"], req["memory"]) == expected


def test_rooms_must_be_room_a_and_room_b():
    with pytest.raises(capacity.CapacityError) as raised:
        capacity.plan_rooms({"room_a": ["a1"], "hall": ["h1"]}, [], [], [], [])
    assert raised.value.msg == ("rooms must name exactly room_a and room_b (got hall, room_a): the check moves one "
                                "room onto the other.")


def test_a_listed_node_missing_from_the_api_is_a_warning_and_holds_nothing():
    nodes, pods, vms, vmis = cluster({"nodes": {"a1": {"cpu": "1", "memory": "1Gi"}},
                                      "pods": [{"namespace": "x", "name": "p", "node": "a1", "owner": "ReplicaSet/p",
                                                "containers": [{"cpu": "100m", "memory": "1Mi"}]}]})
    rooms, _unplaced, warnings = capacity.plan_rooms({"room_a": ["a1"], "room_b": ["b1"]}, nodes, pods, vms, vmis)
    assert warnings == ["room_b: no Node object for b1; counted as having no capacity."]
    assert rooms["room_a"]["fits"] is False
    assert rooms["room_a"]["free"] == {"cpu": "0", "memory": "0"}


def test_fail_on_shortfall_raises_with_the_result():
    case = yaml.safe_load((Path(__file__).parent / "fixtures" / "capacity" / "overfilled.yml").read_text())
    objects = cluster(case)
    params = dict(rooms=case["rooms"], kubeconfig=None, context=None, fail_on_shortfall=True,
                  vm_memory_overhead="256Mi")
    with pytest.raises(capacity.CapacityError) as raised:
        room_capacity.run_capacity_info(params, reader=lambda kubeconfig, context: objects)
    assert raised.value.msg == case["expect"]["message"]
    assert raised.value.details["fits"] is False
    assert raised.value.details["table"] == case["expect"]["table"]
    report = room_capacity.run_capacity_info(dict(params, fail_on_shortfall=False),
                                             reader=lambda kubeconfig, context: objects)
    assert report["changed"] is False and report["fits"] is False


def test_bad_overhead_is_refused():
    params = dict(rooms={}, fail_on_shortfall=False, vm_memory_overhead="lots")
    with pytest.raises(capacity.CapacityError) as raised:
        room_capacity.run_capacity_info(params, reader=lambda kubeconfig, context: ([], [], [], []))
    assert raised.value.msg == "vm_memory_overhead 'lots' is not a Kubernetes quantity (for example 256Mi)."


CP = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize("tolerations,taint,result", [
    ([], CP, False),
    ([{"key": CP["key"], "operator": "Exists"}], CP, True),
    ([{"key": CP["key"], "operator": "Exists", "effect": "NoExecute"}], CP, False),
    ([{"operator": "Exists"}], CP, True),
    ([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}], {"key": "dedicated", "value": "db",
                                                                     "effect": "NoSchedule"}, True),
    ([{"key": "dedicated", "value": "web"}], {"key": "dedicated", "value": "db", "effect": "NoSchedule"}, False),
    ([{"key": "other", "operator": "Exists"}], CP, False),
])
def test_tolerates(tolerations, taint, result):
    assert capacity.tolerates(tolerations, taint) is result
