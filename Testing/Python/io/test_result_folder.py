"""A result written directly by ``export_results``: every file, each readable, the extras merged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.pipeline import AnalysisInputs, AnalysisResult, run_analysis
from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.io.result_folder import export_results
from IMRAnalysisLib.io.safe_output import MARKER
from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.phantom.template import PhantomPatient

FILES = ["Segmentation.seg.nrrd", "arrival_on_post.nrrd", "arrival_to_post.tfm", "asymmetry_percent.nrrd",
         "brain_mask.nrrd", "day5_on_post.nrrd", "day5_to_post.tfm", "exclusion_on_post.nrrd", "lesion_on_post.nrrd",
         "metrics.csv", "metrics.json", "midline.json", "mirrored_post_rcbv.nrrd", "overview.png"]


@pytest.fixture(scope="module")
def result(default_phantom: PhantomPatient) -> AnalysisResult:
    inputs = AnalysisInputs(post=default_phantom.post, day5=default_phantom.day5, lesion=default_phantom.lesion,
                            arrival=default_phantom.arrival)
    return run_analysis(inputs, AnalysisParameters())


def test_the_folder_holds_every_result_file_and_the_marker_naming_them(result: AnalysisResult, tmp_path: Path) -> None:
    out = export_results(tmp_path / "out", result, extra={"inputs": {"post": "post.nii.gz"}})
    assert sorted(path.name for path in out.iterdir()) == sorted([*FILES, MARKER])
    assert sorted(json.loads((out / MARKER).read_text())["files"]) == FILES
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["inputs"] == {"post": "post.nii.gz"}
    assert {key: metrics[key] for key in result.measures if key != "inputs"} == json.loads(
        json.dumps(result.measures, default=str))
    assert Plane.read(out / "midline.json").signed_distance(result.midline.plane.point_array) == pytest.approx(0.0)
    asymmetry = sitk.ReadImage(str(out / "asymmetry_percent.nrrd"))
    assert asymmetry.GetSize() == result.post.GetSize()
    assert sitk.ReadTransform(str(out / "day5_to_post.tfm")).TransformPoint((1.0, 2.0, 3.0)) == pytest.approx(
        result.registrations["day5"].transform.TransformPoint((1.0, 2.0, 3.0)))


def test_an_existing_result_is_replaced_only_when_asked(result: AnalysisResult, tmp_path: Path) -> None:
    out = export_results(tmp_path / "out", result)
    with pytest.raises(InputError, match="already exists") as refused:
        export_results(out, result)
    assert refused.value.setting == "overwrite"
    export_results(out, result, overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == sorted([*FILES, MARKER])
