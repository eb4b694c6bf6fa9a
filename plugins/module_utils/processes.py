# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes and the controller, read from ``/proc``: which process is the playbook run (the holder of an operation
lock), whether a process recorded earlier still runs (pid, program and start time, so a reused pid is not mistaken
for it), and where this module runs (host name, boot and PID namespace). Access only, no decisions.

The holder of a lock is one playbook run, named by the ``holder_id`` the playbook generates once per run. Whether it
still runs is asked of the ansible-playbook (else ansible-runner) process above the module. It can only be asked on
the controller that wrote the lock (same host name, boot and PID namespace).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import pwd
import socket

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import PLAYBOOK_PROGRAMS

MAX_ANCESTORS = 20
JOB_ID_VARIABLES = ('JOB_ID', 'AWX_JOB_ID')
PROC = '/proc'
BOOT_ID = '/proc/sys/kernel/random/boot_id'


def read_process(pid, proc=PROC):
    """``argv``, ``ppid`` and ``start`` (clock ticks after boot) of a running process, or None when there is
    no such process (or only its zombie)."""
    base = os.path.join(proc, str(pid))
    try:
        with open(os.path.join(base, 'cmdline'), 'rb') as stream:
            cmdline = stream.read()
        with open(os.path.join(base, 'stat'), 'rb') as stream:
            stat = stream.read().decode('utf-8', 'replace')
        # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
        fields = stat[stat.rindex(')') + 2:].split()
        if fields[0] in ('Z', 'X'):
            return None
        return dict(argv=[arg.decode('utf-8', 'replace') for arg in cmdline.split(b'\0') if arg],
                    ppid=int(fields[1]), start=int(fields[19]))
    except (OSError, ValueError, IndexError):
        return None


def _runs(argv, program):
    return any(os.path.basename(arg) == program for arg in argv)


def playbook_process(start_pid=None, proc=PROC, depth=MAX_ANCESTORS):
    """(pid, program, start) of the process whose life is the playbook run's, or None.

    Walks up from the module's parent (at most ``depth`` levels). ansible-playbook forks a worker per task
    with the same command line, and that worker ends with the task; so of consecutive ansible-playbook
    processes the outermost is taken, the run's main process. ansible-runner counts only when no
    ansible-playbook process is found."""
    chain = []
    pid = os.getppid() if start_pid is None else start_pid
    while pid > 0 and len(chain) < depth:
        info = read_process(pid, proc)
        if info is None:
            break
        chain.append((pid, info))
        pid = info['ppid']
    for program in PLAYBOOK_PROGRAMS:
        matching = [_runs(info['argv'], program) for _pid, info in chain]
        if True in matching:
            index = matching.index(True)
            while index + 1 < len(chain) and matching[index + 1]:
                index += 1
            return chain[index][0], program, chain[index][1]['start']
    return None


def process_alive(pid, program=None, start=None, proc=PROC):
    """The process recorded as pid/program/start still runs: /proc/<pid> exists, is not a zombie, its command
    line still runs ``program`` and it started at ``start`` (a pid reused since is another process)."""
    info = read_process(pid, proc)
    if info is None:
        return False
    if start is not None and info['start'] != start:
        return False
    return not program or _runs(info['argv'], program)


def _read_text(path):
    try:
        with open(path) as stream:
            return stream.read().strip() or None
    except (OSError, ValueError):
        return None


def this_place():
    """Where this module runs: host name, boot id and PID namespace (None where /proc lacks them)."""
    try:
        namespace = os.readlink('/proc/self/ns/pid')
    except OSError:
        namespace = None
    return dict(host=socket.gethostname(), boot_id=_read_text(BOOT_ID), pid_namespace=namespace)


def _user():
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def make_holder(holder_id, pid=None, proc=PROC, environ=None):
    """The holder of a lock taken now: this run's holder_id, user, controller, job id and holding process.

    Without ``pid`` the holding process is found above the module (:func:`playbook_process`); if there is
    none, the module's parent is recorded and ``process`` names whatever it runs."""
    environ = os.environ if environ is None else environ
    found = None if pid is not None else playbook_process(proc=proc)
    if found:
        pid, program, start = found
    else:
        pid = os.getppid() if pid is None else pid
        info = read_process(pid, proc)
        argv = info['argv'] if info else []
        program = next((name for name in PLAYBOOK_PROGRAMS if _runs(argv, name)),
                       os.path.basename(argv[0]) if argv else None)
        start = info['start'] if info else None
    holder = dict(holder_id=holder_id, user=_user(), pid=pid, process=program, process_start=start,
                  job_id=next((environ[name] for name in JOB_ID_VARIABLES if environ.get(name)), None))
    holder.update(this_place())
    return holder


def alive_for(record, proc=PROC):
    """``alive(pid)`` for :func:`decide`, bound to the program and start time the record names."""
    record = record or {}
    return lambda pid: process_alive(pid, record.get('process'), record.get('process_start'), proc)
