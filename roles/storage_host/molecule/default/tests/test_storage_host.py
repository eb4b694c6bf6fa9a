"""What storage_host leaves on a machine of each room with a file_thin pool: the pool directory, root's and mode 0700,
and nothing else under the pools' directory (the refused lvm_thin request of converge.yml made nothing)."""
POOLS = "/var/lib/linstor-pools"


def test_the_pool_directory_is_roots_alone(host):
    pool = host.file(POOLS + "/linstor_thin")
    assert pool.is_directory
    assert (pool.user, pool.group, pool.mode) == ("root", "root", 0o700)


def test_the_refused_request_made_nothing(host):
    assert host.check_output("ls -A %s", POOLS).split() == ["linstor_thin"]
    assert not host.exists("vgs") or "molecule_refused" not in host.run("vgs --noheadings -o vg_name").stdout
