"""Qt signals as PythonQt exposes them to a scripted module.

PythonQt offers two ways to connect: ``widget.connect("clicked(bool)", slot)`` and
``widget.clicked.connect(slot)``. A slot that takes fewer arguments than the signal carries
gets only the first ones (PythonQt counts the positional parameters of plain functions and
bound methods; other callables get them all). An exception in a slot is printed and the
emitter carries on, so it is recorded in the runtime's diagnostics rather than raised.
A signature the class does not declare makes ``connect`` return False, as in PythonQt.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from . import runtime


def parse_signature(signature: str) -> tuple[str, tuple[str, ...]]:
    """``"currentNodeChanged(vtkMRMLNode *)"`` -> ``("currentNodeChanged", ("vtkMRMLNode*",))``."""
    name, _, rest = signature.partition("(")
    inner = rest.rsplit(")", 1)[0]
    types = []
    for part in inner.split(","):
        part = part.replace("const ", "").replace("&", "").replace(" ", "")
        if part:
            types.append(part)
    return name.strip(), tuple(types)


def _positional_count(slot: Callable[..., Any]) -> int | None:
    """How many arguments PythonQt passes: None (all of them) unless a function or method with fixed arity."""
    function, bound = slot, False
    if inspect.ismethod(slot):
        function, bound = slot.__func__, True
    if not inspect.isfunction(function):
        return None
    code = function.__code__
    if code.co_flags & inspect.CO_VARARGS:
        return None
    return code.co_argcount - (1 if bound else 0)


@dataclass
class _Connection:
    name: str
    types: tuple[str, ...]
    slot: Callable[..., Any]


class BoundSignal:
    """``widget.clicked``: the signal's first declared overload, as PythonQt picks it."""

    def __init__(self, owner: SignalEmitter, signature: str) -> None:
        self._owner = owner
        self._signature = signature

    def connect(self, slot: Callable[..., Any]) -> bool:
        return self._owner.connect(self._signature, slot)

    def disconnect(self, slot: Callable[..., Any] | None = None) -> bool:
        return self._owner.disconnect(self._signature, slot)

    def emit(self, *args: Any) -> None:
        self._owner.emitSignal(self._signature, *args)


class SignalEmitter:
    """Base of every stand-in QObject: declared signals, connections, emission."""

    # Signatures declared by each class; the stand-in's signals are those of its whole class hierarchy.
    SIGNALS: ClassVar[tuple[str, ...]] = ("destroyed()", "objectNameChanged(QString)")

    def __init__(self) -> None:
        self._connections: list[_Connection] = []
        self._signalsBlocked = False

    def declaredSignals(self) -> dict[str, list[tuple[str, ...]]]:
        """Signal name -> overloads, in declaration order (subclasses may drop version-dependent ones)."""
        declared: dict[str, list[tuple[str, ...]]] = {}
        for cls in reversed(type(self).__mro__):
            for signature in cls.__dict__.get("SIGNALS", ()):
                name, types = parse_signature(signature)
                overloads = declared.setdefault(name, [])
                if types not in overloads:
                    overloads.append(types)
        return declared

    def _declares(self, name: str, types: tuple[str, ...]) -> bool:
        return types in self.declaredSignals().get(name, [])

    def connect(self, signature: str, slot: Callable[..., Any]) -> bool:
        name, types = parse_signature(signature)
        if not self._declares(name, types):
            runtime.diagnostics().problem(f"connect: {self.describe()} has no signal {signature}")
            return False
        self._connections.append(_Connection(name, types, slot))
        return True

    def disconnect(self, signature: str, slot: Callable[..., Any] | None = None) -> bool:
        name, types = parse_signature(signature)
        for index, connection in enumerate(self._connections):
            if connection.name == name and connection.types == types and (slot is None or connection.slot == slot):
                del self._connections[index]
                return True
        return False

    def blockSignals(self, block: bool) -> bool:
        previous, self._signalsBlocked = self._signalsBlocked, bool(block)
        return previous

    def signalsBlocked(self) -> bool:
        return self._signalsBlocked

    def emitSignal(self, signature: str, *args: Any) -> None:
        """Call the slots connected to ``signature`` or to an overload taking a prefix of its arguments."""
        if self._signalsBlocked:
            return
        name, types = parse_signature(signature)
        runtime.diagnostics().on_gui_thread(f"signal {signature} of {self.describe()}")
        for connection in list(self._connections):
            if connection.name != name or connection.types != types[:len(connection.types)]:
                continue
            given = args[:len(connection.types)]
            count = _positional_count(connection.slot)
            if count is not None:
                given = given[:count]
            try:
                connection.slot(*given)
            except Exception as error:  # PythonQt prints it; the emitting widget goes on
                runtime.diagnostics().slot_failed(f"slot of {signature} on {self.describe()}", error)

    def describe(self) -> str:
        return type(self).__name__

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: a declared signal name gives a bound signal.
        if not name.startswith("_"):
            overloads = self.declaredSignals().get(name)
            if overloads:
                types = overloads[0]
                return BoundSignal(self, f"{name}({','.join(types)})")
        raise AttributeError(f"{type(self).__name__} stand-in has no attribute {name!r}")
