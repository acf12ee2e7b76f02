"""Which patients a cohort holds: a manifest CSV or a folder of patient folders, checked up front.

Every problem in the list of patients is reported before hours of processing start, as one
line naming the manifest (or folder), the row and the column. A missing or unreadable image
is not such a problem: it fails only that patient, as ``imr-analysis run`` would.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.patient_folder import patient_files
from ..parameters import PatientFlags

MAP_COLUMNS = ("arrival", "post", "day5")
DSC_COLUMNS = tuple(f"{name}_dsc" for name in MAP_COLUMNS)
MASK_COLUMNS = ("lesion", "exclusion")
# the post-EVT DICOM series a NIfTI or NRRD post-EVT map lies on: its results then hold dicom/ (run --dicom-reference)
REFERENCE_COLUMNS = ("dicom_reference",)
PATH_COLUMNS = (*MAP_COLUMNS, *MASK_COLUMNS, *DSC_COLUMNS, *REFERENCE_COLUMNS)
FLAG_COLUMNS = ("ica_occlusion", "hemorrhagic_transformation", "reocclusion")
SCORE_RANGES = {"nihss_baseline": 42, "nihss_24h": 42, "nihss_day5": 42, "mrs_90": 6}  # column -> highest score
CLINICAL_COLUMNS = ("mtici", *SCORE_RANGES)
REQUIRED_COLUMNS = ("patient_id", "lesion", *FLAG_COLUMNS)
RESERVED_COLUMNS = ("status", "error")  # the cohort table's own columns
CLINICAL_FILE = "clinical.json"
COHORT_MARKER = "imr-cohort.json"  # marks a cohort output folder, which is never a patient folder
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

Value = str | int | None


@dataclass(frozen=True)
class CohortPatient:
    """One patient: its input files by ``run`` role (``post``, ``post_dsc``...), flags and clinical values.

    ``clinical`` holds the clinical columns and any further covariate, in the manifest's order.
    """

    patient_id: str
    sources: dict[str, Path]
    flags: PatientFlags = field(default_factory=PatientFlags)
    clinical: dict[str, Value] = field(default_factory=dict)


def read_cohort(source: Path) -> list[CohortPatient]:
    """The patients of a manifest CSV or of a folder of patient folders, in their listed order."""
    source = Path(source)
    if source.is_dir():
        return _read_patient_folders(source)
    if not source.is_file():
        raise InputError("cohort not found: give a manifest CSV or a folder of patient folders", source)
    return _read_manifest(source)


def _read_manifest(manifest: Path) -> list[CohortPatient]:
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = [name.strip() for name in reader.fieldnames or []]
            rows = [[cell.strip() if isinstance(cell, str) else cell for cell in row.values()] for row in reader]
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"not a readable CSV manifest ({error})", manifest) from error
    _check_columns(columns, manifest)
    patients = []
    for line, cells in enumerate(rows, start=2):
        if len(cells) != len(columns) or None in cells:
            raise InputError(f"row {line} has {len(cells) - cells.count(None)} cells, the header {len(columns)}",
                             manifest)
        record = dict(zip(columns, cells))
        patient_id = _patient_id(record["patient_id"], _Where(manifest, f"row {line}"))
        where = _Where(manifest, f"row {line} (patient {patient_id})")
        patients.append(_patient(record, patient_id, manifest.parent, where))
    _check_unique([patient.patient_id for patient in patients], manifest)
    if not patients:
        raise InputError("the manifest lists no patient", manifest)
    return patients


def _check_columns(columns: list[str], manifest: Path) -> None:
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise InputError(f"column {', '.join(repeated)} occurs more than once", manifest)
    required = list(REQUIRED_COLUMNS) + [name for name in ("post", "day5") if f"{name}_dsc" not in columns]
    missing = [name for name in required if name not in columns]
    if missing:
        raise InputError(f"required column {', '.join(missing)} is missing; the header has {', '.join(columns)}",
                         manifest)


@dataclass(frozen=True)
class _Where:
    """The place a value came from, for error messages: the file and the row."""

    path: Path
    row: str

    def error(self, column: str, problem: str) -> InputError:
        return InputError(f"{self.row}, column {column}: {problem}", self.path)


def _patient(record: dict[str, str], patient_id: str, base: Path, where: _Where) -> CohortPatient:
    """A checked record (manifest row or patient folder); relative paths are relative to ``base``."""
    sources = {}
    for column in PATH_COLUMNS:
        if record.get(column):
            sources[column] = base / Path(record[column]).expanduser()
    for name in MAP_COLUMNS:
        if name in sources and f"{name}_dsc" in sources:
            raise where.error(f"{name}_dsc", f"give the {name} map or its DSC series, not both")
        if name != "arrival" and name not in sources and f"{name}_dsc" not in sources:
            raise where.error(name, f"the {name} map (or {name}_dsc series) is empty")
    if "lesion" not in sources:
        raise where.error("lesion", "the lesion mask is empty")
    flags = PatientFlags(*(_flag(record.get(column, ""), column, where) for column in FLAG_COLUMNS))
    known = {"patient_id", *PATH_COLUMNS, *FLAG_COLUMNS}  # the rest are clinical values and covariates
    taken = sorted(set(record) & set(RESERVED_COLUMNS))
    if taken:
        raise where.error(taken[0], "this name is a column of the cohort table; rename the covariate")
    clinical = {column: _clinical(record.get(column, ""), column, where) for column in CLINICAL_COLUMNS}
    clinical.update({column: value or None for column, value in record.items() if column not in known | set(clinical)})
    return CohortPatient(patient_id, sources, flags, clinical)


def _patient_id(value: str, where: _Where) -> str:
    if not value:
        raise where.error("patient_id", "the patient_id is empty")
    if not _FOLDER_NAME.fullmatch(value):
        raise where.error("patient_id", f"{value!r} cannot name a folder: use letters, digits, '.', '_' and '-' "
                                        "(not first), at most 100 characters")
    return value


def _flag(value: str, column: str, where: _Where) -> bool:
    if value not in ("0", "1", ""):
        raise where.error(column, f"a flag is 0 or 1, not {value!r}")
    return value == "1"


def _clinical(value: str, column: str, where: _Where) -> Value:
    """Scores as integers in their range, mTICI as written; empty means not recorded."""
    if not value or column not in SCORE_RANGES:
        return value or None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (number.is_integer() and 0 <= number <= SCORE_RANGES[column]):
        raise where.error(column, f"a score from 0 to {SCORE_RANGES[column]} or empty, not {value!r}")
    return int(number)


def _check_unique(patient_ids: list[str], source: Path) -> None:
    """Also case-insensitively: two such folders are one on macOS and Windows."""
    seen: dict[str, str] = {}
    for patient_id in patient_ids:
        if patient_id.lower() in seen:
            raise InputError(f"patient_id {patient_id!r} occurs more than once (as {seen[patient_id.lower()]!r})",
                             source)
        seen[patient_id.lower()] = patient_id


def _read_patient_folders(folder: Path) -> list[CohortPatient]:
    """Each visible subfolder is a patient named after it (cohort results inside are skipped)."""
    patients = []
    for patient_folder in sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")
                                 and not (path / COHORT_MARKER).is_file()):
        where = _Where(patient_folder / CLINICAL_FILE, f"patient {patient_folder.name}")
        patient_id = _patient_id(patient_folder.name, _Where(folder, f"folder {patient_folder.name}"))
        record = {role: str(path) for role, path in patient_files(patient_folder).items()}
        record.update(_clinical_record(where))
        patients.append(_patient(record, patient_id, patient_folder, where))
    if not patients:
        raise InputError("no patient folder in this folder (and it is not a manifest CSV)", folder)
    _check_unique([patient.patient_id for patient in patients], folder)
    return patients


def _clinical_record(where: _Where) -> dict[str, str]:
    """``clinical.json`` as manifest cells (true/false as 1/0); no file means no clinical values."""
    if not where.path.is_file():
        return {}
    try:
        values = json.loads(where.path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"not readable JSON ({error})", where.path) from error
    if not isinstance(values, dict):
        raise InputError("expected a JSON object of column: value", where.path)
    forbidden = sorted(set(values) & {"patient_id", *PATH_COLUMNS})
    if forbidden:
        raise InputError(f"{', '.join(forbidden)} come from the folder, not from {CLINICAL_FILE}", where.path)
    return {str(key): _cell(value) for key, value in values.items()}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    return str(value).strip()
