"""The arterial input function (AIF): automatic selection or a user mask, saved for review.

Automatic criteria, applied in this order to the brain's delta R2* curves:

1. not at the noise floor: the voxel's lowest signal stays above ``FLOOR_FRACTION`` of
   S0, because a saturated artery gives a flat-topped, underestimated peak;
2. high: peak in the top ``TOP_PEAK_FRACTION`` of the brain's peaks;
3. early: peak no later than the brain's median time to peak (arteries fill first);
4. narrow: highest peak-over-width score, so that the purest arterial voxels win over
   partial-volume voxels, whose curve is lower and widened by the tissue inside them;
5. of the ``AIF_VOXELS`` best, those with a peak below ``PARTIAL_VOLUME_PEAK`` of the
   highest are dropped as partial volume.

The AIF is the mean of the voxels left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import InputError
from .concentration import Concentration

FLOOR_FRACTION = 0.02
TOP_PEAK_FRACTION = 0.02
AIF_VOXELS = 5
PARTIAL_VOLUME_PEAK = 0.7


@dataclass(frozen=True, eq=False)
class Aif:
    curve: np.ndarray  # delta R2*, 1/s, per dynamic
    voxels: np.ndarray  # (n, 3) z, y, x indices of the voxels averaged
    how: str  # "automatic" or the mask's path


def automatic_aif(concentration: Concentration, minimum_signal: np.ndarray) -> Aif:
    """The AIF from ``concentration`` by the criteria above; ``minimum_signal`` per voxel."""
    curves = concentration.curves[:, concentration.first_pass]
    peaks = curves.max(axis=1)
    ttp = curves.argmax(axis=1)
    usable = minimum_signal > FLOOR_FRACTION * concentration.s0
    high = peaks >= np.quantile(peaks[usable], 1.0 - TOP_PEAK_FRACTION) if usable.any() else usable
    candidates = np.flatnonzero(usable & high & (ttp <= np.median(ttp)))
    if candidates.size == 0:
        raise InputError("no arterial voxel found automatically in the DSC series; give a mask of arterial voxels",
                         setting="AIF mask")
    score = peaks[candidates] / _width(curves[candidates])
    best = candidates[np.argsort(score)[::-1][:AIF_VOXELS]]
    best = best[peaks[best] >= PARTIAL_VOLUME_PEAK * peaks[best].max()]
    voxels = np.argwhere(concentration.mask)[best]
    return Aif(concentration.curves[best].mean(axis=0), voxels, "automatic")


def _width(curves: np.ndarray) -> np.ndarray:
    """Dynamics at or above half the peak (full width at half maximum, in samples)."""
    return np.maximum((curves >= 0.5 * curves.max(axis=1, keepdims=True)).sum(axis=1), 1)


def mask_aif(concentration: Concentration, aif_mask: np.ndarray, source: str | Path) -> Aif:
    """Mean curve of the brain voxels inside ``aif_mask`` (z, y, x bool)."""
    inside = aif_mask[concentration.mask]
    if not inside.any():
        raise InputError("the AIF mask has no voxel inside the brain mask of the DSC series", source)
    voxels = np.argwhere(concentration.mask)[inside]
    return Aif(concentration.curves[inside].mean(axis=0), voxels, str(source))


def write_aif(aif: Aif, dt: float, folder: Path) -> tuple[Path, Path]:
    """``aif.csv`` (time, delta R2*) and ``aif.png`` (the curve) for the user to judge."""
    times = np.arange(aif.curve.size) * dt
    csv_path, png_path = folder / "aif.csv", folder / "aif.png"
    rows = "".join(f"{t:.4f},{value:.6g}\n" for t, value in zip(times, aif.curve))
    csv_path.write_text("time_s,delta_r2star_per_s\n" + rows)
    figure = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(times, aif.curve, marker=".")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("delta R2* (1/s)")
    axes.set_title(f"Arterial input function ({aif.how}, {len(aif.voxels)} voxels)")
    figure.tight_layout()
    figure.savefig(png_path)
    return csv_path, png_path
