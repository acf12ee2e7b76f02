"""Tests of the digital phantom patient generator and its MNI152 derivative."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.phantom.template import PRESETS, PhantomConfig, PhantomPatient, Pose, make_phantom
from IMRAnalysisLib.phantom.template_anatomy import DATA_DIR, TEMPLATE_FILES, load_template


def phantom(config: PhantomConfig | str) -> PhantomPatient:
    """Generate each configuration once per test session ("left" is "default", for one)."""
    return _generated(PRESETS[config] if isinstance(config, str) else config)


@lru_cache(maxsize=None)
def _generated(config: PhantomConfig) -> PhantomPatient:
    return make_phantom(config)


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(np.float64)


def brain_mask(image: sitk.Image) -> np.ndarray:
    values = array(image)
    return values > 0.3 * np.median(values[values > 0.2 * values.max()])


def to_post(patient: PhantomPatient, image: sitk.Image, transform: sitk.Transform,
            interpolator: int = sitk.sitkLinear) -> np.ndarray:
    return array(sitk.Resample(image, patient.post, transform, interpolator, 0.0))


def mirror_ratio(patient: PhantomPatient) -> tuple[np.ndarray, np.ndarray]:
    """Post / mirror-homolog ratio through the true midline, and the lesion on the post grid."""
    post = array(patient.post)
    mirror = to_post(patient, patient.post, patient.truth.midline.reflection_transform())
    floor = mirror > 0.25 * np.median(post[brain_mask(patient.post)])
    ratio = np.where(floor, post / np.where(floor, mirror, 1.0), np.nan)
    lesion = to_post(patient, patient.lesion, patient.truth.post_to_day5, sitk.sitkNearestNeighbor) > 0
    return ratio, lesion


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.corrcoef(a[mask], b[mask])[0, 1])


# --- the packaged MNI152 derivative -------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TEMPLATE_FILES))
def test_derivative_is_symmetric_about_x0(name: str) -> None:
    image = sitk.ReadImage(str(DATA_DIR / TEMPLATE_FILES[name]))
    values = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    assert image.GetPixelID() == sitk.sitkUInt8
    assert np.allclose(image.GetDirection(), np.eye(3).ravel())
    centre = (image.GetSize()[0] - 1) / 2
    assert image.TransformContinuousIndexToPhysicalPoint((centre, 0, 0))[0] == pytest.approx(0.0, abs=1e-9)
    assert np.array_equal(values, values[::-1])
    assert values.max() > 200


def test_derivative_is_small_and_licensed() -> None:
    total = sum((DATA_DIR / filename).stat().st_size for filename in TEMPLATE_FILES.values())
    assert total < 1_000_000
    notice = (DATA_DIR / "MNI152_LICENSE.txt").read_text()
    assert "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal" in notice


def test_template_brain_is_centred_on_midline() -> None:
    template = load_template()
    low, high = template.brain_box
    assert template.centre[0] == 0.0 and low[0] == -high[0]
    probe = np.array([[30.0, 10.0, 20.0], [-30.0, 10.0, 20.0]])
    assert template.tissue_at(probe)[0] == pytest.approx(template.tissue_at(probe)[1], abs=1e-12)


# --- configuration --------------------------------------------------------------------------

def test_config_rejects_nonsense() -> None:
    with pytest.raises(InputError):
        PhantomConfig(side="middle")
    with pytest.raises(InputError):
        PhantomConfig(imr_depth=1.0)
    with pytest.raises(InputError):
        PhantomConfig(lesion_ml=0.0)
    with pytest.raises(InputError, match="unknown phantom preset"):
        make_phantom("no-such-preset")


def test_presets_exist() -> None:
    expected = {"default", "left", "right", "anisotropic", "flipped", "exclusion", "near_cutoff",
                "hyperperfusion_only", "symmetric", "isotropic"}
    assert expected <= set(PRESETS)
    assert PRESETS["isotropic"].spacing == (2.0, 2.0, 2.0)
    assert PRESETS["near_cutoff"].imr_ml == pytest.approx(6.5)


# --- every preset -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_images_masks_and_truth(name: str) -> None:
    patient = phantom(name)
    config, truth = patient.config, patient.truth
    for image in (patient.arrival, patient.post, patient.day5):
        values = sitk.GetArrayViewFromImage(image)
        assert image.GetPixelID() == sitk.sitkFloat32
        assert image.GetSize() == config.size
        assert np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() > 0.0
    lesion = patient.lesion
    assert lesion.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(sitk.GetArrayViewFromImage(lesion))) == {0, 1}
    for getter in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(lesion, getter)() == getattr(patient.day5, getter)()
    voxel_ml = np.prod(lesion.GetSpacing()) / 1000.0
    assert truth.lesion_volume_ml == pytest.approx(sitk.GetArrayViewFromImage(lesion).sum() * voxel_ml)
    assert truth.lesion_volume_ml == pytest.approx(config.lesion_ml, rel=0.1)
    if config.symmetric or config.imr_ml == 0:
        assert truth.imr_volume_ml == 0.0
    else:
        removed = config.exclusion_ml if config.exclusion_overlaps_imr else 0.0
        assert truth.imr_volume_ml == pytest.approx(config.imr_ml - removed, rel=0.2)
    expected_hyper = 0.0 if config.symmetric else config.hyperperfusion_ml
    assert truth.hyperperfusion_volume_ml == pytest.approx(expected_hyper, rel=0.2, abs=1e-12)
    assert (patient.exclusion is None) == (config.exclusion_ml == 0)
    assert all(0.7 <= s <= 1.4 for s in truth.scales.values()) and len(set(truth.scales.values())) == 3
    json.dumps(truth.to_dict())


def test_named_values_of_presets() -> None:
    assert phantom("near_cutoff").truth.imr_volume_ml == pytest.approx(6.5, abs=0.5)
    assert phantom("hyperperfusion_only").truth.imr_volume_ml == 0.0
    assert phantom("hyperperfusion_only").truth.hyperperfusion_volume_ml > 5.0
    assert phantom("symmetric").truth.hyperperfusion_volume_ml == 0.0


# --- determinism --------------------------------------------------------------------------------

def test_same_seed_same_patient_other_seed_other_patient() -> None:
    first, again = phantom("default"), make_phantom("default")
    other = make_phantom(replace(PRESETS["default"], seed=1))
    for name in ("arrival", "post", "day5", "lesion"):
        assert np.array_equal(array(getattr(first, name)), array(getattr(again, name)))
        assert not np.array_equal(array(getattr(first, name)), array(getattr(other, name)))
    assert first.truth.to_dict() == again.truth.to_dict()
    assert first.truth.imr_volume_ml != other.truth.imr_volume_ml


# --- geometry truth -------------------------------------------------------------------------------

def test_symmetric_patient_is_its_own_mirror_through_true_midline() -> None:
    patient = phantom("symmetric")
    post = array(patient.post)
    brain = brain_mask(patient.post)
    midline = patient.truth.midline
    mirrored = to_post(patient, patient.post, midline.reflection_transform())
    assert correlation(post, mirrored, brain) > 0.95
    assert midline.angle_to(replace(midline, normal=(1.0, 0.0, 0.0))) > 3.0  # the head is really tilted
    shifted = type(midline).from_vectors(midline.point_array + 1.5 * midline.normal_array, midline.normal_array)
    assert correlation(post, to_post(patient, patient.post, shifted.reflection_transform()), brain) < 0.85


@pytest.mark.parametrize("timepoint", ["day5", "arrival"])
def test_true_transforms_align_timepoints(timepoint: str) -> None:
    patient = phantom("default")
    transform = getattr(patient.truth, f"post_to_{timepoint}")
    post, brain = array(patient.post), brain_mask(patient.post)
    aligned = to_post(patient, getattr(patient, timepoint), transform)
    unaligned = to_post(patient, getattr(patient, timepoint), sitk.Transform())
    assert correlation(post, aligned, brain) > 0.9
    assert correlation(post, unaligned, brain) < 0.5


def test_true_transform_maps_head_landmarks() -> None:
    patient = phantom("default")
    config, centre = patient.config, load_template().centre
    landmarks = centre + np.array([[0.0, 0.0, 0.0], [40.0, -30.0, 10.0], [-35.0, 50.0, -20.0]])
    post_points = config.post_pose.head_to_scanner(landmarks, centre)
    day5_points = config.day5_pose.head_to_scanner(landmarks, centre)
    mapped = [patient.truth.post_to_day5.TransformPoint(p) for p in post_points.tolist()]
    assert np.allclose(mapped, day5_points, atol=1e-9)
    matrix = np.asarray(patient.truth.to_dict()["post_to_day5"]["matrix_4x4"])
    assert np.allclose(post_points @ matrix[:3, :3].T + matrix[:3, 3], day5_points, atol=1e-9)
    assert patient.truth.midline.signed_distance(post_points[0]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("name, sign", [("left", 1.0), ("right", -1.0), ("flipped", 1.0)])
def test_lesion_on_the_requested_side(name: str, sign: float) -> None:
    patient = phantom(name)
    index = np.argwhere(sitk.GetArrayViewFromImage(patient.lesion).transpose(2, 1, 0) > 0)
    day5_points = np.array([patient.lesion.TransformIndexToPhysicalPoint([int(v) for v in i]) for i in index])
    inverse = patient.truth.post_to_day5.GetInverse()
    post_points = np.array([inverse.TransformPoint(p) for p in day5_points.tolist()])
    distance = patient.truth.midline.signed_distance(post_points)
    assert np.all(sign * distance > 0)


def test_left_and_right_are_mirror_twins() -> None:
    left, right = phantom("left").truth, phantom("right").truth
    assert right.imr_volume_ml == pytest.approx(left.imr_volume_ml, rel=0.05)
    assert right.hyperperfusion_volume_ml == pytest.approx(left.hyperperfusion_volume_ml, rel=0.05)


def test_flipped_preset_has_negative_direction_cosines() -> None:
    patient = phantom("flipped")
    flips = patient.config.flip_axes
    for image in (patient.arrival, patient.post, patient.day5, patient.lesion):
        diagonal = np.diag(np.asarray(image.GetDirection()).reshape(3, 3))
        assert np.array_equal(diagonal < 0, np.asarray(flips))
    assert any(flips)


def test_brain_stays_in_field_of_view_for_large_motion() -> None:
    base = replace(PRESETS["symmetric"], noise=0.0, blur_mm=0.0)
    moved = phantom(replace(base, post_pose=Pose(yaw_deg=15.0, roll_deg=5.0, shift_mm=(20.0, -20.0, 5.0))))
    values = array(moved.post)
    in_plane_border = np.concatenate([values[:, 0].ravel(), values[:, -1].ravel(),
                                      values[:, :, 0].ravel(), values[:, :, -1].ravel()])
    assert in_plane_border.max() < 0.05 * values.max()


# --- the images carry the truth ------------------------------------------------------------------

def test_mirror_asymmetry_matches_truth() -> None:
    patient = phantom("default")
    voxel_ml = np.prod(patient.post.GetSpacing()) / 1000.0
    ratio, lesion = mirror_ratio(patient)
    imr = np.count_nonzero(lesion & (ratio < 0.85)) * voxel_ml
    hyper = np.count_nonzero(lesion & (ratio > 1.15)) * voxel_ml
    assert imr == pytest.approx(patient.truth.imr_volume_ml, rel=0.3)
    assert hyper == pytest.approx(patient.truth.hyperperfusion_volume_ml, rel=0.4)
    ratio, lesion = mirror_ratio(phantom("symmetric"))
    assert np.count_nonzero(lesion & (ratio < 0.85)) * voxel_ml < 1.0


def test_exclusion_overlaps_imr() -> None:
    patient = phantom("exclusion")
    exclusion = sitk.GetArrayViewFromImage(patient.exclusion)
    assert set(np.unique(exclusion)) == {0, 1}
    voxel_ml = np.prod(patient.exclusion.GetSpacing()) / 1000.0
    assert patient.truth.exclusion_volume_ml == pytest.approx(exclusion.sum() * voxel_ml)
    assert patient.truth.exclusion_volume_ml == pytest.approx(patient.config.exclusion_ml, rel=0.25)
    assert patient.truth.imr_volume_ml < patient.config.imr_ml - 0.5 * patient.truth.exclusion_volume_ml
    lesion = to_post(patient, patient.lesion, patient.truth.post_to_day5, sitk.sitkNearestNeighbor) > 0
    excluded = to_post(patient, patient.exclusion, patient.truth.post_to_day5, sitk.sitkNearestNeighbor) > 0
    assert np.count_nonzero(excluded & ~lesion) <= 0.1 * np.count_nonzero(excluded)


# --- files -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["nii.gz", "nrrd"])
def test_write_round_trip(tmp_path, fmt: str) -> None:
    patient = phantom("exclusion")
    paths = patient.write(tmp_path, fmt)
    assert set(paths) == {"arrival", "post", "day5", "lesion", "exclusion", "truth"}
    for name in ("arrival", "post", "day5", "lesion", "exclusion"):
        original, loaded = getattr(patient, name), sitk.ReadImage(str(paths[name]))
        assert paths[name].name == f"{name}.{fmt}"
        assert np.array_equal(array(original), array(loaded))
        assert loaded.GetPixelID() == original.GetPixelID()
        assert np.allclose(loaded.GetOrigin(), original.GetOrigin(), atol=1e-4)
        assert np.allclose(loaded.GetSpacing(), original.GetSpacing(), atol=1e-5)
        assert np.allclose(loaded.GetDirection(), original.GetDirection(), atol=1e-5)
    record = json.loads(paths["truth"].read_text())
    assert record["imr_volume_ml"] == patient.truth.imr_volume_ml
    assert record["config"]["exclusion_ml"] == patient.config.exclusion_ml
    assert record["midline"]["normal"] == list(patient.truth.midline.normal)


def test_no_exclusion_file_without_exclusion(tmp_path) -> None:
    paths = phantom("default").write(tmp_path)
    assert "exclusion" not in paths and not (tmp_path / "exclusion.nii.gz").exists()
