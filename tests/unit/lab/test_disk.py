"""The lab refuses to start its nodes where their kubelets would taint them disk-pressure at once."""
import pytest

from twinroom_lab import cli, disk

GIB = 1 << 30


def test_enough_room_above_the_kubelet_threshold_passes():
    # 100 GiB: the kubelet wants 15 GiB free, the lab 4 more.
    assert disk.check("/var/lib/containers/storage", 100 * GIB, 19 * GIB, 4 * GIB) is None


def test_too_little_room_names_the_filesystem_the_threshold_and_what_to_free():
    assert disk.check("/var/lib/containers/storage", 252 * GIB, 40 * GIB, 4 * GIB) == (
        "/var/lib/containers/storage has 40.0 GiB free of 252.0 GiB (15.9 %): the nodes' kubelets taint themselves "
        "disk-pressure below 15 % free, and the lab needs 4.0 GiB more than that. Free at least 1.8 GiB there (for "
        "example `podman image prune`, or `go clean -cache` when the Go build cache is on it) and start the lab again.")


def test_below_the_kubelet_threshold_itself_is_refused_even_without_a_reserve():
    assert disk.check("/srv", 100 * GIB, 14 * GIB, 0) is not None
    assert disk.check("/srv", 100 * GIB, 15 * GIB, 0) is None


def test_verify_raises_with_the_message_and_says_nothing_else(monkeypatch):
    monkeypatch.setattr(disk, "storage_root", lambda: "/srv/storage")
    monkeypatch.setattr(disk, "observe", lambda path: (100 * GIB, 10 * GIB))
    said = []
    with pytest.raises(disk.DiskError, match=r"^/srv/storage has 10\.0 GiB free of 100\.0 GiB \(10\.0 %\)"):
        disk.verify(4, say=said.append)
    assert said == []


def test_check_disk_on_the_command_line_exits_1_with_the_message(monkeypatch, capsys):
    monkeypatch.setattr(disk, "storage_root", lambda: "/srv/storage")
    monkeypatch.setattr(disk, "observe", lambda path: (100 * GIB, 10 * GIB))
    assert cli.main(["check-disk", "--state-dir", "/nonexistent"]) == 1
    assert capsys.readouterr().err.startswith("twinroom-lab: failed: /srv/storage has 10.0 GiB free of 100.0 GiB")


def test_check_disk_passes_and_says_how_much_is_free(monkeypatch, capsys):
    monkeypatch.setattr(disk, "storage_root", lambda: "/srv/storage")
    monkeypatch.setattr(disk, "observe", lambda path: (100 * GIB, 30 * GIB))
    assert cli.main(["check-disk", "--reserve-gib", "8", "--state-dir", "/nonexistent"]) == 0
    assert capsys.readouterr().out == (
        "disk: /srv/storage has 30.0 GiB free of 100.0 GiB (30.0 %), enough for the nodes' kubelets (15 % + 8 GiB)\n")


def test_a_reserve_that_is_not_a_number_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check-disk", "--reserve-gib", "four"])
    assert exit_info.value.code == 2
    assert "--reserve-gib: must be a whole number of GiB, got 'four'" in capsys.readouterr().err
