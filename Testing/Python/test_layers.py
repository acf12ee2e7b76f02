"""The library's parts depend one way: read from the import statements, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "IMRAnalysis" / "IMRAnalysisLib"

# Lowest first: a module may import its own part and the parts before it, never one after it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("shared types", ("IMRAnalysisLib", "IMRAnalysisLib.errors", "IMRAnalysisLib.parameters",
                      "IMRAnalysisLib.conventions", "IMRAnalysisLib.background", "IMRAnalysisLib.progress_lines")),
    ("analysis", ("IMRAnalysisLib.analysis",)),
    ("io", ("IMRAnalysisLib.io",)),
    ("perfusion", ("IMRAnalysisLib.perfusion",)),
    ("patient use case", ("IMRAnalysisLib.patient_run",)),
    ("phantom", ("IMRAnalysisLib.phantom",)),
    ("cohort", ("IMRAnalysisLib.cohort",)),
    ("mrml", ("IMRAnalysisLib.mrml",)),
    ("webapp", ("IMRAnalysisLib.webapp",)),
    ("cli", ("IMRAnalysisLib.cli",)),
)
Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The library modules a file imports; ``from . import x`` is the submodule x when there is one."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").split(".")[0] == "IMRAnalysisLib":
                target = node.module
            else:
                continue
            submodules = {f"{target}.{alias.name}" for alias in node.names} & modules
            found |= submodules or {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "IMRAnalysisLib"}
    return found - {name}


def library_graph() -> Graph:
    paths = [path for path in LIBRARY.rglob("*.py") if "__pycache__" not in path.parts]
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) for path in paths}


def layer_of(module: str) -> int | None:
    """Index of the part holding ``module``: the longest declared prefix wins."""
    best, length = None, -1
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module.startswith(prefix + ".") and prefix != "IMRAnalysisLib"  # the root holds no part
            if (module == prefix or inside) and len(prefix) > length:
                best, length = index, len(prefix)
    return best


def order_problems(graph: Graph) -> list[str]:
    """Modules outside every part, and imports of a later part."""
    problems = [f"{module} belongs to no declared part" for module in sorted(graph) if layer_of(module) is None]
    for module, imports in sorted(graph.items()):
        here = layer_of(module)
        for target in sorted(imports):
            there = layer_of(target)
            if here is not None and there is not None and there > here:
                problems.append(f"{module} ({LAYERS[here][0]}) imports {target} ({LAYERS[there][0]})")
    return problems


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_in_the_library() -> None:
    assert cycles(library_graph()) == []


def test_every_module_imports_only_its_own_part_and_the_parts_before_it() -> None:
    assert order_problems(library_graph()) == []


def test_argparse_lives_only_in_the_command_line() -> None:
    users = []
    for path in LIBRARY.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        if "argparse" in names and not module_name(path).startswith("IMRAnalysisLib.cli"):
            users.append(module_name(path))
    assert users == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"IMRAnalysisLib.analysis.plane": {"IMRAnalysisLib.io.images"}, "IMRAnalysisLib.io.images": set()},
     ["IMRAnalysisLib.analysis.plane (analysis) imports IMRAnalysisLib.io.images (io)"]),
    ({"IMRAnalysisLib.errors": {"IMRAnalysisLib.cli.main"}, "IMRAnalysisLib.cli.main": {"IMRAnalysisLib.errors"}},
     ["IMRAnalysisLib.errors (shared types) imports IMRAnalysisLib.cli.main (cli)"]),
    ({"IMRAnalysisLib.extras": set()}, ["IMRAnalysisLib.extras belongs to no declared part"]),
])
def test_the_order_check_catches_an_import_against_the_order(graph: Graph, expected: list[str]) -> None:
    assert order_problems(graph) == expected


def test_the_cycle_check_catches_a_cycle_within_one_part() -> None:
    graph = {"IMRAnalysisLib.io.a": {"IMRAnalysisLib.io.b"}, "IMRAnalysisLib.io.b": {"IMRAnalysisLib.io.a"},
             "IMRAnalysisLib.io.c": {"IMRAnalysisLib.io.a"}}
    assert cycles(graph) == [["IMRAnalysisLib.io.a", "IMRAnalysisLib.io.b"]]
