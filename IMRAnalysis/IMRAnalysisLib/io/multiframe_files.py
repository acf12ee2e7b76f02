"""Which DICOM files are enhanced multi-frame images or parametric maps, from their headers.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

MULTIFRAME_MR_CLASSES = ("1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4")  # enhanced, legacy enhanced


PARAMETRIC_MAP = "1.2.840.10008.5.1.4.1.1.30"


def is_multiframe(path: Path) -> bool:
    """Whether ``path`` is a DICOM file holding an enhanced (multi-frame) MR image."""
    return _multiframe_series(path) is not None


def multiframe_files(folder: Path) -> list[Path]:
    """The folder's multi-frame files of one series when its first DICOM image file is one, else [] (classic)."""
    files = sorted(path for path in folder.iterdir() if path.is_file())
    for index, path in enumerate(files):
        header = _header(path, ["Rows"])
        if header is not None and "Rows" in header:
            series = _multiframe_series(path)
            return [] if series is None else [
                path, *(other for other in files[index + 1:] if _multiframe_series(other) == series)]
    return []


def _header(path: Path, tags: list[str]) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags)
    except (InvalidDicomError, OSError, EOFError, ValueError):
        return None


def _multiframe_series(path: Path) -> str | None:
    """The SeriesInstanceUID ("" when absent) of a multi-frame MR file or parametric map; None for anything else."""
    header = _header(path, ["SOPClassUID", "NumberOfFrames", "PerFrameFunctionalGroupsSequence", "SeriesInstanceUID"])
    if header is None or not (header.get("SOPClassUID") in (*MULTIFRAME_MR_CLASSES, PARAMETRIC_MAP) or (
            int(header.get("NumberOfFrames") or 1) > 1 and "PerFrameFunctionalGroupsSequence" in header)):
        return None
    return str(header.get("SeriesInstanceUID", ""))
