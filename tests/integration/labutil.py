"""Small helpers for tests that look into the lab's nodes."""
import subprocess


def podman(*args, check=True, timeout=60):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def node_exec(container, script, timeout=30):
    """Run a shell snippet inside a lab node; returns the CompletedProcess (never raises on rc)."""
    return podman("exec", container, "bash", "-c", script, check=False, timeout=timeout)


def tcp_reachable(from_container, address, port, seconds=2):
    probe = 'timeout %d bash -c "</dev/tcp/%s/%d"' % (seconds, address, port)
    return node_exec(from_container, probe, timeout=seconds + 10).returncode == 0
