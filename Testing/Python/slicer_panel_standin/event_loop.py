"""Slicer's main-thread event loop, reduced to what a scripted module sees of it: timers.

There is no ``app.exec()``: a test pumps the loop with ``slicer.app.processEvents()``, which
fires every started timer whose interval has elapsed (once per call, as Qt delivers one
timer event per pass), and runs ``QTimer.singleShot`` callbacks that are due. A timer is never
re-entered from its own timeout handler, and a pass from another thread is reported, since Qt
only processes the calling thread's events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import runtime
from .signals import SignalEmitter


class EventLoop:
    def __init__(self) -> None:
        self._timers: list[QTimer] = []
        self._firing: set[int] = set()

    def register(self, timer: QTimer) -> None:
        if timer not in self._timers:
            self._timers.append(timer)

    def unregister(self, timer: QTimer) -> None:
        if timer in self._timers:
            self._timers.remove(timer)

    def processEvents(self) -> None:
        runtime.diagnostics().on_gui_thread("processEvents")
        now = time.monotonic()
        for timer in list(self._timers):
            if timer.isActive() and timer._dueAt <= now and id(timer) not in self._firing:
                self._firing.add(id(timer))
                try:
                    timer._fire()
                finally:
                    self._firing.discard(id(timer))

    def activeTimers(self) -> list[QTimer]:
        return [timer for timer in self._timers if timer.isActive()]

    def stopAll(self) -> None:
        for timer in list(self._timers):
            timer.stop()


_loop = EventLoop()


def loop() -> EventLoop:
    return _loop


def reset_loop(replacement: EventLoop | None = None) -> EventLoop:
    """A new session starts with a loop of its own; ``replacement`` puts an enclosing session's loop back."""
    global _loop
    _loop = replacement or EventLoop()
    return _loop


class _SingleShot:
    """``QTimer.singleShot(ms, fn)`` on the class, the ``singleShot`` property on an instance (as in PythonQt)."""

    def __get__(self, instance: QTimer | None, owner: type) -> Any:
        if instance is None:
            return owner._startSingleShot
        return instance._singleShot

    def __set__(self, instance: QTimer, value: bool) -> None:
        instance._singleShot = bool(value)


class QTimer(SignalEmitter):
    SIGNALS = ("timeout()",)
    singleShot = _SingleShot()

    def __init__(self, parent: Any = None) -> None:
        super().__init__()
        self._interval = 0
        self._singleShot = False
        self._active = False
        self._dueAt = 0.0

    @classmethod
    def _startSingleShot(cls, msec: int, callback: Callable[[], Any]) -> None:
        timer = cls()
        timer._singleShot = True
        timer.connect("timeout()", callback)
        timer.start(msec)

    interval = property(lambda self: self._interval, lambda self, msec: self.setInterval(msec))
    active = property(lambda self: self._active)

    def setInterval(self, msec: int) -> None:
        self._interval = int(msec)
        if self._active:
            self._dueAt = time.monotonic() + self._interval / 1000.0

    def setSingleShot(self, singleShot: bool) -> None:
        self._singleShot = bool(singleShot)

    def isSingleShot(self) -> bool:
        return self._singleShot

    def start(self, msec: int | None = None) -> None:
        runtime.diagnostics().on_gui_thread("QTimer.start")
        if msec is not None:
            self._interval = int(msec)
        self._active = True
        self._dueAt = time.monotonic() + self._interval / 1000.0
        loop().register(self)

    def stop(self) -> None:
        self._active = False
        loop().unregister(self)

    def isActive(self) -> bool:
        return self._active

    def remainingTime(self) -> int:
        if not self._active:
            return -1
        return max(0, round((self._dueAt - time.monotonic()) * 1000))

    def _fire(self) -> None:
        if self._singleShot:
            self.stop()
        else:
            self._dueAt = time.monotonic() + self._interval / 1000.0
        self.emitSignal("timeout()")

    def describe(self) -> str:
        return f"QTimer(interval={self._interval})"
