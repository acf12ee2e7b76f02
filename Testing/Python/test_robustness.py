"""IMR with the default parameters on maps like real ones, from the analytic phantom family.

Each condition of ``ROBUSTNESS_CONDITIONS`` (noise, tilt, slice thickness, shading, lesion
location, bilateral and mirror-hypoperfused patients) is one patient without IMR and the
same patient with IMR, analysed end to end. The limits are the issue's: false IMR at most
0.5 mL, IMR within 15 % or 0.5 mL of the truth with the 5 mL verdict right, and patients
the mirror cannot measure reported not assessable, while measurable ones never are. A
lesion that touches the plane may be measured or be not assessable for that reason.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest

from IMRAnalysisLib.analysis.pipeline import AnalysisInputs, remeasure, run_analysis
from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.phantom.analytic import ROBUSTNESS_CONDITIONS, AnalyticPhantom, make_analytic_phantom
from IMRAnalysisLib.phantom.template import PRESETS, make_phantom

PATIENTS = [(name, which) for name in ROBUSTNESS_CONDITIONS for which in ("without", "with")]


@functools.lru_cache(maxsize=None)
def _measured(name: str, which: str) -> tuple[AnalyticPhantom, dict]:
    patient = make_analytic_phantom(ROBUSTNESS_CONDITIONS[name][which == "with"])
    inputs = AnalysisInputs(post=patient.post, day5=patient.day5, lesion=patient.lesion, arrival=patient.arrival)
    return patient, run_analysis(inputs, AnalysisParameters()).measures


@pytest.mark.parametrize(("name", "which"), PATIENTS)
def test_default_parameters_measure_or_refuse_each_patient(name: str, which: str) -> None:
    patient, measures = _measured(name, which)
    truth = patient.truth
    if not truth.expected_assessable:
        assert measures["status"] == "not assessable", measures["imr_volume_ml"]
        assert measures["not_assessable_reason"]
        return
    if truth.touches_plane and measures["status"] == "not assessable":
        assert "mid-sagittal plane" in measures["not_assessable_reason"]
        return
    assert measures["status"] == "assessable", measures["not_assessable_reason"]
    error = measures["imr_volume_ml"] - truth.imr_volume_ml
    limit = 0.5 if truth.imr_volume_ml == 0 else max(0.15 * truth.imr_volume_ml, 0.5)
    assert abs(error) <= limit, f"IMR {measures['imr_volume_ml']} mL, truth {truth.imr_volume_ml:.2f} mL"
    assert measures["significant_imr"] == (truth.imr_volume_ml > measures["parameters"]["significance_ml"])


@pytest.mark.parametrize(("family", "depth"), [
    ("analytic", 0.2), ("analytic", 0.5), ("analytic", 0.7), ("template", 0.25), ("template", 0.5), ("template", 0.7),
])
def test_imr_volume_does_not_depend_on_how_deep_the_imr_is(family: str, depth: float) -> None:
    """An edge voxel holds the IMR in part. Counted from the threshold, IMR more than twice the
    threshold deep grows with the blur and shallower IMR shrinks (the published definition:
    -30 % to +52 % on these patients); counted from half the depth of its region, neither."""
    if family == "analytic":
        patient = make_analytic_phantom(replace(ROBUSTNESS_CONDITIONS["clean, tilt 7 deg"][1], imr_depth=depth,
                                                noise=0.05))
    else:
        patient = make_phantom(replace(PRESETS["default"], imr_depth=depth))
    inputs = AnalysisInputs(post=patient.post, day5=patient.day5, lesion=patient.lesion, arrival=patient.arrival,
                            exclusion=getattr(patient, "exclusion", None))
    result = run_analysis(inputs, AnalysisParameters())
    truth = patient.truth.imr_volume_ml
    error = result.measures["imr_volume_ml"] - truth
    assert abs(error) <= 0.15 * truth, f"IMR {result.measures['imr_volume_ml']} mL, truth {truth:.2f} mL"
    by_threshold = remeasure(result, parameters=AnalysisParameters(partial_volume_edges=False))
    assert abs(by_threshold.measures["imr_volume_ml"] - truth) > abs(error)
