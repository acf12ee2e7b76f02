"""Shared phantom patients (generated once per test session, they are deterministic) and the test tree.

The tests mirror the library's parts (analysis/, io/, perfusion/...; the whole method and
the Slicer module at this level). Tests share helpers by module name (``test_image_io``'s
DICOM writer, ``test_dsc_io``'s series), so every folder is importable whichever test runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from IMRAnalysisLib.phantom.template import PhantomPatient, make_phantom

PARTS = ("analysis", "cli", "cohort", "io", "mrml", "perfusion", "phantom", "webapp")
sys.path.extend(str(Path(__file__).parent / part) for part in PARTS if str(Path(__file__).parent / part) not in sys.path)


@pytest.fixture(scope="session")
def default_phantom() -> PhantomPatient:
    return make_phantom("default")


@pytest.fixture(scope="session")
def phantom_files(default_phantom: PhantomPatient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return default_phantom.write(tmp_path_factory.mktemp("phantom"), fmt="nrrd")
