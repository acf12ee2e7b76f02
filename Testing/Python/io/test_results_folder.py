"""The results folder never loses or half-replaces results."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.io import safe_output
from IMRAnalysisLib.io.metrics_files import flatten_metrics, write_metrics
from IMRAnalysisLib.io.safe_output import (MARKER, check_output_folder, replaceable_result_folder,
                                           staged_output_folder, write_text_atomic)

METRICS = {
    "patient_id": "P-007",
    "imr_volume_ml": 7.9,
    "lesion_volume_ml": np.float64(37.6),
    "relative_imr_percent": 21.0,
    "significant_imr": True,
    "assessable": np.bool_(False),
    "imr_voxel_count": np.int64(4123),
    "hyperperfusion_volume_ml": float("nan"),
    "not_assessable_reasons": ["haemorrhagic transformation", "arterial re-occlusion"],
    "midline": {"point_mm": (1.5, -2.0, 30.25), "normal": [0.99, 0.1, 0.0], "method": "flip-registration"},
    "parameters": {"threshold": 0.15, "smoothing_mm": 0.0, "registration": {"enabled": True, "seed": 20250214}},
    "notes": None,
    "warnings": [],
}


def snapshot(folder: Path) -> dict[str, bytes]:
    """The files of a folder but its marker (checked by the tests of the marker itself)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MARKER}


def make_old_results(folder: Path) -> dict[str, bytes]:
    """A result folder as an earlier run writes it (with its marker)."""
    with staged_output_folder(folder, overwrite=False) as staging:
        (staging / "sub").mkdir()
        (staging / "metrics.json").write_text('{"imr_volume_ml": 1.0}\n')
        (staging / "sub" / "overview.png").write_bytes(b"\x89PNG old")
    return snapshot(folder)


def test_missing_or_empty_folder_is_accepted(tmp_path: Path) -> None:
    check_output_folder(tmp_path / "new" / "deeper", overwrite=False)
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty", overwrite=False)


def test_existing_non_empty_folder_is_refused_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_old_results(out)
    with pytest.raises(InputError, match="already exists and is not empty; replace it only if asked to") as error:
        check_output_folder(out, overwrite=False)
    assert str(error.value).startswith(f"{out}: ") and error.value.setting == "overwrite"
    check_output_folder(out, overwrite=True)


def test_a_file_in_the_way_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file")
    for overwrite in (False, True):
        with pytest.raises(InputError, match="is a file"):
            check_output_folder(out, overwrite=overwrite)


def test_unwritable_parent_is_refused_before_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    with pytest.raises(InputError, match="not a writable folder"):
        check_output_folder(locked / "new" / "out", overwrite=False)
    check_output_folder(tmp_path / "elsewhere", overwrite=False)


def test_staged_folder_appears_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with staged_output_folder(out, overwrite=False) as staging:
        assert staging.parent == tmp_path and [p.name for p in staging.iterdir()] == [MARKER]
        (staging / "metrics.json").write_text("{}")
        assert not out.exists()
    assert (out / "metrics.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_existing_results_refused_before_the_block_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = make_old_results(out)
    with pytest.raises(InputError, match="replace it only if asked to"):
        with staged_output_folder(out, overwrite=False):
            pytest.fail("the block must not run")
    assert snapshot(out) == old
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_overwrite_replaces_and_leaves_no_temporary_folders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_old_results(out)
    with staged_output_folder(out, overwrite=True) as staging:
        (staging / "metrics.json").write_text('{"imr_volume_ml": 7.9}\n')
    assert snapshot(out) == {"metrics.json": b'{"imr_volume_ml": 7.9}\n'}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_empty_existing_folder_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with staged_output_folder(out, overwrite=False) as staging:
        (staging / "a.txt").write_text("a")
    assert snapshot(out) == {"a.txt": b"a"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("error", [RuntimeError("analysis failed"), KeyboardInterrupt()])
def test_exception_inside_leaves_old_results_byte_identical(tmp_path: Path, error: BaseException) -> None:
    out = tmp_path / "out"
    old = make_old_results(out)
    with pytest.raises(type(error)):
        with staged_output_folder(out, overwrite=True) as staging:
            (staging / "metrics.json").write_text("half")
            raise error
    assert snapshot(out) == old
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_overwrite_rule_rechecked_at_commit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError, match="replace it only if asked to"):
        with staged_output_folder(out, overwrite=False) as staging:
            (staging / "new.txt").write_text("new")
            make_old_results(out)  # another run finished meanwhile
    assert snapshot(out) == {"metrics.json": b'{"imr_volume_ml": 1.0}\n', "sub/overview.png": b"\x89PNG old"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_swap_restores_old_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    old = make_old_results(out)
    real_rename = os.rename

    def failing_rename(source: os.PathLike, target: os.PathLike) -> None:
        if ".staging-" in str(source):
            raise OSError("disk vanished")
        real_rename(source, target)

    monkeypatch.setattr(safe_output.os, "rename", failing_rename)
    with pytest.raises(OSError, match="disk vanished"):
        with staged_output_folder(out, overwrite=True) as staging:
            (staging / "metrics.json").write_text("new")
    assert snapshot(out) == old
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_write_text_atomic_replaces_without_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text("old")
    write_text_atomic(path, "new\r\nline ü\n")
    assert path.read_bytes() == "new\r\nline ü\n".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_flatten_metrics_joins_keys_and_indexes_lists() -> None:
    flat = flatten_metrics(METRICS)
    assert flat["midline_point_mm_0"] == 1.5 and flat["midline_point_mm_2"] == 30.25
    assert flat["parameters_registration_seed"] == 20250214
    assert flat["not_assessable_reasons_1"] == "arterial re-occlusion"
    assert flat["significant_imr"] is True and flat["assessable"] is False
    assert flat["hyperperfusion_volume_ml"] is None and flat["warnings"] is None
    assert type(flat["imr_voxel_count"]) is int and type(flat["lesion_volume_ml"]) is float
    assert "midline" not in flat and "parameters_registration" not in flat
    with pytest.raises(ValueError, match="twice"):
        flatten_metrics({"a_b": 1, "a": {"b": 2}})


def test_metrics_csv_has_exactly_the_flattened_columns(tmp_path: Path) -> None:
    write_metrics(tmp_path, METRICS)
    with open(tmp_path / "metrics.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    assert len(rows) == 2
    flat = flatten_metrics(METRICS)
    assert rows[0] == list(flat)
    row = dict(zip(rows[0], rows[1]))
    assert row["significant_imr"] == "true" and row["assessable"] == "false"
    assert row["hyperperfusion_volume_ml"] == "" and row["notes"] == ""
    assert float(row["imr_volume_ml"]) == 7.9 and row["patient_id"] == "P-007"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "metrics.json"]


def test_metrics_json_round_trips_nested_values(tmp_path: Path) -> None:
    write_metrics(tmp_path, METRICS)
    text = (tmp_path / "metrics.json").read_text(encoding="utf-8")
    assert "\n  " in text and "NaN" not in text
    loaded = json.loads(text)
    assert loaded["midline"]["point_mm"] == [1.5, -2.0, 30.25]
    assert loaded["parameters"]["registration"] == {"enabled": True, "seed": 20250214}
    assert loaded["significant_imr"] is True and loaded["assessable"] is False
    assert loaded["hyperperfusion_volume_ml"] is None and loaded["warnings"] == []
    for key in ("imr_volume_ml", "lesion_volume_ml", "imr_voxel_count", "patient_id"):
        assert loaded[key] == METRICS[key]
    assert math.isnan(METRICS["hyperperfusion_volume_ml"])


def test_unknown_metric_types_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="object"):
        write_metrics(tmp_path, {"bad": object()})
    assert not any(tmp_path.iterdir())


# --- only the project's own folders are ever replaced ------------------------------------


def dead_pid() -> int:
    """The id of a process that has ended (so litter named after it is stale)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_marker_lists_every_file_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_old_results(out)
    marker = json.loads((out / MARKER).read_text())
    assert marker["software"] == "imr-analysis" and marker["files"] == ["metrics.json", "sub/overview.png"]


def test_overwrite_refuses_a_folder_the_project_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "patient"
    out.mkdir()
    (out / "post.nii.gz").write_bytes(b"the only copy")
    with pytest.raises(InputError, match=f"only a result folder of imr-analysis \\(marked by {MARKER}\\)"):
        with staged_output_folder(out, overwrite=True):
            pytest.fail("the block must not run")
    assert snapshot(out) == {"post.nii.gz": b"the only copy"}
    assert [p.name for p in tmp_path.iterdir()] == ["patient"]


def test_overwrite_refuses_a_result_folder_holding_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_old_results(out)
    (out / "notes.txt").write_text("mine")
    (out / "sub" / ".DS_Store").write_bytes(b"desktop clutter")  # no data: not a reason to refuse
    with pytest.raises(InputError, match=r"did not write \(notes.txt\)"):
        check_output_folder(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_only_an_unchanged_result_folder_is_offered_for_replacing_with_its_files(tmp_path: Path) -> None:
    """What a front end names in its "replace?" question: exactly the files an overwrite would remove."""
    out = tmp_path / "out"
    make_old_results(out)
    assert replaceable_result_folder(out) == ["metrics.json", "sub/overview.png"]
    (out / "notes.txt").write_text("mine")
    assert replaceable_result_folder(out) is None
    users = tmp_path / "users"
    users.mkdir()
    assert replaceable_result_folder(users) is None
    assert replaceable_result_folder(tmp_path / "missing") is None
    (tmp_path / "link").symlink_to(out)
    assert replaceable_result_folder(tmp_path / "link") is None


def test_output_folder_may_not_hold_an_input_nor_lie_in_an_input_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_old_results(out)
    with pytest.raises(InputError, match="holds the input"):
        check_output_folder(out, overwrite=True, inputs=[out / "metrics.json"])
    with pytest.raises(InputError, match="holds the input"):
        check_output_folder(out, overwrite=True, inputs=[out])
    dicom = tmp_path / "dicom"
    dicom.mkdir()
    with pytest.raises(InputError, match="inside the input folder"):
        check_output_folder(dicom / "results", overwrite=False, inputs=[dicom])
    check_output_folder(tmp_path / "elsewhere", overwrite=False, inputs=[out / "metrics.json", dicom])


def test_symbolic_link_as_output_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target"
    make_old_results(target)
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        with staged_output_folder(link, overwrite=True):
            pytest.fail("the block must not run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


def test_litter_of_a_killed_run_is_cleared_and_set_aside_results_restored(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = make_old_results(out)
    pid = dead_pid()
    stale_staging = tmp_path / f".out.staging-{pid}-0123456789ab"
    make_old_results(stale_staging)
    out.rename(tmp_path / f".out.previous-{pid}-0123456789ab")  # killed between the two renames
    unmarked = tmp_path / f".out.staging-{pid}-ba9876543210"
    unmarked.mkdir()  # same name pattern, not ours: kept
    live = tmp_path / f".out.staging-{os.getppid()}-aaaaaaaaaaaa"
    make_old_results(live)  # a run still going: kept
    safe_output.remove_stale_litter(out)
    assert snapshot(out) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", unmarked.name, live.name])


def test_a_new_run_clears_stale_litter(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_old_results(tmp_path / f".out.staging-{dead_pid()}-0123456789ab")
    with staged_output_folder(out, overwrite=False) as staging:
        (staging / "a.txt").write_text("a")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
