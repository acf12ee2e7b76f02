"""QObject, QWidget and the layouts: the tree, properties, and what "enabled" and "visible" mean to a user.

As in Qt, ``enabled`` reads False when the widget or any parent is disabled (a button in a
disabled section cannot be clicked), and ``isVisible()`` is False when it or a parent is
hidden, while ``isHidden()`` only says whether the widget itself was hidden. A collapsed
section hides what it holds. Widgets in a layout are children of the layout's widget.
Assigning an attribute that the Qt class does not have is reported (PythonQt would silently
keep it, so a misspelt property would never reach the screen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import runtime
from .signals import SignalEmitter


class StoredProperty:
    """A Qt property whose setter only stores the value (``convert``-ed): text, toolTip, suffix, nameFilters..."""

    def __init__(self, default: Any = None, convert: Callable[[Any], Any] | None = None) -> None:
        self.default = default
        self.convert = convert
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is None:
            return self
        return instance._stored.get(self.name, self.default)

    def __set__(self, instance: Any, value: Any) -> None:
        instance._guiWrite(self.name)
        instance._stored[self.name] = self.convert(value) if self.convert is not None else value


def stores(**defaults: Any) -> Callable[[type], type]:
    """Class decorator: Qt properties the stand-in only keeps, with the Qt class's defaults."""

    def add(cls: type) -> type:
        for name, default in defaults.items():
            stored = StoredProperty(default)
            stored.__set_name__(cls, name)
            setattr(cls, name, stored)
        return cls

    return add


class SignalledProperty(StoredProperty):
    """A Qt property whose change emits ``signal`` with the new value (setting the same value emits nothing)."""

    def __init__(self, default: Any, convert: Callable[[Any], Any], signal: str) -> None:
        super().__init__(default, convert)
        self.signal = signal

    def __set__(self, instance: Any, value: Any) -> None:
        instance._guiWrite(self.name)
        value = self.convert(value)
        if value != self.__get__(instance, type(instance)):
            instance._stored[self.name] = value
            instance.emitSignal(self.signal, value)


class QObject(SignalEmitter):
    QT_CLASS = "QObject"
    SIGNALS = ("destroyed()",)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__()
        self._stored: dict[str, Any] = {}
        self._dynamic: dict[str, Any] = {}
        self._objectName = ""
        self._parent: QObject | None = None
        self._children: list[QObject] = []
        if parent is not None:
            self.setParent(parent)

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_") and not hasattr(type(self), name):
            runtime.diagnostics().problem(f"{self.describe()} has no Qt property {name!r} (set to {value!r})")
        object.__setattr__(self, name, value)

    def _guiWrite(self, what: str) -> None:
        runtime.diagnostics().on_gui_thread(f"set {what} of {self.describe()}")

    def describe(self) -> str:
        return f"{self.className()} {self._objectName!r}" if self._objectName else self.className()

    def className(self) -> str:
        return self.QT_CLASS

    def inherits(self, className: str) -> bool:
        return any(getattr(cls, "QT_CLASS", None) == className for cls in type(self).__mro__)

    def isWidgetType(self) -> bool:
        return False

    objectName = property(lambda self: self._objectName, lambda self, value: self.setObjectName(value))
    name = objectName  # PythonQt's alias, used by slicer.util.childWidgetVariables

    def setObjectName(self, value: str) -> None:
        self._objectName = str(value)

    def parent(self) -> QObject | None:
        return self._parent

    def setParent(self, parent: QObject | None) -> None:
        if self._parent is not None and self in self._parent._children:
            self._parent._children.remove(self)
        self._parent = parent
        if parent is not None:
            parent._children.append(self)

    def children(self) -> list[QObject]:
        return list(self._children)

    def findChildren(self, kind: type | str | None = None) -> list[QObject]:
        """Every descendant, depth first; ``kind`` a stand-in class or a Qt class name."""
        found = []
        for child in self._children:
            if kind is None or (isinstance(kind, str) and child.inherits(kind)) or (
                    isinstance(kind, type) and isinstance(child, kind)):
                found.append(child)
            found.extend(child.findChildren(kind))
        return found

    def findChild(self, kind: type | str | None, name: str) -> QObject | None:
        for child in self.findChildren(kind):
            if child.objectName == name:
                return child
        return None

    def property(self, name: str) -> Any:
        if name in self._dynamic:
            return self._dynamic[name]
        if isinstance(getattr(type(self), name, None), (property, StoredProperty)):
            return getattr(self, name)
        return self._stored.get(name)

    def setProperty(self, name: str, value: Any) -> bool:
        """Qt properties go through their setters; any other name becomes a dynamic property (False, as in Qt)."""
        if isinstance(getattr(type(self), name, None), (property, StoredProperty)):
            setattr(self, name, value)
            return True
        self._dynamic[name] = value
        return False

    def dynamicPropertyNames(self) -> list[str]:
        return list(self._dynamic)

    def deleteLater(self) -> None:
        self.emitSignal("destroyed()")


@stores(toolTip="", statusTip="", whatsThis="", windowTitle="", geometry=None, minimumSize=None, maximumSize=None,
        sizePolicy=None, accessibleName="")
class QWidget(QObject):
    QT_CLASS = "QWidget"
    SIGNALS = ("customContextMenuRequested(QPoint)", "windowTitleChanged(QString)")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ownEnabled = True
        self._hidden = False
        self._layout: QLayout | None = None

    def isWidgetType(self) -> bool:
        return True

    def parentWidget(self) -> QWidget | None:
        parent = self._parent
        while parent is not None and not parent.isWidgetType():
            parent = parent._parent
        return parent

    # enabled: the widget and every parent

    @property
    def enabled(self) -> bool:
        parent = self.parentWidget()
        return self._ownEnabled and (parent is None or parent.enabled)

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._guiWrite("enabled")
        self._ownEnabled = bool(value)

    def isEnabled(self) -> bool:
        return self.enabled

    def setEnabled(self, value: bool) -> None:
        self.enabled = value

    def setDisabled(self, value: bool) -> None:
        self.enabled = not value

    def isEnabledTo(self, ancestor: QWidget) -> bool:
        widget: QWidget | None = self
        while widget is not None and widget is not ancestor:
            if not widget._ownEnabled:
                return False
            widget = widget.parentWidget()
        return True

    # visible: the widget and every parent shown, no collapsed section in between

    def _hidesChildren(self) -> bool:
        return False

    def isHidden(self) -> bool:
        return self._hidden

    def isVisible(self) -> bool:
        parent = self.parentWidget()
        return not self._hidden and (parent is None or (parent.isVisible() and not parent._hidesChildren()))

    visible = property(lambda self: self.isVisible(), lambda self, value: self.setVisible(value))

    def setVisible(self, value: bool) -> None:
        self._guiWrite("visible")
        self._hidden = not value

    def setHidden(self, hidden: bool) -> None:
        self.setVisible(not hidden)

    def show(self) -> None:
        self.setVisible(True)

    def hide(self) -> None:
        self.setVisible(False)

    # look

    styleSheet = StoredProperty("", str)

    def setStyleSheet(self, value: str) -> None:
        self.styleSheet = value

    def setToolTip(self, text: str) -> None:
        self.toolTip = text

    def update(self) -> None:
        pass

    def repaint(self) -> None:
        pass

    def setSizePolicy(self, *policy: Any) -> None:
        self.sizePolicy = policy

    # layout

    def layout(self) -> QLayout | None:
        return self._layout

    def setLayout(self, layout: QLayout) -> None:
        self._layout = layout
        layout.setParent(self)
        layout._adoptPending()


class QLayout(QObject):
    """Holds widgets for its parent widget; the widgets become that widget's children, as in Qt."""

    QT_CLASS = "QLayout"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(None)
        self._items: list[QObject] = []
        if isinstance(parent, QWidget):
            parent.setLayout(self)
        elif parent is not None:
            self.setParent(parent)

    def parentWidget(self) -> QWidget | None:
        parent = self._parent
        while parent is not None and not parent.isWidgetType():
            parent = parent._parent
        return parent

    def _adoptPending(self) -> None:
        for item in self._items:
            self._adopt(item)

    def _adopt(self, item: QObject) -> None:
        owner = self.parentWidget()
        if owner is None:
            return
        if isinstance(item, QLayout):
            item.setParent(self)
            item._adoptPending()
        elif item.parent() is not owner:
            item.setParent(owner)

    def addWidget(self, widget: QWidget, *args: Any) -> None:
        self._items.append(widget)
        self._adopt(widget)

    def addLayout(self, layout: QLayout, *args: Any) -> None:
        self._items.append(layout)
        layout.setParent(self)
        layout._adoptPending()

    def addItem(self, item: Any) -> None:
        if isinstance(item, QObject):
            self.addWidget(item)

    def addStretch(self, *args: Any) -> None:
        pass

    def addSpacing(self, *args: Any) -> None:
        pass

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QObject | None:
        return self._items[index] if 0 <= index < len(self._items) else None


def qt_class(name: str, base: type, **attributes: Any) -> type:
    """A Qt class that adds nothing the stand-ins need to what ``base`` already does."""
    return type(name, (base,), {"QT_CLASS": name, "__module__": base.__module__, **attributes})


QVBoxLayout = qt_class("QVBoxLayout", QLayout)
QHBoxLayout = qt_class("QHBoxLayout", QLayout)
QGridLayout = qt_class("QGridLayout", QLayout)


class QFormLayout(QLayout):
    QT_CLASS = "QFormLayout"

    def addRow(self, first: Any, second: Any = None) -> None:
        for part in (first, second):
            if isinstance(part, QLayout):
                self.addLayout(part)
            elif isinstance(part, QObject):
                self.addWidget(part)

    def setWidget(self, row: int, role: Any, widget: QWidget) -> None:
        self.addWidget(widget)

    def setLayout(self, row: int, role: Any, layout: QLayout) -> None:
        self.addLayout(layout)
