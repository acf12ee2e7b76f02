"""``imr-analysis cohort``: every patient of a manifest or folder, then the table, statistics and report.

Only a problem with the cohort itself (its manifest, its options, its output folder) stops
the command with status 2; a patient that fails is recorded and the others go on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..cohort.manifest import FLAG_COLUMNS, CohortPatient, read_cohort
from ..cohort.workers import DEFAULT_TIME_LIMIT_S
from ..errors import InputError
from ..io.safe_output import write_text_atomic
from .perfusion import add_timing_options
from .run import add_parameter_options, parameters_from

if TYPE_CHECKING:  # pandas and the runner load when a cohort runs, not with every command
    import pandas as pd

DEFAULT_COVARIATES = ("nihss_baseline", "mtici")


def _add_shared_run_options(parser: argparse.ArgumentParser) -> None:
    """The ``run`` options a cohort passes on to every patient; each is part of the fingerprint."""
    add_parameter_options(parser)
    add_timing_options(parser)


def configure(cohort: argparse.ArgumentParser) -> None:
    cohort.add_argument("source", metavar="SOURCE", help="manifest CSV, or a folder of patient folders")
    cohort.add_argument("--out", required=True,
                        help="cohort folder: new, empty, or from an earlier run (then only changed patients rerun)")
    cohort.add_argument("--jobs", type=int, default=1, help="patients processed at once (default %(default)s)")
    cohort.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address: process the patients on that cluster (needs the 'cluster' extra)")
    cohort.add_argument("--patient-timeout-s", type=float, metavar="SECONDS",
                        help="fail a patient still running after this long, e.g. reading a stalled network share "
                             f"(default {DEFAULT_TIME_LIMIT_S:g}; local processes only)")
    cohort.add_argument("--covariates", nargs="+", metavar="NAME", default=list(DEFAULT_COVARIATES),
                        help="columns the outcome models adjust for (default: %(default)s)")
    _add_shared_run_options(cohort)


def shared_run_options(args: argparse.Namespace) -> list[str]:
    """The cohort's ``run`` options as command-line words; options left at their default are not written."""
    shared = argparse.ArgumentParser(add_help=False)
    _add_shared_run_options(shared)
    options = []
    for name, default in vars(shared.parse_args([])).items():
        value = getattr(args, name)
        if value != default:
            option = f"--{name.replace('_', '-')}"
            options.append(option if value is True else f"{option}={value}")  # str(float) reads back exactly
    return options


def _check_covariates(covariates: list[str], patients: list[CohortPatient], source: Path) -> None:
    columns = [*FLAG_COLUMNS, *dict.fromkeys(name for patient in patients for name in patient.clinical)]
    unknown = [name for name in covariates if name not in columns]
    if unknown:
        raise InputError(f"--covariates {', '.join(unknown)}: not a column of the cohort; "
                         f"choose from {', '.join(columns)}", source)


def command_cohort(args: argparse.Namespace) -> int:
    from ..cohort.runner import CohortRun, ProgressDisplay, run_cohort

    source, out = Path(args.source), Path(args.out)
    patients = read_cohort(source)
    _check_covariates(args.covariates, patients, source)
    # conflicting analysis options are the cohort's error, found before any patient runs
    shared = CohortRun(parameters_from(args), args.te, args.tr, tuple(shared_run_options(args)))
    display = ProgressDisplay()
    try:
        table = run_cohort(patients, out, shared, args.jobs, args.scheduler, display, args.patient_timeout_s)
        paths = {"table": out / "cohort.csv",
                 **_statistics_and_report(table, out, args.covariates, args.significance_ml),
                 "results": out / "patients", "logs": out / "logs"}
    except KeyboardInterrupt:  # also while the statistics and report are written: no traceback either
        end_of_progress = "\n" if sys.stderr.isatty() else ""  # the progress line is rewritten in place there
        print(f"{end_of_progress}imr-analysis: cohort interrupted; run the same command again to continue in {out}",
              file=sys.stderr)
        return 130
    progress = display.last
    summary = {"patients": progress.total, "done": progress.done, "failed": progress.failed,
               "skipped": progress.skipped, "not_assessable": int((table["status"] == "not assessable").sum()),
               "paths": {name: str(path) for name, path in paths.items()}}
    print(json.dumps(summary))
    if progress.failed:
        print(f"{progress.failed} of {progress.total} patients failed: see the error column of {paths['table']} "
              f"and {out / 'logs'}", file=sys.stderr)
    return 0


def _statistics_and_report(table: pd.DataFrame, out: Path, covariates: list[str],
                           significance_ml: float) -> dict[str, Path]:
    """statistics.json and report.html; imported here because statsmodels is slow to import."""
    from ..cohort.report import write_report
    from ..cohort.statistics import cohort_statistics

    statistics = cohort_statistics(table, covariates, significance_ml)
    paths = {"statistics": out / "statistics.json", "report": out / "report.html"}
    write_text_atomic(paths["statistics"], json.dumps(statistics.to_dict(), indent=2, allow_nan=False) + "\n")
    write_report(paths["report"], table, statistics, out)
    return paths
