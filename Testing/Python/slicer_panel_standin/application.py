"""``slicer.app`` and ``slicer.modules``: the application around a module panel.

What Slicer's application does for a scripted module and is emulated here:

- ``processEvents()`` pumps the event loop (due timers fire); ``cachePath`` is a folder of the session;
- the wait cursor is a stack (``overrideCursorDepth`` must be back to 0 after any action);
- core modules' logics (Markups, Segmentations, Volumes, Tables, Colors, Transforms) are the real
  slicer-core classes set on the scene, which also registers their node classes as Slicer does;
- the layout manager's three slice views (Red, Yellow, Green) are real slice, slice composite
  nodes and slice logics in the scene, so ``setSliceViewerLayers`` acts on real MRML;
- a scripted module is loaded from its file, gets a module panel (``qSlicerScriptedLoadableModuleWidget``)
  whose widget is created and set up on first selection, and ``selectModule`` calls the
  current module's ``exit()`` and the new one's ``enter()`` with ``isEntered`` switched as Slicer does;
- ``startupCompleted()`` is emitted by ``SlicerSession.start()``, module unloading on ``shutdown()``.

Not emulated: rendering, views' widgets, interaction, the main window, drag and drop, settings on disk.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import slicer as slicer_core  # the real MRML classes
import vtk

from . import event_loop, runtime
from .mrml_widgets import qMRMLWidget
from .qobjects import QObject, QVBoxLayout
from .signals import SignalEmitter

SLICE_VIEWS = ("Red", "Yellow", "Green")
ORIENTATIONS = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal"}


def register_segmentation_converters() -> None:
    """What Slicer's Segmentations module does at start-up: without these rules no segment can be made."""
    factory = slicer_core.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return
    for rule in (slicer_core.vtkBinaryLabelmapToClosedSurfaceConversionRule,
                 slicer_core.vtkClosedSurfaceToBinaryLabelmapConversionRule,
                 slicer_core.vtkClosedSurfaceToFractionalLabelmapConversionRule,
                 slicer_core.vtkFractionalLabelmapToClosedSurfaceConversionRule):
        factory.RegisterConverterRule(rule())


class CoreModule:
    """A C++ module of Slicer as scripts see it: ``slicer.modules.segmentations.logic()``."""

    def __init__(self, name: str, logic: Any) -> None:
        self.name = name
        self._logic = logic

    def logic(self) -> Any:
        return self._logic

    def widgetRepresentation(self) -> None:
        return None


class qSlicerScriptedLoadableModule(QObject):
    """``slicer.modules.<name>`` of a scripted module: its metadata, set by the module's constructor."""

    QT_CLASS = "qSlicerScriptedLoadableModule"

    def __init__(self, name: str, path: Path, moduleNamespace: types.ModuleType, session: Any) -> None:
        super().__init__()
        self.setObjectName(name)
        self._stored.update(path=str(path), title="", categories=[], dependencies=[], contributors=[],
                            helpText="", acknowledgementText="", icon=None, hidden=False, index=-1)
        self._namespace = moduleNamespace
        self._session = session
        self._panel: qSlicerScriptedLoadableModuleWidget | None = None
        self.instance = getattr(moduleNamespace, name)(self)

    def __getattr__(self, attribute: str) -> Any:
        if attribute in self.__dict__.get("_stored", {}):
            return self._stored[attribute]
        return super().__getattr__(attribute)

    def __setattr__(self, attribute: str, value: Any) -> None:
        if not attribute.startswith("_") and attribute in self.__dict__.get("_stored", {}):
            self._stored[attribute] = value
        else:
            object.__setattr__(self, attribute, value)

    def widgetRepresentation(self) -> qSlicerScriptedLoadableModuleWidget:
        """Created and set up on first use, as Slicer does when the module is first shown."""
        if self._panel is None:
            self._panel = qSlicerScriptedLoadableModuleWidget(self)
            self._panel.setup()
        return self._panel

    def createNewWidgetRepresentation(self) -> qSlicerScriptedLoadableModuleWidget:
        panel = qSlicerScriptedLoadableModuleWidget(self)
        panel.setup()
        return panel

    def logic(self) -> None:
        return None


class qSlicerScriptedLoadableModuleWidget(qMRMLWidget):
    """The module panel: holds the Python widget's layout; hidden while the module is not entered."""

    QT_CLASS = "qSlicerScriptedLoadableModuleWidget"

    def __init__(self, module: qSlicerScriptedLoadableModule) -> None:
        super().__init__()
        self._module = module
        self._entered = False
        self._hidden = True
        self.setLayout(QVBoxLayout())
        self.setMRMLScene(module._session.scene)
        self._python: Any = None

    @property
    def isEntered(self) -> bool:
        return self._entered

    @property
    def moduleName(self) -> str:
        return self._module.name

    def setup(self) -> None:
        widgetClass = getattr(self._module._namespace, self._module.name + "Widget")
        self._python = widgetClass(self)
        self._callPython("setup")
        setattr(self._module._session.slicer.modules, self._module.name + "Widget", self._python)

    def _callPython(self, method: str) -> None:
        """Slicer calls the Python widget's method from C++: an exception is printed, not raised to the caller."""
        try:
            getattr(self._python, method)()
        except Exception as error:
            runtime.diagnostics().slot_failed(f"{self._module.name}Widget.{method}()", error)

    def self(self) -> Any:
        return self._python

    def enter(self) -> None:
        assert not self._entered, "entered twice"
        self._entered = True
        self._hidden = False
        self._callPython("enter")

    def exit(self) -> None:
        assert self._entered, "exited without being entered"
        self._entered = False
        self._hidden = True
        self._callPython("exit")


class ModuleManager(SignalEmitter):
    SIGNALS = ("moduleAboutToBeUnloaded(QString)", "moduleLoaded(QString)")

    def __init__(self, application: SlicerApplication) -> None:
        SignalEmitter.__init__(self)
        self._application = application

    def module(self, name: str) -> Any:
        return self._application.modulesByName.get(name)

    def factoryManager(self) -> ModuleManager:
        return self

    def loadedModuleNames(self) -> list[str]:
        return list(self._application.modulesByName)


class SliceWidget:
    """A slice view as scripts reach its MRML: ``mrmlSliceNode()``, ``mrmlSliceCompositeNode()``, ``sliceLogic()``."""

    def __init__(self, sliceNode: Any, compositeNode: Any, logic: Any) -> None:
        self.mrmlSliceNode, self.mrmlSliceCompositeNode = (lambda: sliceNode), (lambda: compositeNode)
        self.sliceLogic = lambda: logic


class LayoutManager:
    """The conventional three slice views, as real MRML nodes and slice logics of the scene."""

    def __init__(self, scene: Any, applicationLogic: Any) -> None:
        self._views: dict[str, SliceWidget] = {}
        slicer_core.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
        for name in SLICE_VIEWS:
            sliceNode = scene.CreateNodeByClass("vtkMRMLSliceNode")
            sliceNode.UnRegister(None)
            sliceNode.SetName(name)
            sliceNode.SetLayoutName(name)
            sliceNode.SetSingletonTag(name)
            sliceNode.SetOrientation(ORIENTATIONS[name])
            sliceNode.SetDimensions(256, 256, 1)
            sliceNode = scene.AddNode(sliceNode)
            composite = slicer_core.vtkMRMLSliceCompositeNode()
            composite.SetLayoutName(name)
            composite.SetSingletonTag(name)
            composite = scene.AddNode(composite)
            logic = slicer_core.vtkMRMLSliceLogic()
            logic.SetMRMLApplicationLogic(applicationLogic)
            logic.SetMRMLScene(scene)
            logic.SetSliceNode(sliceNode)
            self._views[name] = SliceWidget(sliceNode, composite, logic)

    def sliceViewNames(self) -> list[str]:
        return list(self._views)

    def sliceWidget(self, name: str) -> SliceWidget | None:
        return self._views.get(name)

    def mrmlSliceLogics(self) -> Any:
        collection = vtk.vtkCollection()
        for view in self._views.values():
            collection.AddItem(view.sliceLogic())
        return collection

    def dispose(self) -> None:
        for view in self._views.values():
            view.sliceLogic().SetMRMLScene(None)
        self._views.clear()


class SlicerApplication(SignalEmitter):
    """``slicer.app``."""

    SIGNALS = ("startupCompleted()", "aboutToQuit()")

    def __init__(self, session: Any) -> None:
        super().__init__()
        self._session = session
        scene = session.scene
        self.cachePath = str(session.cache)
        self.temporaryPath = str(session.folder / "temporary")
        self.applicationName = "Slicer"
        self.majorVersion, self.minorVersion = runtime.current().version
        self.applicationVersion = "%d.%d.0" % runtime.current().version
        self.overrideCursors: list[Any] = []
        register_segmentation_converters()
        self._applicationLogic = slicer_core.vtkSlicerApplicationLogic()
        self._applicationLogic.SetHomeDirectory(str(session.folder))
        (session.folder / "share" / "ColorFiles").mkdir(parents=True, exist_ok=True)
        self._applicationLogic.SetShareDirectory("share")  # no colour files there: the built-in tables only
        self._applicationLogic.SetTemporaryPath(self.temporaryPath)
        self._applicationLogic.SetMRMLScene(scene)
        self._logics: dict[str, Any] = {}
        for name, logicClass in (("markups", slicer_core.vtkSlicerMarkupsLogic),
                                 ("segmentations", slicer_core.vtkSlicerSegmentationsModuleLogic),
                                 ("volumes", slicer_core.vtkSlicerVolumesLogic),
                                 ("tables", slicer_core.vtkSlicerTablesLogic),
                                 ("colors", slicer_core.vtkSlicerColorLogic),
                                 ("transforms", slicer_core.vtkSlicerTransformLogic)):
            logic = logicClass()
            logic.SetMRMLApplicationLogic(self._applicationLogic)
            logic.SetMRMLScene(scene)
            self._logics[name] = logic
        self._layoutManager = LayoutManager(scene, self._applicationLogic)
        self._moduleManager = ModuleManager(self)
        self.modulesByName: dict[str, Any] = {
            name.capitalize(): CoreModule(name.capitalize(), logic) for name, logic in self._logics.items()}
        self.currentModule = ""

    def coreModules(self) -> dict[str, CoreModule]:
        return {name: module for name, module in self.modulesByName.items() if isinstance(module, CoreModule)}

    def processEvents(self, *args: Any) -> None:
        event_loop.loop().processEvents()

    def testingEnabled(self) -> bool:
        return self._session.testing

    def setOverrideCursor(self, cursor: Any) -> None:
        self.overrideCursors.append(cursor)

    def restoreOverrideCursor(self) -> None:
        if not self.overrideCursors:
            runtime.diagnostics().problem("restoreOverrideCursor without setOverrideCursor")
            return
        self.overrideCursors.pop()

    @property
    def overrideCursorDepth(self) -> int:
        return len(self.overrideCursors)

    def applicationLogic(self) -> Any:
        return self._applicationLogic

    def layoutManager(self) -> LayoutManager:
        return self._layoutManager

    def moduleManager(self) -> ModuleManager:
        return self._moduleManager

    def mrmlScene(self) -> Any:
        return self._session.scene

    def settings(self) -> Any:
        import qt

        return qt.QSettings()

    userSettings = settings

    def quit(self) -> None:
        self._session.shutdown()

    # modules

    def loadScriptedModule(self, path: Path) -> qSlicerScriptedLoadableModule:
        """Import the module file under its own name and construct the module, as Slicer's factory does."""
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        namespace = importlib.util.module_from_spec(spec)
        sys.modules[name] = namespace
        spec.loader.exec_module(namespace)
        module = qSlicerScriptedLoadableModule(name, path, namespace, self._session)
        self.modulesByName[name] = module
        modules = self._session.slicer.modules
        setattr(modules, name.lower(), module)
        setattr(modules, name + "Instance", module.instance)
        self._moduleManager.emitSignal("moduleLoaded(QString)", name)
        return module

    def selectModule(self, name: str) -> None:
        """The module selector: leave the current module (exit), enter ``name`` (setting up its panel first)."""
        if name not in self.modulesByName and name not in ("Welcome", "Data", "SampleData"):
            raise RuntimeError(f"Could not find module with name '{name}'")
        if name == self.currentModule:
            return
        previous = self.modulesByName.get(self.currentModule)
        if isinstance(previous, qSlicerScriptedLoadableModule) and previous._panel is not None:
            previous._panel.exit()
        self.currentModule = name
        module = self.modulesByName.get(name)
        if isinstance(module, qSlicerScriptedLoadableModule):
            module.widgetRepresentation().enter()

    def unloadModules(self) -> None:
        """Application exit: leave the current module, then tell every scripted widget to clean up."""
        self.selectModule("Welcome")
        for name, module in list(self.modulesByName.items()):
            if isinstance(module, qSlicerScriptedLoadableModule):
                self._moduleManager.emitSignal("moduleAboutToBeUnloaded(QString)", name)

    def dispose(self) -> None:
        """The slice logics let go of the scene; module logics go with it (detaching one only logs a warning)."""
        self._layoutManager.dispose()
