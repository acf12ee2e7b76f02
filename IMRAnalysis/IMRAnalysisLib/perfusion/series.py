"""Reading a 4D DSC-MRI series with its echo time (TE) and sampling interval (TR).

Sources: a 4D NIfTI or NRRD file (the fourth axis, or NRRD vector components as in
Slicer's MultiVolume files, is time); a DICOM folder holding one series with several time
points, either classic (one file per slice and time point) or enhanced multi-frame MR (one
file with every frame, or one multi-frame file per time point; ``io/dicom_frames.py``); or one
enhanced multi-frame file given directly. TE and TR come from the header where it has them
and are overridden by the caller's values (seconds):

- NIfTI: TR is ``pixdim[4]`` with its time unit; NRRD: fields ``...EchoTime`` /
  ``...RepetitionTime`` in ms as in DICOM.
- Classic DICOM: tags 0018|0081 (TE) and 0018|0080 (TR), ms.
- Enhanced DICOM: TE is the Effective Echo Time of the MR Echo group, else EchoTime (ms).
  TR, the time between dynamics, is the median step of the frames' acquisition (else
  reference) date-times from one time point to the next at the same slice; without frame
  times, TemporalResolution, else the Repetition Time of the MR Timing group or the top
  level (ms), as for classic DICOM.

Everything that makes the series unusable is an ``InputError`` of one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..io.dicom_frames import MS as _MS
from ..io.dicom_frames import ROLE, read_dicom
from ..io.images import check_nifti_file, require_finite
from ..io.multiframe_files import is_multiframe

MIN_DYNAMICS = 10
TE_RANGE_S = (0.001, 0.2)
TR_RANGE_S = (0.1, 10.0)
MIN_BOLUS_DROP = 0.03  # whole-brain signal must fall by at least 3 % at the bolus
MAX_SATURATED_FRACTION = 0.01  # of tissue samples sitting exactly at the series maximum
MAX_NEGATIVE_FRACTION = 0.05  # of the maximum: noise or interpolation ringing below 0, not a shifted series
_NIFTI_TIME_UNITS = {8: 1.0, 16: 1e-3, 24: 1e-6}


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


def read_dsc(path: str | Path, te: float | None = None, tr: float | None = None,
             series: str | None = None) -> DscSeries:
    """The checked series; ``te``/``tr`` (seconds) replace the header's values.

    ``series`` is the SeriesInstanceUID to read from a DICOM folder holding several series.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"the {ROLE} was not found (no such file or folder)", path)
    signal, reference, header = (read_dicom(path, series) if path.is_dir() or is_multiframe(path)
                                 else _read_file(path))
    te = _required_time(te if te is not None else header.get("te"), "echo time (TE)", "echo time", TE_RANGE_S, path)
    tr = _required_time(tr if tr is not None else header.get("tr"), "time between dynamics (TR)", "time between dynamics",
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
    require_finite(signal, path, ROLE)
    lowest, highest = float(signal.min()), float(signal.max())
    if lowest < -MAX_NEGATIVE_FRACTION * abs(highest):
        raise InputError(f"the {ROLE} has strongly negative values (minimum {lowest:.4g}, maximum {highest:.4g}): "
                         "a DSC series holds signal magnitudes, not mean-subtracted or difference values", path)
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


def _required_time(value: float | None, name: str, setting: str, limits: tuple[float, float], path: Path) -> float:
    if value is None:
        raise InputError(f"the {ROLE} does not record its {name}; give it in seconds", path, setting=setting)
    low, high = limits
    if not np.isfinite(value) or not low <= value <= high:
        raise InputError(f"the {ROLE} {name} of {value:g} s is not plausible (expected {low:g} to {high:g} s); "
                         "give the right value in seconds", path, setting=setting)
    return float(value)


# --- files ------------------------------------------------------------------------------


def _read_file(path: Path) -> tuple[np.ndarray, sitk.Image, dict[str, float]]:
    if path.name.lower().endswith((".nii", ".nii.gz")):
        check_nifti_file(path, ROLE)
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
