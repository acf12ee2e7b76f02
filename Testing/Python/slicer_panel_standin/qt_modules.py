"""The ``qt`` and ``ctk`` modules a scripted module imports, made of the stand-ins.

Only what Slicer's scripted modules commonly reach for is there; any other name raises an
AttributeError that says where to add it, so a module using more of Qt fails here loudly
rather than passing a test it was never run against. Message boxes and the override cursor
go to the session, which records them.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import controls, event_loop, mrml_widgets, qobjects, runtime


class Qt:
    """The few Qt enum values modules pass around (their numeric values do not matter here)."""

    WaitCursor = 3
    ArrowCursor = 0
    BusyCursor = 16
    AlignCenter = 0x84
    AlignLeft = 0x1
    AlignRight = 0x2
    ShiftModifier = 0x02000000
    ControlModifier = 0x04000000
    NoModifier = 0
    Checked = 2
    Unchecked = 0
    Horizontal = 1
    Vertical = 2
    ToolButtonTextUnderIcon = 3


class QSettings:
    """Settings of the emulated session (kept in the runtime, not on disk)."""

    def __init__(self, *args: Any) -> None:
        self._store = runtime.current().settings

    def value(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)

    def setValue(self, key: str, value: Any) -> None:
        self._store[key] = value

    def contains(self, key: str) -> bool:
        return key in self._store

    def remove(self, key: str) -> None:
        self._store.pop(key, None)

    def sync(self) -> None:
        pass


class QUrl:
    TolerantMode = 0

    def __init__(self, url: str = "", mode: int = 0) -> None:
        self._url = str(url)

    @staticmethod
    def fromLocalFile(path: str) -> QUrl:
        return QUrl(Path(path).absolute().as_uri())

    def toLocalFile(self) -> str:
        return self._url.removeprefix("file://")

    def toString(self) -> str:
        return self._url


class QIcon:
    def __init__(self, path: str = "") -> None:
        self.path = path


def _missing(module: str) -> Callable[[str], Any]:
    def missing(name: str) -> Any:
        raise AttributeError(f"the stand-in {module} module has no {name!r}: add it to "
                             f"Testing/Python/slicer_panel_standin/qt_modules.py if the module needs it")

    return missing


def build_qt(session: Any) -> types.ModuleType:
    """``qt`` for one session: widgets, QTimer, message boxes and cursor routed to ``session``."""
    qt = types.ModuleType("qt", "Stand-in of PythonQt's qt module for tests without Slicer.")

    class QMessageBox(qobjects.QWidget):
        QT_CLASS = "QMessageBox"
        Ok, Cancel, Yes, No, Retry, Close = 0x400, 0x400000, 0x4000, 0x10000, 0x80000, 0x200000
        Question, Information, Warning, Critical = 4, 1, 2, 3

        @staticmethod
        def question(parent: Any, title: str, text: str, *args: Any) -> int:
            return QMessageBox.Yes if session.ask("question", text, title) else QMessageBox.No

        @staticmethod
        def warning(parent: Any, title: str, text: str, *args: Any) -> int:
            session.show_dialog("warning", text, title)
            return QMessageBox.Ok

        @staticmethod
        def information(parent: Any, title: str, text: str, *args: Any) -> int:
            session.show_dialog("info", text, title)
            return QMessageBox.Ok

        @staticmethod
        def critical(parent: Any, title: str, text: str, *args: Any) -> int:
            session.show_dialog("error", text, title)
            return QMessageBox.Ok

    class QApplication:
        @staticmethod
        def processEvents(*args: Any) -> None:
            session.app.processEvents()

        @staticmethod
        def setOverrideCursor(cursor: Any) -> None:
            session.app.setOverrideCursor(cursor)

        @staticmethod
        def restoreOverrideCursor() -> None:
            session.app.restoreOverrideCursor()

    class QDesktopServices:
        @staticmethod
        def openUrl(url: QUrl) -> bool:
            session.opened_urls.append(url.toString())
            return True

    members = {
        "Qt": Qt, "QSettings": QSettings, "QUrl": QUrl, "QIcon": QIcon, "QTimer": event_loop.QTimer,
        "QMessageBox": QMessageBox, "QApplication": QApplication, "QDesktopServices": QDesktopServices,
        "QObject": qobjects.QObject, "QWidget": qobjects.QWidget, "QLayout": qobjects.QLayout,
        "QVBoxLayout": qobjects.QVBoxLayout, "QHBoxLayout": qobjects.QHBoxLayout,
        "QFormLayout": qobjects.QFormLayout, "QGridLayout": qobjects.QGridLayout,
        "QLabel": controls.QLabel, "QPushButton": controls.QPushButton, "QToolButton": controls.QToolButton,
        "QRadioButton": controls.QRadioButton, "QCheckBox": controls.QCheckBox, "QGroupBox": controls.QGroupBox,
        "QLineEdit": controls.QLineEdit, "QComboBox": controls.QComboBox, "QDoubleSpinBox": controls.QDoubleSpinBox,
        "QSpinBox": controls.QSpinBox, "QSlider": controls.QSlider, "QProgressBar": controls.QProgressBar,
    }
    qt.__dict__.update(members)
    qt.__getattr__ = _missing("qt")
    return qt


def build_ctk() -> types.ModuleType:
    ctk = types.ModuleType("ctk", "Stand-in of Slicer's ctk module for tests without Slicer.")
    for cls in (controls.ctkCollapsibleButton, controls.ctkCollapsibleGroupBox, controls.ctkPathLineEdit,
                controls.ctkSliderWidget, controls.ctkCheckBox, controls.ctkComboBox, controls.ctkDoubleSpinBox):
        setattr(ctk, cls.QT_CLASS, cls)
    ctk.__getattr__ = _missing("ctk")
    return ctk


MRML_WIDGETS = (mrml_widgets.qMRMLWidget, mrml_widgets.qMRMLNodeComboBox, mrml_widgets.qMRMLSegmentEditorWidget,
                mrml_widgets.qMRMLTableView, mrml_widgets.qMRMLSliderWidget)
