"""The web workstation's pieces that need no server: page parameters, uploads, results panel, guided steps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if not os.environ.get("CI"):  # CI installs the web extra: there a missing part fails, never skips
    pytest.importorskip("trame_slicer")

from IMRAnalysisLib.errors import InputError  # noqa: E402
from IMRAnalysisLib.mrml_logic import EXCLUSION, HYPERPERFUSION, IMR, LESION  # noqa: E402
from IMRAnalysisLib.parameters import AnalysisParameters  # noqa: E402
from IMRAnalysisLib.webapp.app import results_of  # noqa: E402
from IMRAnalysisLib.webapp.parameter_fields import page_values, parameters_from_page  # noqa: E402
from IMRAnalysisLib.webapp.teaching import STEPS, WORKSTATION_VIEW  # noqa: E402
from IMRAnalysisLib.webapp.uploads import upload_state, write_patient_folder  # noqa: E402


def test_page_parameters_round_trip_in_page_units_and_are_checked() -> None:
    parameters = AnalysisParameters(threshold=0.2, direction="increase", min_cluster_ml=0.5, registration=False)
    values = page_values(parameters)
    assert values["imr_param_threshold"] == 20
    assert parameters_from_page(values, parameters) == parameters
    with pytest.raises(InputError, match="threshold"):
        parameters_from_page({**values, "imr_param_threshold": "150"}, parameters)
    with pytest.raises(InputError, match="not a number"):
        parameters_from_page({**values, "imr_param_smoothing_mm": "two"}, parameters)


def _upload(name: str, content: bytes = b"data") -> dict:
    return {"name": name, "size": len(content), "type": "", "content": content}


def test_uploads_become_a_patient_folder_named_by_role(tmp_path: Path) -> None:
    state = {upload_state(role): None for role in ("post", "day5", "lesion", "arrival", "exclusion")}
    state.update({upload_state("post"): [_upload("scan 1.NII.GZ")], upload_state("day5"): _upload("d5.nrrd"),
                  upload_state("lesion"): [_upload("les.seg.nrrd")]})
    folder = write_patient_folder(state, tmp_path / "patient")
    assert sorted(path.name for path in folder.iterdir()) == ["day5.nrrd", "lesion.seg.nrrd", "post.nii.gz"]
    with pytest.raises(InputError, match="no day-5"):
        write_patient_folder({**state, upload_state("day5"): []}, tmp_path / "missing")
    with pytest.raises(InputError, match="no extension"):
        write_patient_folder({**state, upload_state("post"): _upload("post")}, tmp_path / "bare")


def test_results_panel_shows_the_measures_and_the_verdict() -> None:
    parameters = AnalysisParameters().to_dict()
    measures = {"status": "assessable", "imr_volume_ml": 9.734, "lesion_volume_ml": 40.17, "imr_relative_percent": 24.2,
                "hyperperfusion_volume_ml": 5.9, "exclusion_volume_ml": 0.0, "significant_imr": True,
                "parameters": parameters}
    shown = results_of(measures)
    assert shown["imr_volume_ml"] == "9.73" and shown["significant"]
    assert shown["verdict"] == "significant IMR (> 5 mL)"
    assert "threshold 15 %" in shown["parameters"]
    not_assessable = results_of({**measures, "status": "not_assessable", "imr_volume_ml": None,
                                 "significant_imr": None, "not_assessable_reason": "arterial re-occlusion"})
    assert not_assessable["imr_volume_ml"] == "n/a"
    assert not_assessable["verdict"].startswith("not assessable (arterial re-occlusion)")


def test_guided_mode_covers_the_method_and_ends_on_the_workstation_view() -> None:
    titles = [step.title for step in STEPS]
    assert titles == ["Registration", "Midline", "Mirror", "Asymmetry", "Lesion restriction", "Threshold",
                      "Exclusion", "Measures"]
    assert all(step.sentence.endswith(".") and len(step.sentence) < 220 for step in STEPS)
    assert set(WORKSTATION_VIEW.segments) == {LESION, IMR, HYPERPERFUSION, EXCLUSION}
