"""Static checks of the 3D Slicer module, which cannot run here (no Slicer application).

The module file is parsed with ``ast``, never imported. Each check is a function of the
repository root returning the problems it finds, so that it is also run on a copy with
one thing broken (``test_each_check_catches_its_breakage``): a check that cannot fail
checks nothing.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import struct
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from test_packaging import OUTSIDE_SLICER

ROOT = Path(__file__).resolve().parents[2]
MODULE_FILE = "IMRAnalysis/IMRAnalysis.py"
UI_FILE = "IMRAnalysis/Resources/UI/IMRAnalysis.ui"
ICON_FILE = "IMRAnalysis/Resources/Icons/IMRAnalysis.png"
REQUIREMENTS_FILE = "IMRAnalysis/Resources/requirements.txt"
INDEX_FILE = "IMRAnalysis.json"
WORKFLOW_FILE = ".github/workflows/slicer-selftest.yml"
# The Slicer releases the self-test runs on: the oldest supported one, and the latest stable
SELFTEST_QUERIES = {"os=linux&stability=release&version=5.10.0", "os=linux&stability=release"}

# Extensions Index catalog entry schema v1.0.1 (Slicer/Slicer Schemas/): properties and required keys,
# plus the optional keys this entry is meant to carry.
INDEX_PROPERTIES = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
                    "build_subdirectory", "enabled", "tier"}
INDEX_KEYS = {"$schema", "category", "scm_url", "scm_revision", "build_dependencies", "build_subdirectory", "tier"}
# What Slicer bundles (SuperBuild: python-numpy, python-scipy, python-SimpleITK, VTK, PythonQt requirements,
# python-dicom-requirements: pydicom and Pillow, 11.2.1 in Slicer 5.10)
BUNDLED = {"numpy", "scipy", "SimpleITK", "vtk", "slicer", "qt", "ctk", "packaging", "pydicom", "PIL"}
IMPORT_TO_DISTRIBUTION = {"nrrd": "pynrrd"}
# Widget classes slicer.parameterNodeWrapper's GUI connectors accept for each field type (guiConnectors.py)
CONNECTABLE = {
    "node": {"qMRMLNodeComboBox"},
    "path": {"ctkPathLineEdit", "ctkDirectoryButton"},
    "bool": {"QCheckBox", "ctkCheckBox", "QPushButton", "ctkCheckablePushButton"},
    "float": {"QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSlider", "ctkDoubleSpinBox",
              "qMRMLSpinBox"},
    "str": {"QComboBox", "ctkComboBox", "QLineEdit"},
}
NEEDS_RANGE = {"ctkSliderWidget", "qMRMLSliderWidget"}
NEEDS_CHOICE = {"QComboBox", "ctkComboBox"}
SCENE_WIDGETS = {"qMRMLNodeComboBox", "qMRMLTableView"}


# Parsing helpers


def module_tree(root: Path) -> ast.Module:
    return ast.parse((root / MODULE_FILE).read_text(encoding="utf-8"), MODULE_FILE)


def ui_tree(root: Path) -> ET.Element:
    return ET.parse(root / UI_FILE).getroot()


def ui_widgets(root: Path) -> dict[str, str]:
    """Widget name -> class, as ``slicer.util.childWidgetVariables`` exposes them."""
    return {w.get("name"): w.get("class") for w in ui_tree(root).iter("widget")}


def ui_names(node: ast.AST) -> set[str]:
    """Widget names ``self.ui.<name>`` (or ``widget.ui.<name>``) mentioned under ``node``."""
    return {sub.attr for sub in ast.walk(node) if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute)
            and sub.value.attr == "ui"}


def ui_bindings(root: Path) -> dict[str, str]:
    """SlicerParameterName -> class of the widget carrying it."""
    bindings = {}
    for widget in ui_tree(root).iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bindings[prop.findtext("string")] = widget.get("class")
    return bindings


def parameter_fields(root: Path) -> dict[str, ast.expr]:
    """Annotated fields of the ``@parameterNodeWrapper`` class: name -> annotation."""
    for node in module_tree(root).body:
        if isinstance(node, ast.ClassDef) and any(
                isinstance(d, ast.Name) and d.id == "parameterNodeWrapper" for d in node.decorator_list):
            return {s.target.id: s.annotation for s in node.body if isinstance(s, ast.AnnAssign)}
    return {}


def field_kind(annotation: ast.expr) -> tuple[str, set[str]]:
    """(node | path | bool | float | str, names of the validators in ``Annotated[...]``)."""
    validators: set[str] = set()
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "Annotated":
        base, *extras = annotation.slice.elts
        validators = {ast.unparse(e.func) for e in extras if isinstance(e, ast.Call)}
        annotation = base
    text = ast.unparse(annotation)
    if text.startswith("vtkMRML"):
        return "node", validators
    if text in ("pathlib.Path", "Path"):
        return "path", validators
    return text, validators


def cmake_text(root: Path) -> str:
    """The module CMakeLists without comments."""
    return re.sub(r"#.*", "", (root / "IMRAnalysis" / "CMakeLists.txt").read_text(encoding="utf-8"))


def cmake_entries(root: Path) -> dict[str, list[str]]:
    """MODULE_PYTHON_SCRIPTS and MODULE_PYTHON_RESOURCES of the module CMakeLists, ${MODULE_NAME} expanded."""
    text = cmake_text(root)
    name = re.search(r"set\(MODULE_NAME (\w+)\)", text).group(1)
    lists = dict(re.findall(r"set\((MODULE_PYTHON_\w+)\s+(.*?)\)", text, flags=re.DOTALL))
    return {key: value.replace("${MODULE_NAME}", name).split() for key, value in lists.items()}


def requirement_names(root: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in (root / REQUIREMENTS_FILE).read_text(encoding="utf-8").splitlines())
    return {re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower() for line in lines if line}


def imported_packages(tree: ast.Module, top_level_only: bool = False) -> set[str]:
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


# Checks: each returns a list of problems, empty when all is well


def ui_reference_problems(root: Path) -> list[str]:
    """Every ``self.ui.<name>`` (or ``widget.ui.<name>`` in the self-test) is a widget of the .ui file."""
    names = set(ui_widgets(root))
    used = ui_names(module_tree(root))
    return [f"ui.{name} is not a widget of {UI_FILE}" for name in sorted(used - names)]


def parameter_binding_problems(root: Path) -> list[str]:
    """SlicerParameterName <-> parameter node fields, one to one, with widgets a GUI connector accepts."""
    fields, bindings = parameter_fields(root), ui_bindings(root)
    problems = [f"SlicerParameterName {name!r} is no field of the parameter node" for name in sorted(set(bindings) - set(fields))]
    problems += [f"parameter node field {name!r} has no widget in the .ui" for name in sorted(set(fields) - set(bindings))]
    for name in sorted(set(fields) & set(bindings)):
        kind, validators = field_kind(fields[name])
        widget = bindings[name]
        if widget not in CONNECTABLE.get(kind, set()):
            problems.append(f"{name}: a {widget} cannot represent a {kind} field")
        if widget in NEEDS_RANGE and "WithinRange" not in validators:
            problems.append(f"{name}: a {widget} needs a WithinRange annotation")
        if widget in NEEDS_CHOICE and "Choice" not in validators:
            problems.append(f"{name}: a {widget} needs a Choice annotation")
    return problems


def self_reference_problems(root: Path) -> list[str]:
    """Every ``self.on*``/``self._*`` and ``IMRAnalysisLogic.<name>`` used in a class is defined there."""
    tree = module_tree(root)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    problems = []
    for cls in classes.values():
        defined = {node.name for node in cls.body if isinstance(node, ast.FunctionDef)}
        defined |= {node.attr for node in ast.walk(cls) if isinstance(node, ast.Attribute)
                    and isinstance(node.ctx, ast.Store) and ast.unparse(node.value) == "self"}
        used = {node.attr for node in ast.walk(cls) if isinstance(node, ast.Attribute)
                and ast.unparse(node.value) == "self" and node.attr.startswith(("on", "_"))
                and not node.attr.startswith("__")}
        problems += [f"{cls.name}: self.{name} is not defined" for name in sorted(used - defined)]
    logic = {node.name for node in classes["IMRAnalysisLogic"].body if isinstance(node, ast.FunctionDef)}
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and ast.unparse(node.value) == "IMRAnalysisLogic"}
    return problems + [f"IMRAnalysisLogic.{name} is not defined" for name in sorted(used - logic)]


def cmake_listing_problems(root: Path) -> list[str]:
    """Every Python file that runs in Slicer is built, every listed file exists, and the module is tested."""
    module = root / "IMRAnalysis"
    entries = cmake_entries(root)
    scripts = set(entries.get("MODULE_PYTHON_SCRIPTS", []))
    files = {path.relative_to(module).as_posix() for path in module.glob("*.py")}
    files |= {name for path in (module / "IMRAnalysisLib").rglob("*.py")
              if not (name := path.relative_to(module).as_posix()).startswith(OUTSIDE_SLICER)}
    problems = [f"{name} is not in MODULE_PYTHON_SCRIPTS" for name in sorted(files - scripts)]
    listed = scripts | set(entries.get("MODULE_PYTHON_RESOURCES", []))
    problems += [f"{name} is listed but does not exist" for name in sorted(listed) if not (module / name).is_file()]
    for resource in ("Resources/Icons/IMRAnalysis.png", "Resources/UI/IMRAnalysis.ui", "Resources/requirements.txt"):
        if resource not in entries.get("MODULE_PYTHON_RESOURCES", []):
            problems.append(f"{resource} is not in MODULE_PYTHON_RESOURCES")
    text = cmake_text(root)
    if not re.search(r"slicerMacroBuildScriptedModule\([^)]*WITH_GENERIC_TESTS", text):
        problems.append("slicerMacroBuildScriptedModule lacks WITH_GENERIC_TESTS")
    if not re.search(r"if\(BUILD_TESTING\)[^$]*?slicer_add_python_unittest\(SCRIPT \$\{MODULE_NAME\}\.py\)", text):
        problems.append("no slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py) under if(BUILD_TESTING)")
    return problems


def compile_problems(root: Path) -> list[str]:
    try:
        compile((root / MODULE_FILE).read_text(encoding="utf-8"), MODULE_FILE, "exec")
    except SyntaxError as error:
        return [f"{MODULE_FILE} does not compile: {error}"]
    return []


def ui_xml_problems(root: Path) -> list[str]:
    """Well-formed Designer XML whose MRML widgets all receive the scene from the top-level qMRMLWidget."""
    try:
        ui = ui_tree(root)
    except ET.ParseError as error:
        return [f"{UI_FILE} is not well-formed XML: {error}"]
    top = ui.find("widget")
    if ui.tag != "ui" or top is None or (top.get("class"), top.get("name")) != ("qMRMLWidget", "IMRAnalysis"):
        return [f"{UI_FILE} is not a Designer form with a top-level qMRMLWidget named IMRAnalysis"]
    receivers = {c.findtext("receiver") for c in ui.iter("connection")
                 if (c.findtext("sender"), c.findtext("signal"), c.findtext("slot"))
                 == ("IMRAnalysis", "mrmlSceneChanged(vtkMRMLScene*)", "setMRMLScene(vtkMRMLScene*)")}
    names = [element.get("name") for element in ui.iter() if element.tag in ("widget", "layout")]
    problems = [f"{name} names more than one widget or layout" for name in sorted({n for n in names if names.count(n) > 1})]
    problems += [f"{name} gets no mrmlSceneChanged -> setMRMLScene connection"
                for name, cls in ui_widgets(root).items() if cls in SCENE_WIDGETS and name not in receivers]
    problems += [f"{w.get('name')} has no nodeTypes" for w in ui.iter("widget") if w.get("class") == "qMRMLNodeComboBox"
                 and not any(p.get("name") == "nodeTypes" for p in w.findall("property"))]
    return problems


def custom_widget_problems(root: Path) -> list[str]:
    """Every CTK and MRML widget class the form uses is declared in ``<customwidgets>``, as
    Designer writes it (a form loads without the declaration only by luck of the loader)."""
    ui = ui_tree(root)
    declared = {widget.findtext("class") for widget in ui.iter("customwidget")}
    used = {cls for cls in ui_widgets(root).values() if cls.startswith(("ctk", "qMRML", "qSlicer"))}
    return [f"{cls} is used in {UI_FILE} but not declared in <customwidgets>" for cls in sorted(used - declared)]


def path_history_problems(root: Path) -> list[str]:
    """Each path field with a ``settingKey`` adds its path to the history once used (through
    ``_rememberPaths``, given the fields or a method returning them); the key alone only
    names where the history is kept."""
    tree = module_tree(root)
    keyed = {widget.get("name") for widget in ui_tree(root).iter("widget")
             if widget.get("class") == "ctkPathLineEdit"
             and any(p.get("name") == "settingKey" for p in widget.findall("property"))}
    methods = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    recorded = set()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "_rememberPaths":
            for argument in call.args:
                recorded |= ui_names(argument)
                recorded |= {name for sub in ast.walk(argument) if isinstance(sub, ast.Call)
                             and isinstance(sub.func, ast.Attribute) and sub.func.attr in methods
                             for name in ui_names(methods[sub.func.attr])}
    return [f"{name} has a settingKey but its path is never added to the history" for name in sorted(keyed - recorded)]


def cmake_version_problems(root: Path) -> list[str]:
    """The CMake policy range of Slicer 5.10's extension templates."""
    match = re.search(r"cmake_minimum_required\(VERSION ([0-9.]+)\.\.\.([0-9.]+)", (root / "CMakeLists.txt").read_text())
    found = match.groups() if match else None
    return [] if found == ("3.20.6", "3.22.6") else [f"cmake_minimum_required range is {found}, not 3.20.6...3.22.6"]


def selftest_problems(root: Path) -> list[str]:
    """``runTest`` runs every ``test_*`` method of the self-test, so none is silently skipped in Slicer."""
    test_class = next(node for node in module_tree(root).body
                      if isinstance(node, ast.ClassDef) and node.name == "IMRAnalysisTest")
    defined = {node.name for node in test_class.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    run_test = next(node for node in test_class.body if isinstance(node, ast.FunctionDef) and node.name == "runTest")
    called = {node.attr for node in ast.walk(run_test) if isinstance(node, ast.Attribute)}
    return [f"runTest never runs {name}" for name in sorted(defined - called)]


def workflow_problems(root: Path) -> list[str]:
    """The GitHub workflow downloads each Slicer release of the matrix and runs the self-test on it."""
    text = (root / WORKFLOW_FILE).read_text(encoding="utf-8")
    queries = set(re.findall(r'query: "([^"]+)"', text))
    problems = [f"{WORKFLOW_FILE} does not test Slicer with {query}" for query in sorted(SELFTEST_QUERIES - queries)]
    for needed in ("download.slicer.org/download?${{ matrix.query }}", "runUnitTest(", "xvfb-run"):
        if needed not in text:
            problems.append(f"{WORKFLOW_FILE} lacks {needed}")
    if "--no-main-window" in text:
        problems.append(f"{WORKFLOW_FILE} runs Slicer without the main window the self-test needs")
    return problems


def icon_problems(root: Path) -> list[str]:
    data = (root / ICON_FILE).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return [f"{ICON_FILE} is not a PNG"]
    width, height = struct.unpack(">II", data[16:24])
    return [] if (width, height) == (128, 128) else [f"{ICON_FILE} is {width}x{height}, not 128x128"]


def index_entry_problems(root: Path) -> list[str]:
    """The Extensions Index entry is valid for schema v1.0.1 and agrees with the extension's CMakeLists."""
    try:
        entry = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        return [f"{INDEX_FILE} is not JSON: {error}"]
    problems = [f"{INDEX_FILE} lacks {key}" for key in sorted(INDEX_KEYS - set(entry))]
    problems += [f"{INDEX_FILE}: {key} is not in schema v1.0.1" for key in sorted(set(entry) - INDEX_PROPERTIES)]
    if "slicer-extension-catalog-entry-schema-v1.0.1.json" not in entry.get("$schema", ""):
        problems.append(f"{INDEX_FILE}: $schema is not the v1.0.1 catalog entry schema")
    cmake = (root / "CMakeLists.txt").read_text(encoding="utf-8")
    category = re.search(r'set\(EXTENSION_CATEGORY "([^"]+)"\)', cmake).group(1)
    if entry.get("category") != category:
        problems.append(f"{INDEX_FILE}: category {entry.get('category')!r} is not EXTENSION_CATEGORY {category!r}")
    homepage = re.search(r'set\(EXTENSION_HOMEPAGE "([^"#]+)', cmake).group(1)
    if not entry.get("scm_url", "").startswith(homepage):
        problems.append(f"{INDEX_FILE}: scm_url is not the repository of EXTENSION_HOMEPAGE {homepage}")
    if entry.get("tier") not in range(1, 6) or entry.get("build_dependencies") != []:
        problems.append(f"{INDEX_FILE}: tier must be 1-5 and build_dependencies empty")
    return problems


def lazy_import_problems(root: Path) -> list[str]:
    """Loading the module in Slicer imports neither the library nor a package Slicer lacks."""
    forbidden = {"IMRAnalysisLib"} | {name for name, dist in IMPORT_TO_DISTRIBUTION.items()} | requirement_names(root)
    eager = imported_packages(module_tree(root), top_level_only=True) & forbidden
    return [f"{MODULE_FILE} imports {name} at load time" for name in sorted(eager)]


def requirements_problems(root: Path) -> list[str]:
    """Every third-party package the library imports is bundled by Slicer or in requirements.txt."""
    library = root / "IMRAnalysis" / "IMRAnalysisLib"
    imported = set()
    for path in library.rglob("*.py"):
        if {"webapp", "cohort", "dicom", "cli"} & set(path.relative_to(library).parts):
            continue  # the web workstation, cohorts, the command line and the DICOM export (pydicom 3) run outside Slicer
        imported |= imported_packages(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    third_party = imported - set(sys.stdlib_module_names) - BUNDLED - {"IMRAnalysisLib"}
    needed = {IMPORT_TO_DISTRIBUTION.get(name, name).lower() for name in third_party}
    listed = requirement_names(root)
    problems = [f"the library imports {name}, which is neither bundled nor in {REQUIREMENTS_FILE}"
                for name in sorted(needed - listed)]
    return problems + [f"{REQUIREMENTS_FILE} lists {name}, which Slicer bundles"
                       for name in sorted(listed & {b.lower() for b in BUNDLED})]


CHECKS: dict[str, Callable[[Path], list[str]]] = {
    "ui references": ui_reference_problems,
    "parameter bindings": parameter_binding_problems,
    "self references": self_reference_problems,
    "cmake listing": cmake_listing_problems,
    "compile": compile_problems,
    "ui xml": ui_xml_problems,
    "custom widgets": custom_widget_problems,
    "path history": path_history_problems,
    "cmake version": cmake_version_problems,
    "self-test": selftest_problems,
    "workflow": workflow_problems,
    "icon": icon_problems,
    "index entry": index_entry_problems,
    "lazy imports": lazy_import_problems,
    "requirements": requirements_problems,
}


@pytest.mark.parametrize("name", CHECKS)
def test_module_passes_check(name: str) -> None:
    assert CHECKS[name](ROOT) == []


# Each check against a copy with one thing broken


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_icon_width(path: Path, width: int) -> None:
    data = bytearray(path.read_bytes())
    data[16:20] = struct.pack(">I", width)
    path.write_bytes(bytes(data))


BREAKAGES: list[tuple[str, str, Callable[[Path], None]]] = [
    ("ui references", "widget renamed in the .ui",
     lambda root: replace_in(root / UI_FILE, 'name="exportButton"', 'name="exportResultsButton"')),
    ("ui references", "self-test uses a widget the .ui lacks",
     lambda root: replace_in(root / MODULE_FILE, "widget.ui.recomputeButton.click()", "widget.ui.redoButton.click()")),
    ("parameter bindings", "SlicerParameterName misspelt",
     lambda root: replace_in(root / UI_FILE, "<string>smoothingMm</string>", "<string>smoothingMM</string>")),
    ("parameter bindings", "field without a widget",
     lambda root: replace_in(root / MODULE_FILE, "    reocclusion: Annotated[bool, Default(False)]\n",
                             "    reocclusion: Annotated[bool, Default(False)]\n    extraFlag: bool\n")),
    ("parameter bindings", "field type no widget connector accepts",
     lambda root: replace_in(root / MODULE_FILE, "brainMask: Annotated[bool, Default(True)]",
                             "brainMask: Annotated[float, WithinRange(0.0, 1.0), Default(1.0)]")),
    ("parameter bindings", "slider field without a range",
     lambda root: replace_in(root / MODULE_FILE, "Annotated[float, WithinRange(1.0, 99.0), Default(15.0)]",
                             "Annotated[float, Default(15.0)]")),
    ("self references", "slot renamed",
     lambda root: replace_in(root / MODULE_FILE, "def onExportButton(self)", "def onExportResults(self)")),
    ("cmake listing", "library file not listed",
     lambda root: replace_in(root / "IMRAnalysis/CMakeLists.txt", "  IMRAnalysisLib/analysis/plane.py\n", "")),
    ("cmake listing", "listed file missing", lambda root: (root / ICON_FILE).unlink()),
    ("cmake listing", "self-test not registered",
     lambda root: replace_in(root / "IMRAnalysis/CMakeLists.txt", "slicer_add_python_unittest", "# slicer_add_python_unittest")),
    ("compile", "syntax error", lambda root: replace_in(root / MODULE_FILE, "def cleanup(self)", "def cleanup(self")),
    ("ui xml", "truncated XML",
     lambda root: (root / UI_FILE).write_text((root / UI_FILE).read_text(encoding="utf-8")[:-200], encoding="utf-8")),
    ("ui xml", "two widgets with one name",
     lambda root: replace_in(root / UI_FILE, 'name="recomputeButton"', 'name="applyButton"')),
    ("ui xml", "MRML widget without the scene",
     lambda root: replace_in(root / UI_FILE, "<receiver>postVolumeSelector</receiver>", "<receiver>applyButton</receiver>")),
    ("custom widgets", "collapsible group box undeclared",
     lambda root: replace_in(root / UI_FILE, "<class>ctkCollapsibleGroupBox</class>", "<class>ctkUnusedWidget</class>")),
    ("path history", "export folder not recorded",
     lambda root: replace_in(root / MODULE_FILE, "self._rememberPaths(self.ui.exportFolderPathLineEdit)", "pass")),
    ("cmake version", "older policy range",
     lambda root: replace_in(root / "CMakeLists.txt", "3.20.6...3.22.6", "3.16.3...3.19.7")),
    ("self-test", "a test method runTest forgets",
     lambda root: replace_in(root / MODULE_FILE, "self.test_CancelDuringRegistration, ", "")),
    ("workflow", "Slicer 5.10 dropped from the matrix",
     lambda root: replace_in(root / WORKFLOW_FILE, "&version=5.10.0", "")),
    ("workflow", "no main window",
     lambda root: replace_in(root / WORKFLOW_FILE, "--no-splash", "--no-splash --no-main-window")),
    ("icon", "64 pixels wide", lambda root: set_icon_width(root / ICON_FILE, 64)),
    ("index entry", "category missing", lambda root: replace_in(root / INDEX_FILE, '"category"', '"categories"')),
    ("lazy imports", "library imported at load time",
     lambda root: replace_in(root / MODULE_FILE, "import vtk\n", "import vtk\nfrom IMRAnalysisLib.analysis.pipeline import run_analysis\n")),
    ("requirements", "requirement dropped",
     lambda root: replace_in(root / REQUIREMENTS_FILE, "matplotlib>=3.7\n", "")),
]


@pytest.fixture
def repository_copy(tmp_path: Path) -> Path:
    """The files the checks read, copied so that they can be broken."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "IMRAnalysis", tmp_path / "IMRAnalysis", ignore=ignore)
    for name in ("CMakeLists.txt", INDEX_FILE, WORKFLOW_FILE):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("check, breakage, breaking", BREAKAGES, ids=[f"{c}: {b}" for c, b, _ in BREAKAGES])
def test_each_check_catches_its_breakage(repository_copy: Path, check: str, breakage: str,
                                         breaking: Callable[[Path], None]) -> None:
    before = set(CHECKS[check](repository_copy))
    breaking(repository_copy)
    assert set(CHECKS[check](repository_copy)) - before, f"{check} did not notice: {breakage}"
