import pytest

from twinroom_lab import bmc, topology


@pytest.fixture
def node(topology_data):
    return topology.parse(topology_data).nodes[0]


def _load_config(text):
    """What flask's config.from_pyfile does: execute the file, keep the upper-case names."""
    namespace = {}
    exec(compile(text, "emulator.conf", "exec"), namespace)
    return {k: v for k, v in namespace.items() if k.isupper()}


def test_config_is_the_fake_driver_for_one_system(node):
    layout = bmc.Layout("/state", node.name)
    text = bmc.render_config(node, "Off", layout, "/state/bmc/tls.crt", "/state/bmc/tls.key",
                             bmc.notification_url(8400))
    assert _load_config(text) == {
        "SUSHY_EMULATOR_LISTEN_IP": "127.77.1.10",
        "SUSHY_EMULATOR_LISTEN_PORT": 8443,
        "SUSHY_EMULATOR_SSL_CERT": "/state/bmc/tls.crt",
        "SUSHY_EMULATOR_SSL_KEY": "/state/bmc/tls.key",
        "SUSHY_EMULATOR_AUTH_FILE": "/state/bmc/a-cp1/htpasswd",
        "SUSHY_EMULATOR_STATE_DIR": "/state/bmc/a-cp1/sushy-state",
        "SUSHY_EMULATOR_FAKE_DRIVER": True,
        "SUSHY_EMULATOR_FAKE_SYSTEMS": [{
            "uuid": "f5765943-94aa-59cd-97fc-916ad94b2749", "name": "a-cp1", "power_state": "Off",
            "external_notifier": True, "nics": []}],
        "EXTERNAL_NOTIFICATION_URL": "http://127.0.0.1:8400/power",
    }
    assert "fixture-password" not in text


@pytest.mark.parametrize("container_state, power", [
    ("running", "On"), ("exited", "Off"), ("stopped", "Off"), ("created", "Off"), ("missing", "Off")])
def test_power_state_follows_the_container(container_state, power):
    assert bmc.power_state_of(container_state) == power


def test_htpasswd_entry_is_bcrypt_and_verifies():
    entry = bmc.htpasswd_entry("admin", "s3cret", rounds=4)
    user, digest = entry.strip().split(":", 1)
    assert user == "admin" and digest.startswith("$2b$04$")
    assert bmc.htpasswd_matches(entry, "admin", "s3cret")
    assert not bmc.htpasswd_matches(entry, "admin", "other")
    assert not bmc.htpasswd_matches(entry, "root", "s3cret")
    assert not bmc.htpasswd_matches("admin:$apr1$xyz$abc\n", "admin", "s3cret")


def test_sushy_accepts_the_htpasswd_file(tmp_path):
    """The file passes sushy-tools' own basic-auth check (it accepts bcrypt digests only)."""
    auth_basic = pytest.importorskip("sushy_tools.emulator.auth_basic")
    from sushy_tools import error
    path = tmp_path / "htpasswd"
    path.write_text(bmc.htpasswd_entry("admin", "s3cret", rounds=4))
    auth_basic.validate_auth_file(str(path))
    assert auth_basic.authenticate(str(path), "admin", b"s3cret")["HTTP_X_USER"] == "admin"
    with pytest.raises(error.Unauthorized):
        auth_basic.authenticate(str(path), "admin", b"wrong")
