"""Qt and CTK input widgets with the signals Qt emits, and only when Qt emits them.

Setting a value from code that changes it emits the change signal (``toggled``,
``currentIndexChanged``, ``valueChanged``, ``currentPathChanged``) as in Qt; setting the
same value emits nothing. Signals only a user causes (``clicked``, ``activated``) come from
the user-action methods: ``click()`` (ignored when the button or a parent section is
disabled, as Qt ignores it) and ``QComboBox.choose()``. Numbers are rounded to ``decimals``
and clamped to the range the way QDoubleSpinBox does; a QProgressBar ignores a value
outside its range, as Qt does.
"""

from __future__ import annotations

import math
from typing import Any

from . import runtime
from .qobjects import QObject, QWidget, SignalledProperty, StoredProperty, qt_class, stores


class _WithText:
    """Widgets made as ``QLabel("text", parent)``: the first argument is their text."""

    def __init__(self, text: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stored["text"] = str(text)

    def setText(self, value: str) -> None:
        self.text = value


@stores(wordWrap=False, alignment=None, margin=0, textFormat=None, openExternalLinks=False)
class QLabel(_WithText, QWidget):
    QT_CLASS = "QLabel"
    SIGNALS = ("linkActivated(QString)", "linkHovered(QString)")

    text = StoredProperty("", str)


class _Checkable:
    """``checked`` as Qt has it: ignored unless ``checkable``; a change emits ``toggled(bool)``."""

    _checked = False

    checked = property(lambda self: self._checked, lambda self, value: self.setChecked(value))

    def isChecked(self) -> bool:
        return self._checked

    def setChecked(self, value: bool) -> None:
        self._guiWrite("checked")
        value = bool(value)
        if not self.checkable or value == self._checked:
            return
        self._checked = value
        self._checkStateSet()
        self.emitSignal("toggled(bool)", value)

    def _checkStateSet(self) -> None:
        """What the class does between storing the state and emitting ``toggled``."""

    def toggle(self) -> None:
        self.setChecked(not self._checked)


class _Collapsible(_Checkable):
    """CTK's collapsible containers: expanded means checked; collapsed hides the contents."""

    _checked = True
    collapsed = property(lambda self: not self._checked, lambda self, value: self.setChecked(not value))

    def setCollapsed(self, value: bool) -> None:
        self.collapsed = value

    def _hidesChildren(self) -> bool:
        return not self._checked


@stores(icon=None, iconSize=None, autoRepeat=False, flat=False)
class QAbstractButton(_WithText, _Checkable, QWidget):
    QT_CLASS = "QAbstractButton"
    SIGNALS = ("clicked(bool)", "clicked()", "pressed()", "released()", "toggled(bool)")

    text = StoredProperty("", str)
    checkable = StoredProperty(False, bool)

    def setCheckable(self, value: bool) -> None:
        self.checkable = value

    def isCheckable(self) -> bool:
        return self.checkable

    def click(self) -> None:
        """The user clicks: nothing happens when the button cannot be clicked (disabled here or in a parent)."""
        runtime.diagnostics().on_gui_thread(f"click on {self.describe()}")
        if not self.enabled:
            return
        self.emitSignal("pressed()")
        self.emitSignal("released()")
        if self.checkable:
            self.setChecked(not self._checked)
        self.emitSignal("clicked(bool)", self._checked)

    def animateClick(self, *args: Any) -> None:
        self.click()


@stores(default=False, autoDefault=False)
class QPushButton(QAbstractButton):
    QT_CLASS = "QPushButton"


QToolButton = qt_class("QToolButton", QAbstractButton)
QRadioButton = qt_class("QRadioButton", QAbstractButton, checkable=StoredProperty(True, bool))


class QCheckBox(QAbstractButton):
    QT_CLASS = "QCheckBox"
    SIGNALS = ("stateChanged(int)",)

    checkable = StoredProperty(True, bool)
    tristate = StoredProperty(False)

    def _checkStateSet(self) -> None:
        self.emitSignal("stateChanged(int)", self.checkState())

    def checkState(self) -> int:
        return 2 if self._checked else 0

    def setCheckState(self, state: int) -> None:
        self.setChecked(state != 0)


ctkCheckBox = qt_class("ctkCheckBox", QCheckBox)


@stores(contentsFrameShape=None, buttonTextAlignment=None)
class ctkCollapsibleButton(_Collapsible, QAbstractButton):
    """A section header: clicking it collapses or expands the section."""

    QT_CLASS = "ctkCollapsibleButton"
    SIGNALS = ("contentsCollapsed(bool)",)

    checkable = StoredProperty(True, bool)

    def _checkStateSet(self) -> None:
        self.emitSignal("contentsCollapsed(bool)", not self._checked)


@stores(flat=False, alignment=None)
class QGroupBox(_Checkable, QWidget):
    QT_CLASS = "QGroupBox"
    SIGNALS = ("clicked(bool)", "toggled(bool)")

    title = StoredProperty("", str)
    checkable = StoredProperty(False, bool)
    _checked = True

    def __init__(self, title: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stored["title"] = str(title)


class ctkCollapsibleGroupBox(_Collapsible, QGroupBox):
    QT_CLASS = "ctkCollapsibleGroupBox"

    checkable = StoredProperty(True, bool)


@stores(placeholderText="", readOnly=False)
class QLineEdit(_WithText, QWidget):
    QT_CLASS = "QLineEdit"
    SIGNALS = ("textChanged(QString)", "textEdited(QString)", "editingFinished()", "returnPressed()")

    text = SignalledProperty("", str, "textChanged(QString)")

    def type(self, value: str) -> None:
        """The user types ``value`` over the field's text and leaves it."""
        if not self.enabled:
            return
        self.text = value
        self.emitSignal("textEdited(QString)", value)
        self.emitSignal("editingFinished()")


@stores(editable=False, maxVisibleItems=10)
class QComboBox(QWidget):
    QT_CLASS = "QComboBox"
    SIGNALS = ("currentIndexChanged(int)", "currentIndexChanged(QString)", "currentTextChanged(QString)",
               "activated(int)", "activated(QString)", "textActivated(QString)", "highlighted(int)")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[tuple[str, Any]] = []
        self._currentIndex = -1

    @property
    def count(self) -> int:
        return len(self._items)

    def itemText(self, index: int) -> str:
        return self._items[index][0] if 0 <= index < len(self._items) else ""

    def itemData(self, index: int) -> Any:
        return self._items[index][1] if 0 <= index < len(self._items) else None

    def findText(self, text: str) -> int:
        return next((index for index, (item, _) in enumerate(self._items) if item == text), -1)

    def addItem(self, text: str, userData: Any = None) -> None:
        """As in Qt, the first item put into an empty box becomes current."""
        self._guiWrite("items")
        self._items.append((str(text), userData))
        if self._currentIndex == -1:
            self.setCurrentIndex(0)

    def addItems(self, texts: list[str]) -> None:
        for text in texts:
            self.addItem(text)

    def clear(self) -> None:
        self._guiWrite("items")
        self._items = []
        self._setIndex(-1)

    currentIndex = property(lambda self: self._currentIndex, lambda self, index: self.setCurrentIndex(index))

    def setCurrentIndex(self, index: int) -> None:
        self._guiWrite("currentIndex")
        index = int(index)
        self._setIndex(index if 0 <= index < len(self._items) else -1)

    def _setIndex(self, index: int) -> None:
        if index == self._currentIndex:
            return
        self._currentIndex = index
        text = self.currentText
        self.emitSignal("currentIndexChanged(int)", index)
        self.emitSignal("currentIndexChanged(QString)", text)
        self.emitSignal("currentTextChanged(QString)", text)

    currentText = property(lambda self: self.itemText(self._currentIndex), lambda self, text: self.setCurrentText(text))

    def setCurrentText(self, text: str) -> None:
        index = self.findText(text)
        if index >= 0:
            self.setCurrentIndex(index)

    def currentData(self) -> Any:
        return self.itemData(self._currentIndex)

    def choose(self, item: int | str) -> None:
        """The user picks an item from the list (by index or text): the index changes, then ``activated``."""
        runtime.diagnostics().on_gui_thread(f"choice in {self.describe()}")
        if not self.enabled:
            return
        index = self.findText(item) if isinstance(item, str) else int(item)
        if not 0 <= index < len(self._items):
            raise ValueError(f"{self.describe()} has no item {item!r}: {[text for text, _ in self._items]}")
        self.setCurrentIndex(index)
        self.emitSignal("activated(int)", index)
        self.emitSignal("activated(QString)", self.currentText)
        self.emitSignal("textActivated(QString)", self.currentText)


ctkComboBox = qt_class("ctkComboBox", QComboBox)


class _Ranged:
    """``value`` within [``minimum``, ``maximum``]; a class gives ``setRange``, ``setValue`` and ``_clean``."""

    value = property(lambda self: self._value, lambda self, value: self.setValue(value))
    minimum = property(lambda self: self._minimum,
                       lambda self, value: self.setRange(value, max(self._maximum, self._clean(value))))
    maximum = property(lambda self: self._maximum,
                       lambda self, value: self.setRange(min(self._minimum, self._clean(value)), value))

    def setMinimum(self, value: float) -> None:
        self.minimum = value

    def setMaximum(self, value: float) -> None:
        self.maximum = value


@stores(suffix="", prefix="", specialValueText="", readOnly=False, tracking=True, pageStep=10.0)
class _NumberInput(_Ranged, QWidget):
    """Spin boxes and slider widgets: a value kept within the range at ``decimals`` places (QDoubleSpinBox rules)."""

    SIGNALS = ("valueChanged(double)",)
    _DEFAULTS = (0.0, 99.99, 2)  # minimum, maximum, decimals of the Qt class

    singleStep = StoredProperty(1.0, float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._minimum, self._maximum, self._decimals = self._DEFAULTS
        self._value = self._minimum

    def _clean(self, value: float) -> float:
        value = float(value)
        return value if math.isinf(value) or math.isnan(value) else round(value, self._decimals)

    def setValue(self, value: float) -> None:
        self._guiWrite("value")
        value = min(max(self._clean(value), self._minimum), self._maximum)
        if value != self._value:
            self._value = value
            self._emitValue(value)

    def _emitValue(self, value: float) -> None:
        self.emitSignal("valueChanged(double)", value)

    def setRange(self, minimum: float, maximum: float) -> None:
        self._guiWrite("range")
        self._minimum = self._clean(minimum)
        self._maximum = max(self._minimum, self._clean(maximum))
        self.setValue(self._value)

    decimals = property(lambda self: self._decimals, lambda self, value: self.setDecimals(value))

    def setDecimals(self, value: int) -> None:
        self._guiWrite("decimals")
        self._decimals = int(value)
        self.setRange(self._minimum, self._maximum)

    def setSingleStep(self, value: float) -> None:
        self.singleStep = value

    def stepUp(self) -> None:
        self.setValue(self._value + self.singleStep)

    def stepDown(self) -> None:
        self.setValue(self._value - self.singleStep)


class QDoubleSpinBox(_NumberInput):
    QT_CLASS = "QDoubleSpinBox"
    SIGNALS = ("textChanged(QString)",)


ctkDoubleSpinBox = qt_class("ctkDoubleSpinBox", QDoubleSpinBox)


class ctkSliderWidget(_NumberInput):
    QT_CLASS = "ctkSliderWidget"
    SIGNALS = ("valueIsChanging(double)",)
    _DEFAULTS = (0.0, 99.0, 2)


class QSpinBox(_NumberInput):
    QT_CLASS = "QSpinBox"
    SIGNALS = ("valueChanged(int)",)
    _DEFAULTS = (0, 99, 0)

    def declaredSignals(self) -> dict[str, list[tuple[str, ...]]]:
        declared = super().declaredSignals()
        declared["valueChanged"] = [("int",)]
        return declared

    def _clean(self, value: float) -> int:
        return int(round(value))

    def _emitValue(self, value: float) -> None:
        self.emitSignal("valueChanged(int)", int(value))


class QSlider(QSpinBox):
    QT_CLASS = "QSlider"

    orientation = StoredProperty(None)


@stores(textVisible=True, format="%p%", orientation=None, invertedAppearance=False)
class QProgressBar(_Ranged, QWidget):
    """Qt's rules: a value outside the range is ignored (unless both ends are 0, the busy bar)."""

    QT_CLASS = "QProgressBar"
    SIGNALS = ("valueChanged(int)",)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._minimum, self._maximum, self._value = 0, 100, -1

    def _clean(self, value: float) -> int:
        return int(value)

    def setValue(self, value: int) -> None:
        self._guiWrite("value")
        value = int(value)
        outside = value > self._maximum or value < self._minimum
        if value == self._value or (outside and (self._maximum != 0 or self._minimum != 0)):
            return
        self._value = value
        self.emitSignal("valueChanged(int)", value)

    def setRange(self, minimum: int, maximum: int) -> None:
        self._guiWrite("range")
        self._minimum = int(minimum)
        self._maximum = max(self._minimum, int(maximum))
        if self._value < self._minimum - 1 or self._value > self._maximum:
            self.reset()

    def reset(self) -> None:
        self._value = self._minimum - 1


@stores(filters=None, nameFilters=None, options=None, showBrowseButton=True, showHistoryButton=True,
        sizeAdjustPolicy=None, label="")
class ctkPathLineEdit(QWidget):
    """A path field whose used paths are kept, under ``settingKey``, in the session's settings."""

    QT_CLASS = "ctkPathLineEdit"
    SIGNALS = ("currentPathChanged(QString)", "validInputChanged(bool)")

    currentPath = SignalledProperty("", str, "currentPathChanged(QString)")
    settingKey = StoredProperty("", str)

    def setCurrentPath(self, value: str) -> None:
        self.currentPath = value

    @property
    def history(self) -> list[str]:
        """Paths offered by the field's history button, most recent first (stand-in convenience)."""
        if not self.settingKey:
            return list(self._stored.get("_history", []))
        return list(runtime.current().settings.get(self.settingKey, []))

    def addCurrentPathToHistory(self) -> None:
        path = self.currentPath
        entries = [path] + [entry for entry in self.history if entry != path]
        if self.settingKey:
            runtime.current().settings[self.settingKey] = entries
        else:
            self._stored["_history"] = entries
