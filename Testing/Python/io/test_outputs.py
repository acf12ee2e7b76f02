"""The result folder of ``imr-analysis run``, read back by independent readers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.cli import main
from IMRAnalysisLib.conventions import SEGMENT_COLORS, measure_registry
from IMRAnalysisLib.io.metrics_files import flatten_metrics
from IMRAnalysisLib.parameters import AnalysisParameters

MEASURE_KEYS = {
    "imr_volume_ml", "lesion_volume_ml", "imr_relative_percent", "significant_imr", "hyperperfusion_volume_ml",
    "imr_cluster_count", "imr_median_asymmetry_percent", "midline", "registration", "parameters", "software",
}
SEGMENT_MEASURES = {
    "Lesion": "lesion_volume_ml", "IMR": "imr_volume_ml", "Hyperperfusion": "hyperperfusion_volume_ml",
    "Exclusion": "exclusion_volume_ml",
}


def _argv(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    roles = ("arrival", "post", "day5", "lesion", "exclusion")
    return ["run", "--quiet", "--out", str(out), *extra] + [f"--{r}={files[r]}" for r in roles if r in files]


@pytest.fixture(scope="module")
def exclusion_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from IMRAnalysisLib.phantom.template import make_phantom

    return make_phantom("exclusion").write(tmp_path_factory.mktemp("exclusion"), fmt="nii.gz")


@pytest.fixture(scope="module")
def result_folder(exclusion_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "result"
    assert main(_argv(exclusion_files, out)) == 0
    return out


@pytest.fixture(scope="module")
def metrics(result_folder: Path) -> dict:
    return json.loads((result_folder / "metrics.json").read_text())


def test_metrics_json_has_every_measure(metrics: dict) -> None:
    assert MEASURE_KEYS <= set(metrics)
    assert metrics["status"] == "assessable"
    assert metrics["imr_relative_percent"] == pytest.approx(
        100 * metrics["imr_volume_ml"] / metrics["lesion_volume_ml"], abs=0.01
    )
    assert metrics["significant_imr"] == (metrics["imr_volume_ml"] > 5.0)
    assert set(metrics["registration"]) == {"day5", "arrival"}
    assert all(quality["correlation"] > 0.8 for quality in metrics["registration"].values())
    assert metrics["midline"]["coordinate_system"] == "LPS" and metrics["midline"]["estimated"] is True
    assert metrics["parameters"]["threshold"] == 0.15


def test_metrics_csv_is_one_row_with_the_same_figures(result_folder: Path, metrics: dict) -> None:
    with open(result_folder / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    flat = flatten_metrics(metrics)
    assert list(rows[0]) == list(flat)
    assert float(rows[0]["imr_volume_ml"]) == metrics["imr_volume_ml"]
    assert rows[0]["significant_imr"] in ("true", "false")
    registered = [measure.key for measure in measure_registry(AnalysisParameters.from_dict(metrics["parameters"]))]
    assert [key for key in registered if key not in rows[0]] == []  # each titled measure is a metrics.csv column


def test_segmentation_read_by_slicerio_matches_the_measures(result_folder: Path, metrics: dict) -> None:
    segmentation = slicerio.read_segmentation(str(result_folder / "Segmentation.seg.nrrd"))
    names = [segment["name"] for segment in segmentation["segments"]]
    assert sorted(names) == sorted(SEGMENT_MEASURES)
    post = sitk.ReadImage(str(result_folder / "asymmetry_percent.nrrd"))
    voxel_ml = float(np.prod(post.GetSpacing())) / 1000.0
    for segment in segmentation["segments"]:
        assert segment["color"] == pytest.approx(SEGMENT_COLORS[segment["name"]], abs=1e-6)
        extracted = slicerio.extract_segments(segmentation, [(segment["name"], 1)])
        voxels = int(np.count_nonzero(extracted["voxels"]))
        assert voxels * voxel_ml == pytest.approx(metrics[SEGMENT_MEASURES[segment["name"]]], abs=1e-4)
    assert metrics["exclusion_volume_ml"] > 1.0 and metrics["imr_volume_ml"] > 1.0


def test_maps_and_masks_lie_on_the_post_grid(result_folder: Path, exclusion_files: dict[str, Path]) -> None:
    post = sitk.ReadImage(str(exclusion_files["post"]))
    for name in ("asymmetry_percent", "mirrored_post_rcbv", "lesion_on_post", "exclusion_on_post",
                 "day5_on_post", "arrival_on_post", "brain_mask"):
        image = sitk.ReadImage(str(result_folder / f"{name}.nrrd"))
        assert image.GetSize() == post.GetSize(), name
        assert np.allclose(image.GetOrigin(), post.GetOrigin(), atol=1e-4), name
        assert np.allclose(image.GetDirection(), post.GetDirection(), atol=1e-6), name
    asymmetry = sitk.GetArrayFromImage(sitk.ReadImage(str(result_folder / "asymmetry_percent.nrrd")))
    assert np.nanmin(asymmetry) < -15.0 and np.nanmax(asymmetry) > 15.0  # percent, not fraction


def test_transforms_and_overview(result_folder: Path) -> None:
    for name in ("day5_to_post.tfm", "arrival_to_post.tfm"):
        transform = sitk.ReadTransform(str(result_folder / name))
        assert transform.GetDimension() == 3
    overview = (result_folder / "overview.png").read_bytes()
    assert overview[:8] == b"\x89PNG\r\n\x1a\n" and len(overview) > 50_000
    assert not (result_folder / "dicom").exists()  # NIfTI maps without --dicom-reference: nothing to refer to


def test_a_user_midline_replaces_the_estimate(result_folder, exclusion_files, metrics, tmp_path) -> None:
    plane = Plane.read(result_folder / "midline.json")
    out = tmp_path / "with-midline"
    assert main(_argv(exclusion_files, out, "--midline", str(result_folder / "midline.json"))) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["midline"]["estimated"] is False
    assert Plane.from_dict(again["midline"]) == plane
    assert again["imr_volume_ml"] == pytest.approx(metrics["imr_volume_ml"], abs=0.05)
    shifted = [*np.add(plane.point, np.multiply(plane.normal, 4.0)), *plane.normal]
    out = tmp_path / "shifted"
    assert main(_argv(exclusion_files, out, "--midline", *map(str, shifted))) == 0
    moved = json.loads((out / "metrics.json").read_text())
    assert moved["midline"]["point_mm"] == pytest.approx(shifted[:3], abs=1e-6)
    assert moved["imr_volume_ml"] != metrics["imr_volume_ml"]


def test_rerun_is_deterministic_and_overwrite_replaces(result_folder, exclusion_files, metrics, tmp_path) -> None:
    out = tmp_path / "again"
    assert main(_argv(exclusion_files, out)) == 0
    assert main(_argv(exclusion_files, out, "--overwrite", "--threshold-percent", "25")) == 0
    replaced = json.loads((out / "metrics.json").read_text())
    assert replaced["parameters"]["threshold"] == 0.25
    assert replaced["imr_volume_ml"] < metrics["imr_volume_ml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no staging folder left behind
    assert main(_argv(exclusion_files, tmp_path / "third")) == 0
    third = json.loads((tmp_path / "third" / "metrics.json").read_text())
    assert {k: v for k, v in third.items() if k != "inputs"} == {k: v for k, v in metrics.items() if k != "inputs"}


def test_patient_flags_make_imr_not_assessable(exclusion_files, tmp_path) -> None:
    out = tmp_path / "ht"
    assert main(_argv(exclusion_files, out, "--hemorrhagic-transformation", "--ica-occlusion")) == 0
    measures = json.loads((out / "metrics.json").read_text())
    assert measures["status"] == "not assessable"
    assert "haemorrhagic transformation" in measures["not_assessable_reason"]
    assert "carotid" in measures["not_assessable_reason"]
    assert measures["imr_volume_ml"] is None and measures["significant_imr"] is None


def test_no_registration_takes_the_inputs_as_aligned(exclusion_files, tmp_path) -> None:
    aligned = tmp_path / "post_rescaled.nrrd"  # the post-EVT grid, another study's scale (the same file is refused)
    sitk.WriteImage(sitk.ReadImage(str(exclusion_files["post"])) * 0.8, str(aligned))
    files = dict(exclusion_files, day5=aligned, arrival=aligned)
    out = tmp_path / "aligned"
    assert main(_argv(files, out, "--no-registration")) == 0
    measures = json.loads((out / "metrics.json").read_text())
    day5 = measures["registration"]["day5"]
    assert (day5["registered"], day5["correlation"], day5["mutual_information"]) == (False, 1.0, None)
    assert day5["relative_correlation"] == pytest.approx(1.0 / measures["midline"]["symmetry_correlation"], abs=1e-3)
    assert measures["status"] == "assessable"


def test_a_run_on_files_that_are_no_dicom_never_loads_pydicom(phantom_files: dict[str, Path], tmp_path: Path) -> None:
    """pydicom costs a third of a second to import: only DICOM inputs or a DICOM reference pay for it."""
    import subprocess
    import sys

    argv = ["run", "--quiet", "--out", str(tmp_path / "out"),
            *(f"--{role}={phantom_files[role]}" for role in ("post", "day5", "lesion"))]
    script = ("import sys; from IMRAnalysisLib.cli import main; status = main(sys.argv[1:]); "
              "print(status, sorted(name for name in sys.modules if name.split('.')[0] in ('pydicom', 'highdicom')))")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 []"
