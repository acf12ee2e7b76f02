"""Tests of the analytic phantom family: symmetry, footprint rendering, noise, shading and truth."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.phantom import analytic_anatomy as anatomy
from IMRAnalysisLib.phantom.analytic import (ROBUSTNESS_CONDITIONS, SHADING_HALF_WIDTH_MM, AnalyticPhantom,
                                             AnalyticPhantomConfig, Scan, make_analytic_phantom, tilted_poses)
from IMRAnalysisLib.phantom.analytic_lesion import grow_lesion, place_cores
from IMRAnalysisLib.phantom.template import Pose

UNTILTED = {"post_pose": Pose(), "day5_pose": Pose(), "arrival_pose": Pose()}
# A coarse grid and a thin stack of slices through the lesion keep each generation short.
SMALL = AnalyticPhantomConfig(seed=7, size=(96, 96, 14), spacing=(2.5, 2.5, 5.0), subsample_mm=1.25, noise=0.0,
                              hyperperfusion_ml=0.0, imr_ml=0.0)
SYMMETRIC = replace(SMALL, **UNTILTED)
WITH_IMR = replace(SMALL, imr_ml=8.0, hyperperfusion_ml=3.0)
TINY = replace(SYMMETRIC, size=(48, 48, 8), spacing=(5.0, 5.0, 5.0), subsample_mm=2.5)


@lru_cache(maxsize=None)
def phantom(config: AnalyticPhantomConfig) -> AnalyticPhantom:
    return make_analytic_phantom(config)


def array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(np.float64)


def mirrored(patient: AnalyticPhantom) -> np.ndarray:
    """The post-EVT map reflected through the true mid-sagittal plane, on its own grid."""
    reflection = patient.truth.midline.reflection_transform()
    return array(sitk.Resample(patient.post, patient.post, reflection, sitk.sitkLinear, 0.0))


def brain(values: np.ndarray) -> np.ndarray:
    return values > 0.5 * np.median(values[values > 0.1 * values.max()])


# --- anatomy and rendering ------------------------------------------------------------------

def test_anatomy_is_mirror_symmetric_by_construction() -> None:
    points = np.random.default_rng(0).uniform(-90.0, 90.0, (200_000, 3))
    flipped = points * [-1.0, 1.0, 1.0]
    assert np.array_equal(anatomy.tissue_labels(points), anatomy.tissue_labels(flipped))
    assert np.array_equal(anatomy.rcbv(points), anatomy.rcbv(flipped))


def test_tissue_levels_are_realistic() -> None:
    rcbv = dict(zip(anatomy.Tissue, anatomy.RCBV))
    assert rcbv[anatomy.Tissue.CORTEX] / rcbv[anatomy.Tissue.WHITE] == pytest.approx(2.5)
    assert rcbv[anatomy.Tissue.DEEP_GREY] / rcbv[anatomy.Tissue.WHITE] == pytest.approx(2.0)
    assert rcbv[anatomy.Tissue.CSF] / rcbv[anatomy.Tissue.WHITE] == pytest.approx(0.05)
    x = np.linspace(-90.0, 90.0, 1801)
    axis = np.zeros((len(x), 3))
    axis[:, 0] = x
    labels = anatomy.tissue_labels(axis + [0.0, 0.0, 10.0])
    inside = x[(labels != anatomy.Tissue.AIR) & (labels != anatomy.Tissue.SCALP) & (labels != anatomy.Tissue.SKULL)]
    assert 135.0 <= inside.max() - inside.min() <= 150.0  # brain with its CSF rim, about 140 mm wide
    assert anatomy.Tissue.CSF not in labels[np.abs(x) < 1.0]  # the corpus callosum crosses
    above = anatomy.tissue_labels(axis + [0.0, 0.0, 45.0])
    assert np.all(above[np.abs(x) < 1.4] == anatomy.Tissue.CSF)  # the interhemispheric fissure


def test_untilted_noise_free_map_equals_its_reflection() -> None:
    patient = phantom(SYMMETRIC)
    post = array(patient.post)
    assert np.abs(mirrored(patient) - post)[brain(post)].max() <= 1e-5 * post.max()


def test_truth_plane_reflects_a_tilted_brain_onto_itself() -> None:
    """On a tilted head, reflected voxels sample the brain through other footprints, so the
    comparison is made on an isotropic grid, lightly smoothed; any other plane does worse."""
    tilted = {f"{timepoint}_pose": pose for timepoint, pose in tilted_poses(15.0).items()}
    patient = phantom(replace(SMALL, spacing=(2.0, 2.0, 2.0), size=(112, 112, 30), **tilted))
    plane = patient.truth.midline

    def symmetry(candidate: Plane, smoothing_mm: float = 0.0) -> float:
        image = sitk.SmoothingRecursiveGaussian(patient.post, smoothing_mm) if smoothing_mm else patient.post
        values = array(image)
        reflected = array(sitk.Resample(image, image, candidate.reflection_transform(), sitk.sitkLinear, 0.0))
        mask = brain(values) & (reflected > 0)
        return float(np.corrcoef(values[mask], reflected[mask])[0, 1])

    assert symmetry(plane, smoothing_mm=2.0) > 0.99
    shifted = Plane.from_vectors(plane.point_array + 1.0 * plane.normal_array, plane.normal_array)
    turned = Plane.from_vectors(plane.point_array, plane.normal_array + [0.0, np.radians(2.0), 0.0])
    assert symmetry(plane) > max(symmetry(shifted), symmetry(turned)) + 0.05


def test_footprint_mean_of_steps() -> None:
    """Uniform voxels keep the set value exactly; a voxel cut in half gets the mean."""
    scan = Scan.of(SYMMETRIC, "post")  # untilted, even sizes: voxel faces at x = 0 and z = 0
    spacing = np.asarray(scan.grid.GetSpacing())
    every_voxel = np.arange(int(np.prod(scan.shape)))

    def step_in_x(points: np.ndarray) -> np.ndarray:
        return np.where(points[:, 0] < spacing[0] / 2.0, 2.0, 1.0)  # through one column's centres

    values = scan.footprint_mean(step_in_x, every_voxel)
    middle = scan.shape[2] // 2  # the column centred at x = +spacing / 2
    assert np.all(values[:, :, :middle] == 2.0)
    assert np.allclose(values[:, :, middle], 1.5)
    assert np.all(values[:, :, middle + 1:] == 1.0)

    slab = scan.footprint_mean(lambda points: np.where(points[:, 2] < 0.0, 3.0, 0.5), every_voxel)
    below = scan.shape[0] // 2
    assert np.all(slab[:below] == 3.0) and np.all(slab[below:] == 0.5)


def test_flipped_axes_sample_the_same_physical_map() -> None:
    plain = make_analytic_phantom(TINY)
    flipped = make_analytic_phantom(replace(TINY, flip_axes=(True, False, True)))
    for name in ("post", "day5", "lesion"):
        onto_plain = sitk.Resample(getattr(flipped, name), getattr(plain, name), sitk.Transform(),
                                   sitk.sitkNearestNeighbor, 0.0)
        assert np.allclose(array(onto_plain), array(getattr(plain, name)), rtol=1e-5, atol=1e-6), name


def test_multiplicative_noise_matches_its_sigma() -> None:
    clean = array(phantom(SYMMETRIC).post)
    noisy = array(phantom(replace(SYMMETRIC, noise=0.10)).post)
    mask = brain(clean)
    assert np.std(noisy[mask] / clean[mask] - 1.0) == pytest.approx(0.10, rel=0.15)


def test_shading_is_a_left_right_gradient_in_the_scanner() -> None:
    """Lesion on the right, shading -10 %: the right (lesion) side is darker by the set gradient."""
    clean = array(phantom(SYMMETRIC).post)  # without IMR, the post-EVT map does not depend on the side
    shaded = array(phantom(replace(SYMMETRIC, side="right", shading=-0.10)).post)
    scan = Scan.of(SYMMETRIC, "post")
    x = scan.head_centres[:, 0].reshape(scan.shape)  # untilted: scanner x offset from the head centre
    mask = brain(clean)
    gain = 1.0 + 0.10 * np.clip(x / SHADING_HALF_WIDTH_MM, -1.0, 1.0)
    assert np.allclose(shaded[mask] / clean[mask], gain[mask], rtol=1e-5)
    band = mask & (np.abs(np.abs(x) - 30.0) < 10.0)  # symmetric bands 20-40 mm either side
    left, right = band & (x > 0), band & (x < 0)
    weighted = x[left] @ clean[left] / clean[left].sum()
    expected = (1.0 + 0.10 * weighted / SHADING_HALF_WIDTH_MM) / (1.0 - 0.10 * weighted / SHADING_HALF_WIDTH_MM)
    assert shaded[left].mean() / shaded[right].mean() == pytest.approx(expected, rel=1e-4)
    assert expected > 1.05


# --- truth ----------------------------------------------------------------------------------

def test_imr_truth_matches_target_and_an_independent_count() -> None:
    patient = phantom(WITH_IMR)
    assert patient.truth.imr_volume_ml == pytest.approx(8.0, rel=0.02)
    assert patient.truth.hyperperfusion_volume_ml == pytest.approx(3.0, rel=0.02)
    regions = patient.regions
    blob, scale = regions.imr
    low, high = blob.box(scale)
    side_points = np.random.default_rng(1).uniform(low, high, (600_000, 3))
    points = side_points * [regions.side, 1.0, 1.0]
    imr = regions.in_imr(points)
    counted = np.count_nonzero(imr & anatomy.perfused(anatomy.tissue_labels(points))) / len(points) * np.prod(high - low) / 1000.0
    assert patient.truth.imr_volume_ml == pytest.approx(counted, rel=0.02)
    assert regions.lesion(points[imr]).all()
    assert not (imr & regions.in_hyperperfusion(points)).any()


def test_bilateral_imr_is_symmetric_and_counts_both_sides() -> None:
    rng = np.random.default_rng(3)
    lesion = grow_lesion("bilateral", 1, 60.0, 4.5, rng)
    placed, volumes = place_cores(lesion, 10.0, 0.0, rng)
    assert volumes.imr_ml == pytest.approx(10.0, rel=0.02)
    assert volumes.lesion_ml == pytest.approx(60.0, rel=0.03)
    points = np.random.default_rng(4).uniform(-80.0, 80.0, (400_000, 3))
    assert np.array_equal(placed.in_imr(points), placed.in_imr(points * [-1.0, 1.0, 1.0]))


def test_medial_lesion_touches_the_plane() -> None:
    rng = np.random.default_rng(5)
    lesion = grow_lesion("medial", -1, 40.0, 4.5, rng)
    _, volumes = place_cores(lesion, 4.9, 0.0, rng)
    assert volumes.touches_plane
    assert volumes.imr_ml == pytest.approx(4.9, rel=0.02)


def test_true_transform_carries_the_lesion_centre_into_the_day5_mask() -> None:
    patient = phantom(WITH_IMR)
    config, regions = patient.config, patient.regions
    centre = np.asarray(config.centre)
    deep_side_point = regions.imr[0].centre  # deep inside the lesion, side coordinates
    head = centre + deep_side_point * [regions.side, 1.0, 1.0]
    post_point = config.post_pose.head_to_scanner(head, centre)
    day5_point = patient.truth.post_to_day5.TransformPoint(post_point.tolist())
    index = patient.lesion.TransformPhysicalPointToIndex(day5_point)
    assert patient.lesion[index] == 1
    assert config.day5_pose.scanner_to_head(np.asarray(day5_point), centre) == pytest.approx(head)


def test_truth_plane_and_expectations() -> None:
    patient = phantom(SYMMETRIC)
    assert patient.truth.midline.normal == pytest.approx((1.0, 0.0, 0.0))
    assert patient.truth.midline.point == pytest.approx(SYMMETRIC.centre)
    assert patient.truth.expected_assessable and patient.truth.expected_reason == ""
    for name, (without, with_imr) in ROBUSTNESS_CONDITIONS.items():
        assert without.imr_ml == 0.0 and with_imr.imr_ml > 0.0 and without.seed == with_imr.seed, name
    bilateral = ROBUSTNESS_CONDITIONS["bilateral, IMR 2 x 5 mL"][1]
    assert bilateral.imr_ml == pytest.approx(10.0)


def test_generation_is_deterministic_by_seed() -> None:
    first = make_analytic_phantom(replace(TINY, noise=0.1))
    again = make_analytic_phantom(replace(TINY, noise=0.1))
    other = make_analytic_phantom(replace(TINY, noise=0.1, seed=8))
    for name in ("arrival", "post", "day5", "lesion"):
        assert np.array_equal(array(getattr(first, name)), array(getattr(again, name))), name
    assert first.truth.to_dict() == again.truth.to_dict()
    assert not np.array_equal(array(first.day5), array(other.day5))


def test_config_is_validated() -> None:
    with pytest.raises(InputError):
        AnalyticPhantomConfig(lesion_location="occipital")
    with pytest.raises(InputError):
        AnalyticPhantomConfig(lesion_location="bilateral", mirror_hypoperfusion=0.75)
    with pytest.raises(InputError, match="does not fit"):
        make_analytic_phantom(replace(TINY, lesion_ml=10.0, imr_ml=9.5))


def test_write_puts_maps_mask_and_truth_in_a_folder(tmp_path) -> None:
    paths = make_analytic_phantom(replace(TINY, lesion_on_post=True)).write(tmp_path, fmt="nrrd")
    assert set(paths) == {"arrival", "post", "day5", "lesion", "lesion_post", "truth"}
    assert sitk.ReadImage(str(paths["lesion"])).GetPixelID() == sitk.sitkUInt8
    assert '"expected_reason"' in paths["truth"].read_text()
