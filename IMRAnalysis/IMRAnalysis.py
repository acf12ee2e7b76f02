"""3D Slicer module: impaired microvascular reperfusion (IMR) after stroke thrombectomy.

The panel drives ``IMRAnalysisLib.mrml.logic`` on the application's scene. The library
needs packages Slicer does not bundle, so it is imported inside methods, after the
user has agreed to install what is missing, never when Slicer loads this file.
"""

import datetime
import json
import logging
import os
import pathlib
import re
import shutil
import tempfile
from collections.abc import Callable
from typing import Annotated, Any

import qt
import slicer
import vtk
from slicer import (
    vtkMRMLMarkupsPlaneNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import (
    Choice,
    Default,
    WithinRange,
    parameterNodeWrapper,
)
from slicer.ScriptedLoadableModule import *
from slicer.util import VTKObservationMixin

SAMPLE_CATEGORY = "IMRAnalysis"
SAMPLE_NAME = "IMRPhantomPatient"
SEGMENT_EDITOR_SINGLETON_TAG = "IMRAnalysisSegmentEditor"
SCENE_BUNDLE_NAME = "IMRAnalysis-scene.mrb"
ASYMMETRY_OPACITY = 0.5
FILLED_SEGMENTS = {"Lesion": False, "IMR": True, "Hyperperfusion": True, "Exclusion": False}
PATIENT_LABEL_LENGTH = 60
DICOM_WRITER = "highdicom~=0.28.2"  # writes dicom/ (pyproject.toml pins the same)
DICOM_PYDICOM = "3.0.1"  # the oldest pydicom that DICOM_WRITER works with
RUN_POLL_MS = 100  # how often the panel looks at a run in its worker thread
BADGE_COLOURS = {"significant": "#c62828", "not significant": "#2e7d32", "not assessable": "#616161"}


#
# IMRAnalysis
#


class IMRAnalysis(ScriptedLoadableModule):
    """Module description shown in Slicer's module list and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("IMR Analysis")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Markups", "Segmentations"]
        self.parent.contributors = ["IMRAnalysis developers"]
        self.parent.helpText = _("""
Measures <b>impaired microvascular reperfusion (IMR)</b> after a successful thrombectomy:
voxels of the post-EVT rCBV map, inside the day-5 ischemic lesion, whose rCBV is more than
15 % below that of their mirror homolog in the other hemisphere. More than 5 mL is significant.
<ol>
<li><b>Inputs</b>: arrival, post-EVT and day-5 maps (or a patient folder, or the phantom sample), or maps
computed here from the DSC-MRI series of each timepoint.</li>
<li><b>Masks</b>: draw or correct the day-5 lesion and an optional exclusion (haemorrhage).</li>
<li><b>Parameters</b>: perfusion map (rCBV as in the paper, rCBF or Tmax), threshold, direction,
significance volume, patient flags.</li>
<li><b>Run</b>: registration, mid-sagittal plane, asymmetry map, IMR segment and measures.</li>
<li><b>Review</b>: edit the result masks or move the midline, then Recompute (no new registration).</li>
<li><b>Export</b>: metrics, segmentation, maps, transforms, overview and a scene bundle; DICOM objects for PACS when the post-EVT volume came from DICOM.</li>
</ol>
Method: Valls Carbo et al., Frontiers in Neurology 2025,
<a href="https://doi.org/10.3389/fneur.2025.1478240">doi 10.3389/fneur.2025.1478240</a>.
See the <a href="https://github.com/IMRAnalysis/SlicerIMRAnalysis#readme">README</a>.
""")
        self.parent.acknowledgementText = _("""
The IMR definition follows Valls Carbo et al. (Front. Neurol. 2025). The phantom sample patient
is built from the symmetric ICBM 2009a MNI152 template, Copyright (C) 1993-2009 Louis Collins,
McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill University.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data: the phantom patient, generated on this machine
#


def registerSampleData() -> None:
    """List the phantom patient in Sample Data; it is generated locally on first use, never downloaded."""
    import SampleData

    sampleDataLogic = SampleData.SampleDataLogic
    if hasattr(sampleDataLogic, "registerCustomSampleDataCategory"):  # Slicer >= 5.12
        sampleDataLogic.registerCustomSampleDataCategory(SAMPLE_CATEGORY, title=_("IMR Analysis"))
    folder = IMRAnalysisLogic.samplePatientFolder()
    sampleDataLogic.registerCustomSampleDataSource(
        category=SAMPLE_CATEGORY,
        sampleName=SAMPLE_NAME,
        uris=folder.as_uri(),
        fileNames=folder.name,
        thumbnailFileName=os.path.join(os.path.dirname(__file__), "Resources", "Icons", "IMRAnalysis.png"),
        customDownloader=loadSamplePatientFromSampleData,
    )


def loadSamplePatientFromSampleData(source: Any) -> None:
    """Sample Data button: the panel's own Load sample, so the inputs are known by their files and shown."""
    slicer.util.selectModule("IMRAnalysis")
    slicer.modules.IMRAnalysisWidget.onLoadSample()


def nodeCreationSignal(selector: Any) -> str:
    """The selector's signal for a node the user created: Slicer >= 5.12 has one emitted once per creation;
    5.10's ``nodeAddedByUser`` fires twice for one "Create new", so its slot must be idempotent."""
    if hasattr(selector, "nodeAddedByUserAction"):
        return "nodeAddedByUserAction(vtkMRMLNode*)"
    return "nodeAddedByUser(vtkMRMLNode*)"


def confirmInstall(question: str) -> bool:
    return slicer.util.confirmOkCancelDisplay(question, windowTitle=_("IMR Analysis - Python packages"))


#
# IMRAnalysisParameterNode
#


@parameterNodeWrapper
class IMRAnalysisParameterNode:
    """Every input, parameter and output reference of the panel, saved with the scene.

    Units are the ones users think in (percent, seconds, mL, mm, TE in ms); the logic converts
    them to the library's ``AnalysisParameters`` (threshold as a fraction, or seconds for Tmax).
    """

    arrivalVolume: vtkMRMLScalarVolumeNode
    postVolume: vtkMRMLScalarVolumeNode
    day5Volume: vtkMRMLScalarVolumeNode
    patientFolder: Annotated[pathlib.Path, Default(pathlib.Path.home())]
    lesionSegmentation: vtkMRMLSegmentationNode
    exclusionSegmentation: vtkMRMLSegmentationNode
    midlinePlane: vtkMRMLMarkupsPlaneNode
    dscEchoTimeMs: Annotated[float, WithinRange(0.0, 200.0), Default(0.0)]  # 0: from the series header
    dscRepetitionTimeS: Annotated[float, WithinRange(0.0, 10.0), Default(0.0)]  # 0: from the series header
    perfusionMap: Annotated[str, Choice(["rCBV", "rCBF", "Tmax"]), Default("rCBV")]
    thresholdPercent: Annotated[float, WithinRange(1.0, 99.0), Default(15.0)]
    thresholdSeconds: Annotated[float, WithinRange(0.1, 30.0), Default(2.0)]  # Tmax: this much longer than the mirror
    direction: Annotated[str, Choice(["decrease", "increase"]), Default("decrease")]
    significanceMl: Annotated[float, WithinRange(0.0, 1000.0), Default(5.0)]
    analysisPreset: Annotated[str, Choice(["robust", "published"]), Default("robust")]
    automaticSmoothing: Annotated[bool, Default(True)]  # the least smoothing the measured noise needs
    smoothingMm: Annotated[float, WithinRange(0.0, 10.0), Default(0.0)]  # used when not automatic
    floorFraction: Annotated[float, WithinRange(0.0, 0.95), Default(0.25)]
    minClusterMl: Annotated[float, WithinRange(0.0, 100.0), Default(0.0)]
    brainMask: Annotated[bool, Default(True)]
    registration: Annotated[bool, Default(True)]
    icaOcclusion: Annotated[bool, Default(False)]
    hemorrhagicTransformation: Annotated[bool, Default(False)]
    reocclusion: Annotated[bool, Default(False)]
    resultSegmentation: vtkMRMLSegmentationNode
    asymmetryVolume: vtkMRMLScalarVolumeNode
    resultTable: vtkMRMLTableNode
    exportFolder: Annotated[pathlib.Path, Default(pathlib.Path.home() / "IMRAnalysis-results")]


#
# IMRAnalysisWidget
#


def significanceBadge(measures: dict | None) -> tuple:
    """Text and verdict (a ``BADGE_COLOURS`` key, None before any result) of the label a reader must not miss."""
    if measures is None:
        return _("No result yet"), None
    from IMRAnalysisLib.conventions import verdict

    kind = verdict(measures).kind  # the library decides; the panel words it in the user's language
    if kind == "not assessable":
        return _("IMR not assessable: {reason}").format(reason=measures["not_assessable_reason"]), kind
    figures = _("{imr:.1f} mL ({relative:.0f} % of the {lesion:.1f} mL lesion)").format(
        imr=measures["imr_volume_ml"], relative=measures["imr_relative_percent"], lesion=measures["lesion_volume_ml"])
    if kind == "significant":
        return _("Significant IMR: {figures}").format(figures=figures), kind
    return _("No significant IMR: {figures}").format(figures=figures), kind


class IMRAnalysisWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: inputs, masks, midline, parameters, run, results and export sections."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._run = None  # the BackgroundRun under way, polled by _runTimer
        self._runTimer = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IMRAnalysis.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        # MRML widgets get the scene through the .ui's mrmlSceneChanged -> setMRMLScene connections
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = IMRAnalysisLogic()
        self._setupSegmentEditor()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self._connectButtons()
        self._runTimer = qt.QTimer()
        self._runTimer.setInterval(RUN_POLL_MS)
        self._runTimer.connect("timeout()", self._pollRun)
        self.initializeParameterNode()

    def _setupSegmentEditor(self) -> None:
        """The module's own editor node goes in before the scene, so the editor's choices are stored there."""
        editor = self.ui.segmentEditorWidget
        editor.setMaximumNumberOfUndoStates(10)
        editor.setMRMLSegmentEditorNode(self.logic.getSegmentEditorNode())
        editor.setMRMLScene(slicer.mrmlScene)

    def _connectButtons(self) -> None:
        ui = self.ui
        ui.loadPatientFolderButton.connect("clicked(bool)", self.onLoadPatientFolder)
        ui.loadSampleButton.connect("clicked(bool)", self.onLoadSample)
        ui.computeFromDscButton.connect("clicked(bool)", self.onComputeFromDsc)
        for pathLineEdit in self._dscPathLineEdits().values():
            pathLineEdit.connect("currentPathChanged(QString)", self._updateButtonStates)
        ui.perfusionMapComboBox.connect("activated(int)", self.onPerfusionMapChosen)
        for selector, segmentName in ((ui.lesionSegmentationSelector, "Lesion"), (ui.exclusionSegmentationSelector, "Exclusion")):
            selector.connect(nodeCreationSignal(selector), lambda node, name=segmentName: self.onMaskCreated(node, name))
        ui.editLesionButton.connect("clicked(bool)", self.onEditLesion)
        ui.editExclusionButton.connect("clicked(bool)", self.onEditExclusion)
        ui.editResultMasksButton.connect("clicked(bool)", self.onEditResultMasks)
        ui.showMidlineCheckBox.connect("toggled(bool)", self.onShowMidline)
        ui.moveMidlineButton.connect("toggled(bool)", self.onMoveMidline)
        ui.resetMidlineButton.connect("clicked(bool)", self.onResetMidline)
        ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        ui.recomputeButton.connect("clicked(bool)", self.onRecomputeButton)
        ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        ui.showAsymmetryCheckBox.connect("toggled(bool)", self.onShowAsymmetry)
        ui.exportButton.connect("clicked(bool)", self.onExportButton)

    def cleanup(self) -> None:
        """Slicer is closing: a run still going is cancelled; its thread dies with the process."""
        if self._run is not None:
            self._run.cancel()
            self._runTimer.stop()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self._selectSegmentEditorNode()
        self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self) -> None:
        editor = self.ui.segmentEditorWidget
        editor.setActiveEffect(None)
        editor.uninstallKeyboardShortcuts()
        editor.removeViewObservations()
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event) -> None:
        """The parameter node and every result die with the scene; a run under way is cancelled."""
        if self._run is not None:
            self._run.cancel()
        self.setParameterNode(None)
        self.logic.forgetResults()
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self.ui.segmentEditorWidget.removeViewObservations()
        self._showSignificance(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()
            self._selectSegmentEditorNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: IMRAnalysisParameterNode | None) -> None:
        """Bind the widgets (``SlicerParameterName`` in the .ui) to the node and follow its changes."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtonStates)
            self._updateButtonStates()

    def _selectSegmentEditorNode(self) -> None:
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self.logic.getSegmentEditorNode())
        self.ui.segmentEditorWidget.updateWidgetFromMRML()

    def _updateButtonStates(self, caller=None, event=None) -> None:
        node = self._parameterNode
        if node is None:
            return
        idle = not self.isRunning()
        results = idle and self.logic.hasResults()
        self.ui.applyButton.enabled = idle and bool(node.postVolume and node.day5Volume and node.lesionSegmentation)
        self.ui.computeFromDscButton.enabled = idle and bool(self._dscSeries())
        tmax = node.perfusionMap == "Tmax"  # a difference in seconds, not a ratio in percent
        self.ui.thresholdPercentSliderWidget.setVisible(not tmax)
        self.ui.thresholdSecondsSpinBox.setVisible(tmax)
        self.ui.recomputeButton.enabled = results
        self.ui.exportButton.enabled = results
        self.ui.resetMidlineButton.enabled = results
        self.ui.editResultMasksButton.enabled = results and bool(node.resultSegmentation and node.postVolume)
        self.ui.editLesionButton.enabled = bool(node.lesionSegmentation)
        self.ui.editExclusionButton.enabled = bool(node.exclusionSegmentation)
        self.ui.showMidlineCheckBox.enabled = bool(node.midlinePlane)
        self.ui.moveMidlineButton.enabled = bool(node.midlinePlane)

    # Inputs

    def onLoadPatientFolder(self) -> None:
        self._ensureDependencies()
        with slicer.util.tryWithErrorDisplay(_("Could not load the patient folder."), waitCursor=True):
            self.logic.loadPatientFolder(self._parameterNode, self._parameterNode.patientFolder)
            self._showInputs()
            self._rememberPaths(self.ui.patientFolderPathLineEdit)

    def onLoadSample(self) -> None:
        self._ensureDependencies()
        with slicer.util.tryWithErrorDisplay(_("Could not create the sample patient."), waitCursor=True):
            self.logic.loadSamplePatient(self._parameterNode)
            self._showInputs()

    def _dscPathLineEdits(self) -> dict:
        return {"arrival": self.ui.arrivalDscPathLineEdit, "post": self.ui.postDscPathLineEdit,
                "day5": self.ui.day5DscPathLineEdit}

    def _dscSeries(self) -> dict:
        """Timepoint -> DSC series file or DICOM folder, for the timepoints whose series is given."""
        return {role: pathlib.Path(edit.currentPath) for role, edit in self._dscPathLineEdits().items()
                if edit.currentPath.strip()}

    def onComputeFromDsc(self) -> None:
        self._ensureDependencies()
        with slicer.util.tryWithErrorDisplay(_("Could not compute the maps from the DSC series."), waitCursor=True):
            self.logic.computeMapsFromDsc(self._parameterNode, self._dscSeries())
            self._showInputs()
            self._rememberPaths(*self._dscPathLineEdits().values())

    def _rememberPaths(self, *pathLineEdits) -> None:
        """Used paths go into each field's history (kept under its settingKey) for next time."""
        for pathLineEdit in pathLineEdits:
            if pathLineEdit.currentPath.strip():
                pathLineEdit.addCurrentPathToHistory()

    def _showInputs(self) -> None:
        """Post-EVT map in the views, lesion ready to correct in the editor."""
        if not self._parameterNode.postVolume:
            return
        slicer.util.setSliceViewerLayers(background=self._parameterNode.postVolume, fit=True)
        if self._parameterNode.lesionSegmentation:
            self.onEditLesion()

    # Masks

    def onMaskCreated(self, segmentation: vtkMRMLSegmentationNode, segmentName: str) -> None:
        """A new mask gets the day-5 geometry (no cropping or resampling on save) and one empty segment
        (Slicer 5.10 signals the creation twice: the segment is made once)."""
        from IMRAnalysisLib.mrml.nodes import named_segment

        day5 = self._parameterNode.day5Volume
        if day5:
            segmentation.SetReferenceImageGeometryParameterFromVolumeNode(day5)
        segmentation.CreateDefaultDisplayNodes()
        named_segment(segmentation, segmentName)
        self._edit(segmentation, day5)

    def onEditLesion(self) -> None:
        self._edit(self._parameterNode.lesionSegmentation, self._parameterNode.day5Volume)

    def onEditExclusion(self) -> None:
        self._edit(self._parameterNode.exclusionSegmentation, self._parameterNode.day5Volume)

    def onEditResultMasks(self) -> None:
        """The result's Lesion and Exclusion segments live on the post-EVT grid that Recompute reads."""
        segmentation = self._parameterNode.resultSegmentation
        self._edit(segmentation, self._parameterNode.postVolume)
        self.ui.segmentEditorWidget.setCurrentSegmentID(segmentation.GetSegmentation().GetSegmentIdBySegmentName("Lesion"))

    def _edit(self, segmentation: vtkMRMLSegmentationNode, sourceVolume: vtkMRMLScalarVolumeNode | None) -> None:
        self.ui.segmentEditorWidget.setSegmentationNode(segmentation)
        self.ui.segmentEditorWidget.setSourceVolumeNode(sourceVolume)

    # Midline

    def onShowMidline(self, visible: bool) -> None:
        if self._parameterNode.midlinePlane:
            IMRAnalysisLogic.showMidline(self._parameterNode.midlinePlane, visible)

    def onMoveMidline(self, interactive: bool) -> None:
        if self._parameterNode.midlinePlane:
            IMRAnalysisLogic.setMidlineInteractive(self._parameterNode.midlinePlane, interactive)
        if not interactive and self.logic.hasResults():
            self.ui.progressLabel.text = _("Midline moved: click Recompute to measure with it.")

    def onResetMidline(self) -> None:
        self.ui.moveMidlineButton.checked = False
        self.logic.resetMidline()
        self.onRecomputeButton()

    # Parameters

    def onPerfusionMapChosen(self) -> None:
        """The chosen map's impaired side: rCBV and rCBF lower than the mirror, Tmax longer.

        The parameters need no package Slicer lacks, so choosing a map never asks to install one.
        """
        with slicer.util.tryWithErrorDisplay(_("Could not apply the defaults of the perfusion map.")):
            self.logic.applyMapDefaults(self._parameterNode)

    # Run

    def onApplyButton(self) -> None:
        """Inputs are read and checked here; the analysis then runs in a thread that ``_pollRun`` follows."""
        self._ensureDependencies()
        with slicer.util.tryWithErrorDisplay(_("IMR analysis failed."), waitCursor=True):
            self._run = self.logic.startRun(self._parameterNode)
            self._setRunning()
            self._runTimer.start()

    def isRunning(self) -> bool:
        return self._run is not None

    def onCancelButton(self) -> None:
        if self._run is not None:
            self._run.cancel()
            self.ui.progressLabel.text = _("Cancelling...")

    def _pollRun(self) -> None:
        """Stage and progress while the thread works; its results go into the scene here, on the GUI thread.

        A run goes on when the user leaves the module: its results land all the same.
        """
        from IMRAnalysisLib.errors import AnalysisCancelled

        status = self._run.status()
        self.ui.progressBar.value = round(100 * status.fraction)
        if not status.done:
            if not self._run.cancel_requested:
                self.ui.progressLabel.text = status.message
            return
        self._runTimer.stop()
        run, self._run = self._run, None
        self._setRunning()
        with slicer.util.tryWithErrorDisplay(_("IMR analysis failed."), waitCursor=True):
            try:
                outputs = self.logic.finishRun(run)
            except AnalysisCancelled:
                self.ui.progressBar.value = 0
                self.ui.progressLabel.text = _("Analysis cancelled: the scene is as it was.")
                return
            self._showResults(outputs)
            self.ui.progressBar.value = self.ui.progressBar.maximum
            self.ui.progressLabel.text = _("Done.")

    def onRecomputeButton(self) -> None:
        """Recomputing reuses the registration and takes about a second: it runs in the GUI thread."""
        self._ensureDependencies()
        with slicer.util.tryWithErrorDisplay(_("Recomputing IMR failed."), waitCursor=True):
            self._showResults(self.logic.recompute(self._parameterNode))
            self.ui.progressLabel.text = _("Done.")

    def _setRunning(self) -> None:
        """While a run is under way only Cancel acts: every input of the run is locked."""
        running = self.isRunning()
        for section in (self.ui.inputsCollapsibleButton, self.ui.masksCollapsibleButton, self.ui.midlineCollapsibleButton,
                        self.ui.parametersCollapsibleButton, self.ui.exportCollapsibleButton):
            section.enabled = not running
        self.ui.cancelButton.enabled = running
        if running:
            self.ui.progressBar.value = 0
        self._updateButtonStates()

    def _ensureDependencies(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("IMR Analysis needs Python packages that are not installed.")):
            self.logic.ensureDependencies(confirm=confirmInstall)

    # Results

    def _showResults(self, outputs: Any) -> None:
        """Verdict badge, and the slice views: post-EVT under the asymmetry map, IMR filled, lesion outlined."""
        self._showSignificance(outputs.measures)
        foregroundOpacity = ASYMMETRY_OPACITY if self.ui.showAsymmetryCheckBox.checked else 0.0
        slicer.util.setSliceViewerLayers(background=outputs.post, foreground=outputs.asymmetry,
                                         foregroundOpacity=foregroundOpacity)
        IMRAnalysisLogic.styleSegments(outputs.segmentation)
        IMRAnalysisLogic.showMidline(outputs.plane, self.ui.showMidlineCheckBox.checked)
        IMRAnalysisLogic.setMidlineInteractive(outputs.plane, self.ui.moveMidlineButton.checked)
        self.ui.resultsTableView.setMRMLTableNode(outputs.table)

    def _showSignificance(self, measures: dict | None) -> None:
        text, verdict = significanceBadge(measures)
        self.ui.significanceLabel.text = text
        style = "" if verdict is None else (
            f"QLabel {{ background-color: {BADGE_COLOURS[verdict]}; color: white; font-weight: bold; border-radius: 4px; }}")
        self.ui.significanceLabel.setStyleSheet(style)

    def onShowAsymmetry(self, visible: bool) -> None:
        slicer.util.setSliceViewerLayers(foregroundOpacity=ASYMMETRY_OPACITY if visible else 0.0)

    # Export

    def onExportButton(self) -> None:
        """A new result folder inside the chosen one; only an earlier result folder is replaced, after asking."""
        self._ensureDependencies()
        chosen = self._parameterNode.exportFolder
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            target, replaced = self.logic.exportTarget(chosen)
            if replaced is not None and not slicer.util.confirmYesNoDisplay(
                    _("{folder} holds IMR results exported earlier. Replace that folder and its {count} files "
                      "({files}) with these results?").format(folder=target, count=len(replaced),
                                                              files=", ".join(replaced))):
                return
            dicomNote = self.logic.dicomExportNote(self._parameterNode, confirmInstall)
            written = self.logic.exportResults(target, overwrite=replaced is not None)
            self.ui.progressLabel.text = _("Results written to {folder}").format(folder=written) + (
                f" ({dicomNote})" if dicomNote else "")
            self._rememberPaths(self.ui.exportFolderPathLineEdit)


#
# IMRAnalysisLogic
#


class IMRAnalysisLogic(ScriptedLoadableModuleLogic):
    """Thin layer over ``IMRMrmlLogic`` on ``slicer.mrmlScene``; no GUI calls, usable from scripts."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self._mrmlLogic = None
        self._outputs = None
        self._estimatedMidline = None
        self._pending = None  # (parameter node, RunJob) of the run in a worker thread

    def getParameterNode(self) -> IMRAnalysisParameterNode:
        return IMRAnalysisParameterNode(super().getParameterNode())

    @staticmethod
    def getSegmentEditorNode():
        """The module's own segment editor node, so editing here leaves the Segment Editor module's state alone."""
        node = slicer.mrmlScene.GetSingletonNode(SEGMENT_EDITOR_SINGLETON_TAG, "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.vtkMRMLSegmentEditorNode()
            node.SetSingletonTag(SEGMENT_EDITOR_SINGLETON_TAG)
            node = slicer.mrmlScene.AddNode(node)
        return node

    # Dependencies

    @staticmethod
    def requirements() -> list:
        """Requirement lines of ``Resources/requirements.txt``: what the library needs and Slicer does not bundle."""
        path = pathlib.Path(__file__).parent / "Resources" / "requirements.txt"
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        return [line for line in lines if line]

    def missingRequirements(self) -> list:
        from importlib import metadata

        from packaging.requirements import Requirement

        missing = []
        for line in self.requirements():
            requirement = Requirement(line)
            try:
                installed = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                installed = None
            if installed is None or not requirement.specifier.contains(installed, prereleases=True):
                missing.append(line)
        return missing

    def ensureDependencies(self, confirm: Callable[[str], bool]) -> None:
        """Install what is missing once ``confirm`` (the GUI's question) agrees; raise if it does not."""
        missing = self.missingRequirements()
        if not missing:
            return
        packages = "\n".join(missing)
        if not confirm(_("IMR Analysis needs these Python packages, which Slicer does not bundle:\n\n{packages}\n\n"
                         "Install them now?").format(packages=packages)):
            raise RuntimeError(_("IMR Analysis cannot run without: {packages}").format(packages=", ".join(missing)))
        self.install(missing)

    @staticmethod
    def install(requirements: list) -> None:
        try:
            from slicer.packaging import pip_ensure  # Slicer >= 5.12
        except ImportError:
            slicer.util.pip_install(requirements)
        else:
            pip_ensure(requirements, prompt_install=False, requester="IMR Analysis")

    def dicomExportNote(self, parameterNode: IMRAnalysisParameterNode, confirm: Callable[[str], bool]) -> str | None:
        """Make Export able to write ``dicom/`` for a post-EVT map read from DICOM; else say why it will not.

        ``dicom/`` needs highdicom, which Slicer does not bundle and which needs pydicom
        ``DICOM_PYDICOM``: it is installed, after asking, only where Slicer's own pydicom is
        that recent, since upgrading Slicer's pydicom could break its DICOM module (Slicer
        5.10 ships 2.4). Returns why ``dicom/`` will be missing, or None.
        """
        if self._mrml().dicom_source(parameterNode.postVolume) is None or self.dicomWriterInstalled():
            return None
        from packaging.version import Version

        have = self.pydicomVersion()
        if have is None or Version(have) < Version(DICOM_PYDICOM):
            return _("no dicom/ folder: DICOM results need pydicom {need} or newer, and this Slicer has {have}").format(
                need=DICOM_PYDICOM, have=have or _("none"))
        if not confirm(_("The post-EVT map is a DICOM series, so the results can also be written as DICOM objects "
                         "for PACS (dicom/). That needs the Python package {package}, which Slicer does not bundle.\n\n"
                         "Install it now?").format(package=DICOM_WRITER)):
            return _("no dicom/ folder: {package} was not installed").format(package=DICOM_WRITER)
        self.install([DICOM_WRITER])
        return None

    @staticmethod
    def dicomWriterInstalled() -> bool:
        from IMRAnalysisLib.io.dicom import writer_available

        return writer_available()

    @staticmethod
    def pydicomVersion() -> str | None:
        from importlib import metadata

        try:
            return metadata.version("pydicom")
        except metadata.PackageNotFoundError:
            return None

    # Inputs

    @staticmethod
    def samplePatientFolder() -> pathlib.Path:
        return pathlib.Path(slicer.app.cachePath) / "IMRAnalysis" / "PhantomPatient"

    def ensureSamplePatient(self) -> pathlib.Path:
        """The default phantom patient, written once into Slicer's cache; ``truth.json`` (written last) marks it complete."""
        folder = self.samplePatientFolder()
        if (folder / "truth.json").is_file():
            return folder
        from IMRAnalysisLib.phantom.template import make_phantom

        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        make_phantom("default").write(staging, fmt="nrrd")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        return folder

    def loadSamplePatient(self, parameterNode: IMRAnalysisParameterNode) -> pathlib.Path:
        folder = self.ensureSamplePatient()
        self.loadPatientFolder(parameterNode, folder)
        return folder

    def loadPatientFolder(self, parameterNode: IMRAnalysisParameterNode, folder: pathlib.Path) -> None:
        """``post.*`` or ``post_dsc.*`` etc.: a timepoint's DSC series gives the map chosen in the parameters."""
        te, tr = self.dscTimes(parameterNode)
        nodes = self._mrml().load_patient_folder(folder, te, tr, self.perfusionMap(parameterNode))
        parameterNode.patientFolder = pathlib.Path(folder)
        parameterNode.arrivalVolume = nodes.get("arrival")
        parameterNode.postVolume = nodes["post"]
        parameterNode.day5Volume = nodes["day5"]
        parameterNode.lesionSegmentation = self._asSegmentation(nodes["lesion"], nodes["day5"])
        parameterNode.exclusionSegmentation = self._asSegmentation(nodes.get("exclusion"), nodes["day5"])

    def computeMapsFromDsc(self, parameterNode: IMRAnalysisParameterNode, series: dict) -> dict:
        """Each timepoint's (``post``, ``day5``, ``arrival``) chosen map from its DSC series, selected as its input."""
        if not series:
            raise ValueError(_("Give the DSC series (file or DICOM folder) of at least one timepoint."))
        te, tr = self.dscTimes(parameterNode)
        nodes = {}
        for role, path in series.items():
            nodes[role] = self._mrml().volume_from_dsc(path, role, te, tr, self.perfusionMap(parameterNode))
            setattr(parameterNode, f"{role}Volume", nodes[role])
        return nodes

    @staticmethod
    def dscTimes(parameterNode: IMRAnalysisParameterNode) -> tuple:
        """TE and TR in seconds; None (read from the series header) where the panel says 0."""
        return parameterNode.dscEchoTimeMs / 1000.0 or None, parameterNode.dscRepetitionTimeS or None

    @staticmethod
    def perfusionMap(parameterNode: IMRAnalysisParameterNode) -> str:
        """The library's name of the chosen map (``rcbv``, ``rcbf``, ``tmax``)."""
        return parameterNode.perfusionMap.lower()

    @staticmethod
    def _asSegmentation(node, referenceVolume: vtkMRMLScalarVolumeNode) -> vtkMRMLSegmentationNode | None:
        """Masks are edited as segmentations; a labelmap is imported onto its study's geometry."""
        if node is None or node.IsA("vtkMRMLSegmentationNode"):
            return node
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", node.GetName())
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(referenceVolume)
        segmentation.CreateDefaultDisplayNodes()
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(node, segmentation):
            raise RuntimeError(_("Could not turn {name} into a segmentation").format(name=node.GetName()))
        return segmentation

    # Analysis

    @classmethod
    def analysisParameters(cls, parameterNode: IMRAnalysisParameterNode):
        """The preset and the chosen map's defaults (``AnalysisParameters.for_map``) with the panel's values."""
        from IMRAnalysisLib.parameters import AUTO, PRESETS, AnalysisParameters

        perfusionMap = cls.perfusionMap(parameterNode)
        tmax = perfusionMap == "tmax"
        return AnalysisParameters.for_map(
            perfusionMap,
            **PRESETS[parameterNode.analysisPreset],
            threshold=AnalysisParameters.threshold_for_map(
                perfusionMap, parameterNode.thresholdSeconds if tmax else parameterNode.thresholdPercent),
            direction=parameterNode.direction,
            significance_ml=parameterNode.significanceMl,
            smoothing_mm=AUTO if parameterNode.automaticSmoothing else parameterNode.smoothingMm,
            floor_fraction=parameterNode.floorFraction,
            brain_mask=parameterNode.brainMask,
            min_cluster_ml=parameterNode.minClusterMl,
            registration=parameterNode.registration,
        )

    @classmethod
    def applyMapDefaults(cls, parameterNode: IMRAnalysisParameterNode) -> None:
        """The direction that means impaired for the chosen map (``AnalysisParameters.for_map``)."""
        from IMRAnalysisLib.parameters import AnalysisParameters

        parameterNode.direction = AnalysisParameters.for_map(cls.perfusionMap(parameterNode)).direction

    @staticmethod
    def patientFlags(parameterNode: IMRAnalysisParameterNode):
        from IMRAnalysisLib.parameters import PatientFlags

        return PatientFlags(
            ica_occlusion=parameterNode.icaOcclusion,
            hemorrhagic_transformation=parameterNode.hemorrhagicTransformation,
            reocclusion=parameterNode.reocclusion,
        )

    def run(self, parameterNode: IMRAnalysisParameterNode, progress: Callable[[str], None] | None = None,
            cancel: Callable[[], bool] | None = None):
        """The whole analysis of the selected patient, in this thread (scripts); returns ``MrmlOutputs``."""
        job = self._prepare(parameterNode)
        return self._apply(parameterNode, job, job.compute(progress or logging.info, cancel))

    def startRun(self, parameterNode: IMRAnalysisParameterNode):
        """The analysis in a worker thread (a ``BackgroundRun``); inputs are read and checked before it starts.

        ``finishRun`` then puts the results into the scene, from the thread that owns it.
        """
        from IMRAnalysisLib.background import BackgroundRun
        from IMRAnalysisLib.analysis.pipeline import RUN_STAGES

        job = self._prepare(parameterNode)
        self._pending = (parameterNode, job)
        return BackgroundRun(job.compute, RUN_STAGES).start()

    def finishRun(self, run):
        """Results of a finished ``startRun`` into the scene; raises ``AnalysisCancelled`` for a cancelled run."""
        pending, self._pending = self._pending, None
        result = run.outcome()  # a run cancelled by a scene close raises here, before its nodes are used
        parameterNode, job = pending
        return self._apply(parameterNode, job, result)

    def _prepare(self, parameterNode: IMRAnalysisParameterNode):
        from IMRAnalysisLib.mrml.logic import SegmentRef

        if not (parameterNode.postVolume and parameterNode.day5Volume and parameterNode.lesionSegmentation):
            raise ValueError(_("Select the post-EVT map, the day-5 map and the lesion segmentation."))
        exclusion = parameterNode.exclusionSegmentation
        return self._mrml().prepare(
            parameterNode.postVolume,
            parameterNode.day5Volume,
            SegmentRef(parameterNode.lesionSegmentation),
            exclusion=SegmentRef(exclusion) if exclusion else None,
            arrival=parameterNode.arrivalVolume,
            parameters=self.analysisParameters(parameterNode),
            flags=self.patientFlags(parameterNode),
        )

    def _apply(self, parameterNode: IMRAnalysisParameterNode, job, result):
        outputs = self._mrml().apply(job, result)
        self._estimatedMidline = self._planePose(outputs.plane)
        return self._keep(parameterNode, outputs)

    def recompute(self, parameterNode: IMRAnalysisParameterNode):
        """Measure again after mask edits, a moved plane or new parameters; the registration is reused."""
        outputs = self._requireResults().recompute(
            parameters=self.analysisParameters(parameterNode), flags=self.patientFlags(parameterNode))
        return self._keep(parameterNode, outputs)

    def hasResults(self) -> bool:
        return self._outputs is not None

    def measures(self) -> dict:
        self._requireResults()
        return self._outputs.measures

    def forgetResults(self) -> None:
        """After a scene close the nodes the results refer to are gone."""
        self._mrmlLogic = None
        self._outputs = None
        self._estimatedMidline = None
        self._pending = None

    def resetMidline(self) -> None:
        """Put the plane back where the analysis estimated it."""
        self._requireResults()
        origin, normal = self._estimatedMidline
        self._outputs.plane.SetOriginWorld(origin)
        self._outputs.plane.SetNormalWorld(normal)

    def exportTarget(self, chosen: pathlib.Path, now: datetime.datetime | None = None) -> tuple:
        """Where Export writes for the folder the user chose, and the files it would replace (None: nothing).

        The chosen folder is replaced only when it is itself a result folder of this module;
        otherwise a new folder named after the patient and the time is made inside it, and
        nothing of the user's is touched.
        """
        from IMRAnalysisLib.io.safe_output import replaceable_result_folder

        chosen = pathlib.Path(chosen)
        replaced = replaceable_result_folder(chosen)
        if replaced is not None:
            return chosen, replaced
        stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
        base = f"IMR_{self.patientLabel()}_{stamp}"
        target, copy = chosen / base, 1
        while target.exists() or target.is_symlink():
            copy += 1
            target = chosen / f"{base}-{copy}"
        return target, None

    def patientLabel(self) -> str:
        """The patient folder's name (the post-EVT map's folder), else the map's node name; safe as a file name."""
        post = pathlib.Path(str(self.measures()["inputs"]["post"]))
        label = post.parent.name if post.parent.name else post.name
        return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._")[:PATIENT_LABEL_LENGTH] or "patient"

    def exportResults(self, folder: pathlib.Path, overwrite: bool = False) -> pathlib.Path:
        """The result folder with a scene bundle that reopens the whole review in Slicer, written as one."""
        def saveBundle(staging: pathlib.Path) -> None:
            bundle = staging / SCENE_BUNDLE_NAME
            scene = slicer.mrmlScene
            url, rootDirectory = scene.GetURL(), scene.GetRootDirectory()
            try:
                if not slicer.util.saveScene(str(bundle)):
                    raise RuntimeError(_("Could not save the scene bundle {path}").format(path=bundle))
            finally:  # the staging folder is renamed away: File > Save must not point into it
                scene.SetURL(url)
                scene.SetRootDirectory(rootDirectory)

        return pathlib.Path(self._requireResults().export(folder, overwrite=overwrite, also=saveBundle))

    def _mrml(self):
        if self._mrmlLogic is None:
            from IMRAnalysisLib.mrml.logic import IMRMrmlLogic

            self._mrmlLogic = IMRMrmlLogic(slicer.mrmlScene)
        return self._mrmlLogic

    def _requireResults(self):
        if self._outputs is None:
            from IMRAnalysisLib.errors import NoAnalysisYet

            raise NoAnalysisYet(_("Run the analysis first: this step reuses its registration and results."))
        return self._mrmlLogic

    def _keep(self, parameterNode: IMRAnalysisParameterNode, outputs):
        self._outputs = outputs
        parameterNode.resultSegmentation = outputs.segmentation
        parameterNode.asymmetryVolume = outputs.asymmetry
        parameterNode.resultTable = outputs.table
        parameterNode.midlinePlane = outputs.plane
        return outputs

    @staticmethod
    def _planePose(plane: vtkMRMLMarkupsPlaneNode) -> tuple:
        origin, normal = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
        plane.GetOriginWorld(origin)
        plane.GetNormalWorld(normal)
        return origin, normal

    # Display of results (MRML display nodes, no widgets)

    @staticmethod
    def styleSegments(segmentation: vtkMRMLSegmentationNode) -> None:
        """IMR and hyperperfusion filled, lesion and exclusion outlined, so the lesion's edge stays visible."""
        segmentation.CreateDefaultDisplayNodes()
        display = segmentation.GetDisplayNode()
        for name, filled in FILLED_SEGMENTS.items():
            segmentId = segmentation.GetSegmentation().GetSegmentIdBySegmentName(name)
            if segmentId:
                display.SetSegmentVisibility2DFill(segmentId, filled)
                display.SetSegmentVisibility2DOutline(segmentId, True)

    @staticmethod
    def showMidline(plane: vtkMRMLMarkupsPlaneNode, visible: bool) -> None:
        plane.CreateDefaultDisplayNodes()
        plane.GetDisplayNode().SetVisibility(visible)

    @staticmethod
    def setMidlineInteractive(plane: vtkMRMLMarkupsPlaneNode, interactive: bool) -> None:
        """Handles to translate and rotate the plane while moving; locked otherwise against stray drags."""
        plane.CreateDefaultDisplayNodes()
        display = plane.GetDisplayNode()
        display.SetHandlesInteractive(interactive)
        display.SetTranslationHandleVisibility(interactive)
        display.SetRotationHandleVisibility(interactive)
        display.SetScaleHandleVisibility(False)
        plane.SetLocked(not interactive)


#
# IMRAnalysisTest
#


class IMRAnalysisTest(ScriptedLoadableModuleTest):
    """The panel and the logic on the phantom patient, whose IMR volume is known."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        for test in (self.test_SampleDataIsRegistered, self.test_PanelBindsParameterNode, self.test_MaskFromSelector,
                     self.test_PhantomWorkflow, self.test_CancelDuringRegistration, self.test_SampleDataButton,
                     self.test_DscSeriesInputs):
            self.setUp()
            test()

    def test_SampleDataIsRegistered(self) -> None:
        import SampleData

        registerSampleData()
        self.assertIsNotNone(SampleData.SampleDataLogic().sourceForSampleName(SAMPLE_NAME))

    def test_PanelBindsParameterNode(self) -> None:
        slicer.util.selectModule("IMRAnalysis")
        widget = slicer.modules.IMRAnalysisWidget
        parameterNode = widget.logic.getParameterNode()
        self.assertAlmostEqual(widget.ui.thresholdPercentSliderWidget.value, 15.0)
        parameterNode.thresholdPercent = 20.0
        self.assertAlmostEqual(widget.ui.thresholdPercentSliderWidget.value, 20.0)
        widget.ui.directionComboBox.currentIndex = 1
        self.assertEqual(parameterNode.direction, "increase")
        self.assertFalse(widget.ui.applyButton.enabled, "Apply needs the inputs")

    def test_MaskFromSelector(self) -> None:
        """"Create new segmentation" in the lesion selector gives one segment named Lesion, also when Slicer 5.10
        signals the creation a second time."""
        widget, parameterNode, _truth = self._panelWithSamplePatient()
        selector = widget.ui.lesionSegmentationSelector
        created = selector.addNode()  # signals nodeAddedByUser once, never nodeAddedByUserAction
        # what "Create new" adds: nodeAddedByUserAction on 5.12+, 5.10's second nodeAddedByUser
        widget.onMaskCreated(created, "Lesion")
        self.assertIs(parameterNode.lesionSegmentation, created)
        segmentation = created.GetSegmentation()
        self.assertEqual(segmentation.GetNumberOfSegments(), 1)
        self.assertEqual(segmentation.GetNthSegment(0).GetName(), "Lesion")
        self.delayDisplay("Test passed")

    def test_PhantomWorkflow(self) -> None:
        """Apply, edit, Recompute and Export through the panel; IMR within 15 % or 0.5 mL of the truth."""
        widget, parameterNode, truth = self._panelWithSamplePatient()
        logic = widget.logic

        widget.ui.applyButton.click()
        self.assertTrue(widget.isRunning(), "the analysis runs in the background")
        self._waitForRun(widget)
        self.assertTrue(logic.hasResults(), "the analysis did not finish: see the log")
        measures = logic.measures()
        self.assertEqual(measures["status"], "assessable")
        self.assertLessEqual(abs(measures["imr_volume_ml"] - truth), max(0.15 * truth, 0.5))
        self.assertEqual(measures["significant_imr"], truth > parameterNode.significanceMl)
        self.assertEqual(widget.ui.significanceLabel.text, significanceBadge(measures)[0])
        self.delayDisplay("Analysis matches the phantom truth")

        self._removeImrFromLesion(parameterNode.resultSegmentation, parameterNode.postVolume)
        widget.ui.recomputeButton.click()
        edited = logic.measures()["imr_volume_ml"]
        self.assertLess(edited, 0.5 * measures["imr_volume_ml"])

        usersFolder = pathlib.Path(tempfile.mkdtemp())  # a folder of the user's, with their own file in it
        (usersFolder / "notes.txt").write_text("the user's notes")
        parameterNode.exportFolder = usersFolder
        widget.ui.exportButton.click()
        self.assertEqual((usersFolder / "notes.txt").read_text(), "the user's notes")
        written = [path for path in usersFolder.iterdir() if path.is_dir()]
        self.assertEqual(len(written), 1, "one new result folder inside the chosen one")
        for name in ("metrics.json", "Segmentation.seg.nrrd", "asymmetry_percent.nrrd", "midline.json", SCENE_BUNDLE_NAME):
            self.assertTrue((written[0] / name).is_file(), name)
        metrics = json.loads((written[0] / "metrics.json").read_text())
        self.assertAlmostEqual(metrics["imr_volume_ml"], edited, places=6)
        shutil.rmtree(usersFolder)
        self.delayDisplay("Test passed")

    def test_CancelDuringRegistration(self) -> None:
        """Cancel acts within about a second and leaves the scene as it was."""
        import time

        widget, parameterNode, _truth = self._panelWithSamplePatient()
        nodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        widget.ui.applyButton.click()
        self._waitForRun(widget, until=lambda: not widget.isRunning() or "registering" in widget.ui.progressLabel.text)
        self.assertTrue(widget.isRunning(), "the run ended before its registration")
        clicked = time.monotonic()
        widget.ui.cancelButton.click()
        self._waitForRun(widget)
        self.assertLess(time.monotonic() - clicked, 2.0)
        self.assertIn("cancelled", widget.ui.progressLabel.text)
        self.assertFalse(widget.logic.hasResults())
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), nodesBefore)
        self.assertTrue(widget.ui.applyButton.enabled)
        self.delayDisplay("Test passed")

    def test_SampleDataButton(self) -> None:
        """The Sample Data entry loads through the panel: its inputs are files, shown in the slice views."""
        loadSamplePatientFromSampleData(None)
        widget = slicer.modules.IMRAnalysisWidget
        parameterNode = widget.logic.getParameterNode()
        self.assertTrue(parameterNode.postVolume and parameterNode.day5Volume and parameterNode.lesionSegmentation)
        background = slicer.app.layoutManager().sliceWidget("Red").sliceLogic().GetSliceCompositeNode().GetBackgroundVolumeID()
        self.assertEqual(background, parameterNode.postVolume.GetID())
        widget.ui.applyButton.click()
        self._waitForRun(widget)
        post = pathlib.Path(widget.logic.measures()["inputs"]["post"])
        self.assertTrue(post.is_file(), post)
        self.delayDisplay("Test passed")

    def test_DscSeriesInputs(self) -> None:
        """Maps computed in the panel from the phantom's DSC series: IMR within 25 % or 1 mL of the truth; Tmax in s."""
        from IMRAnalysisLib.phantom.template import make_phantom
        from IMRAnalysisLib.phantom.dsc import DscPhantomConfig, patient_dsc, write_series

        widget, parameterNode, truth = self._panelWithSamplePatient()  # its lesion is drawn on the day-5 grid
        logic = widget.logic
        seriesFolder = pathlib.Path(tempfile.mkdtemp())
        series = patient_dsc(make_phantom("default"), DscPhantomConfig(noise_sd=0.5), ("post", "day5"))
        widget.ui.postDscPathLineEdit.currentPath = str(write_series(series["post"], seriesFolder / "post_dsc.nrrd"))
        widget.ui.day5DscPathLineEdit.currentPath = str(write_series(series["day5"], seriesFolder / "day5_dsc.nrrd"))

        widget.ui.computeFromDscButton.click()
        self.assertEqual(parameterNode.postVolume.GetName(), "post-EVT rCBV (from DSC)")
        self.assertEqual(parameterNode.day5Volume.GetName(), "day-5 rCBV (from DSC)")
        widget.ui.applyButton.click()
        self._waitForRun(widget)
        self.assertTrue(logic.hasResults(), "the analysis did not finish: see the log")
        measures = logic.measures()
        self.assertTrue(pathlib.Path(measures["inputs"]["post"]).samefile(seriesFolder / "post_dsc.nrrd"))
        self.assertLessEqual(abs(measures["imr_volume_ml"] - truth), max(0.25 * truth, 1.0))
        self.delayDisplay("IMR from DSC series matches the phantom truth")

        parameterNode.perfusionMap = "Tmax"
        widget.onPerfusionMapChosen()
        self.assertEqual(parameterNode.direction, "increase")
        self.assertTrue(widget.ui.thresholdPercentSliderWidget.isHidden())
        self.assertFalse(widget.ui.thresholdSecondsSpinBox.isHidden())
        parameters = logic.analysisParameters(parameterNode)
        self.assertEqual((parameters.perfusion_map, parameters.asymmetry, parameters.threshold),
                         ("tmax", "difference", 2.0))
        shutil.rmtree(seriesFolder)
        self.delayDisplay("Test passed")

    def _panelWithSamplePatient(self) -> tuple:
        """The module's widget with the phantom patient loaded, its parameter node and the phantom's IMR volume."""
        slicer.util.selectModule("IMRAnalysis")
        widget = slicer.modules.IMRAnalysisWidget
        widget.logic.ensureDependencies(confirm=lambda question: True)
        parameterNode = widget.logic.getParameterNode()
        folder = widget.logic.loadSamplePatient(parameterNode)
        self.delayDisplay("Sample patient loaded")
        return widget, parameterNode, json.loads((folder / "truth.json").read_text())["imr_volume_ml"]

    @staticmethod
    def _waitForRun(widget: IMRAnalysisWidget, until: Callable[[], bool] | None = None, timeout: float = 300.0) -> None:
        """Let the panel's timer follow the background run until ``until`` (default: the run ended)."""
        import time

        until = until or (lambda: not widget.isRunning())
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError("the analysis did not end in time")
            slicer.app.processEvents()
            time.sleep(0.02)

    @staticmethod
    def _removeImrFromLesion(segmentationNode: vtkMRMLSegmentationNode, referenceVolume: vtkMRMLScalarVolumeNode) -> None:
        """The edit a reader would make to drop IMR: erase the lesion wherever IMR was found."""
        segmentation = segmentationNode.GetSegmentation()
        lesionId = segmentation.GetSegmentIdBySegmentName("Lesion")
        imr = slicer.util.arrayFromSegmentBinaryLabelmap(
            segmentationNode, segmentation.GetSegmentIdBySegmentName("IMR"), referenceVolume)
        lesion = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, lesionId, referenceVolume)
        lesion[imr > 0] = 0
        slicer.util.updateSegmentBinaryLabelmapFromArray(lesion, segmentationNode, lesionId, referenceVolume)
