"""Hostile inputs and interruptions of ``run``, ``demo`` and ``perfusion``: exit 2 (or 130/143) with
one line, and nothing the project did not write is ever replaced or deleted."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import SimpleITK as sitk

from test_dsc_io import _signal, _with_nan, _write
from test_image_io import write_dicom_series

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.parameters import AnalysisParameters
from terminal import default_sigint

ROLES = ("arrival", "post", "day5", "lesion")


@pytest.fixture()
def patient(phantom_files: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A private copy of the phantom's inputs in one folder, as a user keeps them."""
    folder = tmp_path / "patient"
    folder.mkdir()
    return {role: Path(shutil.copy(phantom_files[role], folder / phantom_files[role].name)) for role in ROLES}


def run_argv(files: dict[str, Path], out: Path, *options: str, **replace: Path | str) -> list[str]:
    roles = {role: files[role] for role in ROLES} | replace
    return ["run", "--quiet", "--out", str(out), *[f"--{role}={path}" for role, path in roles.items()], *options]


def error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert captured.out == ""
    return lines[0]


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- the output folder -------------------------------------------------------------------


def test_overwrite_never_deletes_the_folder_holding_the_inputs(patient, capsys) -> None:
    folder = patient["post"].parent
    (folder / "notes.txt").write_text("clinical notes")
    before = contents(folder)
    line = error_line(capsys, run_argv(patient, folder, "--overwrite"))
    assert str(folder) in line and "input" in line
    assert contents(folder) == before


def test_overwrite_never_replaces_a_folder_the_project_did_not_write(patient, tmp_path, capsys) -> None:
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.tex").write_text("years of work")
    line = error_line(capsys, run_argv(patient, other, "--overwrite"))
    assert "thesis" in line and ".imr-analysis-result" in line
    assert (other / "chapter1.tex").read_text() == "years of work"


@pytest.mark.parametrize("command", ["demo", "perfusion"])
def test_demo_and_perfusion_overwrite_only_result_folders(command, tmp_path, capsys) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    argv = [command, "--out", str(other), "--overwrite", "--quiet"]
    if command == "perfusion":
        argv += ["--dsc", str(tmp_path / "series.nii.gz")]
    line = error_line(capsys, argv)
    assert "mine" in line and ".imr-analysis-result" in line
    assert (other / "keep.txt").read_text() == "keep"


def test_perfusion_refuses_to_write_into_the_series_folder(tmp_path, capsys) -> None:
    series = tmp_path / "dicom"
    series.mkdir()
    line = error_line(capsys, ["perfusion", "--dsc", str(series), "--out", str(series / "maps"), "--quiet"])
    assert "inside the input folder" in line


# --- images the analysis cannot mean ------------------------------------------------------


def _post_variant(patient: dict[str, Path], name: str, change) -> Path:
    image = change(sitk.ReadImage(str(patient["post"])))
    path = patient["post"].parent / name
    sitk.WriteImage(image, str(path))
    return path


def _in_metres(image: sitk.Image) -> sitk.Image:
    image.SetSpacing(tuple(s * 0.001 for s in image.GetSpacing()))
    image.SetOrigin(tuple(o * 0.001 for o in image.GetOrigin()))
    return image


@pytest.mark.parametrize("name, change, words", [
    ("metres.nrrd", _in_metres, "metres"),
    ("three.nrrd", lambda image: image[:, :, 10:13], "too few voxels"),
    ("two.nrrd", lambda image: image[:, :, 10:12], "too few voxels"),
])
def test_unusable_geometry_is_one_line_naming_the_file(patient, tmp_path, capsys, name, change, words) -> None:
    path = _post_variant(patient, name, change)
    line = error_line(capsys, run_argv(patient, tmp_path / "out", post=path))
    assert name in line and words in line


@pytest.mark.parametrize("plane, words", [
    (("1000", "0", "0", "1", "0", "0"), "does not divide the brain"),
    (("0", "0", "0", "0", "0", "1"), "tilted 90 degrees"),
])
def test_nonsense_midline_is_refused_before_registration(patient, tmp_path, capsys, plane, words) -> None:
    argv = [arg for arg in run_argv(patient, tmp_path / "out", "--midline", *plane) if arg != "--quiet"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "mid-sagittal plane" in lines[-1] and words in lines[-1]
    assert not any("registering" in line for line in lines)


@pytest.mark.parametrize("same", ["path", "copy"])
def test_one_study_given_as_post_and_day5_is_refused(patient, tmp_path, capsys, same) -> None:
    day5 = patient["post"] if same == "path" else Path(shutil.copy(patient["post"], tmp_path / "copy.nrrd"))
    line = error_line(capsys, run_argv(patient, tmp_path / "out", day5=day5))
    assert str(day5) in line and "same image as the post-EVT" in line


def _truncated(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 7 // 10])
    return path


@pytest.mark.parametrize("name, signal, words", [
    ("cut.nii", _signal(), "truncated"),
    ("holes.nrrd", _with_nan(_signal()), "4 NaN"),
    ("centred.nrrd", _signal() - _signal().mean(axis=0), "strongly negative"),
])
def test_perfusion_refuses_unusable_series_naming_the_file(tmp_path, capsys, name, signal, words) -> None:
    path = _write(tmp_path / name, signal)
    if words == "truncated":
        _truncated(path)
    line = error_line(capsys, ["perfusion", "--quiet", "--dsc", str(path), "--te", "0.03", "--out",
                               str(tmp_path / "maps")])
    assert name in line and words in line


def test_nan_voxels_of_a_nifti_map_are_refused_not_counted_as_zero(patient, tmp_path, capsys) -> None:
    nibabel = pytest.importorskip("nibabel")
    path = patient["post"].parent / "post.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(patient["post"])), str(path))
    image = nibabel.load(str(path))
    values = image.get_fdata(dtype="float32")
    values[60:66, 60:70, 12] = float("nan")
    nibabel.save(nibabel.Nifti1Image(values, image.affine, image.header), str(path))
    line = error_line(capsys, run_argv(patient, tmp_path / "out", post=path))
    assert "post.nii.gz" in line and "60 NaN" in line


# --- DICOM folders with several series --------------------------------------------------------

SERIES_ROOT = "1.2.826.0.1.3680043.2.1125.7"


@pytest.fixture()
def two_series_post(patient: dict[str, Path]) -> Path:
    """The post-EVT map as DICOM (series .2) beside the day-5 map (series .3) in one folder."""
    folder = patient["post"].parent / "post_dicom"
    for name, number in (("post", "2"), ("day5", "3")):
        image = sitk.ReadImage(str(patient[name]))
        write_dicom_series(folder, sitk.Cast(image * 1000.0, sitk.sitkInt16), number, name)
    return folder


def test_folder_with_two_series_is_refused_with_their_list(patient, two_series_post, tmp_path, capsys) -> None:
    line = error_line(capsys, run_argv(patient, tmp_path / "out", post=two_series_post))
    assert "post_dicom" in line and "holds 2 DICOM series" in line and "--series" in line
    assert f"UID {SERIES_ROOT}.2" in line and f"UID {SERIES_ROOT}.3" in line and "25 images" in line


def test_series_choice_for_a_file_or_unknown_role_is_refused(patient, tmp_path, capsys) -> None:
    line = error_line(capsys, run_argv(patient, tmp_path / "out", "--series", "post=1.2.3"))
    assert "--series post=1.2.3" in line and "not a DICOM folder" in line
    line = error_line(capsys, run_argv(patient, tmp_path / "out", "--series", "pre=1.2.3"))
    assert "unknown role 'pre'" in line


def test_chosen_series_is_used_and_recorded(patient, two_series_post, tmp_path) -> None:
    out = tmp_path / "out"
    argv = run_argv(patient, out, "--series", f"post={SERIES_ROOT}.2", post=two_series_post)
    assert main(argv) == 0
    inputs = json.loads((out / "metrics.json").read_text())["inputs"]
    assert inputs["post"] == str(two_series_post) and inputs["post_series_uid"] == f"{SERIES_ROOT}.2"


def test_stderr_holds_only_the_programs_own_lines(patient, tmp_path) -> None:
    """A slice 5 micrometres off makes ITK print a multi-line warning; it is no concern of the user's."""
    pydicom = pytest.importorskip("pydicom")
    folder = tmp_path / "post_dicom"
    write_dicom_series(folder, sitk.Cast(sitk.ReadImage(str(patient["post"])) * 1000.0, sitk.sitkInt16), "2", "p")
    moved = pydicom.dcmread(folder / "p010.dcm")
    moved.ImagePositionPatient = [moved.ImagePositionPatient[0], moved.ImagePositionPatient[1],
                                  float(moved.ImagePositionPatient[2]) + 0.005]
    moved.save_as(folder / "p010.dcm")
    lesion = sitk.ReadImage(str(patient["lesion"]))
    empty = tmp_path / "empty.nrrd"
    sitk.WriteImage(lesion * 0, str(empty))  # stops the run right after reading the post-EVT folder
    completed = subprocess.run([sys.executable, "-m", "IMRAnalysisLib.cli",
                                *run_argv(patient, tmp_path / "out", post=folder, lesion=empty)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [f"imr-analysis: error: {empty}: mask is empty: no voxel of the "
                                             "lesion mask is set"]


# --- options are checked before any work ---------------------------------------------------


@pytest.mark.parametrize("option, value", [
    ("--significance-ml", "nan"), ("--min-cluster-ml", "nan"), ("--smoothing-mm", "nan"),
    ("--threshold-percent", "nan"), ("--floor", "nan"), ("--floor", "inf"), ("--significance-ml", "inf"),
    ("--te", "nan"), ("--tr", "inf"),
])
def test_non_finite_option_is_refused_naming_it(patient, tmp_path, capsys, option, value) -> None:
    line = error_line(capsys, run_argv(patient, tmp_path / "out", option, value))
    assert option in line and "finite" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_tmax_threshold_seconds_checked_before_work(patient, tmp_path, capsys, value) -> None:
    argv = [arg for arg in run_argv(patient, tmp_path / "out", "--map", "tmax", f"--threshold-seconds={value}")
            if arg != "--quiet"]
    line = error_line(capsys, argv)  # the only line: no progress line, so no work was started
    assert "--threshold-seconds" in line and "finite" in line


@pytest.mark.parametrize("value", ["-1", "99999999999", "1.5"])
def test_seed_out_of_range_is_refused(patient, tmp_path, capsys, value) -> None:
    line = error_line(capsys, run_argv(patient, tmp_path / "out", "--seed", value))
    assert "--seed" in line


@pytest.mark.parametrize("field", ["threshold", "significance_ml", "smoothing_mm", "floor_fraction",
                                   "min_cluster_ml"])
def test_parameters_refuse_non_finite_values_for_every_front_end(field) -> None:
    for value in (float("nan"), float("inf")):
        with pytest.raises(InputError, match=f"{field} must be a finite number"):
            AnalysisParameters.for_map("tmax" if field == "threshold" else "rcbv", **{field: value})
    with pytest.raises(InputError, match="seed"):
        AnalysisParameters(registration_seed=-1)


# --- interruptions -------------------------------------------------------------------------


def _interrupt_while_exporting(argv: list[str], out: Path, signal_number: int) -> subprocess.CompletedProcess | None:
    """Start the command, send the signal as soon as its staging folder appears, wait for the end.

    None when the run had already ended before the signal could be sent (a busy machine
    can keep this process off the CPU for the whole export): there was nothing to interrupt.
    """
    process = subprocess.Popen([sys.executable, "-m", "IMRAnalysisLib.cli", *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 300
    while not any(out.parent.glob(f".{out.name}.staging-*")) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    if process.poll() is not None:
        process.communicate()
        return None
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


@pytest.mark.parametrize("signal_number, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_exits_with_one_line_and_leaves_no_litter(patient, tmp_path, signal_number, status) -> None:
    out = tmp_path / "results"
    for _ in range(5):
        finished = _interrupt_while_exporting(run_argv(patient, out), out, signal_number)
        if finished is not None:
            break
        shutil.rmtree(out)  # this test's own earlier, uninterrupted result
    assert finished is not None, "the run ended before it could be interrupted, five times"
    assert finished.returncode == status, finished.stderr
    assert finished.stderr.strip().splitlines() == ["imr-analysis: interrupted"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left in (["patient"], ["patient", "results"])  # no hidden staging or previous folder
    if left[-1] == "results":  # the signal came after the swap: the result is complete
        assert (out / "metrics.json").is_file() and (out / ".imr-analysis-result").is_file()
