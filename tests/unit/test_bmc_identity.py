"""Binding nodes to their BMCs: UUID comparison (both SMBIOS byte orders) and the refusals, with exact text."""
import pytest

from ansible_collections.twinroom.ha.plugins.module_utils import bmc_identity as bi

A = "4c4c4544-0042-3510-8057-b2c04f4e3232"
A_SWAPPED = "44454c4c-4200-1035-8057-b2c04f4e3232"  # how SMBIOS stores the first three fields
B = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.mark.parametrize("first, second, same", [
    (A, A, True), (A, A.upper(), True), (A, A_SWAPPED, True), (A.replace("-", ""), A, True),
    (A, B, False), (A, None, False), ("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000",
                                      False), ("Not Settable", "Not Settable", False),
])
def test_same_machine(first, second, same):
    assert bi.same_machine(first, second) is same


def test_bindings_recorded_when_every_bmc_reports_its_node():
    bindings = bi.check_bindings(["a-w1", "a-w2"], {"a-w1": A, "a-w2": B.upper()},
                                 {"a-w1": {"uuid": A_SWAPPED}, "a-w2": {"uuid": B}})
    assert bindings == {"a-w1": {"machine_id": A, "bmc_identity": A_SWAPPED},
                        "a-w2": {"machine_id": B, "bmc_identity": B}}


def test_a_bmc_of_another_node_is_refused_naming_its_owner():
    with pytest.raises(bi.BmcIdentityError) as raised:
        bi.check_bindings(["a-w1", "a-w2"], {"a-w1": A, "a-w2": B}, {"a-w1": {"uuid": A}, "a-w2": {"uuid": A}})
    assert raised.value.msg == (
        "Refusing to bind nodes to their BMCs: the BMC configured for node a-w2 reports machine %s, but a-w2 is "
        "machine %s - that BMC belongs to node a-w1. Fencing through a BMC that belongs to another machine would "
        "power off the wrong one; check twinroom_bmc_address, twinroom_bmc_port and twinroom_bmc_systems_uri of those "
        "nodes." % (A, B))


def test_unreadable_identities_are_refused():
    with pytest.raises(bi.BmcIdentityError) as raised:
        bi.check_bindings(["a-w1", "a-w2"], {"a-w1": "", "a-w2": B}, {"a-w2": {"error": "GET failed: 401"}})
    assert raised.value.msg.startswith(
        "Refusing to bind nodes to their BMCs: node a-w1 reports no machine UUID (''): cannot bind it to its BMC; "
        "the BMC of node a-w2 did not report its machine: GET failed: 401. ")


def test_two_nodes_with_one_uuid_are_refused():
    with pytest.raises(bi.BmcIdentityError) as raised:
        bi.check_bindings(["a-w1", "a-w2"], {"a-w1": A, "a-w2": A}, {"a-w1": {"uuid": A}, "a-w2": {"uuid": A}})
    assert "nodes a-w1 and a-w2 report the same machine UUID %s" % A in raised.value.msg


@pytest.mark.parametrize("recorded, reported, expected", [
    (None, {"uuid": B}, None),
    (A, {"uuid": A_SWAPPED}, None),
    (A, {"uuid": B}, "the BMC 127.77.1.11:8443 of node a-w1 reports machine %s, but a-w1 is machine %s (bound by "
                     "site.yml): it is another machine's BMC. Check twinroom_bmc_address of a-w1" % (B, A)),
    (A, {"error": "GET /redfish/v1/Systems/1 failed: timed out"},
     "the BMC 127.77.1.11:8443 of node a-w1 does not say which machine it controls (GET /redfish/v1/Systems/1 "
     "failed: timed out), so it cannot be told from another machine's BMC"),
], ids=["no binding recorded", "same machine", "another machine", "unreadable"])
def test_check_fence_target(recorded, reported, expected):
    assert bi.check_fence_target("a-w1", recorded, reported, "127.77.1.11:8443") == expected
