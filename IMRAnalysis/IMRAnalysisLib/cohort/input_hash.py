"""Content hashes of a patient's inputs, for its fingerprint; bounded before anything is read.

Hashing happens in the cohort process before any patient runs, so an input that would make it
hang (a FIFO, a device) or read for hours (a path pointing at ``/usr``) is refused here as that
patient's error instead. A folder is a DICOM series: the series readers take the files directly
in it, so only those are hashed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from ..errors import InputError

MAX_SERIES_FILES = 100_000
MAX_SERIES_BYTES = 20 * 1024**3
_BLOCK = 1 << 20


def content_hash(path: Path) -> str | None:
    """SHA-256 of a file, or of a DICOM folder's files and their names; None if missing (``run`` says so)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        raise InputError(f"cannot be read ({error.strerror})", path) from error
    if stat.S_ISDIR(mode):
        files = _series_files(path)
    elif stat.S_ISREG(mode):
        files = [path]
    else:
        raise InputError("not a regular file or folder (a FIFO, device or socket); give an image file "
                         "or a DICOM series folder", path)
    digest = hashlib.sha256()
    try:
        for item in files:
            digest.update(item.name.encode() if item != path else b"")
            digest.update(b"\0")
            with open(item, "rb") as stream:
                for block in iter(lambda: stream.read(_BLOCK), b""):
                    digest.update(block)
    except OSError as error:
        raise InputError(f"cannot be read ({error.strerror})", error.filename or path) from error
    return digest.hexdigest()


def _series_files(folder: Path) -> list[Path]:
    """The regular files directly in the folder, refused when no DICOM series could be that big."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        files = [entry for entry in entries if entry.is_file()]
        size = sum(entry.stat().st_size for entry in files)
    except OSError as error:
        raise InputError(f"cannot be read ({error.strerror})", folder) from error
    if not files:
        raise InputError("the folder holds no file (a DICOM series folder holds its images directly)", folder)
    if len(files) > MAX_SERIES_FILES or size > MAX_SERIES_BYTES:
        raise InputError(f"the folder holds {len(files)} files, {size / 1024**3:.1f} GB: too much for one DICOM "
                         f"series (at most {MAX_SERIES_FILES} files, {MAX_SERIES_BYTES // 1024**3} GB); "
                         "give the folder of the series itself", folder)
    return [Path(entry.path) for entry in files]
