"""The web workstation's pieces that need no server: page parameters, uploads, results panel, guided steps."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

if not os.environ.get("CI"):  # CI installs the web extra: there a missing part fails, never skips
    pytest.importorskip("trame_slicer")

from IMRAnalysisLib.errors import InputError  # noqa: E402
from IMRAnalysisLib.mrml.logic import EXCLUSION, HYPERPERFUSION, IMR, LESION  # noqa: E402
from IMRAnalysisLib.parameters import AnalysisParameters  # noqa: E402
from IMRAnalysisLib.webapp.app import results_of  # noqa: E402
from IMRAnalysisLib.webapp.parameter_fields import page_values, parameters_from_page  # noqa: E402
from IMRAnalysisLib.webapp.teaching import STEPS, WORKSTATION_VIEW, step_texts  # noqa: E402
from IMRAnalysisLib.webapp.uploads import (UPLOAD_ROLES, dsc_timing, received_uploads, upload_limit_text,
                                           upload_state, uploads_over_limit, write_patient_folder)


def test_page_parameters_round_trip_in_page_units_and_are_checked() -> None:
    parameters = AnalysisParameters(threshold=0.2, direction="increase", min_cluster_ml=0.5, registration=False)
    values = page_values(parameters)
    assert values["imr_param_threshold"] == 20
    assert parameters_from_page(values, parameters) == parameters
    with pytest.raises(InputError, match="threshold"):
        parameters_from_page({**values, "imr_param_threshold": "150"}, parameters)
    with pytest.raises(InputError, match="not a number"):
        parameters_from_page({**values, "imr_param_smoothing_mm": "two"}, parameters)
    assert values["imr_label_threshold"] == "Asymmetry threshold (%)"


@pytest.mark.parametrize("typed", ["nan", "NaN", "inf", "-Infinity", "1e400"])
def test_non_finite_numbers_typed_on_the_page_are_refused(typed: str) -> None:
    parameters = AnalysisParameters()
    values = page_values(parameters)
    for field in ("significance_ml", "smoothing_mm", "min_cluster_ml", "threshold"):
        with pytest.raises(InputError, match="not a finite number"):
            parameters_from_page({**values, f"imr_param_{field}": typed}, parameters)
    with pytest.raises(InputError, match="TE of the DSC series: not a finite number"):
        dsc_timing({"imr_dsc_te": typed, "imr_dsc_tr": ""})


def test_tmax_parameters_are_shown_and_read_in_seconds() -> None:
    parameters = AnalysisParameters.for_map("tmax", smoothing_mm=2.0)
    values = page_values(parameters)
    assert values["imr_param_threshold"] == 2.0
    assert values["imr_label_threshold"] == "Asymmetry threshold (s)"
    assert values["imr_label_floor_fraction"] == "Mirror floor (fraction of normal Tmax)"
    assert values["imr_param_direction"] == "increase"
    assert parameters_from_page(values, parameters) == parameters
    typed = parameters_from_page({**values, "imr_param_threshold": "3.5"}, parameters)
    assert typed.threshold == 3.5 and typed.asymmetry_scale.shown(typed.asymmetry_scale.threshold) == "3.5 s"
    with pytest.raises(InputError, match="positive"):
        parameters_from_page({**values, "imr_param_threshold": "-1"}, parameters)


def _upload(name: str, content: bytes = b"data") -> dict:
    return {"name": name, "size": len(content), "type": "", "content": content}


def test_uploads_become_a_patient_folder_named_by_role(tmp_path: Path) -> None:
    state = {upload_state(role): None for role in UPLOAD_ROLES}
    state.update({upload_state("post"): [_upload("scan 1.NII.GZ")], upload_state("day5"): _upload("d5.nrrd"),
                  upload_state("lesion"): [_upload("les.seg.nrrd")]})
    names = write_patient_folder(state, tmp_path / "patient")
    assert names == {"post.nii.gz": "scan 1.NII.GZ", "day5.nrrd": "d5.nrrd", "lesion.seg.nrrd": "les.seg.nrrd"}
    folder = tmp_path / "patient"
    assert sorted(path.name for path in folder.iterdir()) == ["day5.nrrd", "lesion.seg.nrrd", "post.nii.gz"]
    with pytest.raises(InputError, match="no day-5 perfusion map or day-5 DSC series uploaded"):
        write_patient_folder({**state, upload_state("day5"): []}, tmp_path / "missing")
    with pytest.raises(InputError, match="no extension"):
        write_patient_folder({**state, upload_state("post"): _upload("post")}, tmp_path / "bare")


def test_a_timepoint_uploaded_as_a_dsc_series_is_written_as_its_series(tmp_path: Path) -> None:
    state = {upload_state(role): None for role in UPLOAD_ROLES}
    uploads = {"post_dsc": [_upload("perf 4d.NRRD", b"series")], "day5": _upload("d.nii"),
               "lesion": _upload("l.nrrd"), "arrival_dsc": _upload("a.nii.gz")}
    state.update({upload_state(role): upload for role, upload in uploads.items()})
    write_patient_folder(state, tmp_path / "patient")
    folder = tmp_path / "patient"
    assert sorted(path.name for path in folder.iterdir()) == ["arrival_dsc.nii.gz", "day5.nii", "lesion.nrrd",
                                                              "post_dsc.nrrd"]
    assert (folder / "post_dsc.nrrd").read_bytes() == b"series"
    assert received_uploads(state) == {"post_dsc": ["perf 4d.NRRD", 6], "day5": ["d.nii", 4], "lesion": ["l.nrrd", 4],
                                       "arrival_dsc": ["a.nii.gz", 4]}
    both = {**state, upload_state("post"): _upload("post.nii.gz")}
    with pytest.raises(InputError, match="both a post-EVT map and a post-EVT DSC series were uploaded"):
        write_patient_folder(both, tmp_path / "both")
    assert not (tmp_path / "both").exists()  # refused before anything is written


def test_uploads_above_the_limit_are_the_ones_just_received() -> None:
    before = {"post": ["a.nii", 60], "lesion": ["l.nrrd", 10]}
    assert uploads_over_limit({**before, "day5": ["d.nii", 30]}, before, 100) == []
    assert uploads_over_limit({**before, "day5": ["d.nii", 31]}, before, 100) == ["day5"]
    assert uploads_over_limit({**before, "post": ["b.nii", 95]}, before, 100) == ["post"]  # a replaced file
    assert "at most 1000 MB (imr-analysis app --max-upload-mb)" in upload_limit_text(1_000_000_000)


def test_dsc_timing_fields_are_seconds_or_empty() -> None:
    assert dsc_timing({"imr_dsc_te": "", "imr_dsc_tr": None}) == {"te": None, "tr": None}
    assert dsc_timing({"imr_dsc_te": " 0.03 ", "imr_dsc_tr": 1.5}) == {"te": 0.03, "tr": 1.5}
    with pytest.raises(InputError, match="TR of the DSC series: not a number"):
        dsc_timing({"imr_dsc_te": "", "imr_dsc_tr": "1,5"})


def test_results_panel_shows_the_measures_and_the_verdict() -> None:
    parameters = AnalysisParameters().to_dict()
    measures = {"status": "assessable", "imr_volume_ml": 9.734, "lesion_volume_ml": 40.17, "imr_relative_percent": 24.2,
                "hyperperfusion_volume_ml": 5.9, "exclusion_volume_ml": 0.0, "significant_imr": True,
                "parameters": parameters}
    shown = results_of(measures)
    assert shown["imr_volume_ml"] == "9.73" and shown["significant"]
    assert shown["verdict"] == "IMR 9.7 mL (24 % of 40.2 mL lesion), significant (> 5 mL)"  # as on the overview
    assert shown["parameters"].startswith("rCBV, threshold 15 %, decrease")
    assert shown["warnings"] == ""
    warned = results_of({**measures, "warnings": "the arrival registration failed: ..., so check its overlay before using it"})
    assert warned["warnings"].startswith("the arrival registration failed")
    tmax = results_of({**measures, "parameters": AnalysisParameters.for_map("tmax").to_dict()})
    assert tmax["parameters"].startswith("Tmax, threshold 2 s, increase") and "%" not in tmax["parameters"]
    not_assessable = results_of({**measures, "status": "not_assessable", "imr_volume_ml": None,
                                 "significant_imr": None, "not_assessable_reason": "arterial re-occlusion"})
    assert not_assessable["imr_volume_ml"] == "n/a"
    assert not_assessable["verdict"] == "IMR not assessable (arterial re-occlusion)"


def test_guided_mode_covers_the_method_and_ends_on_the_workstation_view() -> None:
    titles = [step.title for step in STEPS]
    assert titles == ["Registration", "Midline", "Mirror", "Asymmetry", "Lesion restriction", "Threshold",
                      "Exclusion", "Measures"]
    rcbv, tmax = step_texts(AnalysisParameters()), step_texts(AnalysisParameters.for_map("tmax"))
    assert all(text["sentence"].endswith(".") and len(text["sentence"]) < 220 for text in rcbv + tmax)
    assert "more than 15 % below their mirror" in rcbv[5]["sentence"]
    assert "more than 2 s above their mirror" in tmax[5]["sentence"]
    assert not any("rCBV" in text["sentence"] or "%" in text["sentence"] for text in tmax[:-1])
    assert set(WORKSTATION_VIEW.segments) == {LESION, IMR, HYPERPERFUSION, EXCLUSION}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_dicom_series_uploaded_as_a_zip_becomes_the_roles_folder(tmp_path: Path) -> None:
    """Every file of the ZIP, flat, under a name of ours: paths in the ZIP reach nothing outside."""
    series = _zip({"DICOM/IM1": b"one", "DICOM/sub/IM2": b"two", "../../escape": b"three", "/abs/IM4": b"four"})
    state = {upload_state(role): None for role in UPLOAD_ROLES}
    state.update({upload_state("post"): [_upload("series.ZIP", series)], upload_state("day5"): _upload("d5.nrrd"),
                  upload_state("lesion"): _upload("l.nrrd")})
    names = write_patient_folder(state, tmp_path / "patient")
    assert names["post"] == "series.ZIP"
    written = tmp_path / "patient" / "post"
    assert sorted(path.read_bytes() for path in written.iterdir()) == [b"four", b"one", b"three", b"two"]
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file() and written not in path.parents) == [
        "day5.nrrd", "lesion.nrrd"]


@pytest.mark.parametrize("role, content, problem", [
    ("lesion", _zip({"a": b"x"}), "a lesion mask|day-5 lesion mask cannot be"),
    ("post", b"PK not a zip", "not a readable ZIP file"),
    ("post", _zip({}), "holds no file"),
], ids=["mask as a series", "not a zip", "empty zip"])
def test_a_zip_that_is_no_dicom_series_is_refused_with_its_name(tmp_path: Path, role: str, content: bytes,
                                                               problem: str) -> None:
    state = {upload_state(name): None for name in UPLOAD_ROLES}
    state.update({upload_state("post"): _upload("p.nrrd"), upload_state("day5"): _upload("d5.nrrd"),
                  upload_state("lesion"): _upload("l.nrrd"), upload_state(role): _upload("bad.zip", content)})
    with pytest.raises(InputError, match=problem) as raised:
        write_patient_folder(state, tmp_path / "patient")
    assert "bad.zip" in str(raised.value)


def test_a_zip_that_claims_too_much_is_refused_before_unpacking(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("IMRAnalysisLib.webapp.uploads.MAX_ZIP_BYTES", 10)
    state = {upload_state(name): None for name in UPLOAD_ROLES}
    state.update({upload_state("post"): _upload("s.zip", _zip({"a": b"x" * 11})),
                  upload_state("day5"): _upload("d5.nrrd"), upload_state("lesion"): _upload("l.nrrd")})
    with pytest.raises(InputError, match="unpacks to more than"):
        write_patient_folder(state, tmp_path / "patient")
    assert not (tmp_path / "patient" / "post").exists()


def test_steps_that_build_on_an_analysis_say_so_before_any_and_the_page_is_never_left_busy() -> None:
    """Before a patient: every step that needs a run raises the one ``NoAnalysisYet``; a failure
    of any other kind still ends the step, with its name on the page."""
    from IMRAnalysisLib.errors import NoAnalysisYet
    from IMRAnalysisLib.webapp.app import WorkstationApp

    app = WorkstationApp()
    for step in (lambda: app.workstation.recompute(), lambda: app.workstation.centre_on(IMR),
                 lambda: app.workstation.move_midline(1.0, 0.0), app.workstation.reset_midline,
                 lambda: app.workstation.show_step(WORKSTATION_VIEW), lambda: app.workstation.export_zip(".", {})):
        with pytest.raises(NoAnalysisYet, match="run the analysis first"):
            step()
    app._run(app.workstation.recompute, "recomputing")
    assert not app.state.imr_busy and app.state.imr_status == "error: there is no analysis yet: run the analysis first"
    app._run(lambda: 1 / 0, "recomputing")
    assert not app.state.imr_busy
    assert app.state.imr_status.startswith("error: recomputing failed unexpectedly (ZeroDivisionError")
