"""``slicer.util``: Slicer's own functions, with those that need the GUI replaced by recorders.

The module starts as a copy of the real ``slicer/util.py`` namespace shipped with slicer-core
(``VTKObservationMixin``, ``arrayFromVolume``, ``arrayFromSegmentBinaryLabelmap``,
``setSliceViewerLayers``, ``childWidgetVariables``, ``getModuleWidget``...), which works
unchanged on the stand-in application. Replaced:

- ``loadUI``: the ``.ui`` read into stand-in widgets;
- ``errorDisplay``, ``warningDisplay``, ``infoDisplay``, ``messageBox``, ``delayDisplay``,
  ``showStatusMessage``: recorded in the session instead of shown;
- ``confirmYesNoDisplay``, ``confirmOkCancelDisplay``, ``confirmRetryCloseDisplay``: the
  question is recorded and answered from ``session.answers`` (an unanswered question is a
  reported problem and answered No); in testing mode Slicer's fixed answers are given;
- ``tryWithErrorDisplay``: as Slicer's, the error is shown (recorded with its exception) and
  raised again, so that PythonQt reports it from the slot;
- ``saveScene``: what Slicer's scene writer does, with slicer-core's real ``vtkMRMLScene``
  (``.mrb`` via ``WriteToMRB``, ``.mrml`` via ``Commit``, a folder via
  ``SaveSceneToSlicerDataBundleDirectory``), without the screenshot thumbnail;
- ``setSliceViewerLayers``: Slicer's, on the real slice composite nodes, with each call recorded;
- ``selectModule``, ``mainWindow``, ``settingsValue``, ``pip_install`` (refused and reported:
  a test must not install packages).
"""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import slicer.util as real_util  # Slicer's util.py as shipped with slicer-core
import vtk

from . import runtime, ui_loader


@contextlib.contextmanager
def vtk_output_to_log() -> Iterator[None]:
    """VTK's messages (the bundle writer reports every file it zips) go to the log, as Slicer's error log has them."""
    previous = vtk.vtkOutputWindow.GetInstance()
    captured = vtk.vtkStringOutputWindow()
    vtk.vtkOutputWindow.SetInstance(captured)
    try:
        yield
    finally:
        vtk.vtkOutputWindow.SetInstance(previous)
        if captured.GetOutput().strip():
            runtime.LOG.info("VTK output:\n%s", captured.GetOutput())


def build_util(session: Any) -> types.ModuleType:
    util = types.ModuleType("slicer.util", real_util.__doc__)
    util.__dict__.update({name: value for name, value in vars(real_util).items() if not name.startswith("__")})

    def loadUI(path: str) -> Any:
        return ui_loader.load_ui(path)

    def mainWindow() -> None:
        return None

    def errorDisplay(text: str, windowTitle: str | None = None, parent: Any = None, standardButtons: Any = None,
                     **kwargs: Any) -> None:
        session.show_dialog("error", text, windowTitle, kwargs.get("detailedText"))

    def warningDisplay(text: str, windowTitle: str | None = None, parent: Any = None, standardButtons: Any = None,
                       **kwargs: Any) -> None:
        session.show_dialog("warning", text, windowTitle, kwargs.get("detailedText"))

    def infoDisplay(text: str, windowTitle: str | None = None, parent: Any = None, standardButtons: Any = None,
                    **kwargs: Any) -> None:
        session.show_dialog("info", text, windowTitle, kwargs.get("detailedText"))

    def messageBox(text: str, parent: Any = None, **kwargs: Any) -> int:
        session.show_dialog("message", text, kwargs.get("windowTitle"), kwargs.get("detailedText"))
        return 0

    def delayDisplay(message: str, autoCloseMsec: int = 1000, parent: Any = None, **kwargs: Any) -> None:
        session.status_messages.append(message)
        session.app.processEvents()

    def showStatusMessage(message: str, duration: int = 0) -> bool:
        session.status_messages.append(message)
        return True

    def confirmYesNoDisplay(text: str, windowTitle: str | None = None, parent: Any = None, **kwargs: Any) -> bool:
        return session.ask("yes/no", text, windowTitle, testingAnswer=True)

    def confirmOkCancelDisplay(text: str, windowTitle: str | None = None, parent: Any = None,
                               **kwargs: Any) -> bool:
        return session.ask("ok/cancel", text, windowTitle, testingAnswer=True)

    def confirmRetryCloseDisplay(text: str, windowTitle: str | None = None, parent: Any = None,
                                 **kwargs: Any) -> bool:
        return session.ask("retry/close", text, windowTitle, testingAnswer=False)

    @contextlib.contextmanager
    def tryWithErrorDisplay(message: str | None = None, show: bool = True, waitCursor: bool = False) -> Iterator[None]:
        if waitCursor:
            session.app.setOverrideCursor("WaitCursor")
        try:
            yield
        except Exception as error:
            if waitCursor:
                session.app.restoreOverrideCursor()
            if show and not session.testing:
                text = f"{message}\n\n{error}" if message is not None else str(error)
                session.show_dialog("error", text, None, None, error)
            raise
        if waitCursor:
            session.app.restoreOverrideCursor()

    def saveScene(filename: str, properties: dict | None = None) -> bool:
        runtime.diagnostics().on_gui_thread("saveScene")
        scene = session.scene
        path = Path(filename).absolute()
        session.saved_scenes.append(str(path))
        if path.suffix.lower() == ".mrb":
            scene.SetURL(str(path))
            scene.SetRootDirectory(str(path.parent))
            if not os.access(path.parent, os.W_OK):
                return False
            with vtk_output_to_log():
                return bool(scene.WriteToMRB(str(path)))
        if path.suffix.lower() == ".mrml":
            scene.SetURL(str(path))
            scene.SetRootDirectory(str(path.parent))
            return bool(scene.Commit())
        path.mkdir(parents=True, exist_ok=True)
        with vtk_output_to_log():
            return bool(scene.SaveSceneToSlicerDataBundleDirectory(str(path)))

    def setSliceViewerLayers(*args: Any, **kwargs: Any) -> None:
        session.slice_viewer_calls.append(kwargs)
        real_util.setSliceViewerLayers(*args, **kwargs)

    def selectModule(module: Any) -> None:
        session.app.selectModule(module if isinstance(module, str) else module.name)

    def selectedModule() -> str:
        return session.app.currentModule

    def settingsValue(key: str, default: Any, converter: Any = lambda value: value, settings: Any = None) -> Any:
        store = runtime.current().settings
        return converter(store[key]) if key in store else default

    def pip_install(requirements: Any) -> None:
        runtime.diagnostics().problem(f"pip_install({requirements!r}) called: the module asked to install packages")

    def reloadScriptedModule(moduleName: str) -> None:
        raise NotImplementedError("reloading a module is not emulated")

    replaced = dict(loadUI=loadUI, mainWindow=mainWindow, errorDisplay=errorDisplay, warningDisplay=warningDisplay,
                    infoDisplay=infoDisplay, messageBox=messageBox, delayDisplay=delayDisplay,
                    showStatusMessage=showStatusMessage, confirmYesNoDisplay=confirmYesNoDisplay,
                    confirmOkCancelDisplay=confirmOkCancelDisplay, confirmRetryCloseDisplay=confirmRetryCloseDisplay,
                    tryWithErrorDisplay=tryWithErrorDisplay, saveScene=saveScene, selectModule=selectModule,
                    setSliceViewerLayers=setSliceViewerLayers,
                    selectedModule=selectedModule, settingsValue=settingsValue, pip_install=pip_install,
                    reloadScriptedModule=reloadScriptedModule)
    util.__dict__.update(replaced)
    return util


def build_i18n() -> types.ModuleType:
    """``slicer.i18n`` without translations: text comes back as written."""
    i18n = types.ModuleType("slicer.i18n")

    def tr(text: str) -> str:
        return text

    def translate(context: str, text: str) -> str:
        return text

    i18n.tr, i18n.translate = tr, translate
    return i18n
