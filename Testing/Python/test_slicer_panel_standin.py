"""The stand-ins behave as Qt, PythonQt and Slicer do where the panel's flow tests rely on it.

A stand-in that is too lenient would let a flow test pass that fails in Slicer; each check
here pins one rule the flow tests depend on.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import pytest
import slicer
import vtk

from slicer_panel_standin import SlicerSession, runtime
from slicer_panel_standin.controls import (QCheckBox, QComboBox, QDoubleSpinBox, QProgressBar, QPushButton,
                                           ctkCollapsibleButton)
from slicer_panel_standin.event_loop import QTimer, loop, reset_loop
from slicer_panel_standin.mrml_widgets import qMRMLNodeComboBox
from slicer_panel_standin.parameter_nodes import Choice, Default, WithinRange, parameterNodeWrapper
from slicer_panel_standin.qobjects import QVBoxLayout


@pytest.fixture
def diagnostics() -> runtime.Diagnostics:
    return runtime.begin(runtime.Runtime()).diagnostics


def test_a_click_reaches_only_an_enabled_button_and_toggles_before_clicked(diagnostics: runtime.Diagnostics) -> None:
    section = ctkCollapsibleButton()
    section.setLayout(QVBoxLayout())
    button = QPushButton("Move")
    section.layout().addWidget(button)
    button.checkable = True
    seen = []
    button.connect("toggled(bool)", lambda checked: seen.append(("toggled", checked)))
    button.connect("clicked(bool)", lambda checked: seen.append(("clicked", checked)))
    button.connect("clicked()", lambda: seen.append(("clicked()",)))
    section.enabled = False
    button.click()
    assert seen == [] and not button.enabled and button.isEnabledTo(section)
    section.enabled = True
    button.click()
    assert seen == [("toggled", True), ("clicked", True), ("clicked()",)]
    section.collapsed = True
    assert not button.isVisible() and not button.isHidden()


def test_slots_get_the_arguments_they_take_and_their_exceptions_are_reported(
        diagnostics: runtime.Diagnostics) -> None:
    box = QCheckBox()
    got = []

    def failing(*args: object) -> None:
        raise RuntimeError("slot failed")

    box.connect("toggled(bool)", lambda: got.append("no argument"))
    box.connect("toggled(bool)", failing)
    box.connect("stateChanged(int)", lambda state, extra=None: got.append((state, extra)))
    box.checked = True
    assert got == [(2, None), "no argument"], "stateChanged comes before toggled, as in QCheckBox"
    assert [str(error.error) for error in diagnostics.slot_errors] == ["slot failed"]
    assert not box.connect("nodeAddedByUserAction(vtkMRMLNode*)", print)
    assert diagnostics.problems and "has no signal" in diagnostics.problems[0]


def test_values_follow_qt_rules(diagnostics: runtime.Diagnostics) -> None:
    spin = QDoubleSpinBox()
    assert (spin.minimum, spin.maximum, spin.decimals) == (0.0, 99.99, 2)
    changes = []
    spin.connect("valueChanged(double)", changes.append)
    spin.value = 123.456
    spin.value = 99.99
    assert spin.value == 99.99 and changes == [99.99], "clamped; the same value emits nothing"
    bar = QProgressBar()
    bar.setRange(0, 1)
    bar.value = 50
    assert bar.value == -1, "a value outside the range is ignored"
    combo = QComboBox()
    indices = []
    combo.connect("currentIndexChanged(int)", lambda index: indices.append(("changed", index)))
    combo.connect("activated(int)", lambda index: indices.append(("activated", index)))
    combo.addItems(["rCBV", "Tmax"])
    combo.currentIndex = 1
    combo.choose("rCBV")
    assert indices == [("changed", 0), ("changed", 1), ("changed", 0), ("activated", 0)]


@pytest.mark.parametrize("version, signals", [((5, 10), ["nodeAddedByUser", "nodeAddedByUser"]),
                                              ((5, 12), ["nodeAddedByUser", "nodeAddedByUserAction"])])
def test_create_new_in_a_node_selector_signals_as_the_slicer_version_does(
        version: tuple[int, int], signals: list[str]) -> None:
    runtime.begin(runtime.Runtime(version=version))
    scene = slicer.vtkMRMLScene()
    selector = qMRMLNodeComboBox()
    selector.nodeTypes = ["vtkMRMLTableNode"]
    selector.baseName = "Lesion"
    selector.setMRMLScene(scene)
    seen = []
    for name in ("nodeAddedByUser", "nodeAddedByUserAction"):
        selector.connect(f"{name}(vtkMRMLNode*)", lambda node, name=name: seen.append(name))
    created = selector.chooseCreateNew()
    assert seen == signals and selector.currentNode() is created and created.GetName() == "Lesion"
    assert hasattr(selector, "nodeAddedByUserAction") == (version >= (5, 12))
    seen.clear()
    selector.addNode()
    assert seen == ["nodeAddedByUser"], "the programmatic slot emits once in every version"
    scene.RemoveNode(selector.currentNode())
    assert selector.currentNode() is created, "without a None item another node is selected"
    selector.noneEnabled = True
    scene.RemoveNode(created)
    assert selector.currentNode() is None
    selector.dispose()


def test_work_off_the_main_thread_is_reported(diagnostics: runtime.Diagnostics, tmp_path: Path) -> None:
    label = QCheckBox()
    worker = threading.Thread(target=lambda: setattr(label, "checked", True))
    worker.start()
    worker.join()
    assert diagnostics.thread_violations
    with SlicerSession(tmp_path) as session:
        worker = threading.Thread(target=lambda: session.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode"))
        worker.start()
        worker.join()
        assert any("scene" in text for text in runtime.diagnostics().thread_violations)


def test_timers_fire_only_when_events_are_processed(diagnostics: runtime.Diagnostics) -> None:
    outer = loop()
    reset_loop()
    fired = []
    timer = QTimer()
    timer.setInterval(0)
    timer.connect("timeout()", lambda: fired.append("repeating"))
    timer.start()
    QTimer.singleShot(0, lambda: fired.append("single"))
    assert fired == []
    loop().processEvents()
    loop().processEvents()
    assert fired.count("repeating") == 2 and fired.count("single") == 1
    timer.stop()
    assert not loop().activeTimers()
    reset_loop(outer)


def test_parameter_node_wrapper_stores_as_slicer_and_binds_both_ways(diagnostics: runtime.Diagnostics) -> None:
    @parameterNodeWrapper
    class Parameters:
        threshold: Annotated[float, WithinRange(1.0, 99.0), Default(15.0)]
        direction: Annotated[str, Choice(["decrease", "increase"]), Default("decrease")]
        flag: bool
        volume: slicer.vtkMRMLScalarVolumeNode

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    parameters = Parameters(node)
    parameters.volume = volume
    assert (node.GetParameter("threshold"), node.GetParameter("flag"), node.GetNodeReference("volume")) == \
        ("15.0", "False", volume)
    with pytest.raises(ValueError):
        parameters.threshold = 100.0
    modified = []
    node.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda caller, event: modified.append(event))
    combo = QComboBox()
    combo.setProperty("SlicerParameterName", "direction")
    ui = type("", (), {})()
    ui.directionComboBox = combo
    tag = parameters.connectGui(ui)
    assert [combo.itemText(i) for i in range(combo.count)] == ["decrease", "increase"]
    combo.choose("increase")
    assert parameters.direction == "increase" and len(modified) == 1
    parameters.direction = "decrease"
    assert combo.currentText == "decrease"
    parameters.disconnectGui(tag)
    combo.choose("increase")
    assert parameters.direction == "decrease"


def test_a_session_leaves_slicer_core_as_it_found_it(tmp_path: Path) -> None:
    before = sys.modules["slicer"]
    with SlicerSession(tmp_path) as session:
        import slicer as inside

        assert inside is session.slicer and inside.mrmlScene is session.scene
        assert inside.vtkMRMLScene is before.vtkMRMLScene, "the real MRML classes"
        outer_runtime = runtime.current()
        with SlicerSession(tmp_path / "inner", version=(5, 10)):
            assert runtime.current().version == (5, 10)
        assert sys.modules["slicer"] is session.slicer and runtime.current() is outer_runtime
    assert sys.modules["slicer"] is before and not hasattr(before, "app")
    assert "qt" not in sys.modules and "IMRAnalysis" not in sys.modules
