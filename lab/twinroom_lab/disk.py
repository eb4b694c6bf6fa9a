"""The lab's nodes keep their disks (podman volumes: containerd's images, the kubelet's pods, PostgreSQL) on the
filesystem of podman's storage root. A kubelet taints its node `node.kubernetes.io/disk-pressure` once less than
15 % of that filesystem is free (its default hard eviction threshold `imagefs.available`), and then no pod is
scheduled anywhere in the lab: the bring-up and every test after it fail far from the cause. So the lab refuses to
start its nodes unless the filesystem has the kubelet's 15 % free plus what the lab itself needs on top.

`check` is pure (sizes in, a message or None out); `storage_root` asks podman where its storage is, `observe` reads
that filesystem's statvfs.
"""

import os

from . import LabError, podman

# The kubelet's default evictionHard imagefs.available (and the nodes' image filesystem is this one).
KUBELET_IMAGEFS_AVAILABLE = 0.15
# What a bring-up and `make test` add on the nodes' disks (images imported into each node, PostgreSQL, logs).
DEFAULT_RESERVE_GIB = 8
GIB = 1 << 30


class DiskError(LabError):
    pass


def check(path, size, available, reserve):
    """path: the filesystem's mount or directory; size, available: its bytes (statvfs f_blocks, f_bavail);
    reserve: bytes the lab needs above the kubelet's threshold. None when there is room, else what is wrong."""
    needed = size * KUBELET_IMAGEFS_AVAILABLE + reserve
    if available >= needed:
        return None
    return ("%s has %.1f GiB free of %.1f GiB (%.1f %%): the nodes' kubelets taint themselves disk-pressure below "
            "%d %% free, and the lab needs %.1f GiB more than that. Free at least %.1f GiB there (for example "
            "`podman image prune`, or `go clean -cache` when the Go build cache is on it) and start the lab again."
            % (path, available / GIB, size / GIB, 100.0 * available / size if size else 0.0,
               round(100 * KUBELET_IMAGEFS_AVAILABLE), reserve / GIB, (needed - available) / GIB))


def storage_root():
    root = podman.run("info", "--format", "{{.Store.GraphRoot}}").stdout.strip()
    if not root:
        raise DiskError("podman info printed no storage root (GraphRoot)")
    return root


def observe(path):
    """(size, available) in bytes of the filesystem holding path, as the kubelet's cAdvisor counts them."""
    stat = os.statvfs(path)
    return stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize


def verify(reserve_gib=DEFAULT_RESERVE_GIB, say=print):
    root = storage_root()
    size, available = observe(root)
    problem = check(root, size, available, reserve_gib * GIB)
    if problem:
        raise DiskError(problem)
    say("disk: %s has %.1f GiB free of %.1f GiB (%.1f %%), enough for the nodes' kubelets (%d %% + %d GiB)"
        % (root, available / GIB, size / GIB, 100.0 * available / size, round(100 * KUBELET_IMAGEFS_AVAILABLE),
           reserve_gib))
