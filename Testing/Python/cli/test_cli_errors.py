"""Every user mistake ends with exit status 2 and one line naming the file and the problem."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.cli.main import OPTIONS
from IMRAnalysisLib.errors import SETTINGS, InputError


@pytest.fixture(scope="module")
def files(phantom_files: dict[str, Path]) -> dict[str, Path]:
    return phantom_files


def _run(files: dict[str, Path], out: Path, **replace: Path | str) -> list[str]:
    roles = {role: files[role] for role in ("arrival", "post", "day5", "lesion")} | replace
    argv = ["run", "--quiet", "--out", str(out)] + [f"--{role}={path}" for role, path in roles.items()]
    return argv


def _error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured.err
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    return lines[0]


def _write(array: np.ndarray, like: sitk.Image, path: Path) -> Path:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(like)
    sitk.WriteImage(image, str(path))
    return path


def test_missing_file(files, tmp_path, capsys) -> None:
    line = _error_line(capsys, _run(files, tmp_path / "out", post=tmp_path / "nowhere.nii.gz"))
    assert "nowhere.nii.gz" in line and "not found" in line
    assert not (tmp_path / "out").exists()


def test_corrupt_file(files, tmp_path, capsys) -> None:
    corrupt = tmp_path / "post.nii.gz"
    corrupt.write_bytes(gzip.compress(b"this is no image at all" * 10))
    line = _error_line(capsys, _run(files, tmp_path / "out", post=corrupt))
    assert "post.nii.gz" in line and ("damaged" in line or "cannot be read" in line)


def test_4d_image(files, tmp_path, capsys) -> None:
    post = sitk.ReadImage(str(files["post"]))
    series = sitk.JoinSeries([post, post, post])
    path = tmp_path / "dsc.nrrd"
    sitk.WriteImage(series, str(path))
    line = _error_line(capsys, _run(files, tmp_path / "out", post=path))
    assert "dsc.nrrd" in line and "4D" in line


def test_mask_with_other_labels(files, tmp_path, capsys) -> None:
    lesion = sitk.ReadImage(str(files["lesion"]))
    path = _write(sitk.GetArrayFromImage(lesion).astype(np.uint8) * 255, lesion, tmp_path / "lesion255.nrrd")
    line = _error_line(capsys, _run(files, tmp_path / "out", lesion=path))
    assert "lesion255.nrrd" in line and "255" in line and "--lesion-label" in line


def test_empty_lesion(files, tmp_path, capsys) -> None:
    lesion = sitk.ReadImage(str(files["lesion"]))
    path = _write(np.zeros_like(sitk.GetArrayFromImage(lesion)), lesion, tmp_path / "empty.nrrd")
    line = _error_line(capsys, _run(files, tmp_path / "out", lesion=path))
    assert "empty.nrrd" in line and "empty" in line


def test_lesion_outside_field_of_view(files, tmp_path, capsys) -> None:
    lesion = sitk.ReadImage(str(files["lesion"]))
    lesion.SetOrigin(tuple(np.asarray(lesion.GetOrigin()) + 400.0))
    path = tmp_path / "far.nrrd"
    sitk.WriteImage(lesion, str(path))
    line = _error_line(capsys, _run(files, tmp_path / "out", lesion=path))
    assert "far.nrrd" in line and "field of view" in line


def test_lesion_outside_brain(files, tmp_path, capsys) -> None:
    lesion = sitk.ReadImage(str(files["lesion"]))
    array = np.zeros_like(sitk.GetArrayFromImage(lesion))
    array[10:14, 2:8, 2:8] = 1  # a corner of the field of view: air
    path = _write(array, lesion, tmp_path / "air.nrrd")
    line = _error_line(capsys, _run(files, tmp_path / "out", lesion=path))
    assert "air.nrrd" in line and "inside the brain" in line


def test_geometries_do_not_overlap(files, tmp_path, capsys) -> None:
    day5 = sitk.ReadImage(str(files["day5"]))
    day5.SetOrigin(tuple(np.asarray(day5.GetOrigin()) + np.array([0.0, 0.0, 500.0])))
    path = tmp_path / "elsewhere.nrrd"
    sitk.WriteImage(day5, str(path))
    line = _error_line(capsys, _run(files, tmp_path / "out", day5=path))
    assert "elsewhere.nrrd" in line and "overlap" in line


@pytest.mark.parametrize("bad, words", [(np.nan, "NaN"), (np.inf, "infinite"), (-1.0, "negative")])
def test_non_finite_or_negative_rcbv(files, tmp_path, capsys, bad: float, words: str) -> None:
    post = sitk.ReadImage(str(files["post"]))
    array = sitk.GetArrayFromImage(post)
    array[5, 60:62, 60:62] = bad
    path = _write(array, post, tmp_path / "badpost.nrrd")
    line = _error_line(capsys, _run(files, tmp_path / "out", post=path))
    assert "badpost.nrrd" in line and words in line


def test_all_zero_map(files, tmp_path, capsys) -> None:
    post = sitk.ReadImage(str(files["post"]))
    path = _write(np.zeros_like(sitk.GetArrayFromImage(post)), post, tmp_path / "zero.nrrd")
    line = _error_line(capsys, _run(files, tmp_path / "out", post=path))
    assert "zero.nrrd" in line and "zero" in line


def test_existing_output_folder_is_not_touched(files, tmp_path, capsys) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "metrics.json").write_text('{"imr_volume_ml": 12.3}')
    line = _error_line(capsys, _run(files, out))
    assert "results" in line and "--overwrite" in line
    assert (out / "metrics.json").read_text() == '{"imr_volume_ml": 12.3}'


def test_bad_option_values_are_one_line(files, tmp_path, capsys) -> None:
    line = _error_line(capsys, _run(files, tmp_path / "out") + ["--threshold-percent", "150"])
    assert "threshold" in line
    line = _error_line(capsys, _run(files, tmp_path / "out") + ["--midline", "1", "2"])
    assert "--midline" in line


def test_progress_then_error_without_traceback(files, tmp_path, capsys) -> None:
    argv = [arg for arg in _run(files, tmp_path / "out", post=tmp_path / "nowhere.nrrd") if arg != "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("imr-analysis: error:")


def test_every_setting_a_library_error_points_to_has_its_option() -> None:
    """Library messages name a setting, never a flag; the command line adds the option that changes it."""
    assert sorted(OPTIONS) == sorted(SETTINGS)
    with pytest.raises(ValueError, match="unknown setting"):
        InputError("a problem", setting="no such setting")
