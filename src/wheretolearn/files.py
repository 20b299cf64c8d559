"""Files written atomically: a unique temporary file in the same folder, flushed to disk and
renamed over the target, so that a job killed mid-write leaves the previous file intact and two
writers never share a temporary name.

Written files get the permissions of a plain ``open()`` under the process umask (0644 with
the usual umask 022), not the 0600 of ``mkstemp``: results and checkpoints are read by the
group on a shared cluster file system.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from wheretolearn.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Create or replace ``path`` with what ``write(fh)`` writes to a binary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda fh: fh.write(text.encode()))


@contextlib.contextmanager
def staged(path: Path) -> Iterator[Path]:
    """A unique temporary path beside ``path`` for a writer that fills a file by name (a copy,
    a download): the caller renames it over ``path`` (``os.replace``) once it is complete and
    verified; whatever is left at exit (a failure, a bad checksum) is removed. Two writers of
    the same file (two jobs preparing datasets that share a raw file) never share it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def check_writable(path: Path, what: str, how: str) -> None:
    """A UserError unless ``path`` (or, if it does not exist yet, the folder it would be
    created in) can be written: a probe file is created and removed there (permission bits do
    not tell for root, nor for a read-only mount), nothing else, so a dry run may call it."""
    existing = Path(path).absolute()
    while not existing.exists():
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".write-probe-"):
            pass
    except OSError as err:
        raise UserError(
            f"{what} {path} is not writable ({existing}: {err.strerror}): choose another with "
            f"{how}, or make it writable"
        ) from None


def hold_lock(path: Path, what: str) -> int:
    """Take the kernel lock (``flock``) on ``path`` for this process, or a UserError naming
    the process that holds it. The lock lasts until the returned descriptor is closed or the
    process ends, however it ends: a killed process never leaves a stale lock."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise UserError(f"{what} is in use by another process (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
