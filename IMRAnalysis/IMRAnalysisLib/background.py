"""A long computation in a worker thread that a GUI polls, so the GUI never freezes.

The worker gets a progress callback and a cancel check; nothing it does may touch the
GUI or the MRML scene. The GUI thread reads ``status()`` from a timer and takes the
``outcome()`` once the run is done, then applies it to the scene itself.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from .errors import AnalysisCancelled

T = TypeVar("T")
Work = Callable[[Callable[[str], None], Callable[[], bool]], T]


@dataclass(frozen=True)
class RunStatus:
    message: str  # the stage under way
    fraction: float  # 0..1: stages finished out of those expected
    done: bool


class BackgroundRun(Generic[T]):
    """``work(progress, cancel)`` in a daemon thread; ``stages`` progress calls make a whole run."""

    def __init__(self, work: Work[T], stages: int) -> None:
        self._work = work
        self._stages = max(stages, 1)
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._message = ""
        self._started_stages = 0
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="IMRAnalysis run", daemon=True)

    def start(self) -> BackgroundRun[T]:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the worker to stop; its cancel check sees it at the next registration iteration or stage."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def status(self) -> RunStatus:
        with self._lock:
            fraction = min(max(self._started_stages - 1, 0) / self._stages, 1.0)
            return RunStatus(self._message, fraction, not self._thread.is_alive())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (scripts and tests; a GUI polls ``status`` instead)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def outcome(self) -> T:
        """The result of a finished run; a cancelled one raises ``AnalysisCancelled`` even if it got to the end,
        so that a Cancel always leaves the scene as it was."""
        if self._thread.is_alive():
            raise RuntimeError("the run has not finished")
        if self._cancel.is_set():
            raise AnalysisCancelled("analysis cancelled")
        if self._error is not None:
            raise self._error
        return self._result

    def _progress(self, message: str) -> None:
        with self._lock:
            self._message = message
            self._started_stages += 1

    def _run(self) -> None:
        try:
            self._result = self._work(self._progress, self._cancel.is_set)
        except BaseException as error:  # handed to the GUI thread by outcome()
            self._error = error
