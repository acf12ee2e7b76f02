"""The Slicer build lists every file of the module, and the extension metadata is complete."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "IMRAnalysis"


def _cmake_entries() -> set[str]:
    text = (MODULE / "CMakeLists.txt").read_text()
    return set(re.findall(r"^\s+(IMRAnalysis\S+)$", text, flags=re.MULTILINE))


def test_every_python_file_and_data_file_is_in_the_module_cmakelists() -> None:
    files = {
        path.relative_to(MODULE).as_posix()
        for path in (MODULE / "IMRAnalysisLib").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert files == _cmake_entries()


def test_extension_metadata_is_complete() -> None:
    text = (ROOT / "CMakeLists.txt").read_text()
    assert "project(IMRAnalysis)" in text
    for variable in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf'set\(EXTENSION_{variable} "[^"]+"\)', text), variable
    for line in ("find_package(Slicer REQUIRED)", "add_subdirectory(IMRAnalysis)",
                 "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert line in text


def test_licence_is_apache_2() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert "Version 2.0" in (ROOT / "LICENSE").read_text()[:200]
