"""Reading a 4D DSC-MRI series with its echo time (TE) and sampling interval (TR).

Sources: a 4D NIfTI or NRRD file (the fourth axis, or NRRD vector components as in
Slicer's MultiVolume files, is time), or a DICOM folder holding one series with several
time points. TE and TR come from the header where it has them (NIfTI ``pixdim[4]`` with
its time unit; NRRD fields ``...EchoTime`` / ``...RepetitionTime`` in ms as in DICOM;
DICOM tags 0018|0081 and 0018|0080, ms) and are overridden by the caller's values.
Everything that makes the series unusable is an ``InputError`` of one line.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

ROLE = "DSC series"
MIN_DYNAMICS = 10
TE_RANGE_S = (0.001, 0.2)
TR_RANGE_S = (0.1, 10.0)
MIN_BOLUS_DROP = 0.03  # whole-brain signal must fall by at least 3 % at the bolus
MAX_SATURATED_FRACTION = 0.01  # of tissue samples sitting exactly at the series maximum
_NIFTI_TIME_UNITS = {8: 1.0, 16: 1e-3, 24: 1e-6}
_MS = 1e-3
_ECHO_TAG, _REPETITION_TAG = "0018|0081", "0018|0080"
_TEMPORAL_TAGS = ("0020|0100", "0018|1060", "0008|0032")  # temporal position, trigger, acquisition time


@dataclass(frozen=True, eq=False)
class DscSeries:
    """Signal (time, z, y, x) float32 on the grid of ``reference`` (a 3D image), TE and TR in s."""

    signal: np.ndarray
    reference: sitk.Image
    te: float
    tr: float
    source: Path

    def volume_image(self, values: np.ndarray) -> sitk.Image:
        """A 3D image of ``values`` (z, y, x) with the series' spatial geometry."""
        image = sitk.GetImageFromArray(np.asarray(values, dtype=np.float32))
        image.CopyInformation(self.reference)
        return image


def series_image(signal: np.ndarray, reference: sitk.Image, tr: float) -> sitk.Image:
    """A 4D image of ``signal`` (time, z, y, x) on ``reference``'s grid, time spacing ``tr``.

    Built by joining volumes: ``GetImageFromArray`` may read a 4D array as vectors.
    """
    volumes = []
    for volume in signal:
        image = sitk.GetImageFromArray(np.ascontiguousarray(volume))
        image.CopyInformation(reference)
        volumes.append(image)
    return sitk.JoinSeries(volumes, 0.0, float(tr))


def read_dsc(path: str | Path, te: float | None = None, tr: float | None = None) -> DscSeries:
    """The checked series; ``te``/``tr`` (seconds) replace the header's values."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"the {ROLE} was not found (no such file or folder)", path)
    signal, reference, header = _read_dicom(path) if path.is_dir() else _read_file(path)
    te = _required_time(te if te is not None else header.get("te"), "echo time (TE)", "--te", TE_RANGE_S, path)
    tr = _required_time(tr if tr is not None else header.get("tr"), "time between dynamics (TR)", "--tr",
                        TR_RANGE_S, path)
    series = DscSeries(signal, reference, te, tr, path)
    check_signal(series)
    return series


def check_signal(series: DscSeries) -> None:
    """Refuse series that cannot give perfusion maps: too short, clipped, or without a bolus."""
    signal, path = series.signal, series.source
    if signal.shape[0] < MIN_DYNAMICS:
        raise InputError(f"the {ROLE} has only {signal.shape[0]} time points; at least {MIN_DYNAMICS} are needed",
                         path)
    tissue = tissue_voxels(signal)
    samples = signal[:, tissue]
    saturated = np.count_nonzero(samples == signal.max()) / samples.size
    if saturated > MAX_SATURATED_FRACTION:
        raise InputError(f"the {ROLE} is saturated: {100 * saturated:.1f} % of tissue samples are clipped at "
                         f"the maximum value {signal.max():g}", path)
    curve = samples.mean(axis=1)
    drop = 1.0 - curve.min() / np.median(curve[: max(3, len(curve) // 10)])
    if drop < MIN_BOLUS_DROP:
        raise InputError(f"the {ROLE} shows no contrast bolus: the mean tissue signal never drops by "
                         f"{100 * MIN_BOLUS_DROP:.0f} % (largest drop {100 * drop:.1f} %)", path)


def tissue_voxels(signal: np.ndarray) -> np.ndarray:
    """Voxels bright enough on the first volume to be head (not background), (z, y, x) bool."""
    first = signal[0]
    return first > 0.5 * first[first > 0].mean() if np.any(first > 0) else np.zeros(first.shape, bool)


def _required_time(value: float | None, name: str, option: str, limits: tuple[float, float], path: Path) -> float:
    if value is None:
        raise InputError(f"the {ROLE} does not record its {name}; give it with {option} (seconds)", path)
    low, high = limits
    if not np.isfinite(value) or not low <= value <= high:
        raise InputError(f"the {ROLE} {name} of {value:g} s is not plausible (expected {low:g} to {high:g} s); "
                         f"give the right value with {option} (seconds)", path)
    return float(value)


# --- files ------------------------------------------------------------------------------


def _read_file(path: Path) -> tuple[np.ndarray, sitk.Image, dict[str, float]]:
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"the {ROLE} cannot be read: the file is damaged or not a 4D NIfTI/NRRD image",
                         path) from error
    keys = {key: image.GetMetaData(key) for key in image.GetMetaDataKeys()}
    header = _header_times(keys)
    if image.GetNumberOfComponentsPerPixel() > 1 and image.GetDimension() == 3:
        signal = np.moveaxis(sitk.GetArrayFromImage(image), -1, 0)
        reference = sitk.Image(image.GetSize(), sitk.sitkFloat32)
        reference.CopyInformation(image)
    elif image.GetDimension() == 4:
        signal = sitk.GetArrayFromImage(image)
        reference = _first_volume(image)
        header.setdefault("tr", _nifti_tr(keys) if "pixdim[4]" in keys else image.GetSpacing()[3])
    else:
        raise InputError(f"the {ROLE} is a single {image.GetDimension()}D volume; a 4D time series is expected",
                         path)
    return signal.astype(np.float32), reference, header


def _first_volume(image: sitk.Image) -> sitk.Image:
    size = list(image.GetSize())
    volume = sitk.Extract(image, size[:3] + [0], [0, 0, 0, 0],
                          sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX)
    return sitk.Cast(volume, sitk.sitkFloat32)


def _nifti_tr(keys: dict[str, str]) -> float | None:
    """pixdim[4] in seconds, or None when it is 0 or its unit is not a time unit."""
    scale = _NIFTI_TIME_UNITS.get(int(keys.get("xyzt_units", "0")) & 0x38)
    value = float(keys["pixdim[4]"])
    return value * scale if scale is not None and value > 0 else None


def _header_times(keys: dict[str, str]) -> dict[str, float]:
    """TE/TR in seconds from key/value fields named like DICOM's (values in ms)."""
    found: dict[str, float] = {}
    for key, value in keys.items():
        for suffix, name in (("echotime", "te"), ("repetitiontime", "tr")):
            if key.lower().replace("_", "").endswith(suffix):
                try:
                    found[name] = float(value.split("\\")[0]) * _MS
                except ValueError:
                    continue
    return found


# --- DICOM ------------------------------------------------------------------------------


def _read_dicom(folder: Path) -> tuple[np.ndarray, sitk.Image, dict[str, float]]:
    """One series of 2D files, one per slice and time point (multi-frame files are not handled)."""
    files = _largest_series(folder)
    groups = _time_groups(files, folder)
    if len(groups) == 1:
        raise InputError(f"the {ROLE} is a single 3D volume (one time point); a 4D time series is expected",
                         folder)
    volumes = []
    for names in groups:
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
    header = {name: float(probe.GetMetaData(tag).split("\\")[0]) * _MS
              for name, tag in (("te", _ECHO_TAG), ("tr", _REPETITION_TAG)) if probe.HasMetaDataKey(tag)}
    return signal, reference, header


def _largest_series(folder: Path) -> list[str]:
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    series = [sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid) for sid in ids]
    if not series:
        raise InputError(f"the {ROLE} folder contains no DICOM series", folder)
    return list(max(series, key=len))


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
