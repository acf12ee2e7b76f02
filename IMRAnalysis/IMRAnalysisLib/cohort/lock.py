"""One cohort process per cohort folder, by a lock the operating system drops when its holder dies.

Two cohorts on one folder would run every patient twice and overwrite each other's files. The
lock is an operating-system lock on ``imr-cohort.lock`` (``flock``, or a byte-range lock on
Windows), not the file's existence: a holder killed by ``kill -9`` or a power cut leaves no
stale lock, and the next cohort simply takes it. The file holds the holder's pid, for the
message that refuses a second cohort.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError

LOCK_FILE = "imr-cohort.lock"
_WINDOWS_LOCKED_BYTE = 1 << 20  # past the pid, which other processes must still be able to read


@contextmanager
def cohort_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for the duration, or refuse naming the process that holds it."""
    descriptor = os.open(Path(folder) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(descriptor, "r+b") as stream:
        if not _try_lock(stream):
            stream.seek(0)
            holder = stream.read(32).decode("ascii", "replace").strip() or "unknown"
            raise InputError(f"another imr-analysis cohort (pid {holder}) is processing this folder; "
                             "wait for it to finish or stop it", folder)
        stream.seek(0)
        stream.truncate()
        stream.write(f"{os.getpid()}\n".encode("ascii"))
        stream.flush()
        yield  # closing the file releases the lock


def _try_lock(stream: BinaryIO) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            stream.seek(_WINDOWS_LOCKED_BYTE)
            msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
