"""Reading a DICOM DSC-MRI series: classic (one file per slice and time point) or enhanced multi-frame.

Classic series go through SimpleITK/GDCM, grouped by the first temporal tag that varies.
Enhanced MR objects (one file holding every frame, or one file per time point) are read
with pydicom from their functional groups, per frame or shared: the time point is the
Temporal Position Index, else a temporal dimension index, else the rank of the frame's
acquisition (or reference) date-time among the frames at the same slice position; the
geometry comes from Plane Position, Plane Orientation and Pixel Measures; pixel values are
rescaled by Pixel Value Transformation. Returned like every DSC reader: signal (time, z, y, x)
float32, a 3D reference image on its grid, and header TE/TR in seconds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import DT

from ..errors import InputError
from .dicom_folders import dicom_series
from .multiframe_files import PARAMETRIC_MAP, multiframe_files

ROLE = "DSC series"
MS = 1e-3
Header = dict[str, float]
_ECHO_TAG, _REPETITION_TAG = "0018|0081", "0018|0080"
_TEMPORAL_TAGS = ("0020|0100", "0018|1060", "0008|0032")  # temporal position, trigger, acquisition time
_TEMPORAL_POINTERS = (0x00209128, 0x00189074, 0x00189151, 0x00200100)  # dimensions that index time
_POSITION_TOLERANCE_MM = 0.01
_SAME_TOLERANCE = 1e-4  # of direction cosines, mm of pixel spacing, ms of echo time


def read_dicom(path: Path, series: str | None = None) -> tuple[np.ndarray, sitk.Image, Header]:
    """A DICOM folder (classic or multi-frame) or one multi-frame file, with at least two time points.

    ``series`` is the SeriesInstanceUID to read from a classic folder holding several series.
    """
    files = multiframe_files(path) if path.is_dir() else [path]
    where = files[0] if len(files) == 1 else path  # errors name the file when there is one
    signal, reference, header = read_multiframe(files, where) if files else _read_classic(path, series)
    if signal.shape[0] == 1:
        raise InputError(f"the {ROLE} is a single 3D volume (one time point); a 4D time series is expected", path)
    return signal, reference, header


# --- enhanced multi-frame ----------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    pixels: np.ndarray  # (rows, columns), rescaled
    position: np.ndarray  # ImagePositionPatient, mm
    orientation: np.ndarray  # ImageOrientationPatient
    pixel_spacing: tuple[float, float]  # between rows, between columns
    time_index: float | None  # temporal position or dimension index
    time: float | None  # seconds since an arbitrary epoch
    echo_ms: float  # effective echo time, nan when the frame has none


def read_multiframe(files: list[Path], where: Path, role: str = ROLE) -> tuple[np.ndarray, sitk.Image, Header]:
    """Frames of one or more multi-frame files (one series), stacked by time point and slice position.

    ``role`` names the series in messages: the DSC series, or a map read the same way.
    """
    datasets = [_dataset(path, role) for path in files]
    frames = [frame for path, (dataset, pixels) in zip(files, datasets) for frame in _frames(dataset, pixels, path, role)]
    orientation = _common(frames, "orientation", "image orientations", where, role)
    spacing = _common(frames, "pixel_spacing", "pixel spacings", where, role)
    _common(frames, "echo_ms", "echo times", where, role)
    row, column = orientation[:3], orientation[3:]
    normal = np.cross(row, column)
    depth = np.array([frame.position @ normal for frame in frames])
    grid = _time_grid(frames, depth, where, role)
    depths = depth[grid[0]]
    if grid.shape[1] > 1:
        steps = np.diff(depths)
        if np.ptp(steps) > _POSITION_TOLERANCE_MM:
            raise InputError(f"the {role} slices are not evenly spaced (gaps from {steps.min():.3f} to "
                             f"{steps.max():.3f} mm)", where)
    first = frames[grid[0, 0]].position
    for index in grid[0]:
        off_axis = frames[index].position - first - (depth[index] - depths[0]) * normal
        if np.linalg.norm(off_axis) > _POSITION_TOLERANCE_MM:
            raise InputError(f"the {role} slices are not stacked along the slice normal (sheared stack)", where)
    slice_step = float(np.mean(np.diff(depths))) if grid.shape[1] > 1 else _slice_thickness(datasets[0][0])
    signal = np.stack([[frames[index].pixels for index in row_of_time] for row_of_time in grid]).astype(np.float32)
    reference = sitk.Image([signal.shape[3], signal.shape[2], signal.shape[1]], sitk.sitkFloat32)
    reference.SetOrigin(first.tolist())
    reference.SetSpacing((spacing[1], spacing[0], slice_step))
    reference.SetDirection(np.column_stack([row, column, normal]).ravel().tolist())
    return signal, reference, _multiframe_header(datasets[0][0], frames, grid)


def _dataset(path: Path, role: str) -> tuple[pydicom.Dataset, np.ndarray]:
    """The file's dataset and its frames' stored values (frame, row, column)."""
    try:
        dataset = pydicom.dcmread(path)
        if "PerFrameFunctionalGroupsSequence" not in dataset:
            raise InputError(f"the {role} multi-frame file has no per-frame functional groups", path)
        pixels = dataset.pixel_array.reshape(-1, dataset.Rows, dataset.Columns)
        if len(pixels) != len(dataset.PerFrameFunctionalGroupsSequence):
            raise InputError(f"the {role} multi-frame file has {len(pixels)} frames but "
                             f"{len(dataset.PerFrameFunctionalGroupsSequence)} per-frame functional groups", path)
    except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError, RuntimeError) as error:
        raise InputError(f"the {role} multi-frame DICOM file cannot be read ({error.__class__.__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else 'damaged'})", path) from error
    return dataset, pixels


def _group(dataset: pydicom.Dataset, frame_groups: pydicom.Dataset, name: str) -> pydicom.Dataset | None:
    """The first item of functional group ``name`` for a frame: its own, else the shared one."""
    for groups in (frame_groups, *dataset.get("SharedFunctionalGroupsSequence", [])):
        if name in groups and len(groups[name].value):
            return groups[name].value[0]
    return None


def _value(dataset: pydicom.Dataset, frame_groups: pydicom.Dataset, name: str, keyword: str) -> Any:
    group = _group(dataset, frame_groups, name)
    return None if group is None else group.get(keyword)


def _frames(dataset: pydicom.Dataset, pixels: np.ndarray, path: Path, role: str) -> list[_Frame]:
    temporal = [index for index, item in enumerate(dataset.get("DimensionIndexSequence", []))
                if int(item.DimensionIndexPointer) in _TEMPORAL_POINTERS]
    frames = []
    for number, (groups, stored) in enumerate(zip(dataset.PerFrameFunctionalGroupsSequence, pixels), 1):
        found = {name: _value(dataset, groups, sequence, keyword) for name, sequence, keyword in (
            ("position", "PlanePositionSequence", "ImagePositionPatient"),
            ("orientation", "PlaneOrientationSequence", "ImageOrientationPatient"),
            ("pixel spacing", "PixelMeasuresSequence", "PixelSpacing"))}
        for name, value in found.items():
            if value is None or len(value) != {"position": 3, "orientation": 6, "pixel spacing": 2}[name]:
                raise InputError(f"the {role} frame {number} has no {name} in its functional groups", path)
        slope, intercept = _rescale(dataset, groups, path, role)
        content = _group(dataset, groups, "FrameContentSequence") or pydicom.Dataset()
        indices = content.get("DimensionIndexValues")
        index = content.get("TemporalPositionIndex")
        if index is None and temporal and indices is not None:
            index = list(np.atleast_1d(indices))[temporal[0]]
        stamp = content.get("FrameAcquisitionDateTime") or content.get("FrameReferenceDateTime")
        echo = _value(dataset, groups, "MREchoSequence", "EffectiveEchoTime")
        frames.append(_Frame(stored * slope + intercept, np.array(found["position"], float),
                             np.array(found["orientation"], float), tuple(map(float, found["pixel spacing"])),
                             None if index is None else float(index), _seconds(stamp),
                             np.nan if echo is None else float(echo)))
    return frames


def _rescale(dataset: pydicom.Dataset, groups: pydicom.Dataset, path: Path, role: str) -> tuple[float, float]:
    """Slope and intercept from stored to real values: a parametric map's real-world value
    mapping, else the pixel value transformation (rescale) of MR images."""
    mapping = _group(dataset, groups, "RealWorldValueMappingSequence")
    if dataset.get("SOPClassUID") == PARAMETRIC_MAP and mapping is not None:
        if "RealWorldValueSlope" not in mapping:
            raise InputError(f"the {role} maps its stored values through a lookup table, which is not supported; "
                             "export the map with a linear mapping (slope and intercept) or as NIfTI", path)
        return float(mapping.RealWorldValueSlope), float(mapping.get("RealWorldValueIntercept", 0.0))
    transform = _group(dataset, groups, "PixelValueTransformationSequence") or dataset
    return float(transform.get("RescaleSlope", 1.0)), float(transform.get("RescaleIntercept", 0.0))


def _seconds(stamp: Any) -> float | None:
    if not stamp:
        return None
    moment = DT(stamp).replace(tzinfo=None)
    return (moment - moment.min).total_seconds()


def _common(frames: list[_Frame], field: str, what: str, where: Path, role: str) -> np.ndarray:
    values = np.array([getattr(frame, field) for frame in frames])
    if np.ptp(values, axis=0).max() > _SAME_TOLERANCE:
        raise InputError(f"the {role} frames have mixed {what}; one stack of parallel slices of one echo is expected",
                         where)
    return values[0]


def _time_grid(frames: list[_Frame], depth: np.ndarray, where: Path, role: str) -> np.ndarray:
    """Frame numbers as (time, slice), slices sorted along the normal, time in acquisition order.

    The time point is the frame's temporal index when every frame has one and no two frames
    share it at a slice position (several files of one time point each may all say 1); else
    the rank of the frame among those at its slice position, by frame time, then file and frame order.
    """
    slices = np.round(depth / _POSITION_TOLERANCE_MM).astype(np.int64)
    pairs = {(frame.time_index, key) for frame, key in zip(frames, slices)}
    if all(frame.time_index is not None for frame in frames) and len(pairs) == len(frames):
        times = [frame.time_index for frame in frames]
    else:
        timed = all(frame.time is not None for frame in frames)
        times = [0.0] * len(frames)
        by_slice: dict[int, list[int]] = defaultdict(list)
        for number, key in enumerate(slices):
            by_slice[key].append(number)
        for numbers in by_slice.values():
            for rank, number in enumerate(sorted(numbers, key=lambda n: (frames[n].time if timed else 0.0, n))):
                times[number] = float(rank)
    groups: dict[float, dict[int, int]] = defaultdict(dict)
    for number, (time, key) in enumerate(zip(times, slices)):
        groups[time][key] = number
    counts = sorted({len(group) for group in groups.values()})
    if len(counts) > 1:
        raise InputError(f"the {role} time points have different numbers of slices ({counts[0]} to {counts[-1]})",
                         where)
    if len({tuple(sorted(group)) for group in groups.values()}) > 1:
        raise InputError(f"the {role} time points cover different slice positions", where)
    return np.array([[groups[time][key] for key in sorted(groups[time])] for time in sorted(groups)])


def _slice_thickness(dataset: pydicom.Dataset) -> float:
    measures = _group(dataset, pydicom.Dataset(), "PixelMeasuresSequence") or pydicom.Dataset()
    return float(dataset.get("SpacingBetweenSlices") or measures.get("SliceThickness") or 1.0)


def _multiframe_header(dataset: pydicom.Dataset, frames: list[_Frame], grid: np.ndarray) -> Header:
    """TE from the echo group or EchoTime; TR from frame times, else TemporalResolution, else RepetitionTime."""
    groups = dataset.PerFrameFunctionalGroupsSequence[0]
    header: Header = {}
    te = frames[0].echo_ms if np.isfinite(frames[0].echo_ms) else dataset.get("EchoTime")
    if te:
        header["te"] = float(te) * MS
    times = np.array([[frames[index].time for index in row] for row in grid], dtype=float)
    steps = np.diff(times, axis=0) if grid.shape[0] > 1 and not np.isnan(times).any() else np.empty(0)
    repetition = (_value(dataset, groups, "MRTimingAndRelatedParametersSequence", "RepetitionTime")
                  or dataset.get("RepetitionTime"))
    if steps.size and np.median(steps) > 0:
        header["tr"] = float(np.median(steps))
    elif dataset.get("TemporalResolution") or repetition:
        header["tr"] = float(dataset.get("TemporalResolution") or repetition) * MS
    return header


# --- classic: one file per slice and time point ------------------------------------------


def _read_classic(folder: Path, series: str | None) -> tuple[np.ndarray, sitk.Image, Header]:
    files = list(dicom_series(folder, ROLE, series).files)
    volumes = []
    for names in _time_groups(files, folder):
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(names)
        try:
            volumes.append(reader.Execute())
        except RuntimeError as error:
            raise InputError(f"the {ROLE} DICOM files cannot be read as volumes", folder) from error
    shapes = {volume.GetSize() for volume in volumes}
    if len(shapes) > 1:
        raise InputError(f"the {ROLE} time points have different sizes ({len(shapes)} kinds)", folder)
    signal = np.stack([sitk.GetArrayFromImage(volume) for volume in volumes]).astype(np.float32)
    reference = sitk.Cast(volumes[0], sitk.sitkFloat32)
    probe = sitk.ImageFileReader()
    probe.SetFileName(files[0])
    probe.ReadImageInformation()
    header = {name: float(probe.GetMetaData(tag).split("\\")[0]) * MS
              for name, tag in (("te", _ECHO_TAG), ("tr", _REPETITION_TAG)) if probe.HasMetaDataKey(tag)}
    return signal, reference, header


def _time_groups(files: list[str], folder: Path) -> list[list[str]]:
    """Files grouped by time point (first temporal tag that varies), in time order."""
    headers = []
    for name in files:
        reader = sitk.ImageFileReader()
        reader.SetFileName(name)
        reader.ReadImageInformation()
        headers.append({tag: reader.GetMetaData(tag).strip() for tag in _TEMPORAL_TAGS if reader.HasMetaDataKey(tag)})
    for tag in _TEMPORAL_TAGS:
        values = [header.get(tag) for header in headers]
        if None not in values and len(set(values)) > 1:
            groups: dict[float, list[str]] = defaultdict(list)
            for name, value in zip(files, values):
                groups[float(value)].append(name)
            counts = {len(names) for names in groups.values()}
            if len(counts) > 1:
                raise InputError(f"the {ROLE} time points have different numbers of slices", folder)
            return [groups[key] for key in sorted(groups)]
    return [files]
