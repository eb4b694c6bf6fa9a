"""The lab's node-side guest check (lab/twinroom_lab/guests.py): QEMU processes read from a node's /proc listing,
and the VMs that run more than once over the nodes of one sample."""
from twinroom_lab import guests

LISTING = """/lib/systemd/systemd
/usr/bin/python3 /usr/local/lib/twinroom/virt_handler_standin.py --node=a-w2 --guest-dir=/usr/local/lib/twinroom/guest
qemu-system-x86_64 -name vm-a,process=twinroom-vm:twinroom-drill-vms/vm-a -nodefaults -machine pc,accel=tcg
qemu-system-x86_64 -name vm-b,process=twinroom-vm:twinroom-drill-vms/vm-b -nodefaults
sh -c grep process=twinroom-vm:twinroom-drill-vms/vm-a

"""


def test_only_qemu_processes_count_each_under_its_vm():
    assert guests.parse_processes(LISTING) == {"twinroom-drill-vms/vm-a": 1, "twinroom-drill-vms/vm-b": 1}


def test_a_vm_running_on_two_nodes_or_twice_on_one_is_a_double():
    sample = {"a-w2": {"ns/vm-a": 1, "ns/vm-b": 2}, "b-w2": {"ns/vm-a": 1}, "a-w1": {}}
    assert guests.doubles(sample) == [("ns/vm-a", {"a-w2": 1, "b-w2": 1}), ("ns/vm-b", {"a-w2": 2})]
    assert guests.doubles({"a-w2": {"ns/vm-a": 1}, "b-w2": {"ns/vm-b": 1}}) == []


def test_a_migration_target_is_counted_apart():
    listing = LISTING + ("qemu-system-x86_64 -name vm-c,process=twinroom-vm:ns/vm-c -nodefaults -drive file=/d.raw "
                         "-incoming tcp:10.77.0.112:49152\n")
    assert guests.parse_processes(listing, incoming=True) == {"ns/vm-c": 1}
    assert guests.parse_processes(listing)["ns/vm-c"] == 1


def test_a_live_migrations_source_and_target_on_two_nodes_are_a_pair_not_a_double():
    sample = {"a-w2": {"ns/vm-a": 1, "ns/vm-b": 1}, "b-w2": {"ns/vm-a": 1, "ns/vm-b": 1}}
    incoming = {"a-w2": {"ns/vm-a": 1}, "b-w2": {}}
    assert guests.migration_pairs(sample, incoming) == [("ns/vm-a", {"a-w2": 1, "b-w2": 1})]
    # vm-b has no target among its two: a double; so is a pair plus a third process, or two on one node.
    assert guests.doubles(sample, incoming) == [("ns/vm-b", {"a-w2": 1, "b-w2": 1})]
    assert guests.doubles({"a-w2": {"ns/vm-a": 2}, "b-w2": {"ns/vm-a": 1}}, {"a-w2": {"ns/vm-a": 1}}) == [
        ("ns/vm-a", {"a-w2": 2, "b-w2": 1})]
    assert guests.doubles({"a-w2": {"ns/vm-a": 2}}, {"a-w2": {"ns/vm-a": 1}}) == [("ns/vm-a", {"a-w2": 2})]
