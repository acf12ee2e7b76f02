"""The MRML layer on Slicer's own MRML classes (the slicer-core wheel), no mocks.

The same numbers as the command line from nodes; user edits of the output segmentation
and plane redo only what they invalidate; the export reads back in Slicer's reader and
in slicerio; the node <-> image, plane and transform conversions keep the geometry.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import slicer
import slicerio
import vtk

from IMRAnalysisLib.analysis import pipeline
from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.cli import main
from IMRAnalysisLib.conventions import SEGMENT_COLORS
from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.io.images import read_mask
from IMRAnalysisLib.io.metrics_files import flatten_metrics
from IMRAnalysisLib.io.patient_folder import patient_files
from IMRAnalysisLib.io.safe_output import MARKER
from IMRAnalysisLib.io.segmentation_file import Segment, write_segmentation
from IMRAnalysisLib.mrml.logic import TABLE_FILE, IMRMrmlLogic, SegmentRef
from IMRAnalysisLib.mrml.nodes import (image_from_volume_node, mask_from_labelmap_node, mask_from_segment,
                                       named_segment, plane_from_plane_node, plane_node_from_plane,
                                       set_segment_from_mask, transform_node_from_sitk,
                                       volume_node_from_image)
from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.phantom.dsc import DscPhantomConfig, patient_dsc, write_series
from IMRAnalysisLib.phantom.template import PhantomPatient
from IMRAnalysisLib.webapp.uploads import UPLOAD_ROLES, upload_state, write_patient_folder
from dicom_series import write_mr_series
from test_segmentation_file import GRIDS, make_reference

LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])
SEGMENT_MEASURES = {
    "Lesion": "lesion_volume_ml", "IMR": "imr_volume_ml", "Hyperperfusion": "hyperperfusion_volume_ml",
    "Exclusion": "exclusion_volume_ml",
}


def without_inputs(measures: dict) -> dict:
    """JSON-normalised measures without the ``inputs`` key (paths differ between runs)."""
    return {key: value for key, value in json.loads(json.dumps(measures)).items() if key != "inputs"}


def voxels(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def as_image(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.CopyInformation(reference)
    return image


def ras(points_lps: np.ndarray) -> np.ndarray:
    return np.asarray(points_lps) * LPS_TO_RAS


# --- shared analyses --------------------------------------------------------------------


@dataclass
class Analysed:
    logic: IMRMrmlLogic
    nodes: dict[str, slicer.vtkMRMLNode]
    measures_after_run: dict
    registrations: list[int]  # every registration onto post-EVT the pipeline really ran

    @property
    def segmentation(self) -> slicer.vtkMRMLSegmentationNode:
        return self.logic.outputs.segmentation

    @property
    def post(self) -> sitk.Image:
        return self.logic.result.post

    def segment(self, segment_id: str) -> np.ndarray:
        return voxels(mask_from_segment(self.segmentation, segment_id, self.post))

    def voxel_ml(self) -> float:
        return float(np.prod(self.post.GetSpacing())) / 1000.0

    def recompute_without_registering(self, parameters: AnalysisParameters | None = None) -> dict:
        """The logic's recompute, checked not to register (neither the counted function nor the logic's count)."""
        registrations, count = len(self.registrations), self.logic.registration_count
        measures = self.logic.recompute(parameters).measures
        assert (len(self.registrations), self.logic.registration_count) == (registrations, count)
        return measures


@pytest.fixture(scope="module")
def registrations_run() -> list[int]:
    """One entry per registration onto post-EVT while this module runs: the real function, counted."""
    calls: list[int] = []
    real = pipeline.align_to_post

    def counted(*args, **kwargs):
        calls.append(len(calls) + 1)
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "align_to_post", counted)
        yield calls


@pytest.fixture(scope="module")
def cli_metrics(phantom_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("cli") / "result"
    roles = ("arrival", "post", "day5", "lesion")
    assert main(["run", "--quiet", "--out", str(out), *[f"--{role}={phantom_files[role]}" for role in roles]]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def analysed(phantom_files: dict[str, Path], registrations_run: list[int]) -> Analysed:
    """The phantom loaded from its folder (lesion as a label map) and analysed on a fresh MRML scene."""
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    nodes = logic.load_patient_folder(phantom_files["post"].parent)
    outputs = logic.run(nodes["post"], nodes["day5"], SegmentRef(nodes["lesion"]), arrival=nodes["arrival"])
    return Analysed(logic, nodes, copy.deepcopy(outputs.measures), registrations_run)


# --- 1. same measures as the command line -----------------------------------------------


def test_label_map_lesion_gives_exactly_the_command_line_measures(analysed: Analysed, cli_metrics: dict) -> None:
    assert {role: node.GetClassName() for role, node in analysed.nodes.items()} == {
        "arrival": "vtkMRMLScalarVolumeNode", "post": "vtkMRMLScalarVolumeNode", "day5": "vtkMRMLScalarVolumeNode",
        "lesion": "vtkMRMLLabelMapVolumeNode",
    }
    assert without_inputs(analysed.measures_after_run) == without_inputs(cli_metrics)
    assert set(analysed.measures_after_run["inputs"]) == {"arrival", "post", "day5", "lesion"}


def test_slicer_readers_give_the_command_line_measures(
    default_phantom: PhantomPatient, phantom_files: dict[str, Path], cli_metrics: dict, tmp_path: Path
) -> None:
    """What a Slicer user gets: maps read by Slicer's volume reader, the lesion a .seg.nrrd on the day-5 grid.

    Slicer's reader puts the origin one rounding step away from ITK's (-102.06250000000001
    for -102.0625); that moves the estimated plane and the registrations by ~1e-10, so
    every volume is identical and the floating-point figures agree to 1e-6.
    """
    scene = slicer.vtkMRMLScene()
    volumes = slicer.vtkSlicerVolumesLogic()
    volumes.SetMRMLScene(scene)
    maps = {role: volumes.AddArchetypeVolume(str(phantom_files[role]), role, 0) for role in ("arrival", "post", "day5")}
    lesion = default_phantom.lesion
    write_segmentation(tmp_path / "lesion.seg.nrrd", [Segment("Day-5 lesion", (1.0, 0.8, 0.2), lesion)], lesion)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "lesion.seg.nrrd"))
    assert storage.ReadData(segmentation) == 1

    outputs = IMRMrmlLogic(scene).run(maps["post"], maps["day5"], SegmentRef(segmentation), arrival=maps["arrival"])

    measures, expected = without_inputs(outputs.measures), without_inputs(cli_metrics)
    assert flatten_metrics(measures) == pytest.approx(flatten_metrics(expected), abs=1e-6)
    volumes_ml = [key for key in expected if key.endswith("_ml")]
    assert {key: measures[key] for key in volumes_ml} == {key: expected[key] for key in volumes_ml}


def test_a_mask_created_twice_has_one_segment_and_the_named_segment_is_read(
    default_phantom: PhantomPatient, phantom_files: dict[str, Path], cli_metrics: dict
) -> None:
    """Slicer 5.10 signals a segmentation made from the selector twice: the panel asks for
    its Lesion segment twice and gets one. A segment the user added before it is not read."""
    scene = slicer.vtkMRMLScene()
    logic = IMRMrmlLogic(scene)
    nodes = logic.load_patient_folder(phantom_files["post"].parent)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    notes = named_segment(segmentation, "Notes")
    set_segment_from_mask(segmentation, notes, default_phantom.day5 > -1.0)  # every voxel of the day-5 grid
    lesion = named_segment(segmentation, "Lesion")
    assert named_segment(segmentation, "Lesion") == lesion
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 2
    set_segment_from_mask(segmentation, lesion, default_phantom.lesion)

    outputs = logic.run(nodes["post"], nodes["day5"], SegmentRef(segmentation), arrival=nodes["arrival"])

    assert outputs.measures["lesion_volume_ml"] == cli_metrics["lesion_volume_ml"]
    assert outputs.measures["imr_volume_ml"] == pytest.approx(cli_metrics["imr_volume_ml"], abs=1e-6)


# --- 2. user edits: recompute without registering ---------------------------------------


def test_output_nodes(analysed: Analysed) -> None:
    outputs = analysed.logic.outputs
    segmentation = outputs.segmentation.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(index) for index in range(segmentation.GetNumberOfSegments())]
    assert ids == ["Lesion", "IMR", "Hyperperfusion", "Exclusion"]
    for segment_id in ids:
        assert segmentation.GetSegment(segment_id).GetColor() == pytest.approx(SEGMENT_COLORS[segment_id])
    display = outputs.asymmetry.GetDisplayNode()
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == (-50.0, 50.0)
    colors = display.GetColorNode()
    assert colors.GetNumberOfColors() == 256
    low, middle, high = ([0.0] * 4, [0.0] * 4, [0.0] * 4)
    for index, rgba in ((0, low), (127, middle), (255, high)):
        colors.GetColor(index, rgba)
    # red (as the IMR segment and the overview) - white - blue (as Hyperperfusion)
    assert low[0] > low[2] and high[2] > high[0] and min(middle[:3]) > 0.99
    assert np.nanmin(voxels(image_from_volume_node(outputs.asymmetry))) < -15.0  # percent
    assert set(outputs.transforms) == {"day5", "arrival"}
    assert outputs.table.GetNumberOfRows() == 1
    assert outputs.table.GetColumnName(2) == "IMR volume (mL)"
    assert float(outputs.table.GetCellText(0, 2)) == outputs.measures["imr_volume_ml"]
    assert analysed.logic.registration_count == 2  # day 5 and arrival


def test_removing_a_lesion_slab_lowers_imr_by_the_imr_inside_it(analysed: Analysed) -> None:
    before = analysed.logic.outputs.measures
    lesion, imr = analysed.segment("Lesion"), analysed.segment("IMR")
    slab = int(np.argmax(imr.sum(axis=(1, 2))))  # the axial slice of the post grid with most IMR
    removed_imr = int(imr[slab].sum())
    edited = lesion.copy()
    edited[slab] = 0
    set_segment_from_mask(analysed.segmentation, "Lesion", as_image(edited, analysed.post))

    after = analysed.recompute_without_registering()

    assert removed_imr > 10
    expected_ml = before["imr_volume_ml"] - removed_imr * analysed.voxel_ml()
    assert after["imr_volume_ml"] == pytest.approx(expected_ml, abs=1e-3)
    assert after["lesion_volume_ml"] == pytest.approx(edited.sum() * analysed.voxel_ml(), abs=1e-3)
    expected_imr = imr.copy()
    expected_imr[slab] = 0
    assert np.array_equal(analysed.segment("IMR"), expected_imr)
    assert np.array_equal(analysed.segment("Lesion"), edited)  # the user's edit is kept


def test_exclusion_over_imr_lowers_imr_by_the_excluded_imr(analysed: Analysed) -> None:
    before = analysed.logic.outputs.measures
    lesion, imr = analysed.segment("Lesion"), analysed.segment("IMR")
    columns = np.nonzero(imr.any(axis=(0, 1)))[0]
    exclusion = np.zeros_like(imr)
    exclusion[:, :, columns.min() : (columns.min() + columns.max()) // 2 + 1] = 1  # a box over part of the IMR
    excluded_imr = int((imr & exclusion).sum())
    set_segment_from_mask(analysed.segmentation, "Exclusion", as_image(exclusion, analysed.post))

    after = analysed.recompute_without_registering()

    assert excluded_imr > 10
    expected_ml = before["imr_volume_ml"] - excluded_imr * analysed.voxel_ml()
    assert after["imr_volume_ml"] == pytest.approx(expected_ml, abs=1e-3)
    assert after["exclusion_volume_ml"] == pytest.approx(exclusion.sum() * analysed.voxel_ml(), abs=1e-3)
    assert np.array_equal(analysed.segment("IMR"), imr & (1 - exclusion))
    assert np.array_equal(analysed.segment("Exclusion"), exclusion)
    assert np.array_equal(analysed.segment("Lesion"), lesion)


def test_moving_the_plane_recomputes_the_asymmetry_without_registering(analysed: Analysed) -> None:
    logic, outputs = analysed.logic, analysed.logic.outputs
    lesion, exclusion = analysed.segment("Lesion"), analysed.segment("Exclusion")
    asymmetry_before = voxels(image_from_volume_node(outputs.asymmetry))
    plane = plane_from_plane_node(outputs.plane)
    moved = Plane.from_vectors(plane.point_array + 4.0 * plane.normal_array, plane.normal_array + [0.0, 0.05, 0.0])
    plane_node_from_plane(logic.scene, moved, "unused", outputs.plane)

    after = analysed.recompute_without_registering()

    asymmetry_after = voxels(image_from_volume_node(outputs.asymmetry))
    assert not np.allclose(asymmetry_after, asymmetry_before, equal_nan=True)
    assert after["midline"]["estimated"] is False
    assert after["midline"]["point_mm"] == pytest.approx(list(moved.point), abs=1e-6)
    assert after["midline"]["normal"] == pytest.approx(list(moved.normal), abs=1e-9)
    assert np.array_equal(analysed.segment("Lesion"), lesion)
    assert np.array_equal(analysed.segment("Exclusion"), exclusion)
    segments = logic.result.segments
    assert np.array_equal(analysed.segment("IMR"), voxels(segments.imr))
    assert np.array_equal(analysed.segment("Hyperperfusion"), voxels(segments.hyperperfusion))


def test_new_parameters_reuse_the_registration(analysed: Analysed) -> None:
    logic = analysed.logic
    # the plane moved 4 mm off above, which the default definition reports as not assessable:
    # the published one measures whatever plane it is given
    before = analysed.recompute_without_registering(AnalysisParameters.preset("published"))["imr_volume_ml"]
    after = analysed.recompute_without_registering(AnalysisParameters.preset("published", threshold=0.25))
    assert after["parameters"]["threshold"] == 0.25
    assert after["imr_volume_ml"] < before
    assert float(logic.outputs.table.GetCellText(0, 2)) == after["imr_volume_ml"]


# --- 3. export ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(analysed: Analysed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analysed.logic.export(tmp_path_factory.mktemp("export") / "result")


def test_export_is_the_command_line_folder_plus_the_table(exported: Path, analysed: Analysed) -> None:
    names = {path.name for path in exported.iterdir()}
    assert {"metrics.json", "metrics.csv", "Segmentation.seg.nrrd", "asymmetry_percent.nrrd", "midline.json",
            "day5_to_post.tfm", "arrival_to_post.tfm", "overview.png", f"{TABLE_FILE}.csv",
            f"{TABLE_FILE}.tsv"} <= names
    metrics = json.loads((exported / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(analysed.logic.outputs.measures))
    with pytest.raises(InputError, match="already exists"):
        analysed.logic.export(exported)
    assert analysed.logic.export(exported, overwrite=True) == exported


def test_a_front_ends_own_files_are_part_of_the_result_folder(analysed: Analysed, tmp_path: Path) -> None:
    """Slicer's scene bundle is written into the staging folder, so a later export may replace it."""
    folder = tmp_path / "result"
    analysed.logic.export(folder, also=lambda staging: (staging / "scene.mrb").write_bytes(b"bundle"))
    assert "scene.mrb" in json.loads((folder / MARKER).read_text())["files"]
    assert analysed.logic.export(folder, overwrite=True) == folder
    assert not (folder / "scene.mrb").exists()

    def failing(staging: Path) -> None:
        raise RuntimeError("could not save the scene bundle")

    with pytest.raises(RuntimeError, match="scene bundle"):
        analysed.logic.export(tmp_path / "other", also=failing)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result"]


def test_a_run_prepared_computed_elsewhere_and_applied_is_a_run(
        analysed: Analysed, phantom_files: dict[str, Path]) -> None:
    """The Slicer panel reads inputs on the GUI thread, computes in a worker and applies on the GUI thread."""
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    nodes = logic.load_patient_folder(phantom_files["post"].parent)
    job = logic.prepare(nodes["post"], nodes["day5"], SegmentRef(nodes["lesion"]), arrival=nodes["arrival"])
    before = logic.scene.GetNumberOfNodes()
    result = job.compute()
    assert logic.scene.GetNumberOfNodes() == before, "computing touches no node"
    outputs = logic.apply(job, result)
    assert without_inputs(outputs.measures) == without_inputs(analysed.measures_after_run)
    assert outputs.post is nodes["post"]
    logic.scene.RemoveNode(nodes["post"])
    with pytest.raises(InputError, match="removed from the scene"):
        logic.apply(job, result)


class _DicomDatabase:
    """What the export asks of ``slicer.dicomDatabase``: the file of an instance."""

    def __init__(self, folder: Path) -> None:
        self.files = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): str(path)
                      for path in sorted(folder.iterdir())}

    def fileForInstance(self, uid: str) -> str:  # noqa: N802 (Slicer's name)
        return self.files[uid]


def test_a_post_evt_volume_from_slicer_s_dicom_database_exports_dicom(
        analysed: Analysed, default_phantom: PhantomPatient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = write_mr_series(tmp_path / "series", default_phantom.post)
    database = _DicomDatabase(tmp_path / "series")
    monkeypatch.setattr(slicer, "dicomDatabase", database, raising=False)
    post = analysed.nodes["post"]
    post.SetAttribute("DICOM.instanceUIDs", " ".join(database.files))
    try:
        exported = analysed.logic.export(tmp_path / "result")
    finally:
        post.RemoveAttribute("DICOM.instanceUIDs")
    assert sorted(path.name for path in (exported / "dicom").iterdir()) == [
        "asymmetry_map.dcm", "measurements.dcm", "overview.dcm", "segmentation.dcm"]
    seg = pydicom.dcmread(exported / "dicom" / "segmentation.dcm", stop_before_pixels=True)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uid


def test_a_patient_folder_s_dicom_series_is_the_reference(phantom_files: dict[str, Path],
                                                           default_phantom: PhantomPatient, tmp_path: Path) -> None:
    for role in ("day5", "lesion"):
        shutil.copy(phantom_files[role], tmp_path / phantom_files[role].name)
    uid = write_mr_series(tmp_path / "post", default_phantom.post)
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    post = logic.load_patient_folder(tmp_path)["post"]
    assert logic.dicom_reference(post, default_phantom.post).series_uid == uid


def test_a_dicom_series_uploaded_as_a_zip_to_the_web_page_is_the_reference(
        phantom_files: dict[str, Path], default_phantom: PhantomPatient, tmp_path: Path) -> None:
    """The web page's upload of a series, unpacked as the patient folder's ``post/``: ``dicom/`` refers to it."""
    uid = write_mr_series(tmp_path / "series", default_phantom.post)
    archive = shutil.make_archive(str(tmp_path / "series"), "zip", tmp_path / "series")
    uploads = {"post": ("series.zip", Path(archive).read_bytes())}
    uploads.update({role: (phantom_files[role].name, phantom_files[role].read_bytes()) for role in ("day5", "lesion")})
    state = {upload_state(role): None for role in UPLOAD_ROLES}
    state.update({upload_state(role): {"name": name, "content": content} for role, (name, content) in uploads.items()})
    write_patient_folder(state, tmp_path / "patient")
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    post = logic.load_patient_folder(tmp_path / "patient")["post"]
    assert logic.dicom_reference(post, default_phantom.post).series_uid == uid


def test_exported_segmentation_reads_back_in_slicerio(exported: Path, analysed: Analysed) -> None:
    measures = analysed.logic.outputs.measures
    segmentation = slicerio.read_segmentation(str(exported / "Segmentation.seg.nrrd"))
    assert sorted(segment["name"] for segment in segmentation["segments"]) == sorted(SEGMENT_MEASURES)
    for segment in segmentation["segments"]:
        assert segment["color"] == pytest.approx(SEGMENT_COLORS[segment["name"]], abs=1e-6)
        extracted = slicerio.extract_segments(segmentation, [(segment["name"], 1)])
        volume = np.count_nonzero(extracted["voxels"]) * analysed.voxel_ml()
        assert volume == pytest.approx(measures[SEGMENT_MEASURES[segment["name"]]], abs=1e-4)


def test_exported_segmentation_reads_back_in_slicer(exported: Path, analysed: Analysed) -> None:
    measures = analysed.logic.outputs.measures
    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(exported / "Segmentation.seg.nrrd"))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 4
    for index in range(4):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        assert segment.GetColor() == pytest.approx(SEGMENT_COLORS[segment.GetName()], abs=1e-6)
        mask = mask_from_segment(node, segment_id)  # on the file's reference geometry
        assert mask.GetSize() == analysed.post.GetSize()
        assert np.allclose(mask.GetOrigin(), analysed.post.GetOrigin(), atol=1e-9)
        assert np.count_nonzero(voxels(mask)) * analysed.voxel_ml() == pytest.approx(
            measures[SEGMENT_MEASURES[segment.GetName()]], abs=1e-4
        )


@pytest.mark.parametrize("suffix, delimiter", [(".csv", ","), (".tsv", "\t")])
def test_exported_table_has_one_row_with_units(exported: Path, analysed: Analysed, suffix: str, delimiter: str) -> None:
    measures = analysed.logic.outputs.measures
    with open(exported / f"{TABLE_FILE}{suffix}", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    assert len(rows) == 2
    header, values = rows
    row = dict(zip(header, values))
    assert float(row["IMR volume (mL)"]) == measures["imr_volume_ml"]
    assert float(row["Relative IMR volume (%)"]) == measures["imr_relative_percent"]
    assert float(row["Asymmetry threshold (%)"]) == pytest.approx(100 * measures["parameters"]["threshold"])
    assert row["Significant IMR"] == str(measures["significant_imr"]).lower()
    text_columns = {"Status", "Not assessable reason", "Significant IMR", "Midline estimated", "Warnings"}
    assert all(title.endswith(")") for title in header if title not in text_columns)


# --- 4. conversions keep the geometry -----------------------------------------------------


def grid_image(grid: str, array: np.ndarray) -> sitk.Image:
    """``array`` (k, j, i) on one of the flipped / oblique / anisotropic test grids."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(make_reference(grid, array.shape[::-1]))
    return image


def blob(shape: tuple[int, int, int] = (9, 14, 12)) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return ((k - 4) ** 2 / 9 + (j - 6) ** 2 / 16 + (i - 5) ** 2 / 12 <= 1).astype(np.uint8)


@pytest.mark.parametrize("grid", GRIDS)
def test_volume_round_trip_is_exact(grid: str) -> None:
    values = np.random.default_rng(3).random((9, 14, 12)).astype(np.float32)
    image = grid_image(grid, values)
    node = volume_node_from_image(slicer.vtkMRMLScene(), image, "volume")
    back = image_from_volume_node(node)
    assert (back.GetOrigin(), back.GetSpacing(), back.GetDirection()) == (
        image.GetOrigin(), image.GetSpacing(), image.GetDirection()
    )
    assert back.GetPixelID() == image.GetPixelID() and np.array_equal(voxels(back), values)
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    for index in [(0, 0, 0), (11, 13, 8), (3, 7, 2)]:
        mapped = ijk_to_ras.MultiplyPoint([*index, 1.0])[:3]
        assert mapped == pytest.approx(ras(image.TransformIndexToPhysicalPoint(index)), abs=1e-9)


@pytest.mark.parametrize("grid", GRIDS)
def test_label_map_and_segment_round_trips_are_exact(grid: str) -> None:
    scene = slicer.vtkMRMLScene()
    labels = blob() + 2 * np.roll(blob(), 3, axis=2) * (1 - blob())
    labelmap = volume_node_from_image(scene, grid_image(grid, labels), "labels", node_class="vtkMRMLLabelMapVolumeNode")
    for label in (1, 2):
        assert np.array_equal(voxels(mask_from_labelmap_node(labelmap, label)), labels == label)
    reference = grid_image(grid, np.zeros((9, 14, 12), np.float32))
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    first, second = as_image(blob(), reference), as_image(np.roll(blob(), 2, axis=1), reference)
    set_segment_from_mask(segmentation, "First", first, "First name", (0.1, 0.2, 0.3))
    set_segment_from_mask(segmentation, "Second", second, "Second name", (0.4, 0.5, 0.6))
    set_segment_from_mask(segmentation, "Second", first, "ignored", (1.0, 1.0, 1.0))  # overlaps First entirely
    assert np.array_equal(voxels(mask_from_segment(segmentation, "First", reference)), blob())
    assert np.array_equal(voxels(mask_from_segment(segmentation, "Second", reference)), blob())
    segment = segmentation.GetSegmentation().GetSegment("Second")
    assert (segment.GetName(), segment.GetColor()) == ("Second name", pytest.approx((0.4, 0.5, 0.6)))
    own = mask_from_segment(segmentation, "First")  # no reference geometry: the segment's voxels plus a border
    on_reference = sitk.Resample(own, reference, sitk.Transform(), sitk.sitkNearestNeighbor)
    assert np.array_equal(voxels(on_reference), blob())
    assert np.allclose(own.GetDirection(), reference.GetDirection(), atol=1e-12)


def test_plane_round_trip() -> None:
    plane = Plane.from_vectors(np.array([3.5, -20.0, 12.25]), np.array([0.95, 0.2, -0.15]))
    node = plane_node_from_plane(slicer.vtkMRMLScene(), plane, "plane")
    normal_ras = [0.0, 0.0, 0.0]
    node.GetNormalWorld(normal_ras)
    assert abs(np.dot(normal_ras, ras(plane.normal))) == pytest.approx(1.0, abs=1e-12)  # stored in RAS
    back = plane_from_plane_node(node)
    assert back.point == pytest.approx(plane.point, abs=1e-9)
    assert back.normal == pytest.approx(plane.normal, abs=1e-12)


def test_transform_nodes_map_points_as_the_pipeline(analysed: Analysed, tmp_path: Path) -> None:
    """Post-EVT point p and its day-5 homolog T(p): the node takes day 5 back onto post-EVT, as Slicer's reader does."""
    transform = analysed.logic.result.registrations["day5"].transform
    node = analysed.logic.outputs.transforms["day5"]
    points = np.random.default_rng(5).uniform(-80.0, 80.0, size=(6, 3))
    to_parent = vtk.vtkMatrix4x4()
    node.GetMatrixTransformToParent(to_parent)
    for point in points:
        homolog = np.array(transform.TransformPoint(point.tolist()))
        assert to_parent.MultiplyPoint([*ras(homolog), 1.0])[:3] == pytest.approx(ras(point), abs=1e-9)
    sitk.WriteTransform(transform, str(tmp_path / "day5_to_post.tfm"))
    scene = slicer.vtkMRMLScene()
    read = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    storage = scene.AddNewNodeByClass("vtkMRMLTransformStorageNode")
    storage.SetFileName(str(tmp_path / "day5_to_post.tfm"))
    assert storage.ReadData(read) == 1
    by_slicer = vtk.vtkMatrix4x4()
    read.GetMatrixTransformToParent(by_slicer)
    ours = transform_node_from_sitk(scene, transform, "ours")
    mine = vtk.vtkMatrix4x4()
    ours.GetMatrixTransformToParent(mine)
    assert [mine.GetElement(r, c) for r in range(4) for c in range(4)] == pytest.approx(
        [by_slicer.GetElement(r, c) for r in range(4) for c in range(4)], abs=1e-9
    )


# --- loading ------------------------------------------------------------------------------


def test_patient_folder_errors_name_the_problem(phantom_files: dict[str, Path], tmp_path: Path) -> None:
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    shutil.copy(phantom_files["post"], tmp_path / "post.nrrd")
    shutil.copy(phantom_files["lesion"], tmp_path / "lesion.nrrd")
    with pytest.raises(InputError, match="no day5 file"):
        logic.load_patient_folder(tmp_path)
    shutil.copy(phantom_files["day5"], tmp_path / "day5.nrrd")
    shutil.copy(phantom_files["post"], tmp_path / "Post.mha")
    with pytest.raises(InputError, match="more than one post file"):
        logic.load_patient_folder(tmp_path)
    (tmp_path / "Post.mha").unlink()
    (tmp_path / "exclusion.nii.gz").write_bytes(b"not an image")
    with pytest.raises(InputError, match="exclusion.nii.gz: the exclusion mask cannot be read"):
        logic.load_patient_folder(tmp_path)
    (tmp_path / "exclusion.nii.gz").unlink()
    (tmp_path / "exclusion.seg.nrrd").write_bytes(b"NRRD0004\ntype: nonsense\n\n")
    with pytest.raises(InputError, match="exclusion.seg.nrrd: not a readable NRRD segmentation"):
        logic.load_patient_folder(tmp_path)  # Slicer's own reader would abort the process on this file
    assert logic.scene.GetNumberOfNodes() == 0  # every file is checked before any node is made
    with pytest.raises(InputError, match="not found"):
        logic.load_patient_folder(tmp_path / "missing")


def test_maps_given_as_nodes_get_the_same_value_checks(analysed: Analysed) -> None:
    scene = analysed.logic.scene
    post = image_from_volume_node(analysed.nodes["post"])
    array = sitk.GetArrayFromImage(post)
    array[3, 40:42, 40:42] = np.nan
    broken = sitk.GetImageFromArray(array)
    broken.CopyInformation(post)
    node = volume_node_from_image(scene, broken, "post with holes")
    logic = IMRMrmlLogic(scene)
    with pytest.raises(InputError, match="post with holes: the post-EVT rCBV map has 4 NaN"):
        logic.run(node, analysed.nodes["day5"], SegmentRef(analysed.nodes["lesion"]))
    with pytest.raises(InputError, match="post with holes: the post-EVT Tmax map has 4 NaN"):  # named as by --map tmax
        logic.run(node, analysed.nodes["day5"], SegmentRef(analysed.nodes["lesion"]),
                  parameters=AnalysisParameters.for_map("tmax"))


def test_nodes_are_checked_against_each_other_as_the_command_line_checks_files(analysed: Analysed) -> None:
    """The checks of patient_run.load_inputs: one study for two timepoints, a lesion off the map."""
    scene = analysed.logic.scene
    post = analysed.nodes["post"]
    copy = volume_node_from_image(scene, image_from_volume_node(post), "post again")
    with pytest.raises(InputError, match="the day-5 perfusion map is the same image as the post-EVT rCBV map"):
        IMRMrmlLogic(scene).run(post, copy, SegmentRef(analysed.nodes["lesion"]))
    lesion = mask_from_labelmap_node(analysed.nodes["lesion"])
    far = sitk.Image(lesion)
    far.SetOrigin([value + 500.0 for value in lesion.GetOrigin()])
    with pytest.raises(InputError, match="of the lesion mask voxels lie outside the field of view"):
        IMRMrmlLogic(scene).run(post, analysed.nodes["day5"],
                                SegmentRef(volume_node_from_image(scene, far, "far lesion",
                                                                   node_class="vtkMRMLLabelMapVolumeNode")))



# --- DSC series as timepoint inputs ---------------------------------------------------------


@pytest.fixture(scope="module")
def dsc_folder(default_phantom: PhantomPatient, phantom_files: dict[str, Path],
               tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A patient folder whose post-EVT and day-5 timepoints are DSC series (low noise) of the phantom's maps."""
    folder = tmp_path_factory.mktemp("dsc_patient")
    for name, series in patient_dsc(default_phantom, DscPhantomConfig(noise_sd=0.5), ("post", "day5")).items():
        write_series(series, folder / f"{name}_dsc.nrrd")
    shutil.copy(phantom_files["lesion"], folder / "lesion.nrrd")
    return folder


def cli_metrics_from_dsc(folder: Path, out: Path, *options: str) -> dict:
    """``imr-analysis run --post-dsc --day5-dsc --lesion`` on the folder's files: its metrics.json."""
    argv = ["run", "--quiet", "--post-dsc", str(folder / "post_dsc.nrrd"), "--day5-dsc", str(folder / "day5_dsc.nrrd"),
            "--lesion", str(folder / "lesion.nrrd"), "--out", str(out), *options]
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


def test_dsc_series_nodes_give_exactly_the_command_line_measures(dsc_folder: Path, tmp_path: Path) -> None:
    expected = cli_metrics_from_dsc(dsc_folder, tmp_path / "cli")
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    post = logic.volume_from_dsc(dsc_folder / "post_dsc.nrrd", "post")
    day5 = logic.volume_from_dsc(str(dsc_folder / "day5_dsc.nrrd"), "day5")
    lesion = volume_node_from_image(logic.scene, read_mask(dsc_folder / "lesion.nrrd", "lesion mask"), "lesion",
                                    node_class="vtkMRMLLabelMapVolumeNode")

    measures = logic.run(post, day5, SegmentRef(lesion)).measures

    assert (post.GetName(), day5.GetName()) == ("post-EVT rCBV (from DSC)", "day-5 rCBV (from DSC)")
    assert without_inputs(measures) == without_inputs(expected)
    assert measures["inputs"] == {**expected["inputs"], "lesion": "lesion"}  # the series, as the command line names it


def test_dsc_patient_folder_with_tmax_gives_exactly_the_command_line_measures(dsc_folder: Path, tmp_path: Path) -> None:
    expected = cli_metrics_from_dsc(dsc_folder, tmp_path / "cli", "--map", "tmax")
    assert set(patient_files(dsc_folder)) == {"post_dsc", "day5_dsc", "lesion"}
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    nodes = logic.load_patient_folder(dsc_folder, perfusion_map="tmax")
    assert {role: node.GetName() for role, node in nodes.items()} == {
        "post": "post-EVT Tmax (from DSC)", "day5": "day-5 Tmax (from DSC)", "lesion": "lesion"}

    outputs = logic.run(nodes["post"], nodes["day5"], SegmentRef(nodes["lesion"]),
                        parameters=AnalysisParameters.for_map("tmax"))

    assert json.loads(json.dumps(outputs.measures)) == expected  # inputs too: the same files
    assert expected["parameters"]["perfusion_map"] == "tmax"
    assert 0.5 < expected["normal_tissue_tmax"] < 5.0  # the map is Tmax in seconds
    assert outputs.asymmetry.GetName() == "IMR asymmetry (s)"
    titles = [outputs.table.GetColumnName(index) for index in range(outputs.table.GetNumberOfColumns())]
    assert {"IMR median asymmetry (s)", "Asymmetry threshold (s)", "Normal tissue Tmax (map units)"} <= set(titles)
    assert not any("%" in title for title in titles if "asymmetry" in title.lower())
    threshold = titles.index("Asymmetry threshold (s)")
    assert float(outputs.table.GetCellText(0, threshold)) == 2.0


def test_a_timepoint_given_twice_or_not_at_all_is_refused(phantom_files: dict[str, Path], tmp_path: Path) -> None:
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    for role in ("post", "day5", "lesion"):
        shutil.copy(phantom_files[role], tmp_path / f"{role}.nrrd")
    (tmp_path / "post_dsc").mkdir()  # a DICOM series folder beside the post-EVT map
    with pytest.raises(InputError) as refused:
        logic.load_patient_folder(tmp_path)
    assert str(refused.value) == (f"{tmp_path}: both a post map (post.nrrd) and a post DSC series (post_dsc): keep one")
    (tmp_path / "post_dsc").rmdir()
    (tmp_path / "post.nrrd").unlink()
    with pytest.raises(InputError, match=r"no post file: expected one of post.nii, .*or a DSC series post_dsc.nii.gz"):
        logic.load_patient_folder(tmp_path)
    assert logic.scene.GetNumberOfNodes() == 0


def test_a_3d_image_as_dsc_series_gives_the_command_line_message(
    phantom_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    not_a_series = str(phantom_files["post"])
    argv = ["run", "--post-dsc", not_a_series, "--day5", str(phantom_files["day5"]),
            "--lesion", str(phantom_files["lesion"]), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    logic = IMRMrmlLogic(slicer.vtkMRMLScene())
    with pytest.raises(InputError) as refused:
        logic.volume_from_dsc(not_a_series, "post")
    assert line == f"imr-analysis: error: {refused.value}"
    assert not_a_series in line and logic.scene.GetNumberOfNodes() == 0
