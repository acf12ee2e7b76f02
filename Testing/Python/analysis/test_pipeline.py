"""``run_analysis`` and ``remeasure`` called directly: what an edit recomputes, what it keeps, what it gives."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.measures import volume_ml
from IMRAnalysisLib.analysis.pipeline import AnalysisInputs, AnalysisResult, remeasure, run_analysis
from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.conventions import verdict
from IMRAnalysisLib.parameters import AnalysisParameters, PatientFlags
from IMRAnalysisLib.phantom.template import PhantomPatient


@pytest.fixture(scope="module")
def analysed(default_phantom: PhantomPatient) -> tuple[AnalysisInputs, AnalysisResult]:
    inputs = AnalysisInputs(post=default_phantom.post, day5=default_phantom.day5, lesion=default_phantom.lesion,
                            arrival=default_phantom.arrival)
    return inputs, run_analysis(inputs, AnalysisParameters())


def test_new_parameters_measure_as_a_new_run_would_without_registering_again(
        analysed: tuple[AnalysisInputs, AnalysisResult]) -> None:
    inputs, result = analysed
    stricter = AnalysisParameters(threshold=0.20)
    again = remeasure(result, parameters=stricter)
    assert again.registrations is result.registrations
    assert again.measures == run_analysis(inputs, stricter).measures
    assert again.measures["imr_volume_ml"] < result.measures["imr_volume_ml"]


def test_an_exclusion_removes_exactly_its_voxels_from_imr_and_reuses_the_asymmetry_map(
        analysed: tuple[AnalysisInputs, AnalysisResult]) -> None:
    _, result = analysed
    imr = sitk.GetArrayFromImage(result.segments.imr).astype(bool)
    columns = np.nonzero(imr)[2]
    excluded = imr & (np.arange(imr.shape[2]) < np.median(columns))[None, None, :]
    exclusion = sitk.GetImageFromArray(excluded.astype(np.uint8))
    exclusion.CopyInformation(result.post)
    edited = remeasure(result, exclusion=exclusion)
    assert edited.asymmetry is result.asymmetry
    np.testing.assert_array_equal(sitk.GetArrayFromImage(edited.segments.imr).astype(bool), imr & ~excluded)
    assert edited.measures["exclusion_volume_ml"] == volume_ml(exclusion)
    assert edited.measures["imr_volume_ml"] == pytest.approx(volume_ml(result.segments.imr) - volume_ml(exclusion),
                                                       abs=1e-4)  # each rounded to 0.1 microlitre


def test_a_moved_plane_recomputes_the_asymmetry_map_and_keeps_the_registrations(
        analysed: tuple[AnalysisInputs, AnalysisResult]) -> None:
    _, result = analysed
    plane = result.midline.plane
    moved = Plane.from_vectors(plane.point_array + 2.0 * plane.normal_array, plane.normal_array)
    edited = remeasure(result, midline=moved)
    assert edited.registrations is result.registrations and edited.asymmetry is not result.asymmetry
    assert edited.midline.estimated is False and edited.measures["midline"]["estimated"] is False
    assert edited.midline.plane.signed_distance(plane.point_array) == pytest.approx(-2.0, abs=1e-9)


def test_a_flag_makes_the_patient_not_assessable_with_its_reason_and_no_imr_figures(
        analysed: tuple[AnalysisInputs, AnalysisResult]) -> None:
    _, result = analysed
    measures = remeasure(result, flags=PatientFlags(reocclusion=True)).measures
    assert measures["status"] == "not assessable" and measures["not_assessable_reason"] == "arterial re-occlusion"
    assert measures["imr_volume_ml"] is None and measures["significant_imr"] is None
    assert measures["lesion_volume_ml"] == result.measures["lesion_volume_ml"]
    assert verdict(measures).sentence == "IMR not assessable (arterial re-occlusion)"
