"""The Slicer build lists what runs in Slicer and all of it, and the extension metadata is complete."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "IMRAnalysis"
# the parts of the library that run outside Slicer only, so the extension does not install them
OUTSIDE_SLICER = ("IMRAnalysisLib/cli/", "IMRAnalysisLib/cohort/", "IMRAnalysisLib/webapp/",
                  "IMRAnalysisLib/progress_lines.py")


def _cmake_entries() -> set[str]:
    text = (MODULE / "CMakeLists.txt").read_text()
    return set(re.findall(r"^\s+(IMRAnalysis\S+)$", text, flags=re.MULTILINE))


def test_the_module_cmakelists_lists_every_file_that_runs_in_slicer_and_no_other() -> None:
    files = {
        path.relative_to(MODULE).as_posix()
        for path in (MODULE / "IMRAnalysisLib").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert _cmake_entries() == {name for name in files if not name.startswith(OUTSIDE_SLICER)}


def _library_imports(path: Path) -> set[str]:
    """Library modules ``path`` imports (dotted, from ``IMRAnalysisLib``), lazy imports included.

    ``from . import x`` gives the submodule ``x`` when there is one, else the package itself.
    """
    module = path.relative_to(MODULE).with_suffix("").parts
    package = module[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(package[: len(package) - node.level + 1])
            if node.module:
                found.add(f"{base}.{node.module}")
            else:
                found |= {f"{base}.{alias.name}" if (MODULE / base.replace(".", "/") / alias.name).exists()
                          or (MODULE / base.replace(".", "/") / f"{alias.name}.py").exists() else base
                          for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("IMRAnalysisLib"):
            found.add(node.module)
    return found


def test_what_slicer_installs_imports_only_what_it_installs() -> None:
    listed = {entry for entry in _cmake_entries() if entry.endswith(".py")}
    modules = {entry[:-3].replace("/", ".").removesuffix(".__init__") for entry in listed}
    for entry in sorted(listed | {"IMRAnalysis.py"}):
        path = MODULE / entry
        missing = _library_imports(path) - modules
        assert not missing, f"{entry} imports {sorted(missing)}, which Slicer does not install"


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
