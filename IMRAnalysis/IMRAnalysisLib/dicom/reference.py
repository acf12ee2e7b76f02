"""The patient's post-EVT DICOM series that DICOM results point back to.

A PACS files a segmentation or report under the patient, study and frame of reference of
the images it describes, so the results must name those images instance by instance.
The series is matched to the post-EVT map's grid slice by slice: an instance that does
not sit exactly on a slice of the grid would make every segment land beside the anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError

from ..errors import InputError
from ..image_io import dicom_series

# mm: DICOM decimal strings hold positions far more precisely than this
_POSITION_TOLERANCE_MM = 0.01
_DIRECTION_TOLERANCE = 1e-4
_GEOMETRY_TAGS = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns")
Refuse = Callable[[str], NoReturn]


@dataclass(frozen=True)
class DicomReference:
    """Headers of the series' instances, one per slice of the post-EVT grid, in slice (k) order."""

    folder: Path
    series_uid: str
    instances: tuple[pydicom.Dataset, ...]


def read_reference(folder: str | Path, grid: sitk.Image, what: str, series_uid: str | None = None) -> DicomReference:
    """The series of ``folder`` (the one with ``series_uid`` if several) whose slices are ``grid``'s.

    ``what`` names the folder in messages ("--dicom-reference", "post-EVT rCBV map").
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{what}: a folder holding the post-EVT DICOM series is expected", folder)
    series = dicom_series(folder, what, series_uid)
    instances = [_header(Path(name), what) for name in series.files]
    if any("FrameOfReferenceUID" not in instance for instance in instances):
        raise InputError(f"{what}: the DICOM series has no Frame of Reference UID, so results cannot be placed on it",
                         folder)
    return DicomReference(folder, series.uid, tuple(_in_slice_order(instances, grid, what, folder)))


def _header(path: Path, what: str) -> pydicom.Dataset:
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError) as error:
        raise InputError(f"{what}: this DICOM file cannot be read ({error.__class__.__name__})", path) from error
    missing = [tag for tag in _GEOMETRY_TAGS if tag not in header]
    if missing:
        raise InputError(f"{what}: the DICOM image has no {', '.join(missing)}; one slice per file is expected", path)
    return header


def _in_slice_order(instances: list[pydicom.Dataset], grid: sitk.Image, what: str, folder: Path) -> list[pydicom.Dataset]:
    """The instances sorted by the grid slice they lie on; refused unless each slice has exactly one."""
    columns, rows, depth = grid.GetSize()
    direction = np.asarray(grid.GetDirection(), dtype=float).reshape(3, 3)
    refuse = _refusal(what, folder, grid)
    first = instances[0]
    if (int(first.Rows), int(first.Columns)) != (rows, columns):
        refuse(f"its images have {first.Columns} x {first.Rows} pixels, the map's slices {columns} x {rows}")
    orientation = np.asarray(first.ImageOrientationPatient, dtype=float)
    if np.abs(orientation - np.concatenate([direction[:, 0], direction[:, 1]])).max() > _DIRECTION_TOLERANCE:
        refuse("its image orientation differs from the map's")
    pixel_spacing = np.asarray(first.PixelSpacing, dtype=float)[::-1]  # DICOM gives rows' spacing first
    if np.abs(pixel_spacing - np.asarray(grid.GetSpacing()[:2])).max() > _POSITION_TOLERANCE_MM:
        refuse(f"its pixel spacing {pixel_spacing[0]:g} x {pixel_spacing[1]:g} mm differs from the map's")
    by_slice: dict[int, pydicom.Dataset] = {}
    for instance in instances:
        if (int(instance.Rows), int(instance.Columns)) != (rows, columns) or np.abs(
                np.asarray(instance.ImageOrientationPatient, dtype=float) - orientation).max() > _DIRECTION_TOLERANCE:
            refuse("its images differ in size or orientation")
        by_slice[_slice_of(instance, grid, refuse)] = instance
    if len(instances) != depth or sorted(by_slice) != list(range(depth)):
        refuse(f"it has {len(instances)} images on {len(by_slice)} of the map's {depth} slices")
    return [by_slice[k] for k in range(depth)]


def _slice_of(instance: pydicom.Dataset, grid: sitk.Image, refuse: Refuse) -> int:
    """The grid slice an image lies on: its first pixel must be the slice's first voxel."""
    position = [float(value) for value in instance.ImagePositionPatient]
    index = np.asarray(grid.TransformPhysicalPointToContinuousIndex(position))
    k = int(round(index[2]))
    corner = np.asarray(grid.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, float(k))))
    if np.linalg.norm(corner - position) > _POSITION_TOLERANCE_MM or not 0 <= k < grid.GetDepth():
        refuse(f"image {instance.get('InstanceNumber', '?')} at {_point(position)} mm lies on no slice of the map")
    return k


def _refusal(what: str, folder: Path, grid: sitk.Image) -> Refuse:
    """One line naming the folder, the grid and what does not match."""

    def refuse(problem: str) -> NoReturn:
        raise InputError(f"{what}: the DICOM series does not match the post-EVT map's grid "
                         f"({' x '.join(map(str, grid.GetSize()))} voxels): {problem}", folder)
    return refuse


def _point(values: list[float]) -> str:
    return "(" + ", ".join(f"{value:.1f}" for value in values) + ")"
