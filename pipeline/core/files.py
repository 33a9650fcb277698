"""Writing a file as a careful operator would: whole or not at all, its mode and
owner kept, on disk before it is said to be, one writer at a time.

- ``replace_file`` writes to a scratch file of its own beside the target (a
  unique hidden name: two writers never share one, and the camera-file watcher
  reads no hidden file), gives it the old file's mode (and owner, where this
  process may), syncs it, renames it over the target and syncs the folder. A
  crash at any point leaves the old file or the new one, never an empty one.
- ``one_writer`` holds an exclusive lock on the file's folder (``flock``, so
  it is released when the process dies) for a read-change-write of the file.
- ``open_regular`` reads a stored file without following a link planted in its place.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def replace_file(path: Path, data: bytes, new_mode: int = 0o600) -> None:
    """``path`` now holds ``data``; an existing file's mode (and owner) are kept,
    a new file gets ``new_mode``."""
    try:
        before = path.stat()
    except FileNotFoundError:
        before = None
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), before.st_mode & 0o7777 if before else new_mode)
            if before is not None and (before.st_uid, before.st_gid) != (
                os.geteuid(),
                os.getegid(),
            ):
                with contextlib.suppress(PermissionError):  # only root may give files away
                    os.fchown(handle.fileno(), before.st_uid, before.st_gid)
            os.fsync(handle.fileno())
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """The folder's entries (a rename into it) on disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def one_writer(path: Path) -> Iterator[None]:
    """An exclusive lock for changing ``path``, across threads and processes: a lock on
    its folder (the file itself is replaced by each write, so its own inode would lock
    nothing; a lock file would be left in folders people read)."""
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def open_regular(path: Path) -> BinaryIO | None:
    """``path`` for reading if it is a regular file: a link planted in a folder of
    stored files is not followed (it could name any file of the host). None if it is
    missing, a link, not a file, or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # missing, a link (ELOOP), unreadable
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")
