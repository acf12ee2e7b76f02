"""Exact assertions on synthetic boxes: the asymmetry ratio and the IMR rule, voxel for voxel."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.asymmetry import compute_asymmetry
from IMRAnalysisLib.analysis.measures import volume_ml
from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.analysis.segments import segment_imr, voxel_volume_ml
from IMRAnalysisLib.parameters import AnalysisParameters

SHAPE = (20, 40, 40)  # k, j, i
SPACING = (2.0, 2.0, 3.0)


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(SPACING)
    image.SetOrigin((-39.0, -39.0, -28.5))  # voxel centres symmetric about x = 0
    return image


def _mask(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.SetSpacing(SPACING)
    image.SetOrigin((-39.0, -39.0, -28.5))
    return image


@pytest.fixture()
def head() -> np.ndarray:
    """A brain of uniform rCBV 2 with a 'ventricle' of 0, symmetric about the x = 0 plane."""
    values = np.zeros(SHAPE)
    values[2:18, 4:36, 4:36] = 2.0
    values[8:12, 16:24, 18:22] = 0.0  # straddles the midline: columns 18-21 of 40
    return values


MIDLINE = Plane.from_vectors(np.zeros(3), np.array([1.0, 0.0, 0.0]))
NO_MASK = AnalysisParameters(brain_mask=False)


def test_ratio_is_exact_and_undefined_below_floor(head: np.ndarray) -> None:
    head[5:9, 10:14, 26:30] = 1.0  # left of the patient is +x in LPS: columns above 20
    brain = _mask(head > 0)
    maps = compute_asymmetry(_image(head), MIDLINE, NO_MASK, brain)
    ratio = sitk.GetArrayFromImage(maps.ratio)
    assert np.allclose(ratio[5:9, 10:14, 26:30], -0.5)
    assert np.allclose(ratio[5:9, 10:14, 10:14], 1.0)  # the homolog sees the deficit as +100 %
    assert np.all(np.isnan(ratio[8:12, 16:24, 18:22]))  # mirror in the ventricle: undefined
    assert np.all(np.isnan(ratio[0]))  # outside the head: undefined
    assert maps.normal_reference == pytest.approx(2.0)


def test_imr_counts_exactly_the_deficit_inside_the_lesion(head: np.ndarray) -> None:
    head[5:9, 10:14, 26:30] = 1.0  # 64 voxels at -50 %
    head[12:14, 26:30, 26:30] = 3.0  # 32 voxels at +50 %
    head[14:16, 26:30, 26:30] = 1.8  # 32 voxels at -10 %: below threshold
    lesion = np.zeros(SHAPE, bool)
    lesion[4:17, 8:32, 22:34] = True
    maps = compute_asymmetry(_image(head), MIDLINE, NO_MASK, _mask(head > 0))
    segments = segment_imr(maps.ratio, _mask(lesion), None, AnalysisParameters())
    assert np.count_nonzero(sitk.GetArrayFromImage(segments.imr)) == 64
    assert np.count_nonzero(sitk.GetArrayFromImage(segments.hyperperfusion)) == 32
    assert segments.imr_clusters == 1 and segments.hyperperfusion_clusters == 1
    assert volume_ml(segments.imr) == pytest.approx(64 * 12.0 / 1000.0)


def test_exclusion_and_lesion_boundaries_cut_exactly(head: np.ndarray) -> None:
    head[5:9, 10:14, 26:30] = 1.0
    lesion = np.zeros(SHAPE, bool)
    lesion[5:9, 10:14, 26:28] = True  # half of the deficit
    exclusion = np.zeros(SHAPE, bool)
    exclusion[5:6, 10:14, 26:28] = True  # a quarter of that half
    maps = compute_asymmetry(_image(head), MIDLINE, NO_MASK, _mask(head > 0))
    segments = segment_imr(maps.ratio, _mask(lesion), _mask(exclusion), AnalysisParameters())
    assert np.count_nonzero(sitk.GetArrayFromImage(segments.imr)) == 32 - 8


def test_direction_and_threshold_are_parameters(head: np.ndarray) -> None:
    head[5:9, 10:14, 26:30] = 2.5  # +25 %
    lesion = _mask(np.ones(SHAPE, bool))
    maps = compute_asymmetry(_image(head), MIDLINE, NO_MASK, _mask(head > 0))
    increase = segment_imr(maps.ratio, lesion, None, AnalysisParameters(direction="increase"))
    # the left box reads +25 % (IMR when impairment raises the value); its homolog reads -20 %
    assert np.count_nonzero(sitk.GetArrayFromImage(increase.imr)[:, :, 26:30]) == 64
    assert np.count_nonzero(sitk.GetArrayFromImage(increase.hyperperfusion)[:, :, 10:14]) == 64
    strict = segment_imr(maps.ratio, lesion, None, AnalysisParameters(direction="increase", threshold=0.3))
    assert np.count_nonzero(sitk.GetArrayFromImage(strict.imr)) == 0


def test_min_cluster_volume_drops_small_clusters_only(head: np.ndarray) -> None:
    head[5:9, 10:14, 26:30] = 1.0  # 64 voxels = 0.768 mL
    head[14:15, 26:28, 26:28] = 1.0  # 4 voxels = 0.048 mL
    lesion = _mask(np.ones(SHAPE, bool))
    maps = compute_asymmetry(_image(head), MIDLINE, NO_MASK, _mask(head > 0))
    every = segment_imr(maps.ratio, lesion, None, AnalysisParameters())
    pruned = segment_imr(maps.ratio, lesion, None, AnalysisParameters(min_cluster_ml=0.1))
    imr_every = sitk.GetArrayFromImage(every.imr)[:, :, 20:]
    assert np.count_nonzero(imr_every) == 68 and every.imr_clusters == 2
    assert np.count_nonzero(sitk.GetArrayFromImage(pruned.imr)) == 64 and pruned.imr_clusters == 1
    assert voxel_volume_ml(maps.ratio) == pytest.approx(0.012)


def test_smoothing_is_in_millimetres(head: np.ndarray) -> None:
    head[5:9, 10:14, 26:30] = 1.0
    brain = _mask(head > 0)
    sharp = compute_asymmetry(_image(head), MIDLINE, NO_MASK, brain)
    smooth = compute_asymmetry(_image(head), MIDLINE, NO_MASK.with_changes(smoothing_mm=4.0), brain)
    sharp_centre = sitk.GetArrayFromImage(sharp.ratio)[7, 12, 28]
    smooth_centre = sitk.GetArrayFromImage(smooth.ratio)[7, 12, 28]
    assert sharp_centre == pytest.approx(-0.5)
    assert -0.5 < smooth_centre < -0.1  # blurred with its surroundings, still a deficit


def test_a_region_counts_only_where_the_map_filtered_across_slices_confirms_it() -> None:
    """Two regions 30 % below their mirror; the map filtered across slices still finds part of
    the first and nothing of the second (a sheet thinner than a slice): the first counts whole."""
    ratio = np.zeros(SHAPE, dtype=np.float32)
    ratio[4:10, 8:14, 24:30] = -0.3
    ratio[14:15, 26:32, 24:30] = -0.3
    across = np.zeros(SHAPE, dtype=np.float32)
    across[6:8, 10:12, 26:28] = -0.2
    across[14:15, 26:32, 24:30] = -0.1
    lesion = _mask(np.ones(SHAPE, bool))
    segments = segment_imr(_image(ratio), lesion, None, AnalysisParameters(), across_slices=_image(across))
    assert np.array_equal(sitk.GetArrayFromImage(segments.imr), (ratio < -0.15) & (np.indices(SHAPE)[0] < 12))
    assert segments.imr_clusters == 1
    unfiltered = segment_imr(_image(ratio), lesion, None, AnalysisParameters())
    assert unfiltered.imr_clusters == 2
