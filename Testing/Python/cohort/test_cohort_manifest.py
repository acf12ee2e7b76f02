"""The list of patients of a cohort: a manifest CSV or a folder of patient folders, checked before any work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.cohort.manifest import read_cohort
from IMRAnalysisLib.parameters import PatientFlags

HEADER = ("patient_id,arrival,post,day5,lesion,exclusion,ica_occlusion,hemorrhagic_transformation,reocclusion,"
          "mtici,nihss_baseline,nihss_24h,nihss_day5,mrs_90,age")
ROW_A = "A01,,a/post.nii.gz,a/day5.nii.gz,a/lesion.nii.gz,,0,0,0,2B,12,6,4,2,71"
ROW_B = "B02,b/arrival.nrrd,b/post.nrrd,b/day5.nrrd,b/lesion.seg.nrrd,b/exclusion.nrrd,1,0,1,3,,,,,"


def _manifest(folder: Path, *lines: str) -> Path:
    path = folder / "manifest.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_manifest_rows_become_patients(tmp_path) -> None:
    patients = read_cohort(_manifest(tmp_path, HEADER, ROW_A, ROW_B))
    a, b = patients
    assert [a.patient_id, b.patient_id] == ["A01", "B02"]
    assert a.sources == {role: tmp_path / "a" / f"{role}.nii.gz" for role in ("post", "day5", "lesion")}
    assert set(b.sources) == {"arrival", "post", "day5", "lesion", "exclusion"}
    assert a.flags == PatientFlags() and b.flags == PatientFlags(True, False, True)
    assert a.clinical == {"mtici": "2B", "nihss_baseline": 12, "nihss_24h": 6, "nihss_day5": 4, "mrs_90": 2,
                          "age": "71"}
    assert b.clinical == {"mtici": "3", "nihss_baseline": None, "nihss_24h": None, "nihss_day5": None, "mrs_90": None,
                          "age": None}


def test_dsc_columns_replace_maps(tmp_path) -> None:
    manifest = _manifest(tmp_path, "patient_id,post_dsc,day5,lesion,ica_occlusion,hemorrhagic_transformation,"
                                   "reocclusion", "P,dsc/post,d.nrrd,l.nrrd,0,0,0")
    (patient,) = read_cohort(manifest)
    assert patient.sources == {"post_dsc": tmp_path / "dsc/post", "day5": tmp_path / "d.nrrd",
                               "lesion": tmp_path / "l.nrrd"}


def test_folder_of_patient_folders(tmp_path) -> None:
    for name in ("P2", "P1"):
        for role in ("post", "day5", "lesion"):
            (tmp_path / name / f"{role}.nii.gz").parent.mkdir(exist_ok=True)
            (tmp_path / name / f"{role}.nii.gz").write_bytes(b"")
    (tmp_path / "P1" / "arrival").mkdir()  # a DICOM series folder
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "imr-cohort.json").write_text("{}")  # the cohort's own output, kept beside
    (tmp_path / "P2" / "clinical.json").write_text(json.dumps({"reocclusion": True, "mtici": "2C", "mrs_90": 3,
                                                               "smoker": "yes"}))
    p1, p2 = read_cohort(tmp_path)
    assert (p1.patient_id, p2.patient_id) == ("P1", "P2")
    assert p1.sources["arrival"] == tmp_path / "P1" / "arrival" and "arrival" not in p2.sources
    assert p1.flags == PatientFlags() and p1.clinical["mtici"] is None
    assert p2.flags == PatientFlags(reocclusion=True)
    assert p2.clinical["mtici"] == "2C" and p2.clinical["mrs_90"] == 3 and p2.clinical["smoker"] == "yes"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((HEADER.replace(",lesion", ""), ROW_A), "required column lesion is missing"),
        ((HEADER.replace(",post", ""), ROW_A), "required column post is missing"),
        ((HEADER.replace(",reocclusion", ""), ROW_A), "required column reocclusion is missing"),
        ((HEADER + ",age", ROW_A + ",3"), "column age occurs more than once"),
        ((HEADER, ROW_A, ROW_A.replace("A01", "a01")), "patient_id 'a01' occurs more than once"),
        ((HEADER, ROW_A.replace("A01", "")), "row 2, column patient_id: the patient_id is empty"),
        ((HEADER, ROW_A.replace("A01", "../A01")), "row 2, column patient_id: '../A01' cannot name a folder"),
        ((HEADER, ROW_A.replace("A01", "A 1")), "row 2, column patient_id: 'A 1' cannot name a folder"),
        ((HEADER, ROW_B, ROW_A.replace(",0,0,0,", ",0,yes,0,")),
         "row 3 (patient A01), column hemorrhagic_transformation: a flag is 0 or 1, not 'yes'"),
        ((HEADER, ROW_A.replace("a/post.nii.gz", "")), "row 2 (patient A01), column post: the post map"),
        ((HEADER, ROW_A.replace("a/lesion.nii.gz", "")), "column lesion: the lesion mask is empty"),
        ((HEADER + ",post_dsc", ROW_A + ",a/dsc"), "column post_dsc: give the post map or its DSC series, not both"),
        ((HEADER, ROW_A.replace(",12,", ",43,")), "column nihss_baseline: a score from 0 to 42 or empty, not '43'"),
        ((HEADER, ROW_A[:-5] + ",2.5,71"), "column mrs_90: a score from 0 to 6 or empty, not '2.5'"),
        ((HEADER, ROW_A + ",extra"), "row 2 has 16 cells, the header 15"),
        ((HEADER.replace("age", "status"), ROW_A), "column status: this name is a column of the cohort table"),
        ((HEADER,), "the manifest lists no patient"),
    ],
)
def test_manifest_errors_are_one_line(tmp_path, capsys, lines, expected) -> None:
    manifest = _manifest(tmp_path, *lines)
    line = _cohort_error(capsys, [str(manifest), "--out", str(tmp_path / "out")])
    assert line.startswith(f"imr-analysis: error: {manifest}: ")
    assert expected in line
    assert not (tmp_path / "out").exists()


def _cohort_error(capsys: pytest.CaptureFixture, arguments: list[str]) -> str:
    status = main(["cohort", *arguments])
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert captured.out == "" and "Traceback" not in captured.err
    (line,) = captured.err.strip().splitlines()
    return line


def test_cohort_option_errors(tmp_path, capsys) -> None:
    manifest = _manifest(tmp_path, HEADER, ROW_A)
    out = str(tmp_path / "out")
    line = _cohort_error(capsys, [str(manifest), "--out", out, "--covariates", "age", "bmi"])
    assert "--covariates bmi: not a column of the cohort" in line
    line = _cohort_error(capsys, [str(manifest), "--out", out, "--map", "tmax", "--threshold-percent", "10"])
    assert "--map tmax takes its threshold as --threshold-seconds" in line
    assert "the patients processed at once must be at least 1, got 0 (--jobs)" in _cohort_error(capsys, [str(manifest), "--out", out, "--jobs", "0"])
    line = _cohort_error(capsys, [str(tmp_path / "nothing.csv"), "--out", out])
    assert "cohort not found" in line
    assert not (tmp_path / "out").exists()


def test_scheduler_without_dask_is_refused_before_any_folder_is_made(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the 'cluster' extra were not installed
    line = _cohort_error(capsys, [str(_manifest(tmp_path, HEADER, ROW_A)), "--out", str(tmp_path / "out"),
                                  "--scheduler", "tcp://127.0.0.1:8786"])
    assert "a Dask scheduler needs Dask: pip install 'imr-analysis[cluster]' (--scheduler)" in line
    assert not (tmp_path / "out").exists()


def test_patient_folder_errors(tmp_path, capsys) -> None:
    patient = tmp_path / "cohort" / "P1"
    patient.mkdir(parents=True)
    for role in ("post", "day5"):
        (patient / f"{role}.nii.gz").write_bytes(b"")
    arguments = [str(tmp_path / "cohort"), "--out", str(tmp_path / "out")]
    assert "no lesion file" in _cohort_error(capsys, arguments)
    (patient / "lesion.nii.gz").write_bytes(b"")
    (patient / "clinical.json").write_text('{"ica_occlusion": 2}')
    line = _cohort_error(capsys, arguments)
    assert f"{patient / 'clinical.json'}: patient P1, column ica_occlusion: a flag is 0 or 1, not '2'" in line
    (patient / "clinical.json").write_text("{oops")
    assert "not readable JSON" in _cohort_error(capsys, arguments)
    (patient / "clinical.json").write_text('{"post": "elsewhere.nii.gz"}')
    assert "post come from the folder" in _cohort_error(capsys, arguments)
