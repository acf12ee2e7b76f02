"""Conventions written once: the verdict, the measures' titles and units, LPS/RAS, segment colours."""

from __future__ import annotations

import numpy as np
import pytest

from IMRAnalysisLib.conventions import lps_to_ras, measure_registry, verdict
from IMRAnalysisLib.parameters import AnalysisParameters

ASSESSABLE = {"status": "assessable", "imr_volume_ml": 9.734, "imr_relative_percent": 24.2, "lesion_volume_ml": 40.17,
              "significant_imr": True, "parameters": AnalysisParameters().to_dict()}


@pytest.mark.parametrize(("changes", "kind", "sentence"), [
    ({}, "significant", "IMR 9.7 mL (24 % of 40.2 mL lesion), significant (> 5 mL)"),
    ({"imr_volume_ml": 3.02, "imr_relative_percent": 7.5, "significant_imr": False}, "not significant",
     "IMR 3.0 mL (8 % of 40.2 mL lesion), not significant (> 5 mL)"),
    ({"status": "not assessable", "not_assessable_reason": "arterial re-occlusion", "imr_volume_ml": None},
     "not assessable", "IMR not assessable (arterial re-occlusion)"),
])
def test_the_verdict_is_one_sentence_from_the_measures(changes: dict, kind: str, sentence: str) -> None:
    shown = verdict({**ASSESSABLE, **changes})
    assert (shown.kind, shown.sentence) == (kind, sentence)


def test_measures_have_one_heading_each_and_the_asymmetry_s_unit_follows_the_map() -> None:
    for parameters in (AnalysisParameters(), AnalysisParameters.for_map("tmax")):
        registry = measure_registry(parameters)
        assert len({measure.heading for measure in registry}) == len(registry)
        assert len({measure.key for measure in registry}) == len(registry)
    rcbv = {measure.key: measure for measure in measure_registry()}
    tmax = {measure.key: measure for measure in measure_registry(AnalysisParameters.for_map("tmax"))}
    assert rcbv["imr_median_asymmetry_percent"].heading == "IMR median asymmetry (%)"
    assert tmax["imr_median_asymmetry_seconds"].heading == "IMR median asymmetry (s)"
    assert rcbv["parameters_threshold"].value(ASSESSABLE) == pytest.approx(15.0)
    assert tmax["parameters_threshold"].value({"parameters": AnalysisParameters.for_map("tmax").to_dict()}) == 2.0
    assert rcbv["registration_arrival_correlation"].value(ASSESSABLE) is None  # absent: no arrival map


def test_lps_and_ras_differ_by_the_sign_of_x_and_y_both_ways() -> None:
    point = np.array([12.5, -40.0, 7.0])
    assert lps_to_ras(point) == pytest.approx([-12.5, 40.0, 7.0])
    assert lps_to_ras(lps_to_ras(point)) == pytest.approx(point)
