"""Deconvolution of DSC tissue curves by the arterial input function (AIF).

The tissue concentration is the AIF convolved with ``k(t) = CBF * R(t)`` (R the residue
function). Every voxel shares one AIF, so the convolution matrix is decomposed once and
all voxels are solved together by matrix products instead of one SVD per voxel.

Methods (Østergaard 1996; Wu et al. 2003):

- ``ssvd``: standard truncated SVD; singular values below ``threshold`` x the largest
  are dropped. Underestimates CBF when the tissue bolus arrives later than the AIF.
- ``csvd``: block-circulant SVD on zero-padded curves; insensitive to bolus delay, so
  the residue peak time (Tmax) measures the delay.
- ``osvd``: block-circulant with a per-voxel truncation: the largest number of
  singular values whose residue still has an oscillation index below ``oscillation``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Method = Literal["ssvd", "csvd", "osvd"]
METHODS: tuple[Method, ...] = ("ssvd", "csvd", "osvd")
DEFAULT_THRESHOLDS: dict[str, float] = {"ssvd": 0.2, "csvd": 0.1, "osvd": 0.0}
DEFAULT_OSCILLATION = 0.095  # Wu et al. 2003, clinical data


def convolution_matrix(aif: np.ndarray, dt: float, circulant: bool) -> np.ndarray:
    """``dt * aif[i - j]``: lower triangular, or circulant over twice the length (zero-padded)."""
    aif = np.asarray(aif, dtype=float)
    if circulant:
        aif = np.concatenate([aif, np.zeros_like(aif)])
    n = aif.size
    lag = np.arange(n)[:, None] - np.arange(n)[None, :]
    if circulant:
        return dt * aif[lag % n]
    return dt * np.where(lag >= 0, aif[np.clip(lag, 0, None)], 0.0)


def deconvolve(
    tissue: np.ndarray,
    aif: np.ndarray,
    dt: float,
    method: Method = "osvd",
    threshold: float | None = None,
    oscillation: float = DEFAULT_OSCILLATION,
) -> np.ndarray:
    """``k(t) = CBF * R(t)`` (1/s) for every curve of ``tissue`` (voxels, time).

    Circulant methods return twice the time points; index ``i >= n`` means time
    ``(i - 2n) * dt`` (tissue bolus earlier than the AIF's).
    """
    if method not in METHODS:
        raise ValueError(f"unknown deconvolution method {method!r}; choose from {', '.join(METHODS)}")
    tissue = np.asarray(tissue)
    circulant = method != "ssvd"
    matrix = convolution_matrix(aif, dt, circulant)
    if circulant:
        tissue = np.concatenate([tissue, np.zeros_like(tissue)], axis=-1)
    u, s, vt = np.linalg.svd(matrix)
    dtype = tissue.dtype if tissue.dtype.kind == "f" else np.float64
    u, s, vt = u.astype(dtype), s.astype(dtype), vt.astype(dtype)
    cutoff = s[0] * (DEFAULT_THRESHOLDS[method] if threshold is None else threshold)
    kept = s > cutoff
    if method != "osvd":
        inverse = (vt[kept].T / s[kept]) @ u[:, kept].T
        return tissue @ inverse.T
    coefficients = (tissue @ u[:, kept]) / s[kept]
    return _oscillation_limited(coefficients, vt[kept], oscillation)


def _oscillation_limited(coefficients: np.ndarray, vt: np.ndarray, oscillation: float) -> np.ndarray:
    """Per voxel, the residue from the most singular values whose oscillation index passes.

    Bisection on the kept rank (oscillation grows with rank): about log2(n) matrix
    products for all voxels instead of one search per voxel.
    """
    flat = coefficients.reshape(-1, coefficients.shape[-1])
    rank_axis = np.arange(flat.shape[-1])
    low = np.ones(len(flat), dtype=int)  # one singular value: smooth, always acceptable
    high = np.full(len(flat), flat.shape[-1])
    while np.any(low < high):
        middle = (low + high + 1) // 2
        residue = (flat * (rank_axis < middle[:, None])) @ vt
        passes = oscillation_index(residue) <= oscillation
        low = np.where(passes, middle, low)
        high = np.where(passes, high, middle - 1)
    residue = (flat * (rank_axis < low[:, None])) @ vt
    return residue.reshape(coefficients.shape[:-1] + (vt.shape[-1],))


def oscillation_index(residue: np.ndarray) -> np.ndarray:
    """Wu et al.'s OI: mean absolute second difference over the peak (0 for a smooth curve)."""
    second = np.abs(np.diff(residue, n=2, axis=-1)).sum(axis=-1)
    peak = residue.max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = second / (residue.shape[-1] * peak)
    return np.where(peak > 0, index, np.inf)
