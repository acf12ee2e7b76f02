"""Stand-ins of the Slicer application around a scripted module, for tests that run without Slicer.

Slicer cannot be installed where the project's tests run, but slicer-core (PyPI) provides
Slicer's real MRML. This package supplies the rest, the way a scripted module meets it:
Qt widgets built from the module's ``.ui`` file (``ui_loader``, ``controls``, ``mrml_widgets``),
PythonQt's signals (``signals``), the event loop and QTimer (``event_loop``), ``slicer.app`` and
the module panel (``application``), ``slicer.util`` (``slicer_util``), the parameter node
wrapper (``parameter_nodes``), the scripted-module base classes (``scripted_module``) and the
Sample Data module (``sample_data``). ``SlicerSession`` installs them into ``sys.modules`` for
the length of a test and takes them out again.

What is deliberately not emulated: rendering and views' widgets, mouse interaction, segment
editor effects, the main window, translations, and settings on disk.
"""

from .session import Dialog, Question, SlicerSession

__all__ = ["Dialog", "Question", "SlicerSession"]
