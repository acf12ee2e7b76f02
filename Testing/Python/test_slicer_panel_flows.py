"""The Slicer panel's flows, driven as a user would, on stand-in Qt widgets over slicer-core's real MRML.

``slicer_panel_standin`` builds the widgets from the module's ``.ui`` and emulates the
application around the panel (see its docstrings for what is and is not emulated); the scene,
its nodes, the segmentation and the files written are Slicer's real ones. Each test asserts what
the user would see: the badge, which buttons can be clicked, the segments, the files on disk,
and that no error dialog, slot exception, unanswered question or work off the main thread
occurred (``session.assert_quiet()``).

The tests of ``panel`` share one session, in file order: set-up, load, a cancelled run, a run,
an edit and Recompute, two exports, leaving the module mid-run, closing the scene. Each makes
the state it needs if an earlier one did not.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tomllib
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import IMRAnalysisLib.mrml.logic  # noqa: F401  imported with slicer-core's own slicer, before any session
import IMRAnalysisLib.mrml.nodes  # noqa: F401
from IMRAnalysisLib.io.safe_output import MARKER
from slicer_panel_standin import SlicerSession

MODULE_FILE = Path(__file__).resolve().parents[2] / "IMRAnalysis" / "IMRAnalysis.py"
RESULT_SEGMENTS = {"Lesion", "IMR", "Hyperperfusion", "Exclusion"}
RUN_SECTIONS = ("inputsCollapsibleButton", "masksCollapsibleButton", "midlineCollapsibleButton",
                "parametersCollapsibleButton", "exportCollapsibleButton")
SLICE_VIEWS = ("Red", "Yellow", "Green")


@dataclass
class Panel:
    """The module's panel in an emulated Slicer session."""

    session: SlicerSession
    module: ModuleType  # the loaded IMRAnalysis.py
    widget: Any  # IMRAnalysisWidget

    @property
    def ui(self) -> Any:
        return self.widget.ui

    @property
    def logic(self) -> Any:
        return self.widget.logic

    @property
    def parameters(self) -> Any:
        return self.logic.getParameterNode()

    @property
    def scene(self) -> Any:
        return self.session.scene

    def composite(self, view: str) -> Any:
        return self.session.app.layoutManager().sliceWidget(view).mrmlSliceCompositeNode()

    def load_sample(self) -> None:
        self.ui.loadSampleButton.click()
        assert self.parameters.postVolume is not None, self.session.problems()

    def ensure_inputs(self) -> None:
        if not (self.parameters.postVolume and self.parameters.day5Volume and self.parameters.lesionSegmentation):
            self.load_sample()

    def wait_for_run(self, timeout: float = 60.0) -> float:
        return self.session.wait_until(lambda: not self.widget.isRunning(), timeout=timeout)

    def apply(self) -> None:
        self.ensure_inputs()
        self.ui.applyButton.click()
        self.wait_for_run()
        assert self.logic.hasResults(), self.session.problems()

    def ensure_results(self) -> None:
        if not self.logic.hasResults():
            self.apply()

    def export_to(self, folder: Path) -> None:
        """The user picks ``folder`` in the Export section and clicks Export results."""
        self.ui.exportCollapsibleButton.collapsed = False
        self.ui.exportFolderPathLineEdit.currentPath = str(folder)
        self.ui.exportButton.click()
        self.wait_for_run()


@pytest.fixture(scope="session")
def slicer_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Slicer's cache folder, shared by the sessions: the phantom patient is generated once."""
    return tmp_path_factory.mktemp("slicer-cache")


@contextlib.contextmanager
def open_panel(folder: Path, cache: Path, version: tuple[int, int] = (5, 12), enter: bool = True,
               testing: bool = False) -> Iterator[Panel]:
    with SlicerSession(folder, version=version, cache=cache, testing=testing) as session:
        module = session.load_module(MODULE_FILE)
        session.start()
        if enter:
            session.select_module("IMRAnalysis")
        try:
            yield Panel(session, module, session.widget("IMRAnalysis") if enter else None)
        finally:
            widget = getattr(session.slicer.modules, "IMRAnalysisWidget", None)
            if widget is not None and getattr(widget, "isRunning", lambda: False)():
                widget.onCancelButton()
                session.wait_until(lambda: not widget.isRunning(), timeout=30)


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory, slicer_cache: Path) -> Iterator[Panel]:
    with open_panel(tmp_path_factory.mktemp("slicer-session"), slicer_cache) as shared:
        yield shared


@pytest.fixture
def fresh(panel: Panel) -> Panel:
    """The shared panel with an empty record of dialogs, questions and problems."""
    panel.session.forget()
    return panel


def segment_names(segmentation_node: Any) -> list[str]:
    segmentation = segmentation_node.GetSegmentation()
    return [segmentation.GetNthSegment(index).GetName() for index in range(segmentation.GetNumberOfSegments())]


def files_below(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


# --- the shared panel, in the order a user goes -----------------------------------------------


def test_setup_binds_the_panel_to_its_parameter_node(fresh: Panel) -> None:
    ui, parameters = fresh.ui, fresh.parameters
    assert fresh.widget.parent.isEntered and ui.applyButton.isVisible()
    assert ui.thresholdPercentSliderWidget.value == 15.0
    assert (ui.thresholdPercentSliderWidget.minimum, ui.thresholdPercentSliderWidget.maximum) == (1.0, 99.0)
    assert [ui.perfusionMapComboBox.itemText(i) for i in range(ui.perfusionMapComboBox.count)] == \
        ["rCBV", "rCBF", "Tmax"]
    assert ui.thresholdSecondsSpinBox.isHidden() and not ui.thresholdPercentSliderWidget.isHidden()
    assert ui.significanceLabel.text == "No result yet"
    assert not any(button.enabled for button in (ui.applyButton, ui.recomputeButton, ui.exportButton,
                                                  ui.cancelButton)), "nothing to run yet"
    assert ui.postVolumeSelector.mrmlScene() is fresh.scene, "the .ui's mrmlSceneChanged connections"
    editorNode = ui.segmentEditorWidget.mrmlSegmentEditorNode()
    assert editorNode is not None and fresh.scene.IsNodePresent(editorNode)

    parameters.thresholdPercent = 20.0  # the node drives the widgets...
    assert ui.thresholdPercentSliderWidget.value == 20.0
    ui.directionComboBox.choose("increase")  # ...and the widgets the node
    assert parameters.direction == "increase"
    ui.directionComboBox.choose("decrease")
    ui.thresholdPercentSliderWidget.value = 15.0
    assert parameters.thresholdPercent == 15.0
    fresh.session.assert_quiet()


def test_choosing_a_map_sets_its_direction_and_never_asks_to_install(fresh: Panel,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with a package missing, picking Tmax only sets its defaults: the install question
    belongs to the actions that need the library (and declining it left the direction stale)."""
    ui, parameters = fresh.ui, fresh.parameters
    monkeypatch.setattr(fresh.logic, "missingRequirements", lambda: ["pynrrd>=1.0"])
    ui.perfusionMapComboBox.choose("Tmax")
    assert parameters.perfusionMap == "Tmax" and parameters.direction == "increase"
    assert ui.thresholdPercentSliderWidget.isHidden() and not ui.thresholdSecondsSpinBox.isHidden()
    assert not fresh.session.questions
    ui.perfusionMapComboBox.choose("rCBV")
    assert parameters.direction == "decrease" and not fresh.session.questions
    fresh.session.assert_quiet()


def test_load_sample_selects_the_inputs_and_shows_them(fresh: Panel) -> None:
    ui = fresh.ui
    fresh.load_sample()
    parameters = fresh.parameters
    assert parameters.postVolume and parameters.day5Volume and parameters.lesionSegmentation
    assert ui.postVolumeSelector.currentNode() is parameters.postVolume
    assert ui.day5VolumeSelector.currentNode() is parameters.day5Volume
    assert ui.lesionSegmentationSelector.currentNode() is parameters.lesionSegmentation
    assert Path(ui.patientFolderPathLineEdit.currentPath) == parameters.patientFolder
    assert ui.applyButton.enabled
    for view in SLICE_VIEWS:
        assert fresh.composite(view).GetBackgroundVolumeID() == parameters.postVolume.GetID(), view
    editor = ui.segmentEditorWidget
    assert editor.segmentationNode() is parameters.lesionSegmentation, "the lesion is ready to correct"
    assert editor.sourceVolumeNode() is parameters.day5Volume
    fresh.session.assert_quiet()


def test_cancel_mid_run_ends_it_at_once_and_leaves_the_scene_as_it_was(fresh: Panel) -> None:
    ui = fresh.ui
    fresh.ensure_inputs()
    assert not fresh.logic.hasResults()
    nodes_before = fresh.scene.GetNumberOfNodes()
    ui.applyButton.click()
    assert fresh.widget.isRunning()
    fresh.session.wait_until(lambda: not fresh.widget.isRunning() or "regist" in ui.progressLabel.text.lower(),
                             timeout=30)
    assert fresh.widget.isRunning(), "the run ended before its registration: nothing left to cancel"
    clicked = time.monotonic()
    ui.cancelButton.click()
    fresh.wait_for_run(timeout=30)
    assert time.monotonic() - clicked < 2.0
    assert "cancelled" in ui.progressLabel.text.lower()
    assert not fresh.session.dialogs and not fresh.logic.hasResults()
    assert fresh.scene.GetNumberOfNodes() == nodes_before, "a cancelled run adds no node"
    assert ui.significanceLabel.text == "No result yet"
    assert ui.applyButton.enabled and not ui.cancelButton.enabled
    fresh.session.assert_quiet()


def test_apply_runs_in_the_background_and_shows_the_verdict(fresh: Panel) -> None:
    ui, parameters, session = fresh.ui, fresh.parameters, fresh.session
    fresh.ensure_inputs()
    clicked = time.monotonic()
    ui.applyButton.click()
    assert time.monotonic() - clicked < 1.0, "Apply returns at once"
    assert fresh.widget.isRunning()
    assert not any(getattr(ui, name).enabled for name in RUN_SECTIONS), "inputs are locked while running"
    assert not ui.loadSampleButton.enabled and not ui.applyButton.enabled and ui.cancelButton.enabled

    passes = []  # (seconds the event loop pass took, stage text, bar value, bar maximum) while running
    while fresh.widget.isRunning():
        assert time.monotonic() - clicked < 60, "the run did not end"
        start = time.monotonic()
        session.process_events()
        passes.append((time.monotonic() - start, ui.progressLabel.text, ui.progressBar.value, ui.progressBar.maximum))
        time.sleep(0.02)
    running = passes[:-1]  # the last pass put the results into the scene
    assert running, "the run ended within one event loop pass"
    assert max(seconds for seconds, *_ in running) < 1.0, "the panel stays responsive while the thread works"
    assert {maximum for *_, maximum in running} == {100}
    values = [value for _, _, value, _ in running]
    assert values == sorted(values) and 0 <= values[0] and values[-1] <= 100 and values[-1] > 0
    assert any(text for _, text, _, _ in running), "the stage is shown"

    measures = fresh.logic.measures()
    text, verdict = fresh.module.significanceBadge(measures)
    assert ui.significanceLabel.text == text
    assert fresh.module.BADGE_COLOURS[verdict] in ui.significanceLabel.styleSheet
    assert ui.recomputeButton.enabled and ui.exportButton.enabled and not ui.cancelButton.enabled
    assert all(getattr(ui, name).enabled for name in RUN_SECTIONS)
    segmentation = parameters.resultSegmentation
    assert segmentation is not None and fresh.scene.IsNodePresent(segmentation)
    assert sorted(segment_names(segmentation)) == sorted(RESULT_SEGMENTS)
    assert ui.resultSegmentationSelector.currentNode() is segmentation
    assert ui.resultsTableView.mrmlTableNode() is parameters.resultTable
    for view in SLICE_VIEWS:
        assert fresh.composite(view).GetForegroundVolumeID() == parameters.asymmetryVolume.GetID(), view
    session.assert_quiet()


def test_recompute_after_erasing_imr_from_the_lesion_drops_it(fresh: Panel) -> None:
    fresh.ensure_results()
    slicer, ui, parameters = fresh.session.slicer, fresh.ui, fresh.parameters
    before = fresh.logic.measures()["imr_volume_ml"]
    assert before > 1.0
    segmentation, post = parameters.resultSegmentation, parameters.postVolume
    ids = segmentation.GetSegmentation()
    imr = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, ids.GetSegmentIdBySegmentName("IMR"), post)
    lesionId = ids.GetSegmentIdBySegmentName("Lesion")
    lesion = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, lesionId, post)
    lesion[imr > 0] = 0
    slicer.util.updateSegmentBinaryLabelmapFromArray(lesion, segmentation, lesionId, post)

    ui.recomputeButton.click()
    fresh.wait_for_run()
    measures = fresh.logic.measures()
    assert measures["imr_volume_ml"] < 0.5 * before
    assert ui.significanceLabel.text == fresh.module.significanceBadge(measures)[0]
    assert ui.recomputeButton.enabled and ui.exportButton.enabled
    fresh.session.assert_quiet()


def test_export_into_a_folder_of_the_users_adds_a_result_folder_and_touches_nothing_else(
        fresh: Panel, tmp_path: Path) -> None:
    fresh.ensure_results()
    users = tmp_path / "My studies"
    (users / "old scans").mkdir(parents=True)
    (users / "notes.txt").write_text("the user's notes")
    (users / "old scans" / "scan.nii").write_bytes(b"not ours")
    theirs = files_below(users)

    fresh.export_to(users)
    assert fresh.parameters.exportFolder == users
    assert not fresh.session.questions, "a folder of the user's is not replaced: nothing to ask"
    assert {path: content for path, content in files_below(users).items() if path in theirs} == theirs
    written = [path for path in users.iterdir() if path.is_dir() and path.name != "old scans"]
    assert len(written) == 1, sorted(path.name for path in users.iterdir())
    result = written[0]
    assert fresh.parameters.patientFolder.name in result.name, "named after the patient"
    for name in ("metrics.json", "Segmentation.seg.nrrd", fresh.module.SCENE_BUNDLE_NAME, MARKER):
        assert (result / name).is_file(), name
    metrics = json.loads((result / "metrics.json").read_text())
    assert metrics["imr_volume_ml"] == pytest.approx(fresh.logic.measures()["imr_volume_ml"])
    with zipfile.ZipFile(result / fresh.module.SCENE_BUNDLE_NAME) as bundle:
        names = bundle.namelist()
    assert any(name.endswith(".mrml") for name in names) and any(name.endswith(".seg.nrrd") for name in names)
    assert fresh.ui.progressLabel.text == f"Results written to {result}"
    assert str(users) in fresh.ui.exportFolderPathLineEdit.history
    fresh.session.assert_quiet()


def test_export_over_an_earlier_result_folder_asks_and_replaces_only_on_yes(fresh: Panel, tmp_path: Path) -> None:
    fresh.ensure_results()
    ui, session = fresh.ui, fresh.session
    fresh.export_to(tmp_path)
    earlier = next(path for path in tmp_path.iterdir() if path.is_dir())
    ui.thresholdPercentSliderWidget.value = 25.0  # a different result to export over the earlier one
    ui.recomputeButton.click()
    fresh.wait_for_run()
    threshold = fresh.logic.measures()["parameters"]["threshold"]
    assert json.loads((earlier / "metrics.json").read_text())["parameters"]["threshold"] != threshold
    before, beside = files_below(earlier), sorted(tmp_path.iterdir())
    session.forget()

    session.answers.append(False)
    fresh.export_to(earlier)
    assert len(session.questions) == 1 and str(earlier) in session.questions[0].text
    assert files_below(earlier) == before, "No writes nothing"
    assert sorted(tmp_path.iterdir()) == beside

    session.answers.append(True)
    fresh.export_to(earlier)
    assert len(session.questions) == 2 and str(earlier) in session.questions[1].text
    assert json.loads((earlier / "metrics.json").read_text())["parameters"]["threshold"] == threshold, \
        "Yes replaces it"
    assert not [path for path in earlier.iterdir() if path.is_dir()], "replaced, not nested"
    assert sorted(tmp_path.iterdir()) == beside, "nothing left beside it"
    ui.thresholdPercentSliderWidget.value = 15.0
    session.assert_quiet()


def test_leaving_the_module_mid_run_still_lands_the_results(fresh: Panel) -> None:
    ui, session = fresh.ui, fresh.session
    fresh.ensure_inputs()
    ui.applyButton.click()
    assert fresh.widget.isRunning()
    session.select_module("Data")  # the module selector calls the widget's exit()
    assert not fresh.widget.parent.isEntered and not ui.applyButton.isVisible()
    fresh.wait_for_run()
    assert fresh.logic.hasResults()
    segmentation = fresh.parameters.resultSegmentation
    assert segmentation is not None and fresh.scene.IsNodePresent(segmentation)
    assert sorted(segment_names(segmentation)) == sorted(RESULT_SEGMENTS)
    assert not session.dialogs

    session.select_module("IMRAnalysis")
    assert ui.significanceLabel.text == fresh.module.significanceBadge(fresh.logic.measures())[0]
    assert ui.recomputeButton.enabled and ui.exportButton.enabled and not ui.cancelButton.enabled
    session.assert_quiet()


def test_closing_the_scene_resets_the_panel(fresh: Panel) -> None:
    fresh.ensure_results()
    ui = fresh.ui
    ui.thresholdPercentSliderWidget.value = 20.0
    fresh.scene.Clear()
    assert ui.significanceLabel.text == "No result yet" and ui.significanceLabel.styleSheet == ""
    assert not ui.recomputeButton.enabled and not ui.exportButton.enabled and not ui.applyButton.enabled
    assert ui.postVolumeSelector.currentNode() is None and ui.resultSegmentationSelector.currentNode() is None
    assert ui.thresholdPercentSliderWidget.value == 15.0, "a new scene starts from the defaults"
    assert not fresh.logic.hasResults()
    fresh.session.assert_quiet()


def test_closing_the_scene_mid_run_drops_the_run(fresh: Panel) -> None:
    ui, session = fresh.ui, fresh.session
    fresh.load_sample()
    ui.applyButton.click()
    assert fresh.widget.isRunning()
    fresh.scene.Clear()
    nodes_after_close = fresh.scene.GetNumberOfNodes()
    fresh.wait_for_run()
    assert not fresh.logic.hasResults() and ui.significanceLabel.text == "No result yet"
    assert fresh.scene.GetNumberOfNodes() == nodes_after_close, "nothing of the dropped run lands in the new scene"
    assert not ui.recomputeButton.enabled and not ui.exportButton.enabled
    session.assert_quiet()


# --- sessions of their own ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [(5, 10), (5, 12)], ids=["Slicer-5.10", "Slicer-5.12"])
def test_a_mask_created_from_its_selector_has_one_segment_of_its_name(
        version: tuple[int, int], tmp_path: Path, slicer_cache: Path) -> None:
    with open_panel(tmp_path, slicer_cache, version=version) as panel:
        panel.load_sample()
        day5 = panel.parameters.day5Volume
        for selector, name, member in ((panel.ui.lesionSegmentationSelector, "Lesion", "lesionSegmentation"),
                                       (panel.ui.exclusionSegmentationSelector, "Exclusion", "exclusionSegmentation")):
            created = selector.chooseCreateNew()
            assert created is not None and getattr(panel.parameters, member) is created
            assert segment_names(created) == [name]
            role = panel.session.slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
            assert created.GetNodeReference(role) is day5, "drawn on the day-5 grid"
            assert panel.ui.segmentEditorWidget.segmentationNode() is created, "ready to draw"
        panel.session.assert_quiet()


def test_sample_data_button_loads_through_the_panel(tmp_path: Path, slicer_cache: Path) -> None:
    """Slicer 5.10 (no sample data categories): the user starts in the Sample Data module, not in the panel."""
    with open_panel(tmp_path, slicer_cache, version=(5, 10), enter=False) as panel:
        session = panel.session
        assert session.app.currentModule != "IMRAnalysis"
        import SampleData  # the stand-in, as the module registered its sample there at start-up

        source = SampleData.SampleDataLogic().sourceForSampleName(panel.module.SAMPLE_NAME)
        assert source is not None and source.customDownloader is panel.module.loadSamplePatientFromSampleData
        session.click_sample(panel.module.SAMPLE_NAME)
        assert session.app.currentModule == "IMRAnalysis"
        widget = session.widget("IMRAnalysis")
        parameters = widget.logic.getParameterNode()
        assert parameters.postVolume and parameters.day5Volume and parameters.lesionSegmentation
        assert widget.ui.postVolumeSelector.currentNode() is parameters.postVolume
        for view in SLICE_VIEWS:
            assert panel.composite(view).GetBackgroundVolumeID() == parameters.postVolume.GetID(), view
        widget.ui.applyButton.click()
        session.wait_until(lambda: not widget.isRunning(), timeout=60)
        inputs = widget.logic.measures()["inputs"]
        for role in ("post", "day5", "arrival"):
            assert Path(inputs[role]).is_file(), (role, inputs[role])
        session.assert_quiet()


@pytest.mark.parametrize("version", [(5, 10), (5, 12)], ids=["Slicer-5.10", "Slicer-5.12"])
@pytest.mark.parametrize("name", ["test_SampleDataIsRegistered", "test_PanelBindsParameterNode",
                                  "test_MaskFromSelector"])
def test_module_self_tests_that_need_no_analysis(name: str, version: tuple[int, int], tmp_path: Path,
                                                 slicer_cache: Path) -> None:
    """The module's own self-test methods, run in testing mode as Slicer's self-test runner does."""
    with open_panel(tmp_path, slicer_cache, version=version, enter=False, testing=True) as panel:
        case = panel.module.IMRAnalysisTest()
        assert hasattr(case, name), f"IMRAnalysisTest has no {name}"
        case.setUp()
        getattr(case, name)()
        panel.session.assert_quiet()


@pytest.mark.parametrize("name", ["test_PhantomWorkflow", "test_CancelDuringRegistration", "test_SampleDataButton"])
def test_module_self_tests_that_run_the_analysis(name: str, tmp_path: Path, slicer_cache: Path) -> None:
    """The self-test methods the GitHub workflow runs in Slicer, run here first on the stand-ins (5.12)."""
    with open_panel(tmp_path, slicer_cache, version=(5, 12), enter=False, testing=True) as panel:
        case = panel.module.IMRAnalysisTest()
        case.setUp()
        getattr(case, name)()
        panel.session.assert_quiet()


def test_export_of_a_dicom_patient_writes_dicom_or_says_why_not(tmp_path: Path, slicer_cache: Path,
                                                               phantom_files: dict[str, Path],
                                                               default_phantom: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A post-EVT map read from a DICOM series exports ``dicom/``; where highdicom is missing the panel
    offers it only if Slicer's pydicom can take it (not 5.10's 2.4), and otherwise says why ``dicom/`` is absent."""
    from dicom_series import write_mr_series

    patient = tmp_path / "patient"
    patient.mkdir()
    for role in ("day5", "lesion"):
        shutil.copy(phantom_files[role], patient / phantom_files[role].name)
    write_mr_series(patient / "post", default_phantom.post)
    with open_panel(tmp_path / "session", slicer_cache) as panel:
        ui, session, logic = panel.ui, panel.session, panel.logic
        ui.patientFolderPathLineEdit.currentPath = str(patient)
        ui.loadPatientFolderButton.click()
        panel.apply()

        panel.export_to(tmp_path / "installed")
        result = next((tmp_path / "installed").iterdir())
        assert sorted(path.name for path in (result / "dicom").iterdir()) == [
            "asymmetry_map.dcm", "measurements.dcm", "overview.dcm", "segmentation.dcm"]
        assert not session.questions and ui.progressLabel.text == f"Results written to {result}"

        monkeypatch.setattr(logic, "dicomWriterInstalled", lambda: False)
        monkeypatch.setattr(logic, "pydicomVersion", lambda: "2.4.4")  # Slicer 5.10's
        panel.export_to(tmp_path / "old pydicom")
        assert not session.questions, "nothing to offer: installing would upgrade Slicer's own pydicom"
        assert "no dicom/ folder: DICOM results need pydicom 3.0.1 or newer, and this Slicer has 2.4.4" in (
            ui.progressLabel.text)

        installs: list[list[str]] = []
        monkeypatch.setattr(logic, "pydicomVersion", lambda: "3.0.2")
        monkeypatch.setattr(logic, "install", installs.append)
        session.answers.extend([False, True])
        panel.export_to(tmp_path / "declined")
        assert len(session.questions) == 1 and "highdicom" in session.questions[0].text
        assert "no dicom/ folder: highdicom~=0.28.2 was not installed" in ui.progressLabel.text
        panel.export_to(tmp_path / "accepted")
        assert installs == [[panel.module.DICOM_WRITER]]
        pinned = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["dependencies"]
        assert panel.module.DICOM_WRITER in [entry.split("#")[0].strip() for entry in pinned]
        session.assert_quiet()
