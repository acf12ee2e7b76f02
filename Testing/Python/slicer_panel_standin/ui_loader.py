"""``slicer.util.loadUI`` without Qt: the Designer ``.ui`` file read into stand-in widgets.

Every ``<widget>`` and ``<layout>`` becomes a stand-in of its class (a ``RecordingWidget``
for a class without one), named by its ``name``; widgets placed in a layout become children
of the layout's widget, as with Qt's loader. Properties are applied in file order through the
stand-ins' setters, so ranges, rounding and the signals of the initial values behave as when
Qt's loader sets them; ``stdset="0"`` properties (``SlicerParameterName``) become dynamic
properties. The ``<connections>`` are made the way the loader makes them, so
``uiWidget.setMRMLScene(scene)`` reaches every MRML widget wired to ``mrmlSceneChanged``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from . import controls, mrml_widgets, qobjects, runtime
from .qobjects import QLayout, QObject, QWidget

WIDGET_CLASSES: dict[str, type[QWidget]] = {
    cls.QT_CLASS: cls
    for cls in (
        QWidget, controls.QLabel, controls.QPushButton, controls.QToolButton, controls.QRadioButton,
        controls.QCheckBox, controls.ctkCheckBox, controls.ctkCollapsibleButton, controls.QGroupBox,
        controls.ctkCollapsibleGroupBox, controls.QLineEdit, controls.QComboBox, controls.ctkComboBox,
        controls.QDoubleSpinBox, controls.ctkDoubleSpinBox, controls.ctkSliderWidget, controls.QSpinBox,
        controls.QSlider, controls.QProgressBar, controls.ctkPathLineEdit, mrml_widgets.qMRMLWidget,
        mrml_widgets.qMRMLNodeComboBox, mrml_widgets.qMRMLSegmentEditorWidget, mrml_widgets.qMRMLTableView,
    )
}
LAYOUT_CLASSES: dict[str, type[QLayout]] = {
    cls.QT_CLASS: cls
    for cls in (qobjects.QVBoxLayout, qobjects.QHBoxLayout, qobjects.QGridLayout, qobjects.QFormLayout)
}


def property_value(element: ET.Element) -> Any:
    """The Python value of a ``<property>``'s child element (string, bool, number, list, set, enum...)."""
    kind = element.tag
    text = element.text or ""
    if kind in ("string", "cstring", "set", "enum"):
        return text
    if kind == "bool":
        return text.strip().lower() == "true"
    if kind == "number":
        return int(text)
    if kind in ("double", "float"):
        return float(text)
    if kind == "stringlist":
        return [item.text or "" for item in element.findall("string")]
    if kind in ("size", "rect", "point"):
        return {child.tag: int(child.text or 0) for child in element}
    return text


class _Unknown(mrml_widgets.RecordingWidget):
    """Any class the stand-ins do not know: every call recorded."""


def _widget_class(name: str) -> type[QWidget]:
    if name in WIDGET_CLASSES:
        return WIDGET_CLASSES[name]
    return type(name, (_Unknown,), {"QT_CLASS": name})


def _apply_properties(target: QObject, element: ET.Element) -> None:
    for prop in element.findall("property"):
        children = list(prop)
        if not children:
            continue
        name, value = prop.get("name"), property_value(children[0])
        if prop.get("stdset") == "0":
            target._dynamic[name] = value
        elif not target.setProperty(name, value):
            # a Qt property the stand-in does not model: kept, readable with property()
            del target._dynamic[name]
            target._stored[name] = value


class _Builder:
    def __init__(self) -> None:
        self.named: dict[str, QObject] = {}

    def widget(self, element: ET.Element, parent: QWidget | None) -> QWidget:
        widget = _widget_class(element.get("class", "QWidget"))(parent=parent)
        widget.setObjectName(element.get("name", ""))
        self.named[widget.objectName] = widget
        _apply_properties(widget, element)
        for child in element:
            if child.tag == "widget":
                self.widget(child, widget)
            elif child.tag == "layout":
                widget.setLayout(self.layout(child))
        return widget

    def layout(self, element: ET.Element) -> QLayout:
        layout = LAYOUT_CLASSES.get(element.get("class", ""), QLayout)()
        layout.setObjectName(element.get("name", ""))
        self.named[layout.objectName] = layout
        for item in element.findall("item"):
            for child in item:
                if child.tag == "widget":
                    layout.addWidget(self.widget(child, None))
                elif child.tag == "layout":
                    layout.addLayout(self.layout(child))
        return layout

    def connect(self, connections: ET.Element | None) -> None:
        for connection in connections.findall("connection") if connections is not None else []:
            sender = self.named.get(connection.findtext("sender", ""))
            receiver = self.named.get(connection.findtext("receiver", ""))
            slot = connection.findtext("slot", "").split("(")[0]
            if sender is None or receiver is None or not hasattr(receiver, slot):
                runtime.diagnostics().problem(f"the .ui connection {ET.tostring(connection, 'unicode')!r} "
                                              "cannot be made")
                continue
            sender.connect(connection.findtext("signal", ""), getattr(receiver, slot))


def load_ui(path: str | Path) -> QWidget:
    """The top widget of the ``.ui`` file at ``path``; RuntimeError when there is none, as in Slicer."""
    path = Path(path)
    if not path.is_file():
        raise RuntimeError(f"Could not load UI file: file not found {path}\n\n")
    root = ET.parse(path).getroot()
    top = root.find("widget")
    if top is None:
        raise RuntimeError(f"Could not load UI file: {path}\n\n")
    builder = _Builder()
    widget = builder.widget(top, None)
    builder.connect(root.find("connections"))
    return widget
