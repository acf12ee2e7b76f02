"""The patient's post-EVT DICOM series that DICOM results point back to.

A PACS files a segmentation or report under the patient, study and frame of reference of
the images it describes, so the results must name those images instance by instance.
The series is matched to the post-EVT map's grid slice by slice, whether it holds one
image per file or multi-frame images (enhanced MR, parametric map): a frame that does not
sit exactly on a slice of the grid would make every segment land beside the anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from ...errors import InputError
from ..dicom_folders import dicom_series

# mm: DICOM decimal strings hold positions far more precisely than this
_POSITION_TOLERANCE_MM = 0.01
_DIRECTION_TOLERANCE = 1e-4
Refuse = Callable[[str], NoReturn]
# what every MR image holds (type 1 or 2) and every result object copies
IDENTITY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDate",
            "StudyTime", "AccessionNumber")
# functional group and attribute of each frame's place in space
_PLANE_ATTRIBUTES = (("PlanePositionSequence", "ImagePositionPatient"),
                     ("PlaneOrientationSequence", "ImageOrientationPatient"), ("PixelMeasuresSequence", "PixelSpacing"))


@dataclass(frozen=True)
class DicomReference:
    """The series' instances (headers only) and the grid slice (k) each of their frames shows.

    ``slices`` lists the frames in the order DICOM numbers them: instance by instance,
    frame by frame; each slice of the grid appears exactly once.
    """

    folder: Path
    series_uid: str
    instances: tuple[pydicom.Dataset, ...]
    slices: tuple[int, ...]


@dataclass(frozen=True)
class _Plane:
    """Where one frame lies: its first pixel, its row and column directions, its size and pixel spacing."""

    position: np.ndarray
    orientation: np.ndarray
    size: tuple[int, int]  # columns, rows
    spacing: np.ndarray  # along a row, along a column (mm)


def read_reference(folder: str | Path, grid: sitk.Image, what: str, series_uid: str | None = None) -> DicomReference:
    """The series of ``folder`` (the one with ``series_uid`` if several) whose frames are ``grid``'s slices.

    ``what`` names the folder in messages ("--dicom-reference", "post-EVT rCBV map").
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{what}: a folder holding the post-EVT DICOM series is expected", folder)
    return reference_from_files(dicom_series(folder, what, series_uid).files, grid, what, folder)


def reference_from_files(files: Sequence[str], grid: sitk.Image, what: str, where: Path) -> DicomReference:
    """The series made of ``files`` (as Slicer's DICOM database lists a loaded volume's), matched to ``grid``;
    ``where`` names them in messages."""
    instances = [_header(Path(name), what) for name in files]
    series = {str(instance.get("SeriesInstanceUID", "")) for instance in instances}
    if len(series) != 1 or "" in series:
        raise InputError(f"{what}: the DICOM images are not all of one identified series (Series Instance UID)",
                         where)
    missing = [keyword for keyword in IDENTITY if keyword not in instances[0]]
    if missing:
        raise InputError(f"{what}: the DICOM series lacks {', '.join(missing)}, the patient and study identity "
                         "results are filed under", where)
    if any("FrameOfReferenceUID" not in instance for instance in instances):
        raise InputError(f"{what}: the DICOM series has no Frame of Reference UID, so results cannot be placed on it",
                         where)
    planes = [plane for path, instance in zip(files, instances) for plane in _planes(instance, what, path)]
    return DicomReference(where, series.pop(), tuple(instances),
                          _slices(planes, grid, _refusal(what, where, grid)))


def _header(path: Path, what: str) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError) as error:
        raise InputError(f"{what}: this DICOM file cannot be read ({error.__class__.__name__})", path) from error


def _planes(instance: pydicom.Dataset, what: str, path: str) -> list[_Plane]:
    """Each frame's plane; refused when the image does not say where it lies."""
    planes = []
    for found in _frame_geometry(instance):
        missing = [keyword for keyword, value in found.items() if value is None] + (
            [] if "Rows" in instance and "Columns" in instance else ["Rows"])
        if missing:
            raise InputError(f"{what}: the DICOM image has no {', '.join(missing)}, so its place in space is unknown",
                             path)
        planes.append(_Plane(np.asarray(found["ImagePositionPatient"], dtype=float),
                             np.asarray(found["ImageOrientationPatient"], dtype=float),
                             (int(instance.Columns), int(instance.Rows)),
                             np.asarray(found["PixelSpacing"], dtype=float)[::-1]))  # DICOM gives rows' spacing first
    return planes


def _frame_geometry(instance: pydicom.Dataset) -> list[dict[str, Any]]:
    """Position, orientation and pixel spacing of each frame: the image's own, or from its functional groups."""
    if "PerFrameFunctionalGroupsSequence" not in instance:
        return [{keyword: instance.get(keyword) for _, keyword in _PLANE_ATTRIBUTES}]
    shared = (instance.get("SharedFunctionalGroupsSequence") or [pydicom.Dataset()])[0]
    return [{keyword: _in_groups(frame, shared, sequence, keyword) for sequence, keyword in _PLANE_ATTRIBUTES}
            for frame in instance.PerFrameFunctionalGroupsSequence]


def _in_groups(frame: pydicom.Dataset, shared: pydicom.Dataset, sequence: str, keyword: str) -> Any:
    """A value of a frame's own functional group, else of the shared one."""
    for groups in (frame, shared):
        items = groups.get(sequence)
        if items and keyword in items[0]:
            return items[0][keyword].value
    return None


def _slices(planes: list[_Plane], grid: sitk.Image, refuse: Refuse) -> tuple[int, ...]:
    """The grid slice of each frame; refused unless every frame is one whole slice and each slice has one frame."""
    direction = np.asarray(grid.GetDirection(), dtype=float).reshape(3, 3)
    orientation = np.concatenate([direction[:, 0], direction[:, 1]])
    columns, rows, depth = grid.GetSize()
    slices = []
    for plane in planes:
        if plane.size != (columns, rows):
            refuse(f"its images have {plane.size[0]} x {plane.size[1]} pixels, the map's slices {columns} x {rows}")
        if np.abs(plane.orientation - orientation).max() > _DIRECTION_TOLERANCE:
            refuse("its image orientation differs from the map's")
        if np.abs(plane.spacing - np.asarray(grid.GetSpacing()[:2])).max() > _POSITION_TOLERANCE_MM:
            refuse(f"its pixel spacing {plane.spacing[0]:g} x {plane.spacing[1]:g} mm differs from the map's")
        slices.append(_slice_of(plane.position, grid, refuse))
    if len(slices) != depth or sorted(slices) != list(range(depth)):
        refuse(f"it has {len(slices)} images on {len(set(slices))} of the map's {depth} slices")
    return tuple(slices)


def _slice_of(position: np.ndarray, grid: sitk.Image, refuse: Refuse) -> int:
    """The grid slice an image lies on: its first pixel must be the slice's first voxel."""
    k = int(round(grid.TransformPhysicalPointToContinuousIndex(position.tolist())[2]))
    corner = np.asarray(grid.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, float(k))))
    if np.linalg.norm(corner - position) > _POSITION_TOLERANCE_MM or not 0 <= k < grid.GetDepth():
        refuse(f"an image at {_point(position)} mm lies on no slice of the map")
    return k


def _refusal(what: str, folder: Path, grid: sitk.Image) -> Refuse:
    """One line naming the folder, the grid and what does not match."""

    def refuse(problem: str) -> NoReturn:
        raise InputError(f"{what}: the DICOM series does not match the post-EVT map's grid "
                         f"({' x '.join(map(str, grid.GetSize()))} voxels): {problem}", folder)
    return refuse


def _point(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{value:.1f}" for value in values) + ")"
