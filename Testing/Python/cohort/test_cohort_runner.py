"""A three-patient phantom cohort: same measures as ``run``, resumable, failures isolated, any executor."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from IMRAnalysisLib import __version__
from IMRAnalysisLib.cli import build_parser, main
from IMRAnalysisLib.cli.cohort import shared_run_options
from IMRAnalysisLib.cli.run import parameters_from
from IMRAnalysisLib.cohort.manifest import CohortPatient, read_cohort
from IMRAnalysisLib.cohort.runner import (CohortFolder, CohortProgress, CohortRun, ProgressDisplay, patient_task,
                                          run_cohort)
from IMRAnalysisLib.cohort.table import read_cohort_table
from IMRAnalysisLib.io.metrics_files import flatten_metrics
from IMRAnalysisLib.parameters import PatientFlags
from IMRAnalysisLib.phantom.template import PhantomPatient, make_phantom

JOBS = "2"
CLINICAL = {"P1": (0, "2B", 12, 2), "P2": (0, "3", 8, 1), "P3": (1, "2C", 15, 4)}  # haem. transf., mTICI, NIHSS, mRS


@pytest.fixture(scope="module")
def cohort_data(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """P1 with an arrival map, P2 without, P3 not assessable (haemorrhagic transformation); manifest.csv."""
    folder = tmp_path_factory.mktemp("cohort_data")
    phantoms = {"P1": default_phantom, "P2": make_phantom("near_cutoff"), "P3": make_phantom("symmetric")}
    rows = []
    for patient_id, phantom in phantoms.items():
        paths = phantom.write(folder / patient_id)
        roles = ("arrival", "post", "day5", "lesion") if patient_id == "P1" else ("post", "day5", "lesion")
        haemorrhage, mtici, nihss, mrs = CLINICAL[patient_id]
        rows.append({"patient_id": patient_id, **{role: paths[role].relative_to(folder) for role in roles},
                     "ica_occlusion": 0, "hemorrhagic_transformation": haemorrhage, "reocclusion": 0,
                     "mtici": mtici, "nihss_baseline": nihss, "mrs_90": mrs, "age": 60 + nihss})
    with open(folder / "manifest.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]) + ["exclusion"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _cohort(capsys: pytest.CaptureFixture, manifest: Path, out: Path, *options: str) -> dict:
    """Run the cohort command in this process; its one-line JSON summary."""
    status = main(["cohort", str(manifest), "--out", str(out), "--jobs", JOBS, *options])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


@pytest.fixture(scope="module")
def reference(cohort_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run with local processes."""
    out = tmp_path_factory.mktemp("reference") / "cohort"
    assert main(["cohort", str(cohort_data / "manifest.csv"), "--out", str(out), "--jobs", JOBS]) == 0
    return out


def _stamps(out: Path, patient_ids: list[str]) -> dict[str, tuple[int, int]]:
    """Inode and modification time of each patient's state file and metrics.json: untouched if equal."""
    files = [out / "state" / f"{p}.json" for p in patient_ids] + [out / "patients" / p / "metrics.json"
                                                                   for p in patient_ids]
    return {str(path): (path.stat().st_ino, path.stat().st_mtime_ns) for path in files}


def test_table_and_layout(reference: Path) -> None:
    table = read_cohort_table(reference / "cohort.csv")
    assert list(table["patient_id"]) == ["P1", "P2", "P3"]
    assert list(table["status"]) == ["assessable", "assessable", "not assessable"]
    assert table["error"].isna().all()
    assert list(table.columns[:4]) == ["patient_id", "status", "error", "not_assessable_reason"]
    assert list(table.columns[-9:]) == ["ica_occlusion", "hemorrhagic_transformation", "reocclusion", "mtici",
                                        "nihss_baseline", "nihss_24h", "nihss_day5", "mrs_90", "age"]
    assert list(table["mtici"]) == ["2B", "3", "2C"] and list(table["age"]) == [72, 68, 75]
    assert table["nihss_24h"].isna().all()
    for name in ("imr-cohort.json", "statistics.json", "report.html"):
        assert (reference / name).is_file()
    assert sorted(path.name for path in (reference / "patients").iterdir()) == ["P1", "P2", "P3"]
    statistics = json.loads((reference / "statistics.json").read_text())
    assert statistics["patients"] == 3 and statistics["analysed"] == 2


def test_patient_measures_equal_run(reference: Path, cohort_data: Path, tmp_path: Path) -> None:
    """The cohort runs the code of ``imr-analysis run``: the same metrics.json, the same table row."""
    roles = ("arrival", "post", "day5", "lesion")
    assert main(["run", "--quiet", "--out", str(tmp_path / "run")]
                + [f"--{role}={cohort_data / 'P1' / f'{role}.nii.gz'}" for role in roles]) == 0
    run_metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert json.loads((reference / "patients" / "P1" / "metrics.json").read_text()) == run_metrics
    row = read_cohort_table(reference / "cohort.csv").iloc[0]
    for name, value in flatten_metrics(run_metrics).items():
        assert (pd.isna(row[name]) if value in (None, "") else row[name] == value), name  # CSV: "" is empty
    log = (reference / "logs" / "P1.log").read_text()
    assert "registering day5 and arrival to post-EVT" in log and "writing the result folder" in log


def test_killed_cohort_resumes_without_redoing_patients(reference: Path, cohort_data: Path, tmp_path: Path,
                                                        capsys) -> None:
    out = tmp_path / "cohort"
    command = [sys.executable, "-m", "IMRAnalysisLib.cli", "cohort", str(cohort_data / "manifest.csv"),
               "--out", str(out), "--jobs", JOBS]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        done = _wait_for_a_finished_patient(out / "state", process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the command and its workers, as a power cut would
        process.wait()
    assert 1 <= len(done) < 3
    before = _stamps(out, done)
    summary = _cohort(capsys, cohort_data / "manifest.csv", out)
    assert summary["skipped"] >= len(done) and summary["done"] + summary["skipped"] == 3
    assert _stamps(out, done) == before
    pd.testing.assert_frame_equal(read_cohort_table(out / "cohort.csv"), read_cohort_table(reference / "cohort.csv"))


def _wait_for_a_finished_patient(state: Path, process: subprocess.Popen, timeout_s: float = 120.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        done = [path.stem for path in state.glob("*.json") if json.loads(path.read_text())["status"] != "failed"]
        if done:
            return done
        time.sleep(0.1)
    raise AssertionError(f"no patient finished (exit status {process.poll()})")


def _copy(reference: Path, cohort_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the inputs and of the finished cohort folder, to change without side effects."""
    shutil.copytree(cohort_data, tmp_path / "data")
    shutil.copytree(reference, tmp_path / "cohort")
    return tmp_path / "data" / "manifest.csv", tmp_path / "cohort"


def test_changed_input_reruns_only_that_patient_and_a_failure_is_recorded(reference, cohort_data, tmp_path,
                                                                          capsys) -> None:
    manifest, out = _copy(reference, cohort_data, tmp_path)
    reports: list[CohortProgress] = []
    table = run_cohort(read_cohort(manifest), out, CohortRun(), jobs=int(JOBS), progress=reports.append)
    assert reports == [CohortProgress(total=3, done=0, failed=0, skipped=3, seconds_left=None)]  # same content
    pd.testing.assert_frame_equal(table, read_cohort_table(reference / "cohort.csv"))
    before = _stamps(out, ["P1", "P3"])
    post = tmp_path / "data" / "P2" / "post.nii.gz"
    post.write_bytes(post.read_bytes()[: post.stat().st_size // 2])  # a truncated transfer
    status = main(["cohort", str(manifest), "--out", str(out), "--jobs", JOBS])
    captured = capsys.readouterr()
    assert status == 0
    summary = json.loads(captured.out)
    assert (summary["done"], summary["failed"], summary["skipped"]) == (0, 1, 2)
    assert f"1 of 3 patients failed: see the error column of {out / 'cohort.csv'}" in captured.err
    assert _stamps(out, ["P1", "P3"]) == before
    table = read_cohort_table(out / "cohort.csv").set_index("patient_id")
    expected = read_cohort_table(reference / "cohort.csv").set_index("patient_id")
    assert list(table["status"]) == ["assessable", "failed", "not assessable"]
    assert str(post) in table.loc["P2", "error"] and "\n" not in table.loc["P2", "error"]
    columns = list(expected.columns)
    measures = columns[columns.index("not_assessable_reason"):columns.index("ica_occlusion")]
    assert table.loc["P2", measures].isna().all()
    assert table.loc["P2", "nihss_baseline"] == 8 and table.loc["P2", "mtici"] == "3"
    pd.testing.assert_frame_equal(table.drop(index="P2"), expected.drop(index="P2"), check_dtype=False)  # NaN: float
    assert not (out / "patients" / "P2").exists()
    assert f"error: {table.loc['P2', 'error']}" in (out / "logs" / "P2.log").read_text()


def test_changed_parameter_reruns_every_patient(reference, cohort_data, tmp_path, capsys) -> None:
    manifest, out = _copy(reference, cohort_data, tmp_path)
    summary = _cohort(capsys, manifest, out, "--min-cluster-ml", "0.2")
    assert (summary["done"], summary["skipped"]) == (3, 0)
    table = read_cohort_table(out / "cohort.csv")
    assert (table["parameters_min_cluster_ml"] == 0.2).all()
    assert json.loads((out / "state" / "P1.json").read_text())["fingerprint"]["run_options"] == ["--min-cluster-ml=0.2"]


def test_dask_cluster_gives_the_same_table(reference, cohort_data, tmp_path, capsys) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        summary = _cohort(capsys, cohort_data / "manifest.csv", tmp_path / "cohort", "--scheduler",
                          cluster.scheduler_address)
    table = read_cohort_table(tmp_path / "cohort" / "cohort.csv")
    assert (summary["done"], summary["failed"]) == (3, 0), table["error"].tolist()
    pd.testing.assert_frame_equal(table, read_cohort_table(reference / "cohort.csv"))


def test_unrelated_output_folder_is_refused(cohort_data, tmp_path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    status = main(["cohort", str(cohort_data / "manifest.csv"), "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.strip() == (f"imr-analysis: error: {tmp_path}: folder is not empty and not a cohort folder "
                                    "(no imr-cohort.json); choose a new folder")
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [io.StringIO(), _Terminal()], ids=["log", "terminal"])
def test_progress_display(stream: io.StringIO) -> None:
    display = ProgressDisplay(stream)
    display(CohortProgress(total=3, done=0, failed=0, skipped=1, seconds_left=None))
    display(CohortProgress(total=3, done=1, failed=1, skipped=1, seconds_left=0.0))
    first = "patients 1/3: 0 done, 0 failed, 1 skipped; about -- left"
    last = "patients 3/3: 1 done, 1 failed, 1 skipped; about 0 min 00 s left"
    if stream.isatty():
        assert stream.getvalue() == f"\r\x1b[K{first}\r\x1b[K{last}\n"
    else:
        assert stream.getvalue() == f"{first}\n{last}\n"


def test_a_cohort_where_every_patient_fails_still_gets_its_table_and_statistics(tmp_path: Path, capsys) -> None:
    """No measure at all: the headline columns are still there, the analyses say why they are empty."""
    for patient_id in ("A", "B"):
        for role in ("post", "day5", "lesion"):
            (tmp_path / patient_id).mkdir(exist_ok=True)
            (tmp_path / patient_id / f"{role}.nii.gz").write_bytes(b"not an image")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("patient_id,post,day5,lesion,ica_occlusion,hemorrhagic_transformation,reocclusion,"
                        "mtici,nihss_baseline\n"
                        "A,A/post.nii.gz,A/day5.nii.gz,A/lesion.nii.gz,0,0,0,2B,10\n"
                        "B,B/post.nii.gz,B/day5.nii.gz,B/lesion.nii.gz,0,0,0,3,12\n")
    summary = _cohort(capsys, manifest, tmp_path / "out")
    assert (summary["done"], summary["failed"]) == (0, 2)
    table = read_cohort_table(tmp_path / "out" / "cohort.csv")
    assert list(table["status"]) == ["failed", "failed"] and table["error"].str.contains("post").all()
    assert {"imr_volume_ml", "lesion_volume_ml", "significant_imr"} <= set(table.columns)
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert (statistics["patients"], statistics["failed"], statistics["analysed"]) == (2, 2, 0)
    assert (tmp_path / "out" / "report.html").is_file()


# Written by the version that carried each patient as ``run`` argv (before PatientRequest), for
# the files and options of the test below: a cohort folder it made must rerun as all skipped.
EARLIER_FINGERPRINT = {
    "run_options": ["--threshold-percent=20.0", "--no-brain-mask"],
    "flags": {"ica_occlusion": False, "hemorrhagic_transformation": False, "reocclusion": True},
    "inputs": {"day5": "0a796b472867c189f339ba3510ab2e8f00ff7fe5ee539bee83f96c4819ecaf1b",
               "lesion": "4e9f0b3e2e80bb4d6553d23d23d8ddef88220143f2ecb5dc1a8da1367996bb7b",
               "post": "1aa67932f5326f1f1b86a28e2e7154923eed5ffd550c0a2e14e1842b3b4cb58f"},
}


def test_a_patient_s_fingerprint_is_the_one_earlier_versions_wrote(tmp_path: Path) -> None:
    files = {role: tmp_path / f"{role}.nrrd" for role in ("post", "day5", "lesion")}
    for role, text in (("post", "post map bytes"), ("day5", "day5 map bytes"), ("lesion", "lesion bytes")):
        files[role].write_text(text)
    args = build_parser().parse_args(["cohort", "manifest.csv", "--out", "out", "--threshold-percent", "20",
                                      "--no-brain-mask"])
    shared = CohortRun(parameters_from(args), args.te, args.tr, tuple(shared_run_options(args)))
    task = patient_task(CohortPatient("P1", files, PatientFlags(reocclusion=True)), CohortFolder(tmp_path / "out"),
                        shared)
    assert task.fingerprint == {"software_version": __version__, **EARLIER_FINGERPRINT}
    assert task.request.parameters.threshold == 0.20 and not task.request.parameters.brain_mask
    assert task.request.flags.reocclusion and task.request.overwrite
