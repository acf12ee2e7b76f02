"""The series a DICOM folder holds: classic series as GDCM lists them, multi-frame files as
pydicom reads their headers (imported only when a folder is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from ..errors import InputError
from .formats import SUPPORTED_TEXT


@dataclass(frozen=True)
class DicomSeries:
    """One series of a DICOM folder: its SeriesInstanceUID, description and files."""

    uid: str
    description: str
    files: tuple[str, ...]

    def __str__(self) -> str:
        return f"'{self.description}' ({len(self.files)} images, UID {self.uid})"


def dicom_series(folder: str | Path, role: str, uid: str | None = None) -> DicomSeries:
    """The folder's only series, or the one whose UID is ``uid``.

    A folder with several series (scouts, derived maps, other sequences) is refused
    with their list rather than guessed from: the largest is not always the right one.
    """
    folder = Path(folder)
    found = [_series_of(folder, sid) for sid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))] or (
        _multiframe_series(folder))
    if not found:
        raise InputError(f"the {role} folder contains no DICOM series; supported: {SUPPORTED_TEXT}", folder)
    listed = "; ".join(str(series) for series in found)
    if uid is not None:
        chosen = [series for series in found if series.uid == uid]
        if not chosen:
            raise InputError(f"the {role} folder has no DICOM series with UID {uid}; it holds {listed}", folder)
        return chosen[0]
    if len(found) > 1:
        raise InputError(f"the {role} folder holds {len(found)} DICOM series; choose one by its UID: {listed}",
                         folder, setting="DICOM series")
    return found[0]


def _multiframe_series(folder: Path) -> list[DicomSeries]:
    """The series of the folder's multi-frame files (a parametric map), which GDCM does not list."""
    from .multiframe_files import multiframe_files  # pydicom: only when a folder is read

    files = multiframe_files(folder)
    if not files:
        return []
    import pydicom  # only for DICOM folders: every run imports this module

    header = pydicom.dcmread(files[0], stop_before_pixels=True, specific_tags=["SeriesInstanceUID", "SeriesDescription"])
    description = str(header.get("SeriesDescription", "")).strip()
    return [DicomSeries(str(header.get("SeriesInstanceUID", "")), description or "no description",
                        tuple(str(path) for path in files))]


def _series_of(folder: Path, uid: str) -> DicomSeries:
    files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    try:
        reader.ReadImageInformation()
        description = reader.GetMetaData("0008|103e").strip() if reader.HasMetaDataKey("0008|103e") else ""
    except RuntimeError:
        description = ""
    return DicomSeries(uid, description or "no description", files)
