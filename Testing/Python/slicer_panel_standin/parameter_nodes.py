"""``slicer.parameterNodeWrapper`` on the real ``vtkMRMLScriptedModuleNode``, as far as a module uses it.

Each annotated member of a ``@parameterNodeWrapper`` class becomes a typed property stored in
the node the way Slicer stores it, so a scene saved here reads back the same: numbers and
paths as their text, booleans as ``"True"``/``"False"``, a node as a node reference (plus an
empty parameter of the same name). Wrapping a node writes the default of every member it
lacks; a write is checked (type, ``WithinRange``, ``Choice``...) before it reaches the node and
fires one ModifiedEvent. ``connectGui(ui)`` binds every widget whose ``SlicerParameterName``
dynamic property names a member, both ways, with the widget-type rules of Slicer's connectors
(a combo box is filled with the ``Choice`` values, a slider or spin box gets the
``WithinRange`` bounds, a node selector the member's node class). Supported member types:
bool, int, float, str, pathlib paths and MRML node classes; anything else raises, so that a
module using more fails here loudly instead of passing untested.
"""

from __future__ import annotations

import pathlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import slicer as slicer_core  # the real MRML classes
import vtk

from . import runtime

__all__ = ["parameterNodeWrapper", "Default", "Choice", "WithinRange", "Minimum", "Maximum", "NotNone",
           "Decimals", "SingleStep", "isParameterNodeWrapper"]

PATH_TYPES = (pathlib.Path, pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePath, pathlib.PurePosixPath,
              pathlib.PureWindowsPath)


class Default:
    def __init__(self, value: Any = None, *, generator: Callable[[], Any] | None = None) -> None:
        self._value, self._generator = value, generator

    @property
    def value(self) -> Any:
        return self._generator() if self._generator else self._value


class Validator:
    def validate(self, value: Any) -> None:
        raise NotImplementedError


class WithinRange(Validator):
    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, maximum

    def validate(self, value: Any) -> None:
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"Value must be within range [{self.minimum}, {self.maximum}], is {value}")


class Minimum(Validator):
    def __init__(self, minimum: float) -> None:
        self.minimum = minimum

    def validate(self, value: Any) -> None:
        if value < self.minimum:
            raise ValueError(f"Value must be at least {self.minimum}, is {value}")


class Maximum(Validator):
    def __init__(self, maximum: float) -> None:
        self.maximum = maximum

    def validate(self, value: Any) -> None:
        if value > self.maximum:
            raise ValueError(f"Value must be at most {self.maximum}, is {value}")


class Choice(Validator):
    def __init__(self, choices: list[Any]) -> None:
        self.choices = list(choices)

    def validate(self, value: Any) -> None:
        if value not in self.choices:
            raise ValueError(f"Value is {value}, but must be one of {self.choices}")


class NotNone(Validator):
    def validate(self, value: Any) -> None:
        if value is None:
            raise ValueError("Value must not be None")


@dataclass
class Decimals:
    value: int


@dataclass
class SingleStep:
    value: float


def _first(annotations: tuple[Any, ...], kind: type) -> Any:
    return next((item for item in annotations if isinstance(item, kind)), None)


def _is_node_class(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, slicer_core.vtkMRMLNode)


@dataclass
class Member:
    """One typed parameter: how it is stored in the node and checked."""

    name: str
    kind: Any  # bool, int, float, str, a pathlib type, or a tuple of node classes
    annotations: tuple[Any, ...]
    default: Any = None
    validators: list[Validator] = field(default_factory=list)

    @property
    def is_node(self) -> bool:
        return isinstance(self.kind, tuple)

    def check(self, value: Any) -> None:
        if self.is_node:
            if value is not None and not isinstance(value, self.kind):
                raise TypeError(f"{self.name}: {type(value).__name__} is not one of {self.kind}")
        elif self.kind is float:
            if not isinstance(value, (int, float)):
                raise TypeError(f"{self.name}: {value!r} is not a number")
        elif not isinstance(value, self.kind):
            raise TypeError(f"{self.name}: {value!r} is not a {self.kind.__name__}")
        for validator in self.validators:
            validator.validate(value)

    def is_in(self, node: Any) -> bool:
        return bool(node.HasParameter(self.name))

    def write(self, node: Any, value: Any) -> None:
        self.check(value)
        if self.is_node:
            node.SetParameter(self.name, "")
            node.SetNodeReferenceID(self.name, value.GetID() if value is not None else None)
        elif self.kind is bool:
            node.SetParameter(self.name, "True" if value else "False")
        else:
            node.SetParameter(self.name, str(value))

    def read(self, node: Any) -> Any:
        if not self.is_in(node):
            self.write(node, self.default)
        if self.is_node:
            return node.GetNodeReference(self.name)
        text = node.GetParameter(self.name)
        if self.kind is bool:
            return text == "True"
        return self.kind(text)


def _member(name: str, hint: Any, class_default: Any) -> Member:
    kind, annotations = hint, ()
    if typing.get_origin(hint) is typing.Annotated:
        kind, *rest = typing.get_args(hint)
        annotations = tuple(rest)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        parts = [part for part in typing.get_args(kind) if part is not type(None)]
        if not all(_is_node_class(part) for part in parts):
            raise TypeError(f"{name}: only unions of MRML node classes are emulated, not {kind}")
        kind = tuple(parts)
    elif _is_node_class(kind):
        kind = (kind,)
    elif kind not in (bool, int, float, str) and kind not in PATH_TYPES:
        raise TypeError(f"{name}: the stand-in parameterNodeWrapper does not emulate members of type {kind}")
    default = _first(annotations, Default)
    if class_default is not _MISSING:
        value = class_default
    elif default is not None:
        value = default.value
    elif isinstance(kind, tuple):
        value = None
    else:
        value = {bool: False, int: 0, float: 0.0, str: ""}.get(kind) if kind in (bool, int, float, str) else kind()
    validators = [item for item in annotations if isinstance(item, Validator)]
    if not isinstance(kind, tuple):
        validators.insert(0, NotNone())
    return Member(name, kind, annotations, value, validators)


_MISSING = object()


# --- GUI connectors: one widget, one member -------------------------------------------


class Connector:
    """Reads and writes one widget for one member; ``signal`` tells when the user changed it."""

    signal = ""

    def __init__(self, widget: Any, member: Member) -> None:
        self.widget, self.member = widget, member
        self._callback: Callable[[], None] | None = None

    def _changed(self, *args: Any) -> None:
        if self._callback is not None:
            self._callback()

    def bind(self, callback: Callable[[], None] | None) -> None:
        if callback is None:
            self.widget.disconnect(self.signal, self._changed)
        else:
            self.widget.connect(self.signal, self._changed)
        self._callback = callback

    def read(self) -> Any:
        raise NotImplementedError

    def write(self, value: Any) -> None:
        raise NotImplementedError


class CheckedConnector(Connector):
    def __init__(self, widget: Any, member: Member) -> None:
        super().__init__(widget, member)
        self.signal = "stateChanged(int)" if widget.inherits("QCheckBox") else "toggled(bool)"
        if not widget.checkable:
            widget.checkable = True

    def read(self) -> bool:
        return self.widget.checked

    def write(self, value: bool) -> None:
        self.widget.checked = value


class NumberConnector(Connector):
    def __init__(self, widget: Any, member: Member) -> None:
        super().__init__(widget, member)
        integer = member.kind is int
        self.signal = "valueChanged(int)" if widget.inherits("QSpinBox") else "valueChanged(double)"
        decimals, step = _first(member.annotations, Decimals), _first(member.annotations, SingleStep)
        if integer and hasattr(widget, "decimals") and not widget.inherits("QSpinBox"):
            widget.decimals = 0
        elif decimals is not None:
            widget.decimals = decimals.value
        if step is not None:
            widget.singleStep = step.value
        within = _first(member.annotations, WithinRange)
        low, high = _first(member.annotations, Minimum), _first(member.annotations, Maximum)
        if within is not None:
            low_value, high_value = within.minimum, within.maximum
        else:
            low_value = low.minimum if low is not None else float("-inf")
            high_value = high.maximum if high is not None else float("inf")
        if widget.inherits("ctkSliderWidget") and (low_value == float("-inf") or high_value == float("inf")):
            raise RuntimeError(f"{member.name}: a ctkSliderWidget needs a bounded range (WithinRange)")
        widget.minimum, widget.maximum = low_value, high_value

    def read(self) -> float | int:
        return int(self.widget.value) if self.member.kind is int else self.widget.value

    def write(self, value: float | int) -> None:
        self.widget.value = value


class ChoiceConnector(Connector):
    signal = "currentIndexChanged(int)"

    def __init__(self, widget: Any, member: Member) -> None:
        super().__init__(widget, member)
        choice = _first(member.annotations, Choice)
        if choice is None:
            raise RuntimeError(f"{member.name}: a combo box needs the Choice annotation")
        self.choices = choice.choices
        widget.clear()
        for item in self.choices:
            widget.addItem(str(item))

    def read(self) -> Any:
        return self.choices[self.widget.currentIndex]

    def write(self, value: Any) -> None:
        if value not in self.choices:
            raise ValueError(f"{value!r} is not among {self.choices}")
        self.widget.currentIndex = self.choices.index(value)


class TextConnector(Connector):
    signal = "textChanged(QString)"

    def read(self) -> str:
        return self.widget.text

    def write(self, value: str) -> None:
        if value != self.widget.text:
            self.widget.text = value


class PathConnector(Connector):
    signal = "currentPathChanged(QString)"

    def read(self) -> pathlib.PurePath:
        return self.member.kind(self.widget.currentPath)

    def write(self, value: pathlib.PurePath) -> None:
        self.widget.currentPath = str(value)


class NodeConnector(Connector):
    signal = "currentNodeChanged(vtkMRMLNode*)"

    def __init__(self, widget: Any, member: Member) -> None:
        super().__init__(widget, member)
        widget.nodeTypes = [kind.__name__ for kind in member.kind]

    def read(self) -> Any:
        return self.widget.currentNode()

    def write(self, value: Any) -> None:
        self.widget.setCurrentNode(value)


def connector_for(widget: Any, member: Member) -> Connector:
    """The connector Slicer would choose for this widget class and member type, or RuntimeError."""
    qtClass = widget.className()
    kind = member.kind
    if kind is bool and qtClass in ("QCheckBox", "ctkCheckBox", "QPushButton", "ctkCheckablePushButton"):
        return CheckedConnector(widget, member)
    if kind in (int, float) and qtClass in ("QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget",
                                            "ctkDoubleSpinBox", "ctkDoubleSlider", "qMRMLSpinBox"):
        return NumberConnector(widget, member)
    if kind is int and qtClass in ("QSpinBox", "QSlider"):
        return NumberConnector(widget, member)
    if kind in (int, float, str, bool) and qtClass in ("QComboBox", "ctkComboBox"):
        return ChoiceConnector(widget, member)
    if kind is str and qtClass == "QLineEdit":
        return TextConnector(widget, member)
    if kind in PATH_TYPES and qtClass == "ctkPathLineEdit":
        return PathConnector(widget, member)
    if member.is_node and qtClass == "qMRMLNodeComboBox":
        return NodeConnector(widget, member)
    raise RuntimeError(f"Unable to create GUI connector from datatype '{kind}' to widget type '{qtClass}'")


# --- the wrapper --------------------------------------------------------------------------


class _WrapperBase:
    """Methods every wrapped class gets (the same names as Slicer's wrapper)."""

    allParameters: dict[str, Member]

    def __init__(self, parameterNode: Any) -> None:
        self.parameterNode = parameterNode
        self._guis: dict[int, dict[str, Connector]] = {}
        self._guiObservers: dict[int, int] = {}
        self._nextTag = 0
        self._updatingGui = False
        for member in self.allParameters.values():
            if not member.is_in(parameterNode):
                member.write(parameterNode, member.default)

    def getValue(self, name: str) -> Any:
        return self._member(name).read(self.parameterNode)

    def setValue(self, name: str, value: Any) -> None:
        member = self._member(name)
        member.check(value)
        runtime.diagnostics().on_gui_thread(f"parameter {name} of {self.parameterNode.GetName()}")
        wasModifying = self.parameterNode.StartModify()
        try:
            member.write(self.parameterNode, value)
        finally:
            self.parameterNode.EndModify(wasModifying)

    def _member(self, name: str) -> Member:
        if name not in self.allParameters:
            raise ValueError(f"Cannot find a param with the given name: {name}")
        return self.allParameters[name]

    def default(self, name: str) -> Default:
        return Default(self._member(name).default)

    def isCached(self, name: str) -> bool:
        self._member(name)
        return True

    @classmethod
    def dataType(cls, name: str) -> Any:
        member = cls.allParameters[name]
        return member.kind[0] if member.is_node and len(member.kind) == 1 else member.kind

    # observation, as on the node itself

    def StartModify(self) -> int:
        return self.parameterNode.StartModify()

    def EndModify(self, wasModifying: int) -> int:
        return self.parameterNode.EndModify(wasModifying)

    def AddObserver(self, event: Any, callback: Callable[..., Any], priority: float = 0.0) -> int:
        return self.parameterNode.AddObserver(event, callback, priority)

    def RemoveObserver(self, tag: int) -> None:
        self.parameterNode.RemoveObserver(tag)

    def Modified(self) -> None:
        self.parameterNode.Modified()

    # GUI binding

    def connectGui(self, gui: Any) -> int:
        """Bind the widgets of ``gui`` (a ``childWidgetVariables`` object, or a widget) named by SlicerParameterName."""
        widgets = gui.findChildren() if getattr(gui, "isWidgetType", lambda: False)() else list(vars(gui).values())
        mapping = {}
        for widget in widgets:
            name = widget.property("SlicerParameterName")
            if name:
                mapping[name] = widget
        return self.connectParametersToGui(mapping)

    def connectParametersToGui(self, mapping: dict[str, Any]) -> int:
        connectors = {name: connector_for(widget, self._member(name)) for name, widget in mapping.items()}
        tag, self._nextTag = self._nextTag, self._nextTag + 1
        self._guis[tag] = connectors
        for name, connector in connectors.items():
            connector.write(self.getValue(name))
            connector.bind(self._guiChanged(name, connector))
        self._guiObservers[tag] = self.parameterNode.AddObserver(
            vtk.vtkCommand.ModifiedEvent, lambda caller, event: self._updateGui())
        return tag

    def _guiChanged(self, name: str, connector: Connector) -> Callable[[], None]:
        def changed() -> None:
            if not self._updatingGui:
                self.setValue(name, connector.read())

        return changed

    def _updateGui(self) -> None:
        if self._updatingGui:
            return
        self._updatingGui = True
        wasModifying = self.parameterNode.StartModify()
        try:
            for connectors in list(self._guis.values()):
                for name, connector in connectors.items():
                    connector.write(self.getValue(name))
        finally:
            self.parameterNode.EndModify(wasModifying)
            self._updatingGui = False

    def disconnectGui(self, tag: int) -> None:
        for connector in self._guis.pop(tag, {}).values():
            connector.bind(None)
        if tag in self._guiObservers:
            self.parameterNode.RemoveObserver(self._guiObservers.pop(tag))


def _property(name: str) -> property:
    return property(lambda self: self.getValue(name), lambda self, value: self.setValue(name, value))


def parameterNodeWrapper(classtype: type | None = None) -> Any:
    """Class decorator: typed members stored in the wrapped ``vtkMRMLScriptedModuleNode``."""

    def wrap(cls: type) -> type:
        members = {}
        for name, hint in typing.get_type_hints(cls, include_extras=True).items():
            members[name] = _member(name, hint, cls.__dict__.get(name, _MISSING))
        namespace = {name: _property(name) for name in members}
        namespace.update(allParameters=members, _is_parameter_node_wrapper=True, __doc__=cls.__doc__,
                         __module__=cls.__module__, __qualname__=cls.__qualname__)
        return type(cls.__name__, (_WrapperBase,), namespace)

    return wrap if classtype is None else wrap(classtype)


def isParameterNodeWrapper(classOrObject: Any) -> bool:
    return getattr(classOrObject, "_is_parameter_node_wrapper", False)
