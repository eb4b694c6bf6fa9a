"""Long-lived lab processes without systemd: double fork, own session, pid file, log file.

A pid is only trusted when /proc shows a live (non-zombie) process whose command line contains a
marker of ours (the config path), so a recycled pid is never signalled.
"""

import os
import signal
import socket
import time

from . import LabError

# Proxies must never see lab traffic: everything the daemons talk to is on loopback.
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def daemon_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env.update(extra or {})
    return env


def spawn(argv, log_path, pid_path, env):
    """Start argv detached from us (new session, reparented to init); return its pid."""
    read_end, write_end = os.pipe()  # non-inheritable: closes on exec, so EOF means exec happened
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild:
                os.write(write_end, b"%d\n" % grandchild)
                os._exit(0)
            os.chdir("/")
            devnull = os.open(os.devnull, os.O_RDONLY)
            log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(devnull, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.execvpe(argv[0], argv, env)
        except BaseException as exc:  # report why exec failed, never return into the caller's code
            os.write(write_end, ("error: %s\n" % exc).encode())
        os._exit(127)
    os.close(write_end)
    os.waitpid(child, 0)
    chunks = []
    while True:
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    lines = b"".join(chunks).decode(errors="replace").split("\n")
    errors = [line for line in lines if line.startswith("error:")]
    if errors or not lines[0].isdigit():
        raise LabError("could not start %s: %s" % (argv[0], "; ".join(errors) or "no pid reported"))
    pid = int(lines[0])
    tmp = pid_path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write("%d\n" % pid)
    os.replace(tmp, pid_path)
    return pid


def read_pid(pid_path):
    try:
        with open(pid_path) as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def alive(pid, marker):
    """True when pid is a running, non-zombie process whose command line contains marker."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    process_state = stat.rsplit(")", 1)[-1].split()[0]
    return process_state not in ("Z", "X") and marker in cmdline


def running_pid(pid_path, marker):
    pid = read_pid(pid_path)
    return pid if alive(pid, marker) else None


def stop(pid_path, marker, timeout=10.0):
    """SIGTERM, wait (bounded), SIGKILL if needed. Returns the pid that was stopped, or None."""
    pid = running_pid(pid_path, marker)
    if pid is None:
        _remove(pid_path)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid, marker):
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while alive(pid, marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid, marker):
            raise LabError("process %s (%s) survived SIGKILL for 5s" % (pid, marker))
    _remove(pid_path)
    return pid


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def port_free(address, port):
    """Nothing listens on address:port (SO_REUSEADDR: a socket in TIME_WAIT does not count)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()
