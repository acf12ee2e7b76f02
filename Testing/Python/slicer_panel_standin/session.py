"""One emulated Slicer session: the stand-in modules put into ``sys.modules``, and taken out again.

While a session is installed, ``import slicer`` gives a stand-in module that holds every
attribute of slicer-core's real ``slicer`` package (the MRML classes) plus ``app``,
``mrmlScene`` (a real ``vtkMRMLScene``), ``modules``, ``util``, ``i18n``,
``ScriptedLoadableModule``, ``parameterNodeWrapper`` and the MRML widget classes; ``qt``,
``ctk`` and ``SampleData`` are stand-ins too. ``uninstall()`` puts back whatever was there, so
other test files keep slicer-core's plain ``slicer``. Modules imported during the session
that kept a reference to the stand-in ``slicer`` get the real one back.

The session records what a user would have seen besides the panel: dialogs, questions (and
the answers the test queued), status messages, scenes saved, URLs opened; ``problems()``
lists what went wrong, for ``assert_quiet()``.
"""

from __future__ import annotations

import sys
import time
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import slicer as slicer_core

from . import event_loop, mrml_widgets, parameter_nodes, qt_modules, runtime, sample_data, scripted_module
from .application import SlicerApplication, qSlicerScriptedLoadableModule, qSlicerScriptedLoadableModuleWidget
from .slicer_util import build_i18n, build_util

REPLACED = ("qt", "ctk", "slicer", "slicer.util", "slicer.i18n", "slicer.ScriptedLoadableModule",
            "slicer.parameterNodeWrapper", "SampleData")


@dataclass
class Dialog:
    kind: str  # error, warning, info, message
    text: str
    title: str | None = None
    detail: str | None = None
    error: BaseException | None = None


@dataclass
class Question:
    kind: str  # yes/no, ok/cancel, retry/close, question
    text: str
    title: str | None
    answer: bool | None  # None: nobody answered (a reported problem; No was returned)


class SlicerSession:
    """``with SlicerSession(folder, version=(5, 10)) as session:`` ... the module under test runs inside."""

    def __init__(self, folder: Path, version: tuple[int, int] = (5, 12), testing: bool = False,
                 cache: Path | None = None) -> None:
        self.folder = Path(folder)
        self.cache = Path(cache) if cache is not None else self.folder / "cache"  # slicer.app.cachePath
        self.version = version
        self.testing = testing  # Slicer's --testing: dialogs skipped, fixed answers
        self.dialogs: list[Dialog] = []
        self.questions: list[Question] = []
        self.answers: deque[bool] = deque()
        self.status_messages: list[str] = []
        self.saved_scenes: list[str] = []
        self.opened_urls: list[str] = []
        self.slice_viewer_calls: list[dict[str, Any]] = []
        self._saved: dict[str, Any] = {}
        self.installed = False

    # --- install / uninstall ---------------------------------------------------------------

    def install(self) -> SlicerSession:
        if self.installed:
            return self
        self._outer = (runtime.current(), event_loop.loop())  # a session opened inside another gives it back
        runtime.begin(runtime.Runtime(version=self.version))
        event_loop.reset_loop()
        self.cache.mkdir(parents=True, exist_ok=True)
        (self.folder / "temporary").mkdir(parents=True, exist_ok=True)
        self._saved = {name: sys.modules.get(name) for name in REPLACED}
        self.scene = slicer_core.vtkMRMLScene()
        self.slicer = self._build_slicer()
        for name, module in self._modules().items():
            sys.modules[name] = module
        self.app = SlicerApplication(self)
        self.slicer.app = self.app
        for name, module in self.app.coreModules().items():
            setattr(self.slicer.modules, name.lower(), module)
        sys.modules["SampleData"] = sample_data.build_sample_data(self)
        self._observe_scene_thread()
        self.installed = True
        return self

    def _build_slicer(self) -> types.ModuleType:
        stand_in = types.ModuleType("slicer", "Stand-in of Slicer's slicer package over slicer-core's MRML.")
        stand_in.__dict__.update({name: value for name, value in vars(slicer_core).items()
                                  if not name.startswith("__") and name not in ("util",)})
        stand_in.__path__ = []
        stand_in.mrmlScene = self.scene
        stand_in.modules = types.SimpleNamespace()
        stand_in.selfTests = {}
        for cls in qt_modules.MRML_WIDGETS:
            setattr(stand_in, cls.QT_CLASS, cls)
        stand_in.qSlicerScriptedLoadableModule = qSlicerScriptedLoadableModule
        stand_in.qSlicerScriptedLoadableModuleWidget = qSlicerScriptedLoadableModuleWidget
        return stand_in

    def _modules(self) -> dict[str, types.ModuleType]:
        util = build_util(self)
        i18n = build_i18n()
        scripted = types.ModuleType("slicer.ScriptedLoadableModule")
        scripted.__dict__.update({name: getattr(scripted_module, name) for name in scripted_module.__all__})
        scripted.__all__ = list(scripted_module.__all__)
        wrapper = types.ModuleType("slicer.parameterNodeWrapper")
        wrapper.__dict__.update({name: getattr(parameter_nodes, name) for name in parameter_nodes.__all__})
        wrapper.__all__ = list(parameter_nodes.__all__)
        for name, module in (("util", util), ("i18n", i18n), ("ScriptedLoadableModule", scripted),
                             ("parameterNodeWrapper", wrapper)):
            setattr(self.slicer, name, module)
        return {"qt": qt_modules.build_qt(self), "ctk": qt_modules.build_ctk(), "slicer": self.slicer,
                "slicer.util": util, "slicer.i18n": i18n, "slicer.ScriptedLoadableModule": scripted,
                "slicer.parameterNodeWrapper": wrapper}

    def _observe_scene_thread(self) -> None:
        """Nodes added to or removed from the scene by a worker thread are reported."""
        def observer(caller: Any, event: str) -> None:
            runtime.diagnostics().on_gui_thread(f"scene {event}")

        self._sceneTags = [self.scene.AddObserver(event, observer)
                           for event in (slicer_core.vtkMRMLScene.NodeAddedEvent,
                                         slicer_core.vtkMRMLScene.NodeRemovedEvent)]

    def uninstall(self) -> None:
        if not self.installed:
            return
        self.shutdown()
        for name, module in self._saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for module in list(sys.modules.values()):
            if getattr(module, "slicer", None) is self.slicer:
                module.slicer = slicer_core
        self.app.dispose()
        for tag in self._sceneTags:
            self.scene.RemoveObserver(tag)
        event_loop.loop().stopAll()
        runtime.begin(self._outer[0])
        event_loop.reset_loop(self._outer[1])
        self.installed = False

    def __enter__(self) -> SlicerSession:
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

    # --- the application ---------------------------------------------------------------------

    def load_module(self, path: Path) -> Any:
        """Load a scripted module from its file as Slicer's module factory does; returns the Python namespace."""
        self._saved.setdefault(Path(path).stem, sys.modules.get(Path(path).stem))
        module = self.app.loadScriptedModule(Path(path))
        return sys.modules[module.name]

    def start(self) -> None:
        """Start-up is over: Slicer emits ``startupCompleted()`` (modules register sample data then)."""
        self.app.emitSignal("startupCompleted()")

    def select_module(self, name: str) -> None:
        self.app.selectModule(name)

    def widget(self, name: str) -> Any:
        """The Python widget of a scripted module (created on first use)."""
        return self.app.modulesByName[name].widgetRepresentation().self()

    def click_sample(self, sampleName: str) -> None:
        """The sample's button in the Sample Data module."""
        import SampleData

        source = SampleData.SampleDataLogic().sourceForSampleName(sampleName)
        if source is None:
            raise AssertionError(f"no sample named {sampleName!r} is registered")
        try:
            source.customDownloader(source)
        except Exception as error:  # the button's slot: PythonQt prints it
            runtime.diagnostics().slot_failed(f"Sample Data button {sampleName}", error)

    def shutdown(self) -> None:
        """Application exit: leave the module, unload modules (their widgets clean up), stop timers."""
        if getattr(self, "_shutDown", False):
            return
        self._shutDown = True
        self.app.unloadModules()
        event_loop.loop().stopAll()
        for module in self.app.modulesByName.values():
            panel = getattr(module, "_panel", None)
            for widget in panel.findChildren(mrml_widgets.qMRMLNodeComboBox) if panel is not None else []:
                widget.dispose()

    # --- pumping the event loop --------------------------------------------------------------

    def process_events(self) -> None:
        self.app.processEvents()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.02,
                   on_pass: Callable[[], None] | None = None) -> float:
        """Pump events every ``interval`` s until ``condition()``; the seconds it took. AssertionError on timeout."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"still waiting after {timeout} s")
            self.app.processEvents()
            if on_pass is not None:
                on_pass()
            time.sleep(interval)
        return time.monotonic() - start

    # --- what the user saw -------------------------------------------------------------------

    def show_dialog(self, kind: str, text: str, title: str | None = None, detail: str | None = None,
                    error: BaseException | None = None) -> None:
        runtime.diagnostics().on_gui_thread(f"{kind} dialog")
        self.dialogs.append(Dialog(kind, text, title, detail, error))

    def ask(self, kind: str, text: str, title: str | None = None, testingAnswer: bool = True) -> bool:
        runtime.diagnostics().on_gui_thread(f"{kind} question")
        if self.testing:
            answer: bool | None = testingAnswer
        elif self.answers:
            answer = self.answers.popleft()
        else:
            answer = None
            runtime.diagnostics().problem(f"unanswered question ({kind}): {text}")
        self.questions.append(Question(kind, text, title, answer))
        return bool(answer)

    def errors(self) -> list[Dialog]:
        return [dialog for dialog in self.dialogs if dialog.kind == "error"]

    def problems(self) -> list[str]:
        """Everything that went wrong: error dialogs, slot exceptions, thread misuse, unanswered questions,
        a wait cursor left on."""
        found = [f"error dialog: {dialog.text}" for dialog in self.errors()]
        found += runtime.diagnostics().report()
        if self.app.overrideCursorDepth:
            found.append(f"wait cursor left on ({self.app.overrideCursorDepth} level(s))")
        return found

    def assert_quiet(self) -> None:
        problems = self.problems()
        assert not problems, "\n".join(problems)

    def forget(self) -> None:
        """Start the next step with an empty record (dialogs, questions, diagnostics)."""
        self.dialogs.clear()
        self.questions.clear()
        diagnostics = runtime.diagnostics()
        diagnostics.slot_errors.clear()
        diagnostics.thread_violations.clear()
        diagnostics.problems.clear()
