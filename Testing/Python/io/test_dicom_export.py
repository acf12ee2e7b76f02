"""The ``dicom/`` folder sent back to PACS, checked by the standard validator and read back independently.

Two runs share the work of every test: the post-EVT map as a classic DICOM MR series (its
own reference) with an exclusion, and the same map as NRRD with ``--dicom-reference`` on
the series converted to one enhanced (multi-frame) MR image, for a patient flagged not
assessable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import slicerio

from dicom_series import IDENTITY, RESCALE, write_enhanced_mr, write_mr_series, write_parametric_map

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.conventions import SEGMENT_COLORS
from IMRAnalysisLib.io.dicom.export import ASYMMETRY_FILE, DICOM_FOLDER, OVERVIEW_FILE, REPORT_FILE, SEGMENTATION_FILE
from IMRAnalysisLib.io.dicom.reference import read_reference
from IMRAnalysisLib.io.dicom.report import VOLUME_MEASURES
from IMRAnalysisLib.io.images import read_map
from IMRAnalysisLib.phantom.template import PhantomPatient

OBJECTS = (SEGMENTATION_FILE, REPORT_FILE, OVERVIEW_FILE, ASYMMETRY_FILE)
DESCRIPTIONS = {SEGMENTATION_FILE: "IMR analysis - segmentation", REPORT_FILE: "IMR analysis - measurements",
                OVERVIEW_FILE: "IMR analysis - overview", ASYMMETRY_FILE: "IMR analysis - asymmetry map"}
IN_CI = bool(os.environ.get("CI"))  # CI installs dicom3tools: there a missing validator fails, never skips
DCIODVFY = shutil.which("dciodvfy")


def _run(*argv: str) -> None:
    assert main(["run", "--quiet", *argv]) == 0


@pytest.fixture(scope="module")
def post_series(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("post") / "post_dicom"
    write_mr_series(folder, default_phantom.post)
    return folder


@pytest.fixture(scope="module")
def enhanced_series(post_series: Path) -> Path:
    folder = post_series.parent / "enhanced"
    write_enhanced_mr(folder, post_series)
    return folder


@pytest.fixture(scope="module")
def exclusion_file(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lesion's upper half, excluded (as a haemorrhage would be)."""
    lesion = sitk.GetArrayFromImage(default_phantom.lesion)
    upper = np.zeros_like(lesion)
    slices = np.flatnonzero(lesion.any(axis=(1, 2)))
    upper[slices[len(slices) // 2]:] = lesion[slices[len(slices) // 2]:]
    image = sitk.GetImageFromArray(upper)
    image.CopyInformation(default_phantom.lesion)
    path = tmp_path_factory.mktemp("exclusion") / "exclusion.nrrd"
    sitk.WriteImage(image, str(path))
    return path


@pytest.fixture(scope="module")
def dicom_run(post_series: Path, phantom_files: dict[str, Path], exclusion_file: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dicom-run") / "result"
    _run("--post", str(post_series), "--day5", str(phantom_files["day5"]), "--lesion", str(phantom_files["lesion"]),
         "--exclusion", str(exclusion_file), "--out", str(out))
    return out


@pytest.fixture(scope="module")
def reference_run(enhanced_series: Path, phantom_files: dict[str, Path],
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference-run") / "result"
    _run("--post", str(phantom_files["post"]), "--dicom-reference", str(enhanced_series), "--day5",
         str(phantom_files["day5"]), "--lesion", str(phantom_files["lesion"]), "--hemorrhagic-transformation",
         "--out", str(out))
    return out


@pytest.fixture(scope="module", params=["dicom-post", "dicom-reference"])
def result(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue({"dicom-post": "dicom_run", "dicom-reference": "reference_run"}[request.param])


def _read(folder: Path, name: str) -> pydicom.Dataset:
    return pydicom.dcmread(folder / DICOM_FOLDER / name)


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


@pytest.mark.skipif(DCIODVFY is None and not IN_CI, reason="dciodvfy is not installed (run .ci/run)")
def test_every_object_passes_dciodvfy(result: Path) -> None:
    for name in OBJECTS:
        report = subprocess.run([DCIODVFY or "dciodvfy", str(result / DICOM_FOLDER / name)], capture_output=True,
                                text=True, check=False)
        lines = (report.stdout + report.stderr).splitlines()
        assert [line for line in lines if line.startswith("Error")] == [], name


def test_pydicom_and_highdicom_load_every_object(result: Path) -> None:
    assert sorted(path.name for path in (result / DICOM_FOLDER).iterdir()) == sorted(OBJECTS)
    assert hd.seg.segread(result / DICOM_FOLDER / SEGMENTATION_FILE).number_of_segments == 4
    assert hd.sr.srread(result / DICOM_FOLDER / REPORT_FILE).content.get_volumetric_roi_measurement_groups()
    overview = hd.imread(result / DICOM_FOLDER / OVERVIEW_FILE)
    assert overview.get_frame(1).shape[-1] == 3
    assert hd.imread(result / DICOM_FOLDER / ASYMMETRY_FILE).NumberOfFrames == 25


def _seg_masks(seg: pydicom.Dataset, post: sitk.Image) -> dict[str, np.ndarray]:
    """Each segment's (z, y, x) mask on the post-EVT grid, placed by each frame's own position."""
    names = {int(item.SegmentNumber): item.SegmentLabel for item in seg.SegmentSequence}
    masks = {name: np.zeros(post.GetSize()[::-1], dtype=bool) for name in names.values()}
    for groups, pixels in zip(seg.PerFrameFunctionalGroupsSequence, seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)):
        position = [float(value) for value in groups.PlanePositionSequence[0].ImagePositionPatient]
        i, j, k = np.round(post.TransformPhysicalPointToContinuousIndex(position)).astype(int)
        assert (i, j) == (0, 0)
        masks[names[int(groups.SegmentIdentificationSequence[0].ReferencedSegmentNumber)]][k] |= pixels.astype(bool)
    return masks


def test_segment_frames_are_the_segmentation_file_voxel_for_voxel(result: Path,
                                                                   default_phantom: PhantomPatient) -> None:
    seg = _read(result, SEGMENTATION_FILE)
    masks = _seg_masks(seg, default_phantom.post)
    saved = slicerio.read_segmentation(str(result / "Segmentation.seg.nrrd"))
    for segment in saved["segments"]:
        # slicerio's voxels are (layer, x, y, z) with the full post-EVT grid as reference geometry
        expected = (saved["voxels"][segment["layer"]] == segment["labelValue"]).transpose(2, 1, 0)
        assert np.count_nonzero(masks[segment["name"]]) == np.count_nonzero(expected), segment["name"]
        assert np.array_equal(masks[segment["name"]], expected), segment["name"]
    assert np.array_equal(masks["Lesion"], sitk.GetArrayFromImage(sitk.ReadImage(str(result / "lesion_on_post.nrrd"))))


def test_segments_are_coded_and_coloured(dicom_run: Path) -> None:
    seg = hd.seg.segread(dicom_run / DICOM_FOLDER / SEGMENTATION_FILE)
    assert seg.SegmentationType == "BINARY"
    for item in seg.SegmentSequence:
        assert item.SegmentedPropertyCategoryCodeSequence[0].CodingSchemeDesignator == "SCT"
        assert item.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator in ("SCT", "DCM")
        colour = hd.color.CIELabColor.from_dicom_value(item.RecommendedDisplayCIELabValue).to_rgb()
        np.testing.assert_allclose(colour, np.array(SEGMENT_COLORS[item.SegmentLabel]) * 255, atol=2)
    assert _metrics(dicom_run)["exclusion_volume_ml"] > 1.0


def _report_groups(folder: Path) -> dict[str, hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations]:
    report = hd.sr.srread(folder / DICOM_FOLDER / REPORT_FILE)
    return {str(group.tracking_identifier): group for group in report.content.get_volumetric_roi_measurement_groups()}


def test_report_numbers_are_metrics_json_and_point_at_their_segments(result: Path) -> None:
    metrics, groups = _metrics(result), _report_groups(result)
    seg = _read(result, SEGMENTATION_FILE)
    labels = {int(item.SegmentNumber): item.SegmentLabel for item in seg.SegmentSequence}
    assert sorted(groups) == sorted(VOLUME_MEASURES)
    for name, group in groups.items():
        values = {item.name.meaning: item.value for item in group.get_measurements()}
        expected = {"Volume": metrics[VOLUME_MEASURES[name]]}
        if name == "IMR":
            expected["Volume Ratio"] = metrics["imr_relative_percent"]
        assert values == {key: value for key, value in expected.items() if value is not None}, name
        reference = group.referenced_segment[0].ReferencedSOPSequence[0]
        assert reference.ReferencedSOPInstanceUID == seg.SOPInstanceUID
        assert labels[int(reference.ReferencedSegmentNumber)] == name


def test_report_gives_the_verdict_and_the_method(dicom_run: Path, reference_run: Path) -> None:
    assessed, flagged = _report_groups(dicom_run)["IMR"], _report_groups(reference_run)["IMR"]
    verdicts = [{item.name.meaning: item.value.meaning for item in group.get_qualitative_evaluations()}
                for group in (assessed, flagged)]
    assert verdicts[0]["Level of Significance"] == ("Significant" if _metrics(dicom_run)["significant_imr"]
                                                    else "Not significant")
    assert verdicts[1]["Level of Significance"] == "Significance Undetermined"
    assert _metrics(reference_run)["imr_volume_ml"] is None and not flagged.get_measurements()
    report = _read(reference_run, REPORT_FILE)
    texts = [item.TextValue for item in _walk(report) if item.get("ValueType") == "TEXT"]
    assert any("not assessable" in text and "haemorrhagic" in text for text in texts)
    parameters = [text.split(":")[0] for text in texts]
    assert {"map", "threshold", "direction", "smoothing", "plane"} <= set(parameters)


def _walk(dataset: pydicom.Dataset) -> Iterator[pydicom.Dataset]:
    for item in dataset.get("ContentSequence", []):
        yield item
        yield from _walk(item)


def test_identity_is_the_source_s_and_every_uid_is_new(dicom_run: Path, reference_run: Path,
                                                       post_series: Path) -> None:
    source = pydicom.dcmread(next(post_series.iterdir()), stop_before_pixels=True)
    written = [_read(folder, name) for folder in (dicom_run, reference_run) for name in OBJECTS]
    for dataset in written:
        for keyword in (*IDENTITY, "StudyInstanceUID"):
            assert dataset.get(keyword) == source.get(keyword), keyword
        assert dataset.ManufacturerModelName == "IMRAnalysis" and dataset.SoftwareVersions
    for name, dataset in zip(OBJECTS * 2, written):
        assert dataset.SeriesDescription == DESCRIPTIONS[name]
        if name in (SEGMENTATION_FILE, ASYMMETRY_FILE):  # on the source's frames; a report or screenshot is not
            assert dataset.FrameOfReferenceUID == source.FrameOfReferenceUID
    uids = [dataset.SOPInstanceUID for dataset in written] + [dataset.SeriesInstanceUID for dataset in written]
    assert len(set(uids)) == len(uids) and source.SeriesInstanceUID not in uids


@pytest.mark.parametrize("kind", ["classic", "enhanced", "parametric-integers", "parametric-floats"])
def test_vendor_maps_are_read_as_values(kind: str, post_series: Path, enhanced_series: Path,
                                        default_phantom: PhantomPatient, tmp_path: Path) -> None:
    folder = {"classic": post_series, "enhanced": enhanced_series}.get(kind, tmp_path / "map")
    if kind.startswith("parametric"):
        write_parametric_map(folder, post_series, default_phantom.post, stored_as_integers=kind.endswith("integers"))
    image = read_map(folder, "post-EVT rCBV map")
    for name in ("GetOrigin", "GetSpacing", "GetDirection"):
        np.testing.assert_allclose(getattr(image, name)(), getattr(default_phantom.post, name)(), atol=1e-4)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(default_phantom.post),
                               atol=RESCALE[0] / 2 + 1e-6)


def test_the_reference_series_is_recorded(reference_run: Path, enhanced_series: Path) -> None:
    uid = pydicom.dcmread(next(enhanced_series.iterdir()), stop_before_pixels=True).SeriesInstanceUID
    assert _metrics(reference_run)["inputs"]["reference_series_uid"] == uid
    assert _read(reference_run, SEGMENTATION_FILE).ReferencedSeriesSequence[0].SeriesInstanceUID == uid


def _refusal(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(["run", "--quiet", *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _without_patient_id(folder: Path) -> None:
    for path in folder.iterdir():
        dataset = pydicom.dcmread(path)
        del dataset.PatientID
        dataset.save_as(path)


@pytest.mark.parametrize(("shift_mm", "change", "words"), [
    (3.25, None, "does not match the post-EVT map's grid"),
    (0.0, _without_patient_id, "lacks PatientID"),
], ids=["another-grid", "no-patient-id"])
def test_unusable_dicom_reference_is_refused(shift_mm: float, change: Callable[[Path], None] | None, words: str, phantom_files: dict[str, Path],
                                             default_phantom: PhantomPatient, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    shifted = sitk.Image(default_phantom.post)
    shifted.SetOrigin(np.asarray(shifted.GetOrigin()) + [0.0, 0.0, shift_mm])
    write_mr_series(tmp_path / "series", shifted)
    if change is not None:
        change(tmp_path / "series")
    line = _refusal(capsys, ["--post", str(phantom_files["post"]), "--dicom-reference", str(tmp_path / "series"),
                             "--day5", str(phantom_files["day5"]), "--lesion", str(phantom_files["lesion"]),
                             "--out", str(tmp_path / "out")])
    assert str(tmp_path / "series") in line and "--dicom-reference" in line and words in line
    assert not (tmp_path / "out").exists()


def test_a_reference_folder_of_several_series_needs_a_choice(post_series: Path, phantom_files: dict[str, Path],
                                                            default_phantom: PhantomPatient, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "study"
    shutil.copytree(post_series, folder)
    other = write_mr_series(folder / "other", default_phantom.post, "rCBF post-EVT")
    for path in (folder / "other").iterdir():
        path.rename(folder / f"other_{path.name}")
    line = _refusal(capsys, ["--post", str(phantom_files["post"]), "--dicom-reference", str(folder),
                             "--day5", str(phantom_files["day5"]), "--lesion", str(phantom_files["lesion"]),
                             "--out", str(tmp_path / "out")])
    assert "--dicom-reference folder holds 2 DICOM series" in line and other in line and "--series" in line
    assert read_reference(folder, default_phantom.post, "--dicom-reference", other).series_uid == other


@pytest.mark.parametrize("post_is_dicom", [False, True], ids=["nrrd-with-reference", "dicom-folder"])
def test_a_cohort_row_with_a_dicom_source_gets_dicom_results(post_is_dicom: bool, post_series: Path,
                                                             phantom_files: dict[str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    """A row's post-EVT DICOM folder is its own reference; for a NIfTI/NRRD map the manifest's
    ``dicom_reference`` column is the run's ``--dicom-reference``."""
    post, reference = (post_series, "") if post_is_dicom else (phantom_files["post"], post_series)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "patient_id,post,day5,lesion,dicom_reference,ica_occlusion,hemorrhagic_transformation,reocclusion\n"
        f"P1,{post},{phantom_files['day5']},{phantom_files['lesion']},{reference},0,0,0\n")
    assert main(["cohort", str(manifest), "--out", str(tmp_path / "cohort"), "--jobs", "1"]) == 0
    capsys.readouterr()
    patient = tmp_path / "cohort" / "patients" / "P1"
    assert sorted(path.name for path in (patient / DICOM_FOLDER).iterdir()) == sorted(OBJECTS)
    assert _metrics(patient)["inputs"].get("dicom_reference") == (None if post_is_dicom else str(post_series))
    assert _read(patient, SEGMENTATION_FILE).StudyInstanceUID == pydicom.dcmread(
        next(post_series.iterdir())).StudyInstanceUID
