"""The robust asymmetry on synthetic heads with known answers: resolution matching, shading, smoothing."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.asymmetry import (FINE_NOISE_TARGET, NOISE_TARGET, SMOOTHING_LADDER_MM,
                                               compute_asymmetry, interpolation_variance, match_interpolation_blur,
                                               slice_axis)
from IMRAnalysisLib.analysis.midline import mirror
from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.parameters import AnalysisParameters

SHAPE = (24, 48, 48)  # k, j, i
SPACING = (2.0, 2.0, 4.0)
ORIGIN = (-47.0, -47.0, -46.0)  # voxel centres symmetric about x = 0


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    return image


def _coordinates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k, j, i = np.indices(SHAPE, dtype=float)
    return ORIGIN[0] + SPACING[0] * i, ORIGIN[1] + SPACING[1] * j, ORIGIN[2] + SPACING[2] * k


def _smooth_head(centre_x: float = 0.0) -> np.ndarray:
    """A head with grey/white-like structure, mirror-symmetric about x = centre_x, smooth at the voxel scale."""
    x, y, z = _coordinates()
    u = x - centre_x
    brain = np.clip(1.5 - np.sqrt((u / 38) ** 2 + (y / 40) ** 2 + (z / 36) ** 2) * 1.5, 0, None) * 4.0
    brain = np.minimum(brain, 1.0)
    ribbons = 1.0 + 0.8 * np.cos(np.sqrt(u ** 2 + 0.5 * y ** 2) / 4.0) ** 2
    return 2.0 * brain * ribbons


def _brain(array: np.ndarray) -> sitk.Image:
    mask = sitk.GetImageFromArray((array > 0.5).astype(np.uint8))
    mask.SetSpacing(SPACING)
    mask.SetOrigin(ORIGIN)
    return mask


PLAIN = AnalysisParameters(smoothing_mm=0.0, shading_correction=False, match_resolution=False)


def test_interpolation_variance_is_f_times_one_minus_f_along_the_mirrored_axis() -> None:
    image = _image(np.ones(SHAPE))
    on_voxels = Plane.from_vectors(np.zeros(3), np.array([1.0, 0.0, 0.0]))
    halfway = Plane.from_vectors(np.array([0.5, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]))  # mirrors land between voxels
    assert np.allclose(interpolation_variance(image, on_voxels), 0.0)
    variance = interpolation_variance(image, halfway)
    assert np.allclose(variance[0], 0.25) and np.allclose(variance[1:], 0.0)


def test_matching_blur_is_the_three_tap_kernel_of_that_variance() -> None:
    values = np.zeros((1, 1, 5))
    values[0, 0, 2] = 1.0
    variance = np.zeros((3, 1, 1, 5))
    variance[0] = 0.25
    assert np.allclose(match_interpolation_blur(values, variance)[0, 0], [0, 0.125, 0.75, 0.125, 0])


def test_resolution_matching_removes_the_asymmetry_interpolation_makes_at_edges() -> None:
    head = _smooth_head(centre_x=0.5)
    plane = Plane.from_vectors(np.array([0.5, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]))
    brain = _brain(head)
    inside = sitk.GetArrayViewFromImage(brain).astype(bool)
    plain = sitk.GetArrayFromImage(compute_asymmetry(_image(head), plane, PLAIN, brain).ratio)[inside]
    matched = sitk.GetArrayFromImage(compute_asymmetry(
        _image(head), plane, PLAIN.with_changes(match_resolution=True), brain).ratio)[inside]
    assert np.nanmax(np.abs(plain)) > 0.05  # the one-sided blur alone reads as asymmetry
    assert np.nanmean(np.abs(matched)) < 0.2 * np.nanmean(np.abs(plain))  # what is left: kinks at the brain's edge
    assert np.nanmedian(np.abs(matched)) < 0.1 * np.nanmedian(np.abs(plain))


def test_left_right_gradient_is_fitted_and_divided_out() -> None:
    head = _smooth_head()
    x, _, _ = _coordinates()
    gradient = 0.002  # per mm: 10 % brighter 50 mm to the left, 10 % darker to the right
    shaded = head * np.exp(gradient * x)
    plane = Plane.from_vectors(np.zeros(3), np.array([1.0, 0.0, 0.0]))
    brain = _brain(head)
    inside = sitk.GetArrayViewFromImage(brain).astype(bool)
    corrected = compute_asymmetry(_image(shaded), plane, AnalysisParameters(smoothing_mm=0.0), brain)
    uncorrected = compute_asymmetry(_image(shaded), plane, PLAIN, brain)
    assert corrected.shading_percent == pytest.approx(100 * (np.exp(2 * gradient * 50) - 1), rel=0.02)
    assert np.nanmax(np.abs(sitk.GetArrayFromImage(uncorrected.ratio)[inside])) > 0.15
    assert np.nanmax(np.abs(sitk.GetArrayFromImage(corrected.ratio)[inside])) < 0.01
    assert uncorrected.shading_percent is None


def test_automatic_smoothing_is_the_least_that_brings_the_noise_under_target() -> None:
    head = _smooth_head()
    noisy = head * (1 + 0.10 * np.random.default_rng(3).standard_normal(SHAPE))
    plane = Plane.from_vectors(np.zeros(3), np.array([1.0, 0.0, 0.0]))
    brain = _brain(head)
    automatic = compute_asymmetry(_image(noisy), plane, AnalysisParameters(), brain)
    threshold = AnalysisParameters().threshold
    assert automatic.smoothing_mm > 0 and automatic.noise <= FINE_NOISE_TARGET * threshold
    assert automatic.detection_smoothing_mm >= automatic.smoothing_mm
    assert automatic.tail_noise <= NOISE_TARGET * threshold
    for sigma, noise, target in ((automatic.smoothing_mm, "noise", FINE_NOISE_TARGET),
                                 (automatic.detection_smoothing_mm, "tail_noise", NOISE_TARGET)):
        less = SMOOTHING_LADDER_MM[SMOOTHING_LADDER_MM.index(sigma) - 1]
        rougher = compute_asymmetry(_image(noisy), plane, AnalysisParameters(smoothing_mm=less), brain)
        assert getattr(rougher, noise) > target * threshold
    clean = compute_asymmetry(_image(head), plane, AnalysisParameters(), brain)
    assert clean.smoothing_mm == 0.0 and clean.detection_smoothing_mm == 0.0 and clean.detection is None


def test_slices_are_the_axis_clearly_coarser_than_both_others() -> None:
    assert slice_axis((1.875, 1.875, 5.0)) == 2
    assert slice_axis((6.0, 1.9, 1.9)) == 0  # sagittal slices
    assert slice_axis((2.0, 2.0, 2.0)) is None and slice_axis((2.0, 2.0, 2.4)) is None
    assert slice_axis((1.0, 5.0, 5.0)) is None


@pytest.mark.parametrize("tilt_deg", [2.87, 0.0])
def test_a_sheet_thinner_than_a_slice_is_kept_out_of_the_map_filtered_across_slices(tilt_deg: float) -> None:
    """A tilted head: a CSF-like sheet lies wholly in one slice, and its mirror image wholly in
    the one mirror slice that holds it, but the voxel's mirror point falls half a slice away
    (the tilt), so the interpolated mirror sees the sheet at half depth. The detection map
    filtered across slices keeps that out, while a deficit three slices thick stays beyond
    the threshold. Untilted, the mirror falls on the slices and there is nothing to keep out."""
    plane = Plane.from_vectors(np.zeros(3), np.array([np.cos(np.radians(tilt_deg)), 0.0, np.sin(np.radians(tilt_deg))]))
    x, y, z = _coordinates()
    k = np.indices(SHAPE)[0]
    radius = np.sqrt((x / 40) ** 2 + (y / 42) ** 2 + (z / 40) ** 2)
    maps = 2.0 * np.clip((1.0 - radius) * 8, 0, 1)  # a ball about the plane's point: symmetric for any tilt
    mirrored = plane.reflect(np.stack([x, y, z], axis=-1))
    mirrored_slice = (mirrored[..., 2] - ORIGIN[2]) / SPACING[2]

    def zone(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        return (np.abs(px - 20) < 8) & (np.abs(py) < 8)

    sheet = zone(x, y) & (k == 12)
    deficit = zone(x, y + 20) & (np.abs(k - 6) <= 1)
    maps[sheet | (zone(mirrored[..., 0], mirrored[..., 1]) & (np.abs(mirrored_slice - 12) < 0.5))] *= 0.3
    maps[deficit] *= 0.65
    noisy = maps * (1 + 0.08 * np.random.default_rng(5).standard_normal(SHAPE))
    found = compute_asymmetry(_image(noisy), plane, AnalysisParameters(), _brain(2.0 * (radius < 0.97)),
                              _brain(2.0 * (zone(x, y) | deficit)))
    threshold = AnalysisParameters().threshold
    fine, detection = (sitk.GetArrayFromImage(image) for image in (found.ratio, found.across_slices))
    if tilt_deg:
        assert np.nanmedian(fine[sheet]) < -threshold  # the voxel-scale map still sees the sheet
    assert np.nanmedian(detection[sheet]) > -threshold / 2
    assert np.nanmedian(detection[deficit]) < -threshold


def test_fixed_smoothing_is_used_as_given_and_its_noise_reported() -> None:
    head = _smooth_head()
    noisy = head * (1 + 0.10 * np.random.default_rng(4).standard_normal(SHAPE))
    plane = Plane.from_vectors(np.zeros(3), np.array([1.0, 0.0, 0.0]))
    fixed = compute_asymmetry(_image(noisy), plane, AnalysisParameters(smoothing_mm=0.0), _brain(head))
    assert fixed.smoothing_mm == 0.0
    assert fixed.noise == pytest.approx(0.10 * np.sqrt(2), rel=0.2)  # two independent 10 % voxels


def test_published_preset_is_the_plain_voxel_ratio() -> None:
    head = _smooth_head(centre_x=0.5) * (1 + 0.05 * np.random.default_rng(6).standard_normal(SHAPE))
    plane = Plane.from_vectors(np.array([0.5, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]))
    brain = _brain(head)
    maps = compute_asymmetry(_image(head), plane, AnalysisParameters.preset("published"), brain)
    own = head.astype(np.float32).astype(np.float64)
    mirrored = sitk.GetArrayFromImage(mirror(_image(head), plane, default_value=-1.0)).astype(np.float64)
    floor = 0.25 * maps.normal_reference
    defined = (mirrored >= floor) & sitk.GetArrayViewFromImage(brain).astype(bool)
    expected = np.full(SHAPE, np.nan, dtype=np.float32)
    expected[defined] = (own[defined] - mirrored[defined]) / mirrored[defined]
    assert np.array_equal(sitk.GetArrayFromImage(maps.ratio), expected, equal_nan=True)
    assert maps.detection is None and maps.smoothing_mm == 0.0 and maps.shading_percent is None
