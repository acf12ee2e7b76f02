"""Perfusion maps of the DSC phantom against its known CBV, CBF and bolus delay."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.perfusion.concentration import leakage_corrected, to_concentration
from IMRAnalysisLib.perfusion.maps import PerfusionMaps, perfusion_maps
from IMRAnalysisLib.phantom.dsc import DscPhantom, DscPhantomConfig, make_dsc_phantom


@pytest.fixture(scope="module")
def phantom() -> DscPhantom:
    return make_dsc_phantom()


@pytest.fixture(scope="module")
def maps(phantom: DscPhantom) -> PerfusionMaps:
    return perfusion_maps(phantom.series)


def _regions(phantom: DscPhantom) -> tuple[np.ndarray, np.ndarray]:
    """Grey- and white-dominated voxels outside the delayed region."""
    normal = ~phantom.delayed & (phantom.artery_fraction == 0)
    return normal & (phantom.grey_fraction > 0.8), normal & (phantom.white_fraction > 0.8)


def _true(phantom: DscPhantom, name: str) -> np.ndarray:
    """The voxel's truth: tissue values mixed by its grey and white fractions."""
    config = phantom.config
    grey, white = getattr(config.grey, name), getattr(config.white, name)
    return phantom.grey_fraction * grey + phantom.white_fraction * white


@pytest.mark.parametrize(("name", "tolerance"), [("cbv", 0.10), ("cbf", 0.15)])
def test_grey_white_ratio_matches_the_truth(phantom: DscPhantom, maps: PerfusionMaps, name: str,
                                            tolerance: float) -> None:
    grey, white = _regions(phantom)
    measured = np.median(maps.values[name][grey]) / np.median(maps.values[name][white])
    truth = np.median(_true(phantom, name)[grey]) / np.median(_true(phantom, name)[white])
    assert measured == pytest.approx(truth, rel=tolerance)


def test_tmax_shows_the_bolus_delay(phantom: DscPhantom, maps: PerfusionMaps) -> None:
    """Tmax of normal tissue is about one sample late (SVD smoothing); the delay is added on top."""
    tissue = (phantom.grey_fraction + phantom.white_fraction) > 0.8
    normal = np.median(maps.values["tmax"][tissue & ~phantom.delayed])
    delayed = np.median(maps.values["tmax"][tissue & phantom.delayed])
    assert 0.0 <= normal <= 2.0
    assert delayed - normal == pytest.approx(phantom.config.delay, abs=1.0)


def test_automatic_aif_takes_the_pure_arterial_voxels(phantom: DscPhantom, maps: PerfusionMaps) -> None:
    fractions = phantom.artery_fraction[tuple(maps.aif.voxels.T)]
    assert np.all(fractions == 1.0)
    peak = maps.aif.curve.max()
    assert peak == pytest.approx(phantom.aif.max(), rel=0.1)


def test_user_aif_mask_is_used(phantom: DscPhantom) -> None:
    mask = phantom.artery_fraction == 1.0
    result = perfusion_maps(phantom.series, (mask, "aif.nrrd"))
    assert result.aif.how == "aif.nrrd"
    assert len(result.aif.voxels) == mask.sum()


def test_rcbv_reference_is_normal_white_matter(phantom: DscPhantom, maps: PerfusionMaps) -> None:
    _, white = _regions(phantom)
    assert np.median(maps.values["rcbv"][white]) == pytest.approx(1.0, abs=0.15)
    assert np.mean(phantom.white_fraction[maps.reference]) > 0.5


def test_leakage_correction_removes_a_t1_leak() -> None:
    """A T1-leaky curve (signal too high: delta R2* pulled down late) gets its tail back near 0."""
    t = np.arange(60) * 1.5
    bolus = np.exp(-0.5 * ((t - 25) / 4) ** 2)
    leaky = 0.8 * bolus - 0.02 * np.cumsum(bolus) * 1.5
    curves = np.stack([bolus] * 4 + [leaky])
    corrected, k2 = leakage_corrected(curves, 1.5)
    assert k2[4] > 0 > k2[0]
    tail = slice(45, None)
    assert np.abs(corrected[4, tail]).max() < np.abs(curves[4, tail]).max() / 3


def test_first_pass_and_baseline_are_found(phantom: DscPhantom) -> None:
    concentration = to_concentration(phantom.series)
    arrival = int(phantom.config.aif_start / phantom.config.tr)
    assert concentration.baseline.start >= 1 and concentration.baseline.stop <= arrival
    assert concentration.first_pass.stop > arrival + 10
    assert abs(float(np.median(concentration.curves[:, concentration.baseline]))) < 0.05


def test_perfusion_command_writes_maps_with_units(phantom: DscPhantom, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    series = phantom.write(tmp_path / "dsc.nrrd")
    out = tmp_path / "maps"
    assert main(["perfusion", "--dsc", str(series), "--out", str(out), "--quiet"]) == 0
    for name, units in (("cbv", "mL/100mL"), ("cbf", "mL/100mL/min"), ("mtt", "s"), ("tmax", "s"),
                        ("ttp", "s"), ("rcbv", "ratio")):
        image = sitk.ReadImage(str(out / f"{name}.nrrd"))
        assert image.GetMetaData("units") == units
        assert image.GetSize() == phantom.series.reference.GetSize()
    assert (out / "aif.png").stat().st_size > 1000
    rows = (out / "aif.csv").read_text().splitlines()
    assert rows[0] == "time_s,delta_r2star_per_s" and len(rows) == 1 + phantom.config.dynamics
    assert json.loads((out / "perfusion.json").read_text())["aif"] == "automatic"
    assert json.loads(capsys.readouterr().out)["aif_voxels"] >= 1


def test_perfusion_command_refuses_a_mask_on_another_grid(phantom: DscPhantom, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    series = phantom.write(tmp_path / "dsc.nrrd")
    mask = sitk.Image([5, 5, 5], sitk.sitkUInt8)
    mask[2, 2, 2] = 1
    sitk.WriteImage(mask, str(tmp_path / "aif.nrrd"))
    code = main(["perfusion", "--dsc", str(series), "--aif-mask", str(tmp_path / "aif.nrrd"),
                 "--out", str(tmp_path / "maps"), "--quiet"])
    assert code == 2
    assert "not on the grid of the DSC series" in capsys.readouterr().err


def test_te_option_overrides_and_is_checked(phantom: DscPhantom, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    series = phantom.write(tmp_path / "dsc.nrrd")
    code = main(["perfusion", "--dsc", str(series), "--te", "30", "--out", str(tmp_path / "maps"), "--quiet"])
    assert code == 2
    assert "echo time (TE) of 30 s is not plausible" in capsys.readouterr().err


def test_delayed_phantom_without_delay_has_uniform_tmax() -> None:
    phantom = make_dsc_phantom(replace(DscPhantomConfig(), delay=0.0))
    result = perfusion_maps(phantom.series)
    tissue = (phantom.grey_fraction + phantom.white_fraction) > 0.8
    inside = np.median(result.values["tmax"][tissue & phantom.delayed])
    outside = np.median(result.values["tmax"][tissue & ~phantom.delayed])
    assert inside == pytest.approx(outside, abs=0.5)


def test_bolus_without_baseline_is_refused() -> None:
    phantom = make_dsc_phantom(replace(DscPhantomConfig(), aif_start=3.0))
    with pytest.raises(InputError, match="before the bolus arrives"):
        perfusion_maps(phantom.series)


def test_rcbv_reference_stays_in_the_healthy_hemisphere_of_a_turned_head() -> None:
    """The reference hemisphere is cut at the mid-sagittal plane, not at a grid column."""
    from IMRAnalysisLib.analysis.geometry import voxel_points
    from IMRAnalysisLib.phantom.template import Pose, PhantomConfig, make_phantom
    from IMRAnalysisLib.phantom.dsc import dsc_from_map

    turned = Pose(yaw_deg=15.0, roll_deg=10.0, shift_mm=(20.0, -10.0, 0.0))
    patient = make_phantom(PhantomConfig(seed=11, side="left", post_pose=turned, imr_ml=25.0, imr_depth=0.5,
                                         hyperperfusion_ml=0.0))
    series = dsc_from_map(patient.post)
    reference = perfusion_maps(series).reference
    points = voxel_points(series.reference, reference)
    on_the_right = patient.truth.midline.signed_distance(points) < 0  # the lesion is on the patient's left
    assert reference.sum() > 1000 and on_the_right.mean() >= 0.99, f"{on_the_right.mean():.3f} on the healthy side"
