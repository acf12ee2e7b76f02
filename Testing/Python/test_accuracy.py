"""Accuracy against phantom patients with known truth: IMR volume, midline, registration.

Tolerances are the project's acceptance figures: IMR within 15 % of the truth or 0.5 mL,
whichever is larger; midline normal within 1 degree and offset within 1 mm; registration
error within one voxel of the post-EVT grid.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.brain_mask import automatic_brain_mask
from IMRAnalysisLib.analysis.midline import estimate_midline
from IMRAnalysisLib.analysis.pipeline import AnalysisInputs, AnalysisResult, run_analysis
from IMRAnalysisLib.analysis.registration import align_to_post
from IMRAnalysisLib.cli import main
from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.phantom.template import PRESETS, PhantomPatient, Pose, make_phantom


def _analyse(patient: PhantomPatient, **parameters) -> AnalysisResult:
    inputs = AnalysisInputs(patient.post, patient.day5, patient.lesion, patient.arrival, patient.exclusion)
    return run_analysis(inputs, AnalysisParameters(**parameters))


def _assert_imr_close(measured: float, truth: float) -> None:
    assert abs(measured - truth) <= max(0.15 * truth, 0.5), f"IMR {measured:.2f} mL, truth {truth:.2f} mL"


def _assert_significance(measures: dict, truth: float) -> None:
    if abs(truth - 5.0) >= 1.0:
        assert measures["significant_imr"] == (truth > 5.0)


@pytest.mark.parametrize(
    "preset", ["left", "right", "anisotropic", "flipped", "exclusion", "near_cutoff", "hyperperfusion_only"]
)
def test_imr_volume_matches_truth(preset: str) -> None:
    patient = make_phantom(preset)
    measures = _analyse(patient).measures
    _assert_imr_close(measures["imr_volume_ml"], patient.truth.imr_volume_ml)
    _assert_significance(measures, patient.truth.imr_volume_ml)
    assert measures["lesion_volume_ml"] == pytest.approx(patient.truth.lesion_volume_ml, rel=0.05)


def test_exclusion_overlapping_imr_is_left_out() -> None:
    patient = make_phantom("exclusion")
    with_exclusion = _analyse(patient).measures
    without = run_analysis(
        AnalysisInputs(patient.post, patient.day5, patient.lesion, patient.arrival, None)
    ).measures
    assert patient.truth.exclusion_volume_ml > 1.0
    assert with_exclusion["exclusion_volume_ml"] > 1.0
    assert with_exclusion["imr_volume_ml"] < without["imr_volume_ml"] - 0.5


def test_near_cutoff_sits_on_the_right_side_of_five_ml() -> None:
    config = dataclasses.replace(PRESETS["near_cutoff"], imr_ml=3.5, seed=16)
    patient = make_phantom(config)
    assert 3.0 < patient.truth.imr_volume_ml < 4.0
    measures = _analyse(patient).measures
    _assert_imr_close(measures["imr_volume_ml"], patient.truth.imr_volume_ml)
    assert measures["significant_imr"] is False


def test_symmetric_patient_has_no_imr() -> None:
    patient = make_phantom("symmetric")
    measures = _analyse(patient).measures
    assert measures["imr_volume_ml"] < 0.5
    assert measures["significant_imr"] is False


@pytest.mark.parametrize("fmt", ["nii.gz", "nrrd"])
def test_command_line_on_files(fmt: str, tmp_path: Path) -> None:
    patient = make_phantom("default")
    paths = patient.write(tmp_path / "in", fmt=fmt)
    argv = ["run", "--quiet", "--out", str(tmp_path / "out")]
    argv += [f"--{role}={path}" for role, path in paths.items() if role != "truth"]
    assert main(argv) == 0
    measures = json.loads((tmp_path / "out" / "metrics.json").read_text())
    _assert_imr_close(measures["imr_volume_ml"], patient.truth.imr_volume_ml)
    _assert_significance(measures, patient.truth.imr_volume_ml)


def _mirrored(image: sitk.Image) -> sitk.Image:
    """The same grid holding the left-right mirrored head (array flipped along i = L-R)."""
    flipped = sitk.GetImageFromArray(sitk.GetArrayFromImage(image)[:, :, ::-1].copy())
    flipped.CopyInformation(image)
    return flipped


def test_mirroring_the_inputs_changes_imr_by_at_most_3_percent() -> None:
    config = dataclasses.replace(PRESETS["default"], flip_axes=(False, False, False))
    patient = make_phantom(config)
    assert np.allclose(np.asarray(patient.post.GetDirection()).reshape(3, 3)[:, 0], [1, 0, 0], atol=1e-9)
    original = _analyse(patient).measures["imr_volume_ml"]
    mirrored = dataclasses.replace(
        patient,
        post=_mirrored(patient.post),
        day5=_mirrored(patient.day5),
        arrival=_mirrored(patient.arrival),
        lesion=_mirrored(patient.lesion),
    )
    flipped = _analyse(mirrored).measures["imr_volume_ml"]
    assert abs(flipped - original) <= 0.03 * original, f"{original:.3f} mL vs mirrored {flipped:.3f} mL"


POSES = [
    Pose(yaw_deg=15.0, roll_deg=0.0, shift_mm=(20.0, 0.0, 0.0)),
    Pose(yaw_deg=-15.0, roll_deg=15.0, shift_mm=(-20.0, 10.0, 0.0)),
    Pose(yaw_deg=0.0, roll_deg=-15.0, shift_mm=(0.0, -20.0, 5.0)),
    Pose(yaw_deg=12.0, roll_deg=12.0, pitch_deg=8.0, shift_mm=(15.0, 15.0, -5.0)),
]


@pytest.mark.parametrize("grid", ["default", "isotropic"])
@pytest.mark.parametrize("pose", POSES, ids=lambda pose: f"yaw{pose.yaw_deg:g}-roll{pose.roll_deg:g}")
def test_midline_within_one_degree_and_one_mm(pose: Pose, grid: str) -> None:
    patient = make_phantom(dataclasses.replace(PRESETS[grid], post_pose=pose, seed=21))
    found = estimate_midline(patient.post, automatic_brain_mask(patient.post)).plane
    truth = patient.truth.midline
    assert found.angle_to(truth) <= 1.0
    assert abs(found.signed_distance(truth.point_array)) <= 1.0


@pytest.mark.parametrize("preset", ["default", "flipped", "anisotropic"])
def test_registration_error_within_one_voxel(preset: str) -> None:
    config = dataclasses.replace(PRESETS[preset], day5_pose=Pose(-12.0, 10.0, -8.0, (-15.0, 12.0, -4.0)))
    patient = make_phantom(config)
    brain = automatic_brain_mask(patient.post)
    registration = align_to_post(patient.post, patient.day5, brain)
    error = patient.registration_error_voxels(registration.transform, brain)
    assert error <= 1.0, f"max target error {error:.2f} voxels"
    assert registration.correlation > 0.8


def _nearest_onto(mask: sitk.Image, reference: sitk.Image, transform: sitk.Transform) -> sitk.Image:
    return sitk.Resample(mask, reference, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def test_lesion_on_another_grid_is_placed_by_physical_space() -> None:
    """The day-5 lesion redrawn on a 1 mm oblique grid of the same session gives the same IMR."""
    patient = make_phantom("default")
    fine = sitk.Image([200, 200, 150], sitk.sitkUInt8)
    fine.SetSpacing((1.0, 1.0, 1.0))
    tilt = sitk.Euler3DTransform()
    tilt.SetRotation(0.1, -0.2, 0.3)
    fine.SetDirection(tilt.GetMatrix())
    centre = np.asarray(patient.day5.TransformContinuousIndexToPhysicalPoint([s / 2 for s in patient.day5.GetSize()]))
    fine.SetOrigin(tuple(centre - np.asarray(tilt.GetMatrix()).reshape(3, 3) @ np.array([100.0, 100.0, 75.0])))
    redrawn = dataclasses.replace(patient, lesion=_nearest_onto(patient.lesion, fine, sitk.Transform()))
    measures = _analyse(redrawn).measures
    _assert_imr_close(measures["imr_volume_ml"], patient.truth.imr_volume_ml)
    assert measures["lesion_volume_ml"] == pytest.approx(patient.truth.lesion_volume_ml, rel=0.05)


def test_lesion_drawn_on_the_post_grid() -> None:
    patient = make_phantom("default")
    on_post = _nearest_onto(patient.lesion, patient.post, patient.truth.post_to_day5)
    measures = _analyse(dataclasses.replace(patient, lesion=on_post), lesion_space="post").measures
    _assert_imr_close(measures["imr_volume_ml"], patient.truth.imr_volume_ml)
