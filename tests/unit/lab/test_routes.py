"""Lab traffic stays on the machine: which node addresses would not route through a lab bridge."""
from twinroom_lab import routes


def test_every_address_on_a_lab_bridge_passes():
    assert routes.check({"a-cp1": ["10.77.1.10", "10.77.0.110"]},
                        {"10.77.1.10": "podman1", "10.77.0.110": "podman3"}, {"podman1", "podman3"}) == []


def test_an_address_via_the_default_route_or_no_route_is_named():
    assert routes.check({"b-w1": ["10.77.2.11", "10.77.0.211"], "a-w1": ["10.77.1.11"]},
                        {"10.77.2.11": "eth0", "10.77.0.211": None, "10.77.1.11": "podman1"},
                        {"podman1"}) == ["b-w1 10.77.2.11 via eth0", "b-w1 10.77.0.211 via no route"]
