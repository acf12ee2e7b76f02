"""From DSC signal to delta R2* curves: baseline, brain mask, first pass, leakage.

delta R2*(t) = -ln(S(t) / S0) / TE, with S0 the mean of the pre-bolus dynamics. The
bolus arrival is found on the mean brain signal (one robust curve rather than noisy
voxels), so every voxel shares the same baseline and first-pass window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..analysis.brain_mask import automatic_brain_mask
from ..errors import InputError
from .series import ROLE, DscSeries

SKIPPED_DYNAMICS = 1  # the first dynamic is often brighter (no steady state yet)
MIN_BASELINE = 3
ARRIVAL_SD = 3.0  # arrival: mean signal falls below baseline by this many baseline SDs
ARRIVAL_FRACTION = 0.01  # ... and by at least 1 %
ARTERIAL_LEAD = 2  # dynamics by which arteries may fill before the brain's mean
MIN_RELATIVE_S0 = 0.2  # of the median brain S0
END_FRACTION = 0.1  # first pass ends when the mean curve falls back below 10 % of its peak


@dataclass(frozen=True, eq=False)
class Concentration:
    """delta R2* (1/s) of brain voxels (voxels, time) and where they sit."""

    curves: np.ndarray
    mask: np.ndarray  # bool (z, y, x): the voxels of ``curves``, in C order
    baseline: slice  # dynamics averaged for S0
    first_pass: slice  # dynamics kept for the perfusion quantities
    s0: np.ndarray  # (voxels,)


def brain_mask(series: DscSeries, baseline: slice) -> np.ndarray:
    """Brain on the mean pre-bolus image, without dark voxels (their log-ratio is noise)."""
    s0 = series.signal[baseline].mean(axis=0)
    brain = sitk.GetArrayFromImage(automatic_brain_mask(series.volume_image(s0))).astype(bool)
    return brain & (s0 > MIN_RELATIVE_S0 * np.median(s0[brain]))


def bolus_arrival(curve: np.ndarray, source: Path | None = None) -> int:
    """Index of the first dynamic of the bolus on a mean signal curve."""
    lowest = int(np.argmin(curve))
    first = curve[SKIPPED_DYNAMICS : max(SKIPPED_DYNAMICS + MIN_BASELINE, lowest // 2)]
    level = first.mean() - max(ARRIVAL_SD * first.std(), ARRIVAL_FRACTION * first.mean())
    below = np.flatnonzero(curve[SKIPPED_DYNAMICS : lowest + 1] < level)
    arrival = SKIPPED_DYNAMICS + int(below[0]) if below.size else lowest
    if arrival - ARTERIAL_LEAD - SKIPPED_DYNAMICS < MIN_BASELINE:
        raise InputError(f"the {ROLE} has fewer than {MIN_BASELINE} dynamics before the bolus arrives; "
                         "a baseline is needed to compute S0", source)
    return arrival


def first_pass_end(curve: np.ndarray) -> int:
    """One past the last dynamic of the first pass of a mean delta R2* curve."""
    peak = int(np.argmax(curve))
    after = np.flatnonzero(curve[peak:] < END_FRACTION * curve[peak])
    if not after.size:
        return curve.size
    end = peak + int(after[0])
    following = curve[end:]
    rising = np.flatnonzero(np.diff(following) > 0)  # stop before recirculation rises again
    return end + (int(rising[0]) if rising.size else following.size)


def to_concentration(series: DscSeries, mask: np.ndarray | None = None) -> Concentration:
    """delta R2* curves of the brain (or of ``mask``) over the first pass."""
    tissue_mean = series.signal[:, series.signal[0] > np.median(series.signal[0])].mean(axis=1)
    arrival = bolus_arrival(tissue_mean, series.source)
    baseline = slice(SKIPPED_DYNAMICS, arrival - ARTERIAL_LEAD)
    mask = brain_mask(series, baseline) if mask is None else mask
    signal = series.signal[:, mask].T
    s0 = signal[:, baseline].mean(axis=1)
    floor = np.finfo(np.float32).tiny
    with np.errstate(divide="ignore", invalid="ignore"):
        curves = -np.log(np.maximum(signal, floor) / np.maximum(s0, floor)[:, None]) / series.te
    curves[s0 <= 0] = 0.0
    curves = curves.astype(np.float32)
    end = first_pass_end(curves.mean(axis=0))
    return Concentration(curves, mask, baseline, slice(0, end), s0)


def leakage_corrected(curves: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxerman-Weisskoff correction: curves and each voxel's leakage constant K2 (1/s).

    Each curve is fitted as ``K1 * mean(t) - K2 * integral(mean)`` (mean: the average
    curve, taken as leak-free) by linear least squares, and ``K2 * integral(mean)`` is
    added back. Positive K2 means T1 leakage (signal too high), negative T2* leakage.
    """
    reference = curves.mean(axis=0)
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (reference[1:] + reference[:-1]) * dt)])
    design = np.stack([reference, -integral], axis=1)
    k1_k2 = np.linalg.lstsq(design, curves.T.astype(np.float64), rcond=None)[0]
    k2 = k1_k2[1]
    return (curves + k2[:, None] * integral[None]).astype(curves.dtype), k2
