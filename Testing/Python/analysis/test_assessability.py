"""The mirror's limits on synthetic heads with known answers: homologs, the mirror region, the verdict."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.assessability import assess, mirror_region_contrast, missing_homologs, plane_margin_mm
from IMRAnalysisLib.analysis.asymmetry import compute_asymmetry
from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.parameters import AnalysisParameters

SHAPE = (20, 60, 60)  # k, j, i
SPACING = (2.0, 2.0, 4.0)
ORIGIN = (-59.0, -59.0, -38.0)  # voxel centres symmetric about x = 0
MIDLINE = Plane.from_vectors(np.zeros(3), np.array([1.0, 0.0, 0.0]))
ROBUST = AnalysisParameters(smoothing_mm=0.0)


def _image(array: np.ndarray, pixel: int = sitk.sitkFloat32) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image = sitk.Cast(image, pixel)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    return image


def _x() -> np.ndarray:
    return ORIGIN[0] + SPACING[0] * np.indices(SHAPE)[2]


@pytest.fixture()
def head() -> np.ndarray:
    """A uniform brain (rCBV 2) with a textured band, symmetric about x = 0."""
    values = np.zeros(SHAPE)
    values[2:18, 6:54, 6:54] = 2.0
    values[2:18, 20:26, 6:54] = 3.0
    return values


def _box(left: slice, rows: slice = slice(14, 34), slices: slice = slice(6, 12)) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=np.uint8)
    mask[slices, rows, left] = 1
    return mask


def test_lesion_voxels_next_to_the_plane_have_no_usable_homolog() -> None:
    lesion = _box(slice(30, 40))  # from x = +1 mm outwards
    homologs = missing_homologs(_image(lesion, sitk.sitkUInt8), MIDLINE, smoothing_mm=1.0)
    margin = plane_margin_mm(_image(lesion), 1.0)
    assert margin == pytest.approx(1.5 * 2.0 + 2.0)
    near_columns = np.unique(np.argwhere(homologs.near_plane)[:, 2])
    assert list(near_columns) == [30, 31]  # x = 1 and 3 mm, within 5 mm
    assert not homologs.in_lesion.any()


def test_a_lesion_on_both_sides_has_its_homologs_in_itself() -> None:
    lesion = _box(slice(10, 20)) | _box(slice(40, 50))  # mirror images of each other
    homologs = missing_homologs(_image(lesion, sitk.sitkUInt8), MIDLINE, smoothing_mm=0.0)
    assert np.array_equal(homologs.in_lesion, lesion.astype(bool))


def test_a_darkened_mirror_region_is_measured_against_its_surroundings(head: np.ndarray) -> None:
    lesion = _box(slice(38, 48))  # left
    brain = _image((head > 0).astype(np.uint8), sitk.sitkUInt8)
    darkened = head.copy()
    darkened[_box(slice(12, 22)).astype(bool)] *= 0.75  # its mirror, right
    for values, expected in ((head, 0.0), (darkened, -0.25)):
        image = _image(values)
        maps = compute_asymmetry(image, MIDLINE, ROBUST, brain, _image(lesion, sitk.sitkUInt8))
        contrast = mirror_region_contrast(image, _image(lesion, sitk.sitkUInt8), MIDLINE, brain, ROBUST, maps)
        assert contrast == pytest.approx(expected, abs=1e-6)


def _assessment(values: np.ndarray, lesion: np.ndarray, imr_ml: float, parameters: AnalysisParameters = ROBUST):
    image, lesion_image = _image(values), _image(lesion, sitk.sitkUInt8)
    brain = _image((values > 0).astype(np.uint8), sitk.sitkUInt8)
    maps = compute_asymmetry(image, MIDLINE, parameters, brain, lesion_image)
    homologs = missing_homologs(lesion_image, MIDLINE, maps.detection_smoothing_mm)
    return assess(image, lesion_image, MIDLINE, brain, parameters, maps, homologs, imr_ml)


def test_an_abnormal_mirror_region_makes_the_patient_not_assessable(head: np.ndarray) -> None:
    head[_box(slice(12, 22)).astype(bool)] *= 0.75
    assessment = _assessment(head, _box(slice(38, 48)), imr_ml=0.0)
    assert len(assessment.reasons) == 1 and "mirror region is abnormal: 25 % below" in assessment.reasons[0]
    assert assessment.mirror_contrast == pytest.approx(-0.25)


def test_voxels_without_homolog_make_the_patient_not_assessable_only_when_they_could_change_the_verdict(
        head: np.ndarray) -> None:
    lesion = _box(slice(30, 40))  # its first column (x = 1 mm) lies within the 3 mm margin
    voxel_ml = np.prod(SPACING) / 1000.0
    missing_ml = 20 * 6 * voxel_ml
    undecided = _assessment(head, lesion, imr_ml=5.0 - missing_ml / 2)
    assert undecided.missing_homolog_ml == pytest.approx(missing_ml)
    assert len(undecided.reasons) == 1 and "next to the mid-sagittal plane" in undecided.reasons[0]
    for clear in (0.0, 5.5):  # the missing voxels could not bring IMR above 5 mL, or IMR is above already
        decided = _assessment(head, lesion, imr_ml=clear)
        assert decided.reasons == [] and "left out of IMR" in decided.warnings[0]


def test_noise_too_high_even_smoothed_makes_the_patient_not_assessable(head: np.ndarray) -> None:
    noisy = head * (1 + 0.6 * np.random.default_rng(5).standard_normal(SHAPE)).clip(0.05)
    assessment = _assessment(noisy, _box(slice(38, 48)), imr_ml=0.0, parameters=AnalysisParameters(smoothing_mm=0.5))
    assert any("asymmetry noise in normal tissue" in reason for reason in assessment.reasons)


def test_the_published_preset_checks_nothing(head: np.ndarray) -> None:
    head[_box(slice(12, 22)).astype(bool)] *= 0.75
    assessment = _assessment(head, _box(slice(30, 40)), imr_ml=4.9, parameters=AnalysisParameters.preset("published"))
    assert assessment.reasons == [] and assessment.warnings == [] and assessment.missing_homolog_ml == 0.0
