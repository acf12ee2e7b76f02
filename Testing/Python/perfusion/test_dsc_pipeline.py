"""``imr-analysis run`` on DSC series: same IMR as on the maps they encode, Tmax, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.brain_mask import automatic_brain_mask
from IMRAnalysisLib.analysis.midline import symmetry_correlation
from IMRAnalysisLib.analysis.registration import align_to_post
from IMRAnalysisLib.cli import main
from IMRAnalysisLib.perfusion.timepoint_map import map_from_dsc
from IMRAnalysisLib.phantom.dsc import DscPhantomConfig, make_dsc_phantom, patient_dsc, write_series
from IMRAnalysisLib.phantom.template import PhantomPatient


def _series_files(patient: PhantomPatient, config: DscPhantomConfig, folder: Path) -> dict[str, Path]:
    series = patient_dsc(patient, config, ("post", "day5"))
    return {name: write_series(image, folder / f"{name}.nrrd") for name, image in series.items()}


@pytest.fixture(scope="module")
def dsc_files(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The default phantom's post-EVT and day-5 maps as high-SNR DSC series.

    Low noise so that the comparison tests the pipeline, not the deconvolution's noise.
    """
    return _series_files(default_phantom, DscPhantomConfig(noise_sd=0.5), tmp_path_factory.mktemp("dsc"))


@pytest.fixture(scope="module")
def clinical_dsc_files(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same series at the phantom's default noise: bolus peak about 15 noise SDs deep, as in clinical DSC."""
    return _series_files(default_phantom, DscPhantomConfig(), tmp_path_factory.mktemp("dsc-clinical"))


def _measures(capsys: pytest.CaptureFixture, argv: list[str]) -> dict:
    status = main(["run", "--quiet"] + argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def test_imr_from_dsc_matches_imr_from_true_maps(phantom_files, dsc_files, tmp_path, capsys) -> None:
    lesion = ["--lesion", str(phantom_files["lesion"])]
    maps = ["--post", str(phantom_files["post"]), "--day5", str(phantom_files["day5"])] + lesion
    from_maps = _measures(capsys, maps + ["--out", str(tmp_path / "maps")])
    as_rcbf = _measures(capsys, maps + ["--map", "rcbf", "--out", str(tmp_path / "rcbf")])
    assert as_rcbf == from_maps  # plain files are taken as the chosen map, with the same ratio
    from_dsc = _measures(capsys, ["--post-dsc", str(dsc_files["post"]), "--day5-dsc", str(dsc_files["day5"]),
                                  "--out", str(tmp_path / "dsc")] + lesion)
    assert from_dsc["imr_volume_ml"] == pytest.approx(from_maps["imr_volume_ml"], rel=0.1)
    assert from_dsc["hyperperfusion_volume_ml"] == pytest.approx(from_maps["hyperperfusion_volume_ml"], rel=0.15)
    assert from_dsc["lesion_volume_ml"] == pytest.approx(from_maps["lesion_volume_ml"], rel=0.02)  # registration
    recorded = json.loads((tmp_path / "dsc" / "metrics.json").read_text())
    assert recorded["parameters"]["asymmetry"] == "ratio"


def test_imr_from_dsc_at_clinical_noise_matches_with_smoothing(phantom_files, clinical_dsc_files, tmp_path,
                                                                 capsys) -> None:
    """At clinical noise a voxel-wise threshold needs the smoothing vendors apply; the same on both sides."""
    common = ["--lesion", str(phantom_files["lesion"]), "--smoothing-mm", "2"]
    from_maps = _measures(capsys, ["--post", str(phantom_files["post"]), "--day5", str(phantom_files["day5"]),
                                   "--out", str(tmp_path / "maps")] + common)
    from_dsc = _measures(capsys, ["--post-dsc", str(clinical_dsc_files["post"]), "--day5-dsc",
                                  str(clinical_dsc_files["day5"]), "--out", str(tmp_path / "dsc")] + common)
    assert from_dsc["imr_volume_ml"] == pytest.approx(from_maps["imr_volume_ml"], rel=0.2)
    assert from_dsc["hyperperfusion_volume_ml"] == pytest.approx(from_maps["hyperperfusion_volume_ml"], rel=0.2)


def test_imr_from_dsc_at_clinical_noise_matches_the_true_maps_with_default_options(
        default_phantom, phantom_files, clinical_dsc_files, tmp_path, capsys) -> None:
    """The default smoothing is chosen from the noise it measures: no option to set by hand."""
    lesion = ["--lesion", str(phantom_files["lesion"])]
    from_maps = _measures(capsys, ["--post", str(phantom_files["post"]), "--day5", str(phantom_files["day5"]),
                                   "--out", str(tmp_path / "maps")] + lesion)
    from_dsc = _measures(capsys, ["--post-dsc", str(clinical_dsc_files["post"]), "--day5-dsc",
                                  str(clinical_dsc_files["day5"]), "--out", str(tmp_path / "dsc")] + lesion)
    assert from_dsc["imr_volume_ml"] == pytest.approx(from_maps["imr_volume_ml"], rel=0.15)
    assert from_dsc["imr_volume_ml"] == pytest.approx(default_phantom.truth.imr_volume_ml, rel=0.15)
    assert from_dsc["significant_imr"] is True and from_dsc["status"] == "assessable"
    recorded = json.loads((tmp_path / "dsc" / "metrics.json").read_text())
    assert recorded["asymmetry_smoothing_mm"] > 0  # the noise of maps from DSC asked for it


@pytest.mark.parametrize("name", ["rcbv", "tmax"])
def test_maps_from_dsc_register_within_one_voxel(default_phantom, clinical_dsc_files, name: str) -> None:
    """Day 5 onto post-EVT on maps made from clinical-noise series, arterial outliers and all; Tmax too."""
    post, day5 = (map_from_dsc(str(clinical_dsc_files[role]), None, None, name) for role in ("post", "day5"))
    brain = automatic_brain_mask(post)
    registration = align_to_post(post, day5, brain)
    assert default_phantom.registration_error_voxels(registration.transform, brain) <= 1.0
    # noisy maps correlate less, with each other as with their own mirror: not a failure
    assert not registration.failed(symmetry_correlation(post, default_phantom.truth.midline, brain))


def test_tmax_finds_the_delayed_region(tmp_path, capsys) -> None:
    phantom = make_dsc_phantom()
    series = phantom.write(tmp_path / "dsc.nrrd")
    delayed = sitk.Cast(phantom.series.volume_image(phantom.delayed.astype(np.float32)), sitk.sitkUInt8)
    sitk.WriteImage(delayed, str(tmp_path / "delayed.nrrd"))
    # the lesion is drawn on the post-EVT grid; day 5 is any other study on it (the same series is refused),
    # here a raw frame, which does not look like a Tmax map, but carries no mask
    sitk.WriteImage(phantom.series.volume_image(phantom.series.signal[0]), str(tmp_path / "day5.nrrd"))
    measures = _measures(capsys, ["--map", "tmax", "--post-dsc", str(series), "--day5", str(tmp_path / "day5.nrrd"),
                                  "--lesion", str(tmp_path / "delayed.nrrd"), "--lesion-space", "post",
                                  "--no-registration",
                                  "--out", str(tmp_path / "out")])
    assert measures["imr_relative_percent"] > 80.0  # delayed by 3 s, threshold 2 s
    recorded = json.loads((tmp_path / "out" / "metrics.json").read_text())
    parameters = recorded["parameters"]
    assert (parameters["asymmetry"], parameters["direction"], parameters["threshold"], parameters["perfusion_map"]) == (
        "difference", "increase", 2.0, "tmax")
    # seconds are named as seconds: no output claims to be a percentage
    assert recorded["imr_median_asymmetry_seconds"] == pytest.approx(phantom.config.delay, abs=1.0)
    assert "normal_tissue_tmax" in recorded and not any("percent" in key for key in recorded
                                                        if key != "imr_relative_percent")
    names = {path.name for path in (tmp_path / "out").iterdir()}
    assert {"asymmetry_seconds.nrrd", "mirrored_post_tmax.nrrd"} <= names and "asymmetry_percent.nrrd" not in names
    seconds = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "asymmetry_seconds.nrrd")))
    assert np.nanmedian(seconds[phantom.delayed]) == pytest.approx(phantom.config.delay, abs=1.0)


@pytest.mark.parametrize("maps", [
    {"post": "post", "post-dsc": "post", "day5": "day5"},
    {"day5": "day5"},
    {"post": "post", "day5": "day5", "day5-dsc": "day5"},
])
def test_bad_map_options(phantom_files, tmp_path, capsys, maps: dict[str, str]) -> None:
    argv = [f"--{option}={phantom_files[role]}" for option, role in maps.items()]
    status = main(["run", "--quiet", "--lesion", str(phantom_files["lesion"]), "--out", str(tmp_path / "out")] + argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert "--post" in lines[0] or "--day5" in lines[0]


def test_threshold_in_the_wrong_unit(phantom_files, tmp_path, capsys) -> None:
    argv = ["run", "--map", "tmax", "--threshold-percent", "15", "--post", str(phantom_files["post"]),
            "--day5", str(phantom_files["day5"]), "--lesion", str(phantom_files["lesion"]), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--threshold-seconds" in capsys.readouterr().err
