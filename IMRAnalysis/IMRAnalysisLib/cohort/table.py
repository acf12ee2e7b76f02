"""The cohort table: one row per patient, rebuilt from the cohort folder after every run.

The measures are read back from each patient's ``metrics.json`` and flattened exactly as its
``metrics.csv`` names them, so the table never disagrees with the result folders; a failed
patient keeps its flags and clinical values, with empty measures and its one-line error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.measures import HEADLINE_MEASURES
from ..io.metrics_files import csv_text, flatten_metrics
from ..io.safe_output import write_text_atomic
from .manifest import FLAG_COLUMNS, CohortPatient

FIRST_COLUMNS = ("patient_id", "status", "error")
TEXT_COLUMNS = (*FIRST_COLUMNS, "mtici")


@dataclass(frozen=True)
class PatientResult:
    """How a patient's run ended; ``metrics`` is its metrics.json content, None when it failed."""

    status: str
    error: str = ""
    metrics: Mapping[str, Any] | None = None


def build_cohort_table(patients: list[CohortPatient], results: Mapping[str, PatientResult],
                       path: Path) -> pd.DataFrame:
    """Write the table to ``path`` atomically and return it as read back (the frame a later reader gets)."""
    rows = []
    for patient in patients:
        result = results[patient.patient_id]
        measures = flatten_metrics(result.metrics) if result.metrics is not None else {}
        flags = {name: int(getattr(patient.flags, name)) for name in FLAG_COLUMNS}
        rows.append(({"patient_id": patient.patient_id, "status": result.status, "error": result.error},
                     measures, {**flags, **patient.clinical}))
    headline = dict.fromkeys(HEADLINE_MEASURES)  # present even when every patient failed
    columns = _ordered_union([*(row[0] for row in rows), *(row[1] for row in rows), headline,
                              *(row[2] for row in rows)])
    write_text_atomic(path, csv_text(columns, ({**a, **b, **c} for a, b, c in rows)))
    return read_cohort_table(path)


def read_cohort_table(path: Path) -> pd.DataFrame:
    """``cohort.csv`` with identifiers, statuses and mTICI kept as text (``"007"`` stays ``"007"``)."""
    header = pd.read_csv(path, nrows=0).columns
    return pd.read_csv(path, dtype={name: str for name in TEXT_COLUMNS if name in header},
                       keep_default_na=False, na_values=[""])


def _ordered_union(records: Iterable[dict]) -> list[str]:
    """Every key once, in the order first met: patients without an arrival map add no gaps."""
    return list(dict.fromkeys(key for record in records for key in record))
