"""``metrics.json`` and ``metrics.csv``: the measures for programs and for spreadsheets.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .safe_output import write_text_atomic

FlatValue = str | float | int | bool | None


METRICS_JSON = "metrics.json"


METRICS_CSV = "metrics.csv"


def write_metrics(folder: str | Path, metrics: Mapping[str, Any]) -> None:
    """Write ``metrics.json`` (nested, for programs) and ``metrics.csv`` (one row, for spreadsheets)."""
    folder = Path(folder)
    plain = _plain(metrics)
    write_text_atomic(folder / METRICS_JSON, json.dumps(plain, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    flat = flatten_metrics(plain)
    write_text_atomic(folder / METRICS_CSV, csv_text(list(flat), [flat]))


def flatten_metrics(metrics: Mapping[str, Any]) -> dict[str, FlatValue]:
    """One level of columns: nested keys joined with ``_``, list items as ``name_0``, ``name_1``...

    An empty dict or list keeps its column (value None) so that every patient of a cohort
    gets the same columns. Non-finite numbers become None.
    """
    flat: dict[str, FlatValue] = {}
    for key, value in _plain(metrics).items():
        _flatten_into(flat, key, value)
    return flat


def _flatten_into(flat: dict[str, FlatValue], key: str, value: Any) -> None:
    if isinstance(value, dict) and value:
        children = value.items()
    elif isinstance(value, list) and value:
        children = ((str(index), item) for index, item in enumerate(value))
    else:
        if key in flat:
            raise ValueError(f"metric column {key!r} occurs twice after flattening")
        flat[key] = None if isinstance(value, (dict, list)) else value
        return
    for child_key, child in children:
        _flatten_into(flat, f"{key}_{child_key}", child)


def _plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, tuples to lists, paths to text, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"metric value of type {type(value).__name__} cannot be written: {value!r}")


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, FlatValue]]) -> str:
    """A header and one line per row, cells as metrics.csv writes them; a row's missing column is empty.

    The one CSV dialect of the project: a patient's metrics.csv and the cohort table agree cell by cell.
    """
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_csv_cell(row.get(column)) for column in columns)
    return stream.getvalue()


def _csv_cell(value: FlatValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
