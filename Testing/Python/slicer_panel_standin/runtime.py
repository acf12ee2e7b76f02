"""State shared by every stand-in of one emulated Slicer session: the version, the event loop, what went wrong.

Qt and PythonQt hide some mistakes from the user: an exception in a slot is printed and the
click goes on, a connection to a signal that does not exist only logs a warning, a widget
touched from a worker thread may work for months and then crash Slicer. The stand-ins report
each of these here instead, so that a flow test can ask for none of them to have happened.
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass, field

LOG = logging.getLogger("slicer_panel_standin")


@dataclass
class SlotError:
    """An exception that PythonQt would have printed to Slicer's Python console."""

    where: str
    error: BaseException
    traceback: str

    def __str__(self) -> str:
        return f"{self.where}: {type(self.error).__name__}: {self.error}"


@dataclass
class Diagnostics:
    slot_errors: list[SlotError] = field(default_factory=list)
    thread_violations: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def on_gui_thread(self, what: str) -> None:
        """Widgets and the scene belong to Slicer's main thread; note any change made from another one."""
        if threading.current_thread() is not threading.main_thread():
            self.thread_violations.append(f"{what} (from thread {threading.current_thread().name!r})")

    def slot_failed(self, where: str, error: BaseException) -> None:
        text = "".join(traceback.format_exception(error))
        LOG.error("exception in %s\n%s", where, text)
        self.slot_errors.append(SlotError(where, error, text))

    def problem(self, text: str) -> None:
        LOG.warning(text)
        self.problems.append(text)

    def report(self) -> list[str]:
        """Everything recorded, one line each; empty when nothing went wrong."""
        return ([f"exception in slot: {error}" for error in self.slot_errors]
                + [f"GUI or scene touched off the main thread: {text}" for text in self.thread_violations]
                + self.problems)


@dataclass
class Runtime:
    """One emulated Slicer session; ``version`` decides the signals of version-dependent widgets."""

    version: tuple[int, int] = (5, 12)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    settings: dict[str, object] = field(default_factory=dict)  # what QSettings would keep between sessions


_current = Runtime()


def current() -> Runtime:
    return _current


def begin(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the session the stand-ins report to (one at a time, like one Slicer process)."""
    global _current
    _current = runtime
    return runtime


def diagnostics() -> Diagnostics:
    return _current.diagnostics
