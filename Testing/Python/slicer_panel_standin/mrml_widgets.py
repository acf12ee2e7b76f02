"""Slicer's MRML widgets over the real scene: the node selector, and recorders for the editor and table views.

``qMRMLNodeComboBox`` lists the scene's nodes of its ``nodeTypes`` (subclasses only with
``showChildNodeTypes``; nodes hidden from editors are not listed) and follows the scene:
a removed current node is deselected. ``addNode()`` is Slicer's programmatic slot (one
``nodeAddedByUser``); ``chooseCreateNew()`` is the user picking "Create new ..." in the list,
which on Slicer 5.10 emits ``nodeAddedByUser`` a second time and has no
``nodeAddedByUserAction``, and on 5.12 and later emits ``nodeAddedByUserAction`` once.

The segment editor and the table view cannot be emulated; their stand-ins accept only the
method names of the real classes (so a misspelt call fails as in Slicer), record every call,
and keep what a setter set, handing the segment editor's choices to its real
``vtkMRMLSegmentEditorNode`` as the real widget does.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import slicer as slicer_core  # the real MRML classes; this module never needs the stand-in
import vtk

from . import runtime
from .qobjects import QObject, QWidget, StoredProperty, stores


def _withNode(method: Callable[[Any], None]) -> Callable[[Any, Any, Any], None]:
    """A scene observer that receives the added or removed node (VTK passes it only when asked to).

    It holds its widget weakly: a scene outliving the widget must not call into a dead one.
    """
    reference = weakref.WeakMethod(method)

    @vtk.calldata_type(vtk.VTK_OBJECT)
    def observer(caller: Any, event: Any, node: Any) -> None:
        bound = reference()
        if node is not None and bound is not None:
            bound(node)

    return observer


class qMRMLWidget(QWidget):
    QT_CLASS = "qMRMLWidget"
    SIGNALS = ("mrmlSceneChanged(vtkMRMLScene*)",)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scene = None

    def setMRMLScene(self, scene: Any) -> None:
        self._guiWrite("mrmlScene")
        if scene is self._scene:
            return
        self._sceneChanging(scene)
        self._scene = scene
        self.emitSignal("mrmlSceneChanged(vtkMRMLScene*)", scene)

    def _sceneChanging(self, scene: Any) -> None:
        """Hook: a subclass lets go of the previous scene's observations."""

    def mrmlScene(self) -> Any:
        return self._scene


@stores(noneEnabled=False, addEnabled=True, removeEnabled=True, editEnabled=False, renameEnabled=False,
        showHidden=False, showChildNodeTypes=True, selectNodeUponCreation=True, noneDisplay="None",
        hideChildNodeTypes=(), interactionNodeSingletonTag="")
class qMRMLNodeComboBox(qMRMLWidget):
    QT_CLASS = "qMRMLNodeComboBox"
    SIGNALS = ("currentNodeChanged(vtkMRMLNode*)", "currentNodeChanged(bool)", "currentNodeIDChanged(QString)",
               "nodeActivated(vtkMRMLNode*)", "nodeAdded(vtkMRMLNode*)", "nodeAddedByUser(vtkMRMLNode*)",
               "nodeAddedByUserAction(vtkMRMLNode*)", "nodeAboutToBeRemoved(vtkMRMLNode*)",
               "nodeAboutToBeEdited(vtkMRMLNode*)", "currentNodeRenamed(QString)")

    baseName = StoredProperty("", str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._nodeTypes: list[str] = []
        self._current = None
        self._sceneObservations: list[int] = []

    def declaredSignals(self) -> dict[str, list[tuple[str, ...]]]:
        declared = super().declaredSignals()
        if runtime.current().version < (5, 12):
            declared.pop("nodeAddedByUserAction")
        return declared

    def __getattr__(self, name: str) -> Any:
        if name == "nodeAddedByUserAction" and runtime.current().version < (5, 12):
            raise AttributeError("qMRMLNodeComboBox has no nodeAddedByUserAction before Slicer 5.12")
        return super().__getattr__(name)

    # configuration

    nodeTypes = property(lambda self: list(self._nodeTypes), lambda self, types: self.setNodeTypes(types))

    def setNodeTypes(self, types: list[str]) -> None:
        self._guiWrite("nodeTypes")
        self._nodeTypes = [str(name) for name in types]
        if self._current is not None and not self._accepts(self._current):
            self._select(None)

    # scene

    def _sceneChanging(self, scene: Any) -> None:
        if self._scene is not None:
            for tag in self._sceneObservations:
                self._scene.RemoveObserver(tag)
        self._sceneObservations = []
        if scene is not None:
            self._sceneObservations = [
                scene.AddObserver(slicer_core.vtkMRMLScene.NodeAddedEvent, _withNode(self._onNodeAdded)),
                scene.AddObserver(slicer_core.vtkMRMLScene.NodeAboutToBeRemovedEvent,
                                  _withNode(self._onNodeAboutToBeRemoved)),
            ]
        if self._current is not None and (scene is None or not scene.IsNodePresent(self._current)):
            self._select(None)

    def setMRMLScene(self, scene: Any) -> None:
        super().setMRMLScene(scene)
        if self._current is None and not self.noneEnabled and self.nodes():
            self._select(self.nodes()[0])

    def dispose(self) -> None:
        """Stop observing the scene (the harness calls it when the emulated session ends)."""
        self._sceneChanging(None)
        self._scene = None

    def _accepts(self, node: Any) -> bool:
        if node is None or self._scene is None or not self._scene.IsNodePresent(node):
            return False
        if node.GetHideFromEditors() and not self.showHidden:
            return False
        if self.showChildNodeTypes:
            return any(node.IsA(nodeType) for nodeType in self._nodeTypes)
        return node.GetClassName() in self._nodeTypes

    def nodes(self) -> list[Any]:
        """The nodes listed, in scene order."""
        if self._scene is None:
            return []
        listed = []
        for index in range(self._scene.GetNumberOfNodes()):
            node = self._scene.GetNthNode(index)
            if self._accepts(node):
                listed.append(node)
        return listed

    def nodeCount(self) -> int:
        return len(self.nodes())

    def nodeFromIndex(self, index: int) -> Any:
        listed = self.nodes()
        return listed[index] if 0 <= index < len(listed) else None

    def _onNodeAdded(self, node: Any) -> None:
        if not self._accepts(node):
            return
        self.emitSignal("nodeAdded(vtkMRMLNode*)", node)
        if self._current is None and not self.noneEnabled:
            self._select(node)

    def _onNodeAboutToBeRemoved(self, node: Any) -> None:
        if self._accepts(node):
            self.emitSignal("nodeAboutToBeRemoved(vtkMRMLNode*)", node)
        if node is self._current:
            remaining = [other for other in self.nodes() if other is not node]
            self._select(None if self.noneEnabled or not remaining else remaining[0])

    # selection

    def currentNode(self) -> Any:
        return self._current

    def currentNodeID(self) -> str:
        return self._current.GetID() if self._current is not None else ""

    def setCurrentNode(self, node: Any) -> None:
        """A node the box does not list cannot be shown: the box then shows none, as Slicer's does."""
        self._guiWrite("currentNode")
        if node is not None and not self._accepts(node):
            runtime.diagnostics().problem(
                f"{self.describe()} cannot show {node.GetClassName()} {node.GetName()!r} (nodeTypes {self._nodeTypes})")
            node = None
        self._select(node)

    def setCurrentNodeID(self, nodeID: str) -> None:
        self.setCurrentNode(self._scene.GetNodeByID(nodeID) if self._scene is not None and nodeID else None)

    def _select(self, node: Any) -> None:
        if node is self._current:
            return
        self._current = node
        self.emitSignal("currentNodeChanged(vtkMRMLNode*)", node)
        self.emitSignal("currentNodeChanged(bool)", node is not None)
        self.emitSignal("currentNodeIDChanged(QString)", node.GetID() if node is not None else "")

    def chooseNode(self, node: Any) -> None:
        """The user picks ``node`` (or None) in the list."""
        if not self.enabled:
            return
        self.setCurrentNode(node)
        self.emitSignal("nodeActivated(vtkMRMLNode*)", node)

    def addNode(self, nodeType: str | None = None) -> Any:
        """Slicer's ``addNode`` slot: create a node named after ``baseName``, select it, emit ``nodeAddedByUser``."""
        self._guiWrite("addNode")
        nodeType = nodeType or (self._nodeTypes[0] if self._nodeTypes else None)
        if self._scene is None or nodeType not in self._nodeTypes:
            return None
        node = self._scene.CreateNodeByClass(nodeType)
        node.UnRegister(None)
        base = self.baseName or node.GetDefaultNodeNamePrefix()
        if base:
            node.SetName(self._scene.GetUniqueNameByString(base))
        node = self._scene.AddNode(node)
        if self.selectNodeUponCreation:
            self._select(node)
        self.emitSignal("nodeAddedByUser(vtkMRMLNode*)", node)
        return node

    def chooseCreateNew(self) -> Any:
        """The user picks "Create new ..." in the list: the signals of the emulated Slicer version."""
        runtime.diagnostics().on_gui_thread(f"choice in {self.describe()}")
        if not self.enabled or not self.addEnabled:
            return None
        node = self.addNode()
        if node is None:
            return None
        self._select(node)
        if runtime.current().version < (5, 12):
            self.emitSignal("nodeAddedByUser(vtkMRMLNode*)", node)
        else:
            self.emitSignal("nodeAddedByUserAction(vtkMRMLNode*)", node)
        return node

    def removeCurrentNode(self) -> None:
        if self._current is not None and self._scene is not None:
            self._scene.RemoveNode(self._current)


class qMRMLSliderWidget(QWidget):
    QT_CLASS = "qMRMLSliderWidget"


class RecordingWidget(qMRMLWidget):
    """A widget that is not emulated: calls of the real class's methods are recorded and otherwise ignored.

    ``METHODS`` lists the real class's public method names (empty: any name is accepted).
    ``calls`` holds ``(method name, arguments)`` in call order; ``called(name)`` the arguments
    of each call of one method. Getter/setter pairs keep their value.
    """

    METHODS: frozenset[str] = frozenset()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._calls: list[tuple[str, tuple[Any, ...]]] = []
        self._values: dict[str, Any] = {}

    @property
    def calls(self) -> list[tuple[str, tuple[Any, ...]]]:
        return list(self._calls)

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [arguments for name, arguments in self._calls if name == method]

    def _record(self, method: str, arguments: tuple[Any, ...]) -> None:
        self._guiWrite(method)
        self._calls.append((method, arguments))

    def setMRMLScene(self, scene: Any) -> None:
        self._record("setMRMLScene", (scene,))
        super().setMRMLScene(scene)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or (self.METHODS and name not in self.METHODS):
            try:
                return super().__getattr__(name)
            except AttributeError:
                raise AttributeError(f"{self.QT_CLASS} has no method {name!r}") from None
        return self._method(name)

    def _method(self, name: str) -> Callable[..., Any]:
        def call(*arguments: Any) -> Any:
            self._record(name, arguments)
            if name.startswith("set") and len(arguments) == 1 and len(name) > 3:
                self._values[name[3].lower() + name[4:]] = arguments[0]
                return None
            return self._values.get(name)

        return call


# Public method names of Slicer's qMRMLSegmentEditorWidget (Modules/Loadable/Segmentations/Widgets).
SEGMENT_EDITOR_METHODS = frozenset("""
activeEffect addRemoveSegmentButtonsVisible autoShowSourceVolumeNode availableEffectNames currentSegmentID
defaultTerminologyEntry defaultTerminologyEntrySettingsKey effectButtonStyle effectByIndex effectByName
effectColumnCount effectCount effectNameOrder hideLabelLayer initializeParameterSetNode installKeyboardShortcuts
interactionNode jumpSlices jumpToSelectedSegmentEnabled maskingSectionVisible maximumNumberOfUndoStates
mrmlSegmentEditorNode pauseRender readOnly redo removeViewObservations resumeRender rotateSliceViewsToSegmentation
saveStateForUndo segmentationNode segmentationNodeID segmentationNodeSelectorVisible selectNextSegment
selectPreviousSegment selectSegmentAtOffset setActiveEffect setActiveEffectByName setAddRemoveSegmentButtonsVisible
setAutoShowSourceVolumeNode setCurrentSegmentID setDefaultTerminologyEntry setDefaultTerminologyEntrySettingsKey
setEffectButtonStyle setEffectColumnCount setEffectCursor setEffectNameOrder setInteractionNode
setJumpToSelectedSegmentEnabled setMaskingSectionVisible setMaximumNumberOfUndoStates setMRMLSegmentEditorNode
setReadOnly setSegmentationNode setSegmentationNodeID setSegmentationNodeSelectorVisible
setSourceRepresentationToBinaryLabelmap setSourceVolumeNode setSourceVolumeNodeID
setSourceVolumeNodeSelectorVisible setSpecifyGeometryButtonVisible setSwitchToSegmentationsButtonVisible
setUndoEnabled setUnorderedEffectsVisible setupViewObservations showSegmentationGeometryDialog
showSourceVolumeInSliceViewers sourceVolumeNode sourceVolumeNodeID sourceVolumeNodeSelectorVisible
specifyGeometryButtonVisible switchToSegmentationsButtonVisible toggleSourceVolumeIntensityMaskEnabled
turnOffLightboxes undo undoEnabled uninstallKeyboardShortcuts unorderedEffectsVisible updateEffectList
updateWidgetFromMRML
""".split())

# Public method names of Slicer's qMRMLTableView (Libs/MRML/Widgets).
TABLE_VIEW_METHODS = frozenset("""
copySelection deleteColumn deleteRow firstColumnLocked firstRowLocked insertColumn insertRow mrmlTableNode
mrmlTableViewNode pasteSelection plotSelection selectedMRMLTableColumnIndices setFirstColumnLocked
setFirstRowLocked setMRMLTableNode setMRMLTableViewNode setTransposed sortFilterProxyModel tableModel transposed
""".split())


class qMRMLSegmentEditorWidget(RecordingWidget):
    QT_CLASS = "qMRMLSegmentEditorWidget"
    METHODS = SEGMENT_EDITOR_METHODS
    SIGNALS = ("segmentationNodeChanged(vtkMRMLSegmentationNode*)", "sourceVolumeNodeChanged(vtkMRMLVolumeNode*)",
               "currentSegmentIDChanged(QString)")

    segmentationNodeSelectorVisible = StoredProperty(True)

    def _editorNode(self) -> Any:
        return self._values.get("mRMLSegmentEditorNode")

    def _setEdited(self, role: str, node: Any, signal: str) -> None:
        """What the editor edits (``segmentationNode``, ``sourceVolumeNode``) is kept in its editor node."""
        setter = "set" + role[0].upper() + role[1:]
        self._record(setter, (node,))
        self._values[role] = node
        if self._editorNode() is not None:
            getattr(self._editorNode(), "SetAndObserve" + role[0].upper() + role[1:])(node)
        self.emitSignal(signal, node)

    def setSegmentationNode(self, node: Any) -> None:
        self._setEdited("segmentationNode", node, "segmentationNodeChanged(vtkMRMLSegmentationNode*)")

    def setSourceVolumeNode(self, node: Any) -> None:
        self._setEdited("sourceVolumeNode", node, "sourceVolumeNodeChanged(vtkMRMLVolumeNode*)")

    def mrmlSegmentEditorNode(self) -> Any:
        self._record("mrmlSegmentEditorNode", ())
        return self._editorNode()

    def segmentationNode(self) -> Any:
        self._record("segmentationNode", ())
        return self._values.get("segmentationNode")

    def sourceVolumeNode(self) -> Any:
        self._record("sourceVolumeNode", ())
        return self._values.get("sourceVolumeNode")


class qMRMLTableView(RecordingWidget):
    QT_CLASS = "qMRMLTableView"
    METHODS = TABLE_VIEW_METHODS
    SIGNALS = ("selectionChanged()",)

    def setMRMLTableNode(self, node: Any) -> None:
        self._record("setMRMLTableNode", (node,))
        self._values["mRMLTableNode"] = node

    def mrmlTableNode(self) -> Any:
        self._record("mrmlTableNode", ())
        return self._values.get("mRMLTableNode")
