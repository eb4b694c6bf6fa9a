"""What kine_datastore leaves on a pair of machines: a primary in room A streaming synchronously over TLS to a standby in
room B, kine answering on each, plaintext refused, and every secret readable by its owner only."""
import os

import pytest

PRIMARY, STANDBY = "a-cp1", "b-cp1"
CONF = "/etc/postgresql/15/kine"
STATE = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "state")


def name(host):
    return host.backend.get_hostname()


def address(host, node):
    """node's address on the scenario's network (converge.yml makes it the node's twinroom_node_address)."""
    other = host.get_host("ansible://" + node, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])
    return other.check_output("hostname -I").split()[0]


def sql(host, query):
    return host.check_output("runuser -u postgres -- psql -p 5432 -AXqt -c %s", query)


def test_the_cluster_and_kine_run_as_services(host):
    version, cluster, port, status = host.check_output("pg_lsclusters -h").split()[:4]
    assert (version, cluster, port) == ("15", "kine", "5432")
    assert status == ("online" if name(host) == PRIMARY else "online,recovery")
    assert host.service("kine").is_running
    assert host.socket("tcp://127.0.0.1:2379").is_listening


def test_room_a_holds_the_primary_and_room_b_the_standby(host):
    assert sql(host, "SELECT pg_is_in_recovery()") == ("f" if name(host) == PRIMARY else "t")


def test_the_standby_streams_synchronously_over_tls(host):
    if name(host) != PRIMARY:
        pytest.skip("pg_stat_replication is read on the primary")
    rows = sql(host, "SELECT r.client_addr, r.state, r.sync_state, s.ssl FROM pg_stat_replication r "
                     "JOIN pg_stat_ssl s ON s.pid = r.pid")
    assert rows.splitlines() == ["%s|streaming|sync|t" % address(host, STANDBY)], rows


def test_a_plaintext_connection_from_the_other_room_is_refused(host):
    peer = address(host, STANDBY if name(host) == PRIMARY else PRIMARY)
    attempt = host.run("psql 'host=%s port=5432 dbname=kine user=kine sslmode=disable connect_timeout=5' -c 'SELECT 1'"
                       % peer)
    assert attempt.rc != 0
    assert "no encryption" in attempt.stderr, attempt.stderr


def test_kine_reaches_the_primary_with_the_certificate_checked(host):
    endpoint = host.file("/etc/twinroom/kine.env").content_string
    assert "sslmode=verify-full" in endpoint
    assert ("@127.0.0.1:5432/" if name(host) == PRIMARY else "@%s:5432/" % address(host, PRIMARY)) in endpoint


@pytest.mark.parametrize("path, owner", [
    ("/etc/twinroom/kine.env", "root"),
    ("/etc/twinroom/pki/kine-server.key", "root"),
    (CONF + "/tls/server.key", "postgres"),
])
def test_every_secret_is_its_owners_alone(host, path, owner):
    secret = host.file(path)
    assert (secret.user, secret.mode) == (owner, 0o600), path


def test_the_standbys_replication_password_is_postgres_alone(host):
    if name(host) != STANDBY:
        pytest.skip("only a standby keeps the password it streams with")
    passfile = host.file("/var/lib/postgresql/15/kine.pgpass")
    assert (passfile.user, passfile.mode) == ("postgres", 0o600)
    assert "passfile=/var/lib/postgresql/15/kine.pgpass" in host.check_output(
        "runuser -u postgres -- psql -p 5432 -AXqt -c 'SHOW primary_conninfo'")


def test_nothing_that_holds_a_secret_is_readable_by_others(host):
    readable = host.check_output("find /etc/twinroom %s /var/lib/postgresql -xdev -type f -perm -o=r "
                                 "\\( -name '*.key' -o -name '*.env' -o -name '*.pgpass' -o -name 'postgresql.auto.conf' \\)" % CONF)
    assert readable == ""
