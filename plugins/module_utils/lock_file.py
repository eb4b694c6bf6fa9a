# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lock file, read and written so that of two runs racing for it exactly one wins: I/O only, no record format.

It is taken by hard-linking a finished temporary file to the path (``O_CREAT|O_EXCL`` where links are not
supported), so the loser reads the winner's file. It is replaced or removed only if it is still the one that was
read (compare-and-remove through a rename aside). The file is mode 0600, in a directory created 0700.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import tempfile
import uuid

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError


class LockFileError(TwinroomError):
    """The lock file cannot be read, written or removed."""


def read_bytes(path):
    """The lock file's content, or None when there is none."""
    try:
        with open(path, 'rb') as stream:
            return stream.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise LockFileError('cannot read the operation lock %s: %s' % (path, exc.strerror or exc), lock_file=path)


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_exclusive(path, data):
    """Create ``path`` holding ``data`` unless it exists (O_CREAT|O_EXCL): for file systems without hard links.
    A reader may see the file before its content; it then reads as unreadable and refuses."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    with os.fdopen(fd, 'wb') as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    return True


def place_file(path, data):
    """Create ``path`` holding ``data`` (mode 0600) unless a file is there: True if created, False if another
    run's file was there first. The content is complete before the name appears (a finished temporary file is
    hard-linked to it)."""
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700, exist_ok=True)  # exist_ok: a racing run may create it first
        fd, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
        try:
            with os.fdopen(fd, 'wb') as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            try:
                os.link(temporary, path)
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    return False
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                    raise
                if not _write_exclusive(path, data):
                    return False
        finally:
            try:
                os.unlink(temporary)
            except OSError:
                pass
    except OSError as exc:
        raise LockFileError('cannot write the operation lock %s: %s' % (path, exc.strerror or exc),
                            lock_file=path)
    _fsync_directory(directory)
    return True


def remove_if_unchanged(path, raw):
    """Remove the lock at ``path`` if it still holds ``raw`` (what was read and decided on): True if removed,
    False if it is gone or another run replaced it meanwhile (then it is left as that run wrote it).

    The lock is renamed aside first, which only one run can do, and compared there; a lock that turns out
    to be another run's is linked back under its name."""
    aside = '%s.%s.removing' % (path, uuid.uuid4().hex)
    try:
        os.rename(path, aside)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise LockFileError('cannot remove the operation lock %s: %s' % (path, exc.strerror or exc),
                            lock_file=path)
    try:
        with open(aside, 'rb') as stream:
            found = stream.read()
        if found == raw:
            os.unlink(aside)
            _fsync_directory(os.path.dirname(path))
            return True
    except OSError as exc:
        raise LockFileError('cannot remove the operation lock %s (moved aside to %s): %s'
                            % (path, aside, exc.strerror or exc), lock_file=path)
    if not place_file(path, found):
        raise LockFileError(
            'the operation lock %s changed while this run replaced it: another run\'s lock is left at %s and yet '
            'another lock took its place. Look at both and remove the one whose process has ended.' % (path, aside),
            lock_file=path)
    os.unlink(aside)
    return False
