"""Results as DICOM objects for PACS (``dicom/`` of a result folder), built with highdicom.

A package of its own because highdicom needs pydicom 3, newer than the pydicom 2.4 that
Slicer 5.10 bundles: the Slicer module installs it only on demand at Export, never with
the library's requirements, and nothing outside this package imports highdicom.
"""

from importlib.util import find_spec


def writer_available() -> bool:
    """Whether highdicom is installed, without importing it (nor pydicom)."""
    return find_spec("highdicom") is not None
