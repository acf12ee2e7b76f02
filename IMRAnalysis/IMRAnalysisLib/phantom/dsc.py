"""A DSC-MRI series of the phantom head with known CBV, CBF and bolus delay per tissue.

The anatomy is the phantom's MNI152 grey/white probability template, averaged onto a
DSC-like grid (partial volume included). Concentration in each voxel is
``CBF * AIF(t - delay) (*) exp(-t / MTT)`` mixed by tissue fractions, plus pure and
partial-volume arterial voxels carrying the gamma-variate AIF itself. Signal is
``S0 * exp(-TE * concentration)`` (concentration read as delta R2*, 1/s) with Gaussian
noise; no recirculation or leakage, so every curve is first pass only.

A phantom patient's rCBV maps (``phantom.py``) can also be emitted as series on their
own grids (``patient_dsc``), so that the whole DSC-to-IMR chain is tested against the
IMR those maps carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..analysis.brain_mask import automatic_brain_mask
from ..perfusion.series import DscSeries, series_image
from .template import TIMEPOINTS, PhantomPatient, Timepoint
from .template_anatomy import DATA_DIR, TEMPLATE_FILES

MAP_MTT_S = 4.0  # MTT of every voxel of a series made from a map


@dataclass(frozen=True)
class Tissue:
    cbv: float  # mL/100 mL
    cbf: float  # mL/100 mL/min

    @property
    def mtt(self) -> float:
        return 60.0 * self.cbv / self.cbf


@dataclass(frozen=True)
class DscPhantomConfig:
    spacing_mm: tuple[float, float, float] = (4.0, 4.0, 5.0)
    dynamics: int = 60
    tr: float = 1.5
    te: float = 0.03
    s0: float = 1000.0
    noise_sd: float = 3.0
    aif_start: float = 15.0  # s
    aif_peak: float = 120.0  # delta R2* at the peak, 1/s
    aif_time_to_peak: float = 4.5  # s after start
    aif_alpha: float = 3.0
    grey: Tissue = Tissue(4.0, 60.0)
    white: Tissue = Tissue(2.0, 22.0)
    delay: float = 3.0  # s, bolus delay in the delayed region
    delayed_centre_mm: tuple[float, float, float] = (35.0, -20.0, 20.0)  # LPS, patient's left
    delayed_radius_mm: float = 22.0
    artery_centres_mm: tuple[tuple[float, float, float], ...] = ((-30.0, 0.0, -5.0), (30.0, 0.0, -5.0))
    seed: int = 7


@dataclass(frozen=True, eq=False)
class DscPhantom:
    series: DscSeries
    grey_fraction: np.ndarray  # (z, y, x)
    white_fraction: np.ndarray
    artery_fraction: np.ndarray
    delayed: np.ndarray  # bool (z, y, x)
    aif: np.ndarray  # true delta R2* of a pure arterial voxel, per dynamic
    config: DscPhantomConfig = field(default_factory=DscPhantomConfig)

    def write(self, path: str | Path) -> Path:
        return write_series(self.series, path)


def write_series(series: DscSeries, path: str | Path) -> Path:
    """The series as a 4D NRRD with TE and TR (ms) in DICOM-named fields."""
    image = series_image(series.signal, series.reference, series.tr)
    image.SetMetaData("EchoTime", f"{1000 * series.te:g}")
    image.SetMetaData("RepetitionTime", f"{1000 * series.tr:g}")
    sitk.WriteImage(image, str(path), useCompression=True)
    return Path(path)


def gamma_variate(t: np.ndarray, start: float, time_to_peak: float, alpha: float, peak: float) -> np.ndarray:
    """Gamma-variate bolus of height ``peak`` reached ``time_to_peak`` after ``start``."""
    s = np.clip(np.asarray(t, dtype=float) - start, 0.0, None) / time_to_peak
    return peak * s**alpha * np.exp(alpha * (1.0 - s))


def _fractions(spacing: tuple[float, float, float]) -> tuple[sitk.Image, np.ndarray, np.ndarray]:
    """Grey and white fractions averaged (not sampled) onto a grid of ``spacing`` mm."""
    images = [sitk.ReadImage(str(DATA_DIR / TEMPLATE_FILES[name]), sitk.sitkFloat32) / 255.0 for name in ("gm", "wm")]
    fine = images[0]
    size = [int(np.ceil(n * s / t)) for n, s, t in zip(fine.GetSize(), fine.GetSpacing(), spacing)]
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing(spacing)
    reference.SetDirection(fine.GetDirection())
    first_centre = [(t / s - 1) / 2 for s, t in zip(fine.GetSpacing(), spacing)]  # in fine voxels
    reference.SetOrigin(fine.TransformContinuousIndexToPhysicalPoint(first_centre))
    factor = [max(1, round(t / s)) for s, t in zip(fine.GetSpacing(), spacing)]
    arrays = []
    for image in images:
        smooth = sitk.BinShrink(image, factor)
        arrays.append(sitk.GetArrayFromImage(sitk.Resample(smooth, reference, sitk.Transform(), sitk.sitkLinear)))
    return reference, arrays[0], arrays[1]


def _ball(reference: sitk.Image, centre: tuple[float, float, float], radius: float) -> np.ndarray:
    size = reference.GetSize()
    index = np.stack(np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij"), axis=-1)[..., ::-1]
    direction = np.reshape(reference.GetDirection(), (3, 3))
    points = np.asarray(reference.GetOrigin()) + (index * reference.GetSpacing()) @ direction.T
    return np.linalg.norm(points - centre, axis=-1) <= radius


def _tissue_curve(config: DscPhantomConfig, tissue: Tissue, delay: float, times: np.ndarray) -> np.ndarray:
    """Concentration of a pure tissue, integrated on a 10x finer time grid."""
    step = config.tr / 10.0
    fine = np.arange(times[-1] / step + 1) * step
    aif = _aif(config, fine - delay)
    kernel = tissue.cbf / 6000.0 * np.exp(-fine / tissue.mtt)
    curve = step * np.convolve(aif, kernel)[: fine.size]
    return np.interp(times, fine, curve)


def make_dsc_phantom(config: DscPhantomConfig | None = None) -> DscPhantom:
    config = config or DscPhantomConfig()
    reference, grey, white = _fractions(config.spacing_mm)
    times = np.arange(config.dynamics) * config.tr
    delayed = _ball(reference, config.delayed_centre_mm, config.delayed_radius_mm) & (grey + white > 0.5)
    artery = np.zeros_like(grey)
    for centre in config.artery_centres_mm:
        artery = np.maximum(artery, _ball(reference, centre, 1.2 * max(config.spacing_mm)) * 0.4)
        artery[_ball(reference, centre, 0.6 * min(config.spacing_mm))] = 1.0
    scale = 1.0 - artery
    grey, white = grey * scale, white * scale
    aif = _aif(config, times)
    concentration = artery[None] * aif[:, None, None, None]
    for fraction, tissue in ((grey, config.grey), (white, config.white)):
        normal = _tissue_curve(config, tissue, 0.0, times)
        late = _tissue_curve(config, tissue, config.delay, times)
        curves = np.where(delayed[None], late[:, None, None, None], normal[:, None, None, None])
        concentration += fraction[None] * curves
    head = ndimage.binary_fill_holes((grey + white + artery) > 0.05)  # CSF: signal, no contrast
    series = _acquire(config, concentration, head, reference)
    return DscPhantom(series, grey, white, artery, delayed, aif, config)


def _aif(config: DscPhantomConfig, times: np.ndarray) -> np.ndarray:
    return gamma_variate(times, config.aif_start, config.aif_time_to_peak, config.aif_alpha, config.aif_peak)


def _acquire(config: DscPhantomConfig, concentration: np.ndarray, head: np.ndarray,
             reference: sitk.Image) -> DscSeries:
    """Signal of a concentration series (time, z, y, x) with Gaussian noise."""
    rng = np.random.default_rng(config.seed)
    signal = config.s0 * head[None] * np.exp(-config.te * concentration)
    signal = np.abs(signal + rng.normal(0.0, config.noise_sd, signal.shape)).astype(np.float32)
    return DscSeries(signal, reference, config.te, config.tr, Path("phantom-dsc"))


def dsc_from_map(cbv_map: sitk.Image, config: DscPhantomConfig | None = None) -> DscSeries:
    """A DSC series on ``cbv_map``'s grid whose CBV is proportional to the map.

    Every voxel has the same MTT and no delay, so deconvolved CBV (and rCBV) follows the
    map; the map's median brain value becomes ``config.white.cbv``, so the bolus dims
    the signal as much as in real tissue and the series never saturates. The level is
    taken inside the automatic brain mask: a map's faint background would otherwise set
    it and scale the brain's CBV up a hundredfold. A few pure arterial voxels at the
    head's centre carry the AIF (on the midline, so they barely touch asymmetry).
    """
    config = config or DscPhantomConfig()
    values = sitk.GetArrayFromImage(cbv_map).astype(np.float64)
    level = float(np.median(values[sitk.GetArrayFromImage(automatic_brain_mask(cbv_map)).astype(bool)]))
    head = ndimage.binary_fill_holes(values > 0.1 * level)
    cbv = np.where(head, values, 0.0) * config.white.cbv / level
    times = np.arange(config.dynamics) * config.tr
    curve = _tissue_curve(config, Tissue(1.0, 60.0 / MAP_MTT_S), 0.0, times)  # per mL/100 mL
    concentration = cbv[None] * curve[:, None, None, None]
    centre = cbv_map.TransformContinuousIndexToPhysicalPoint(
        np.argwhere(head).mean(axis=0)[::-1].tolist())
    artery = _ball(cbv_map, centre, 1.5 * max(cbv_map.GetSpacing()[:2]))
    concentration[:, artery] = _aif(config, times)[:, None]
    return _acquire(config, concentration, head, cbv_map)


def patient_dsc(patient: PhantomPatient, config: DscPhantomConfig | None = None,
                timepoints: Sequence[Timepoint] = TIMEPOINTS) -> dict[str, DscSeries]:
    """The phantom patient's maps (all three timepoints by default) as DSC series on their grids."""
    return {name: dsc_from_map(getattr(patient, name), config) for name in timepoints}
