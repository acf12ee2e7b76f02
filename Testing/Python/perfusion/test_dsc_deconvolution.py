"""Deconvolution against OSIPI's DSC reference curves, and its delay behaviour."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from IMRAnalysisLib.perfusion.deconvolution import METHODS, convolution_matrix, deconvolve, oscillation_index
from IMRAnalysisLib.perfusion.maps import perfusion_values

OSIPI_CSV = Path(__file__).resolve().parents[2] / "Data" / "osipi-dsc" / "dsc_data.csv"


def load_osipi() -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """Tissue curves (14, 161), the shared AIF, the sampling interval, true CBV and CBF."""
    with OSIPI_CSV.open() as stream:
        rows = list(csv.DictReader(stream))
    tissue = np.array([np.array(row["C_tis"].split(), dtype=float) for row in rows])
    aif = np.array(rows[0]["C_aif"].split(), dtype=float)
    assert all(np.array_equal(np.array(row["C_aif"].split(), dtype=float), aif) for row in rows)
    truth = {key: np.array([float(row[key]) for row in rows]) for key in ("cbv", "cbf")}
    return tissue, aif, float(rows[0]["tr"]), truth["cbv"], truth["cbf"]


def test_default_method_meets_osipi_tolerances_on_all_14_curves() -> None:
    tissue, aif, dt, cbv, cbf = load_osipi()
    values = perfusion_values(tissue, aif, dt)
    np.testing.assert_allclose(values.cbv, cbv, rtol=0.1, atol=1)
    np.testing.assert_allclose(values.cbf, cbf, rtol=0.1, atol=15)
    np.testing.assert_allclose(values.mtt, 60 * values.cbv / values.cbf)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_meets_osipi_cbf_tolerance(method: str) -> None:
    tissue, aif, dt, _, cbf = load_osipi()
    np.testing.assert_allclose(perfusion_values(tissue, aif, dt, method).cbf, cbf, rtol=0.1, atol=15)


def _gamma(t: np.ndarray, start: float, peak: float = 4.0, alpha: float = 3.0) -> np.ndarray:
    s = np.clip(t - start, 0, None) / peak
    return s**alpha * np.exp(alpha * (1 - s))


def _synthetic(delay: float, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray, float]:
    """Exponential residue (MTT 4 s, CBF 60 mL/100mL/min) behind a delayed gamma AIF."""
    t = np.arange(80) * dt
    aif = _gamma(t, 10.0)
    flow = 0.6 / 60.0
    kernel = flow * np.exp(-np.clip(t - delay, 0, None) / 4.0) * (t >= delay)
    tissue = dt * np.convolve(aif, kernel)[: t.size]
    return tissue, aif, dt


@pytest.mark.parametrize("method", ["csvd", "osvd"])
def test_circulant_methods_measure_bolus_delay_as_tmax(method: str) -> None:
    """Tmax follows the delay; truncation smooths the residue, so Tmax(0) is slightly late."""
    tmax = {}
    for delay in (0.0, 3.0, 6.0):
        tissue, aif, dt = _synthetic(delay)
        values = perfusion_values(tissue[None], aif, dt, method)
        tmax[delay] = values.tmax[0]
        assert abs(values.cbf[0] - 60.0) <= 0.25 * 60.0
    assert 0.0 <= tmax[0.0] <= 1.5 * dt
    for delay in (3.0, 6.0):
        assert abs(tmax[delay] - tmax[0.0] - delay) <= 0.5 * dt


def test_circulant_matrix_is_zero_padded_convolution() -> None:
    aif = np.array([0.0, 1.0, 2.0])
    matrix = convolution_matrix(aif, 0.5, circulant=True)
    assert matrix.shape == (6, 6)
    residue = np.array([1.0, 0.5, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose((matrix @ residue)[:3], 0.5 * np.convolve(aif, residue[:3])[:3])


def test_oscillation_index_is_zero_for_a_line_and_large_for_noise() -> None:
    assert oscillation_index(np.linspace(1, 0, 50)) == pytest.approx(0.0, abs=1e-12)
    assert oscillation_index(np.tile([1.0, -1.0], 25)) > 1.0


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown deconvolution method"):
        deconvolve(np.zeros((1, 5)), np.ones(5), 1.0, "fft")
