"""The results folder: written completely or not at all, never half-replaced.

A run writes into a hidden staging folder next to the destination and renames it into
place only when every file is written, so an error or Ctrl-C mid-run leaves either the
previous results or nothing, never a mix. Single files are replaced the same way.

Every folder written here carries a marker file listing what was written, and only a
folder with that marker, holding nothing else and none of the run's inputs, may be
replaced: ``--overwrite`` can never delete a file the project did not write.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .. import __version__
from ..errors import InputError

MARKER = ".imr-analysis-result"
# Files a desktop drops into any folder it shows; replacing them loses nothing.
_DESKTOP_CLUTTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_MAX_LISTED = 3
# Where liveness of a process cannot be asked safely (Windows), litter this old is stale.
_STALE_AFTER_S = 12 * 3600


def check_output_folder(path: str | Path, overwrite: bool, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse an output location that would lose data, before any work is done.

    ``inputs`` are the files and folders the run reads: none may lie in the output
    folder, nor the output folder inside a folder input. Litter a killed run left beside
    ``path`` is cleared first, so that a set-aside result is back in place when checked.
    """
    path = Path(path)
    remove_stale_litter(path)
    if path.is_symlink():
        raise InputError("output path is a symbolic link; give the folder itself", path)
    if path.exists() and not path.is_dir():
        raise InputError("output path exists and is a file, not a folder", path)
    _refuse_inputs_inside(path, inputs)
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise InputError("output folder already exists and is not empty; replace it only if asked to", path,
                             setting="overwrite")
        _require_own_folder(path)
    ancestor = _nearest_existing(path.parent)
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"cannot create the output folder: {ancestor} is not a writable folder", path)


def _refuse_inputs_inside(path: Path, inputs: Iterable[str | Path]) -> None:
    out = path.resolve()
    for given in inputs:
        source = Path(given).resolve()
        if source == out or out in source.parents:
            raise InputError(f"output folder holds the input {given}; write the results to another folder", path)
        if source.is_dir() and source in out.parents:
            raise InputError(f"output folder lies inside the input folder {given}; write the results elsewhere",
                             path)


def _require_own_folder(path: Path) -> None:
    """A folder to replace must be one this project wrote, unchanged but for its own files."""
    written = _marker_files(path)
    if written is None:
        raise InputError(f"only a result folder of imr-analysis (marked by {MARKER}) is ever replaced, "
                         "and this folder is not one; choose another output folder", path)
    foreign = sorted(relative for relative in _files_in(path)
                     if relative not in written and relative.rsplit("/", 1)[-1] not in _DESKTOP_CLUTTER)
    if foreign:
        listed = ", ".join(foreign[:_MAX_LISTED]) + (f" and {len(foreign) - _MAX_LISTED} more"
                                                     if len(foreign) > _MAX_LISTED else "")
        raise InputError(f"output folder holds files imr-analysis did not write ({listed}); "
                         "move them away or choose another output folder", path)


def replaceable_result_folder(path: str | Path) -> list[str] | None:
    """The files of ``path`` if it is a result folder of this project that an overwrite may replace, else None.

    Front ends that ask before replacing name exactly these files in the question.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return None
    try:
        _require_own_folder(path)
    except InputError:
        return None
    return sorted(name for name in _files_in(path) if name != MARKER)


def _marker_files(folder: Path) -> set[str] | None:
    """The files the marker says were written, or None when there is no readable marker."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {str(name) for name in listed} | {MARKER}


def _files_in(folder: Path) -> list[str]:
    """Relative names (``/``-separated) of every file and link below ``folder``."""
    return [path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir() or path.is_symlink()]


def _write_marker(folder: Path) -> None:
    """Mark ``folder`` as the project's, listing its files so a later overwrite can check them."""
    files = sorted(name for name in _files_in(folder) if name != MARKER)
    text = json.dumps({"software": "imr-analysis", "version": __version__, "files": files}, indent=1) + "\n"
    (folder / MARKER).write_text(text, encoding="utf-8")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _sibling(path: Path, role: str) -> Path:
    """A hidden, unique name next to ``path`` (same file system, so renames are atomic).

    The process id in the name tells a later run whether the folder is litter of a dead run.
    """
    return path.with_name(f".{path.name}.{role}-{os.getpid()}-{uuid.uuid4().hex[:12]}")


def _litter_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"^\.{re.escape(path.name)}\.(staging|previous)-(\d+)-[0-9a-f]{{12}}$")


def _process_alive(pid: int, since: float) -> bool:
    """Whether the run that named a folder (made at time ``since``) may still be writing it."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process there
        return time.time() - since < _STALE_AFTER_S
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_litter(path: str | Path) -> None:
    """Clear what a killed run left beside ``path``: only marked folders named as this module names them.

    A set-aside previous result whose replacement never arrived is put back in place.
    """
    path = Path(path)
    try:
        siblings = sorted(path.parent.iterdir())
    except OSError:  # no such or unreadable folder: nothing of ours to clear
        return
    pattern = _litter_pattern(path)
    for candidate in siblings:
        match = pattern.match(candidate.name)
        if match is None or candidate.is_symlink() or not (candidate / MARKER).is_file():
            continue
        if _process_alive(int(match.group(2)), candidate.stat().st_mtime):
            continue
        if match.group(1) == "previous" and not os.path.lexists(path):
            with suppress(OSError):
                os.rename(candidate, path)
        else:
            shutil.rmtree(candidate, ignore_errors=True)


@contextmanager
def staged_output_folder(path: str | Path, overwrite: bool, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a staging folder (holding only the marker) that replaces ``path`` only if the block succeeds.

    The marker is there from the start so that a killed run's staging folder is known as ours.
    """
    path = Path(path)
    inputs = tuple(inputs)
    check_output_folder(path, overwrite, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(path, "staging")
    try:  # made inside the try, so that an interruption right after leaves nothing behind
        staging.mkdir()
        _write_marker(staging)
        yield staging
        _write_marker(staging)
        _commit(staging, path, overwrite, inputs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, path: Path, overwrite: bool, inputs: tuple[str | Path, ...]) -> None:
    """Swap the staging folder in; restore the old results if the swap fails."""
    check_output_folder(path, overwrite, inputs)
    previous = None
    if path.exists():
        previous = _sibling(path, "previous")
        os.rename(path, previous)
    try:
        os.rename(staging, path)
    except BaseException:
        if previous is not None:
            os.rename(previous, path)
        raise
    if previous is not None:
        _remove_previous(previous)


def _remove_previous(previous: Path) -> None:
    try:
        shutil.rmtree(previous)
    except OSError as error:
        warnings.warn(f"new results are in place, but the old ones could not be deleted from {previous}: {error}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write; it replaces ``path`` in one step on success."""
    path = Path(path)
    temporary = _sibling(path, "tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 text so that readers see the old file or the new one, never a torn one."""
    with atomic_path(path) as temporary:
        with open(temporary, "x", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())


