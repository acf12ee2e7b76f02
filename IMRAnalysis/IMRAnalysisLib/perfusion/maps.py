"""Perfusion quantities from concentration curves, and the maps written for the user.

Units follow OSIPI's DSC reference set: CBV in mL/100 mL, CBF in mL/100 mL/min, MTT,
Tmax and TTP in seconds. No haematocrit or tissue-density correction is applied (the
OSIPI values assume none); IMR only uses ratios (rCBV), which such constants cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy.integrate import trapezoid  # numpy's own needs numpy 2; Slicer may bundle 1.x

from ..analysis.geometry import voxel_points
from ..analysis.midline import initial_plane
from ..errors import InputError
from ..io.images import write_image
from .aif import Aif, automatic_aif, mask_aif, write_aif
from .concentration import Concentration, leakage_corrected, to_concentration
from .deconvolution import Method, deconvolve
from .series import DscSeries

UNITS = {"cbv": "mL/100mL", "cbf": "mL/100mL/min", "mtt": "s", "tmax": "s", "ttp": "s", "rcbv": "ratio"}
_PER_100_ML = 100.0
_PER_MINUTE = 60.0
_MIDLINE_MARGIN_MM = 10.0


@dataclass(frozen=True)
class PerfusionValues:
    """One value per curve (arrays of the curves' leading shape)."""

    cbv: np.ndarray
    cbf: np.ndarray
    mtt: np.ndarray
    tmax: np.ndarray
    ttp: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ("cbv", "cbf", "mtt", "tmax", "ttp")}


def perfusion_values(tissue: np.ndarray, aif: np.ndarray, dt: float, method: Method = "osvd") -> PerfusionValues:
    """CBV, CBF, MTT, Tmax and TTP of concentration curves ``tissue`` (..., time), with the method's own
    truncation (``deconvolve``'s defaults)."""
    tissue = np.asarray(tissue)
    n = tissue.shape[-1]
    cbv = _PER_100_ML * trapezoid(tissue, dx=dt, axis=-1) / trapezoid(aif, dx=dt)
    residue = deconvolve(tissue.reshape(-1, n), aif, dt, method)
    cbf = _PER_100_ML * _PER_MINUTE * residue.max(axis=-1)
    shape = tissue.shape[:-1]
    cbf = cbf.reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        mtt = np.where(cbf > 0, _PER_MINUTE * cbv / cbf, 0.0)
    return PerfusionValues(
        cbv=cbv,
        cbf=cbf,
        mtt=mtt,
        tmax=(peak_time(residue, n) * dt).reshape(shape),
        ttp=tissue.argmax(axis=-1) * dt,
    )


def peak_time(residue: np.ndarray, n: int) -> np.ndarray:
    """Residue peak position in samples, refined between samples by a parabola.

    Sampling at TR would quantise Tmax to whole TRs; circulant residues wrap, so an
    index past ``n`` is a negative time (tissue bolus earlier than the AIF's).
    """
    length = residue.shape[-1]
    peak = residue.argmax(axis=-1)
    rows = np.arange(len(residue))
    before, at, after = (residue[rows, (peak + shift) % length] for shift in (-1, 0, 1))
    if length == n:  # linear (not circulant): no neighbour beyond the ends
        before = np.where(peak == 0, at, before)
        after = np.where(peak == length - 1, at, after)
    curvature = before - 2 * at + after
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (before - after) / curvature, 0.0)
    position = peak + np.clip(offset, -0.5, 0.5)
    return np.where(position >= n, position - length, position)


@dataclass(frozen=True, eq=False)
class PerfusionMaps:
    """Maps (z, y, x; 0 outside the brain) on the series grid, and how they were made."""

    series: DscSeries
    values: dict[str, np.ndarray]
    aif: Aif
    concentration: Concentration
    reference: np.ndarray  # bool (z, y, x): the voxels rCBV is normalised to
    leakage_k2: np.ndarray | None

    def image(self, name: str) -> sitk.Image:
        image = self.series.volume_image(self.values[name])
        image.SetMetaData("quantity", name)
        image.SetMetaData("units", UNITS[name])
        return image

    def write(self, folder: Path) -> dict[str, Path]:
        """``<name>.nrrd`` per map (units in the header) plus ``aif.csv`` and ``aif.png``."""
        paths = {}
        for name in self.values:
            paths[name] = folder / f"{name}.nrrd"
            write_image(self.image(name), paths[name])
        paths["aif_csv"], paths["aif_png"] = write_aif(self.aif, self.series.tr, folder)
        return paths


def perfusion_maps(
    series: DscSeries,
    aif_mask: tuple[np.ndarray, str | Path] | None = None,
    reference_mask: np.ndarray | None = None,
    method: Method = "osvd",
    leakage: bool = False,
) -> PerfusionMaps:
    """All maps of a checked series; ``aif_mask`` is (z, y, x bool, its source for messages)."""
    concentration = to_concentration(series)
    if aif_mask is None:
        minimum = series.signal[:, concentration.mask].min(axis=0)
        aif = automatic_aif(concentration, minimum)
    else:
        aif = mask_aif(concentration, *aif_mask)
    curves = concentration.curves
    k2 = None
    if leakage:  # after the AIF: arteries do not leak, and the fit would distort them
        curves, k2 = leakage_corrected(curves, series.tr)
        concentration = replace(concentration, curves=curves)
    window = concentration.first_pass
    values = perfusion_values(curves[:, window], aif.curve[window], series.tr, method)
    maps = {name: _volume(value, concentration.mask) for name, value in values.as_dict().items()}
    reference = normal_reference(maps["cbv"], concentration.mask, series) if reference_mask is None else reference_mask
    maps["rcbv"] = relative(maps["cbv"], reference & concentration.mask, series.source)
    k2_map = None if k2 is None else _volume(k2, concentration.mask)
    return PerfusionMaps(series, maps, aif, concentration, reference, k2_map)


def _volume(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    volume = np.zeros(mask.shape, dtype=np.float32)
    volume[mask] = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return volume


def normal_reference(cbv: np.ndarray, brain: np.ndarray, series: DscSeries) -> np.ndarray:
    """White-matter-like voxels of the hemisphere with the higher median CBV.

    The better-perfused hemisphere is taken as the normal (contralateral) side; its
    voxels between the 10th and 40th CBV percentile are mostly white matter. The
    hemispheres are split by the brain's own mid-plane (centroid and inertia axis of the
    brain mask, not of CBV, which a deficit or an artery would pull), so a turned or
    off-centre head does not put part of the ischaemic side in the reference; voxels
    within ``_MIDLINE_MARGIN_MM`` of that plane (falx, and any error of the plane) are
    left out.
    """
    mask = series.volume_image(brain.astype(np.float32))
    plane = initial_plane(mask, sitk.Cast(mask, sitk.sitkUInt8))
    distance = np.zeros(brain.shape)
    distance[brain] = plane.signed_distance(voxel_points(series.reference, brain))
    sides = [brain & (distance > _MIDLINE_MARGIN_MM), brain & (distance < -_MIDLINE_MARGIN_MM)]
    normal = max(sides, key=lambda side: float(np.median(cbv[side])) if side.any() else -np.inf)
    low, high = np.percentile(cbv[normal], [10, 40])
    return normal & (cbv >= low) & (cbv <= high)


def relative(cbv: np.ndarray, reference: np.ndarray, source: Path) -> np.ndarray:
    """CBV divided by the median CBV of ``reference`` voxels."""
    level = float(np.median(cbv[reference])) if reference.any() else 0.0
    if level <= 0:
        raise InputError("the rCBV reference region has no positive CBV (empty or outside the brain)", source)
    return (cbv / level).astype(np.float32)
