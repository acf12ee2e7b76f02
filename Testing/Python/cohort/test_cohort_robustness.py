"""A cohort against what goes wrong while it runs: Ctrl-C, a killed worker, a hung patient, a second cohort.

Every cohort here is a real ``imr-analysis cohort`` process with real worker processes; the
test finds the worker of a patient as the process holding that patient's log file open and
sends it real signals. Each wait is bounded, and a cohort still running at the end is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.cohort.lock import LOCK_FILE
from IMRAnalysisLib.cohort.runner import CohortFolder
from IMRAnalysisLib.cohort.table import read_cohort_table
from IMRAnalysisLib.phantom.template import PhantomPatient
from terminal import default_sigint

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds workers through /proc")

ROLES = ("post", "day5", "lesion")
HEADER = "patient_id,post,day5,lesion,ica_occlusion,hemorrhagic_transformation,reocclusion\n"
WAIT_S = 120.0
DAMAGED = "post.nii.gz: the post-EVT rCBV map cannot be read: the file is damaged, truncated or not a valid NIfTI file"


@pytest.fixture(scope="module")
def phantom_folder(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("phantom")
    default_phantom.write(folder)
    return folder


def _manifest(folder: Path, phantom_folder: Path, patients: dict[str, str]) -> Path:
    """patient id -> ``phantom`` (the phantom's images), ``damaged`` (not an image) or ``fifo`` (post is a FIFO)."""
    lines = [HEADER]
    for patient_id, kind in patients.items():
        if kind == "phantom":
            paths = [phantom_folder / f"{role}.nii.gz" for role in ROLES]
        else:
            (folder / patient_id).mkdir()
            paths = [folder / patient_id / f"{role}.nii.gz" for role in ROLES]
            for path in paths:
                path.write_bytes(b"not an image")
            if kind == "fifo":
                paths[0].unlink()
                os.mkfifo(paths[0])
        lines.append(f"{patient_id},{','.join(str(path) for path in paths)},0,0,0\n")
    manifest = folder / "manifest.csv"
    manifest.write_text("".join(lines))
    return manifest


@pytest.fixture
def cohorts() -> Iterator[list[subprocess.Popen]]:
    """Cohort processes started by a test, killed with their workers if the test leaves them running."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _start(cohorts: list, manifest: Path, out: Path, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "IMRAnalysisLib.cli", "cohort", str(manifest), "--out", str(out), *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True,  # its own process group, as a terminal's job
                               preexec_fn=default_sigint)
    cohorts.append(process)
    return process


def _worker_of(log: Path, process: subprocess.Popen) -> int:
    """The pid of the process that has the patient's log open: its worker, once the patient started."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and process.poll() is None:
        for fd_folder in Path("/proc").glob("[0-9]*/fd"):
            try:
                if any(os.readlink(fd) == str(log.resolve()) for fd in fd_folder.iterdir()):
                    return int(fd_folder.parent.name)
            except OSError:  # a process that ended, or someone else's
                continue
        time.sleep(0.05)
    raise AssertionError(f"no worker opened {log} (cohort exit status {process.poll()})")


def _finish(process: subprocess.Popen, timeout_s: float = WAIT_S) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout_s)
    return process.returncode, out, err


def _group_gone(pgid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_stops_promptly_and_the_rerun_does_the_rest(phantom_folder, tmp_path, cohorts, capsys) -> None:
    manifest = _manifest(tmp_path, phantom_folder, {"P1": "phantom", "P2": "damaged"})
    out = tmp_path / "cohort"
    process = _start(cohorts, manifest, out, "--jobs", "1")
    _worker_of(out / "logs" / "P1.log", process)
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the cohort and its workers
    interrupted = time.monotonic()
    status, stdout, stderr = _finish(process, timeout_s=20.0)
    assert time.monotonic() - interrupted < 10.0
    assert status == 130 and stdout == "" and "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (f"imr-analysis: cohort interrupted; run the same command again to continue "
                                       f"in {out}")
    assert _group_gone(process.pid)  # no worker left running
    assert not (out / "logs" / "P2.log").exists() and not list((out / "state").iterdir())
    assert main(["cohort", str(manifest), "--out", str(out), "--jobs", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"], summary["skipped"]) == (1, 1, 0)
    assert read_cohort_table(out / "cohort.csv")["error"][1] == f"{tmp_path / 'P2' / DAMAGED}"


def test_a_killed_worker_fails_only_its_patient(phantom_folder, tmp_path, cohorts) -> None:
    manifest = _manifest(tmp_path, phantom_folder, {"P1": "phantom", "P2": "damaged", "P3": "damaged"})
    out = tmp_path / "cohort"
    process = _start(cohorts, manifest, out, "--jobs", "1")
    os.kill(_worker_of(out / "logs" / "P1.log", process), signal.SIGKILL)  # as the out-of-memory killer does
    status, stdout, stderr = _finish(process)
    assert status == 0, stderr
    assert (json.loads(stdout)["done"], json.loads(stdout)["failed"]) == (0, 3)
    errors = read_cohort_table(out / "cohort.csv").set_index("patient_id")["error"]
    assert errors["P1"] == "the worker process died (killed by signal 9, SIGKILL)"
    assert errors["P2"] == f"{tmp_path / 'P2' / DAMAGED}" and errors["P3"] == f"{tmp_path / 'P3' / DAMAGED}"
    assert errors["P1"] in (out / "logs" / "P1.log").read_text()


def test_a_hung_patient_times_out_and_a_fifo_input_is_refused(phantom_folder, tmp_path, cohorts) -> None:
    """A stopped worker stands for a read that never returns (a stalled network share)."""
    manifest = _manifest(tmp_path, phantom_folder, {"P1": "phantom", "P2": "damaged", "P3": "fifo"})
    out = tmp_path / "cohort"
    process = _start(cohorts, manifest, out, "--jobs", "1", "--patient-timeout-s", "3")
    os.kill(_worker_of(out / "logs" / "P1.log", process), signal.SIGSTOP)
    status, stdout, stderr = _finish(process)
    assert status == 0, stderr
    assert (json.loads(stdout)["done"], json.loads(stdout)["failed"]) == (0, 3)
    errors = read_cohort_table(out / "cohort.csv").set_index("patient_id")["error"]
    assert errors["P1"] == "timed out after 3 s"
    assert errors["P2"] == f"{tmp_path / 'P2' / DAMAGED}"
    assert errors["P3"] == (f"{tmp_path / 'P3' / 'post.nii.gz'}: not a regular file or folder (a FIFO, device or "
                            "socket); give an image file or a DICOM series folder")


def test_a_folder_input_is_bounded_to_its_own_files(phantom_folder, tmp_path, cohorts) -> None:
    """A path column pointing at a tree of folders is refused at once, without reading the tree."""
    manifest = _manifest(tmp_path, phantom_folder, {"P1": "damaged"})
    tree = tmp_path / "tree"
    (tree / "deep" / "deeper").mkdir(parents=True)
    (tree / "deep" / "deeper" / "big.bin").write_bytes(bytes(1 << 20))
    manifest.write_text(manifest.read_text().replace(str(tmp_path / "P1" / "day5.nii.gz"), str(tree)))
    status, stdout, stderr = _finish(_start(cohorts, manifest, tmp_path / "cohort"))
    assert status == 0, stderr
    error = read_cohort_table(tmp_path / "cohort" / "cohort.csv")["error"][0]
    assert error == f"{tree}: the folder holds no file (a DICOM series folder holds its images directly)"


def test_a_second_cohort_on_the_folder_is_refused_and_a_stale_lock_taken_over(tmp_path, capsys) -> None:
    out = tmp_path / "cohort"
    CohortFolder(out).prepare()
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(HEADER + "P1,post.nii.gz,day5.nii.gz,lesion.nii.gz,0,0,0\n")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from IMRAnalysisLib.cohort.lock import "
         "cohort_lock\nwith cohort_lock(Path(sys.argv[1])):\n print('locked', flush=True); sys.stdin.read()", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        assert main(["cohort", str(manifest), "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == (
            f"imr-analysis: error: {out}: another imr-analysis cohort (pid {holder.pid}) is processing this folder; "
            "wait for it to finish or stop it\n")
    finally:
        holder.kill()  # dies holding the lock: its pid stays in the file
        holder.wait()
    assert (out / LOCK_FILE).read_text() == f"{holder.pid}\n"
    assert main(["cohort", str(manifest), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["failed"] == 1  # the files do not exist; the cohort ran
    assert (out / LOCK_FILE).read_text() == f"{os.getpid()}\n"


@pytest.mark.parametrize(("options", "problem"), [
    (["--patient-timeout-s", "0"],
     "a patient's time limit must be a positive number of seconds, got 0.0 (--patient-timeout-s)"),
    (["--patient-timeout-s", "60", "--scheduler", "tcp://127.0.0.1:9"],
     "a patient's time limit applies to local processes; on a Dask cluster use the cluster's limits"
     " (--patient-timeout-s)"),
])
def test_time_limit_option_is_checked_before_anything_runs(tmp_path, capsys, options, problem) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(HEADER + "P1,post.nii.gz,day5.nii.gz,lesion.nii.gz,0,0,0\n")
    assert main(["cohort", str(manifest), "--out", str(tmp_path / "cohort"), *options]) == 2
    assert capsys.readouterr().err == f"imr-analysis: error: {problem}\n"
    assert not (tmp_path / "cohort").exists()
