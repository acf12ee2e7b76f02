"""Acceptance of ``imr-analysis cohort`` on a simulated cohort whose IMR and outcome model are known.

One cohort of phantom patients is generated and run once (two local worker processes); the
table must hold exactly what ``imr-analysis run`` gives each patient, the IMR frequencies
must recount by hand, the statistics must equal a direct statsmodels fit of the table, and
the fitted IMR effects must cover the coefficients the outcomes were drawn from.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.miscmodels.ordinal_model import OrderedModel

from IMRAnalysisLib import cli
from IMRAnalysisLib.cohort.manifest import FLAG_COLUMNS
from IMRAnalysisLib.cohort.simulation import SimulatedCohort, simulate_cohort
from IMRAnalysisLib.io.metrics_files import METRICS_CSV

PATIENTS = 30
JOBS = 2
SIGNIFICANCE_ML = 5.0
COVARIATES = "nihss_baseline + C(mtici)"
EXPOSURES = ("significant_imr", "imr_volume_ml", "imr_relative_percent")
INPUT_ROLES = ("arrival", "post", "day5", "lesion", "exclusion")
MANIFEST_ONLY = ("patient_id", *INPUT_ROLES)
TRUTH_TOLERANCE = (0.15, 0.5)  # measured IMR within 15 % or 0.5 mL of the exact drawn volume
REL = 1e-9


def quietly(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return cli.main(argv)


def read_rows(path: Path) -> list[dict[str, str]]:
    """CSV cells as written, so that equality is exact and type-blind."""
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulatedCohort:
    return simulate_cohort(tmp_path_factory.mktemp("cohort-inputs") / "cohort", PATIENTS)


@pytest.fixture(scope="module")
def cohort_folder(simulated: SimulatedCohort, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort-results") / "results"
    assert quietly(["cohort", str(simulated.manifest), "--out", str(out), "--jobs", str(JOBS)]) == 0
    return out


@pytest.fixture(scope="module")
def single_runs(simulated: SimulatedCohort, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Each patient through a plain ``imr-analysis run`` with the manifest's files and flags: its metrics.csv row.

    The run uses every core while a cohort worker gets its share; the measures do not depend on it.
    """
    folder = tmp_path_factory.mktemp("single-runs")
    runs = {}
    for row in read_rows(simulated.manifest):
        out = folder / row["patient_id"]
        argv = ["run", "--quiet", "--out", str(out)]
        argv += [f"--{role}={(simulated.manifest.parent / row[role]).absolute()}" for role in INPUT_ROLES if row[role]]
        argv += [f"--{flag.replace('_', '-')}" for flag in FLAG_COLUMNS if row[flag] == "1"]
        assert quietly(argv) == 0, row["patient_id"]
        (runs[row["patient_id"]],) = read_rows(out / METRICS_CSV)
    return runs


@pytest.fixture(scope="module")
def table_rows(cohort_folder: Path) -> dict[str, dict[str, str]]:
    return {row["patient_id"]: row for row in read_rows(cohort_folder / "cohort.csv")}


@pytest.fixture(scope="module")
def statistics(cohort_folder: Path) -> dict:
    return json.loads((cohort_folder / "statistics.json").read_text())


@pytest.fixture(scope="module")
def analysed(cohort_folder: Path) -> pd.DataFrame:
    """The assessable rows of the table, with significant IMR and good outcome derived by hand."""
    table = pd.read_csv(cohort_folder / "cohort.csv", dtype={"patient_id": str, "mtici": str})
    frame = table[table["status"] == "assessable"].reset_index(drop=True)
    frame["significant_imr"] = (frame["imr_volume_ml"] > SIGNIFICANCE_ML).astype(float)
    frame["good_outcome"] = (frame["mrs_90"] <= 2).astype(float)
    return frame


def model(statistics: dict, kind: str, outcome: str, exposure: str) -> dict:
    (found,) = [m for m in statistics[kind] if m["outcome"] == outcome and m["exposure"] == exposure]
    return found


# --- (a) the table holds what each patient's own run gives -----------------------------------


def test_every_measure_equals_the_single_patient_run(simulated: SimulatedCohort, table_rows: dict,
                                                     single_runs: dict) -> None:
    assert list(table_rows) == [patient.patient_id for patient in simulated.patients]
    for patient_id, metrics in single_runs.items():
        row = table_rows[patient_id]
        assert row["error"] == "" and row["status"] == metrics["status"], patient_id
        differing = {name: (row.get(name), value) for name, value in metrics.items() if row.get(name) != value}
        assert not differing, f"{patient_id}: cohort table vs run: {differing}"
    known = {name for metrics in single_runs.values() for name in metrics} | {"patient_id", "error"}
    known |= set(simulated.patients[0].clinical)  # flags and clinical scores
    extra = set(next(iter(table_rows.values()))) - known
    assert not extra, f"cohort columns that are neither measures, flags nor clinical: {extra}"


def test_clinical_columns_are_the_manifests(simulated: SimulatedCohort, table_rows: dict) -> None:
    for row in read_rows(simulated.manifest):
        cells = table_rows[row["patient_id"]]
        assert {name: cells[name] for name in row if name not in MANIFEST_ONLY} == \
               {name: value for name, value in row.items() if name not in MANIFEST_ONLY}


def test_measured_imr_is_close_to_the_drawn_truth(simulated: SimulatedCohort, table_rows: dict) -> None:
    relative, absolute = TRUTH_TOLERANCE
    for patient in simulated.patients:
        row = table_rows[patient.patient_id]
        if not patient.assessable:
            continue
        measured = float(row["imr_volume_ml"])
        assert abs(measured - patient.imr_volume_ml) <= max(relative * patient.imr_volume_ml, absolute), \
            (patient.patient_id, measured, patient.imr_volume_ml)
        assert float(row["lesion_volume_ml"]) == pytest.approx(patient.lesion_volume_ml, rel=0.05)


# --- (b) frequencies ------------------------------------------------------------------------


def test_imr_frequency_by_mtici_recounts_exactly(analysed: pd.DataFrame, table_rows: dict, statistics: dict) -> None:
    significant = analysed["imr_volume_ml"] > SIGNIFICANCE_ML
    for patient_id, recounted in zip(analysed["patient_id"], significant):
        assert table_rows[patient_id]["significant_imr"] == str(recounted).lower(), patient_id
    overall = statistics["imr_frequency"]
    assert (overall["n"], overall["total"]) == (int(significant.sum()), len(analysed))
    by_grade = {group["group"]: (group["n"], group["total"]) for group in statistics["imr_frequency_by_mtici"]}
    expected = {grade: (int(significant[analysed["mtici"] == grade].sum()), int((analysed["mtici"] == grade).sum()))
                for grade in sorted(set(analysed["mtici"]))}
    assert by_grade == expected
    assert 0 < overall["n"] < overall["total"], "both sides of the cut-off must be populated"


# --- (c) the fitted effects cover the model the outcomes were drawn from ----------------------


def test_confidence_intervals_cover_the_true_imr_effects(simulated: SimulatedCohort, statistics: dict) -> None:
    truth = simulated.model
    for outcome, effect in (("nihss_24h", truth.nihss_24h.effects), ("nihss_day5", truth.nihss_day5.effects)):
        fitted = model(statistics, "linear", outcome, "imr_volume_ml")
        assert fitted["ci_low"] <= effect.imr_per_ml <= fitted["ci_high"], (outcome, fitted)
        assert fitted["ci_low"] > 0, "the IMR effect must be detected"
    log_odds = truth.mrs_90.effects.imr_per_ml  # latent mRS per mL: worse mRS, and lower odds of mRS 0-2
    fitted = model(statistics, "ordinal", "mrs_90", "imr_volume_ml")
    assert fitted["ci_low"] <= math.exp(log_odds) <= fitted["ci_high"], fitted
    fitted = model(statistics, "logistic", "good_outcome", "imr_volume_ml")
    assert fitted["ci_low"] <= math.exp(-log_odds) <= fitted["ci_high"], fitted


# --- (d) every figure equals a direct statsmodels fit of the table ----------------------------


def fit_directly(kind: str, outcome: str, exposure: str, data: pd.DataFrame) -> tuple[list[float], float, int]:
    """(estimate, CI low, CI high) on the reported scale, p value and n of one model."""
    formula = f"{outcome} ~ {exposure} + {COVARIATES}"
    data = data[[outcome, exposure, "nihss_baseline", "mtici"]].dropna()
    if kind == "linear":
        result = smf.ols(formula, data).fit()
    elif kind == "logistic":
        result = smf.logit(formula, data).fit(disp=False)
    else:
        result = OrderedModel.from_formula(formula, data, distr="logit").fit(method="bfgs", disp=False)
    low, high = result.conf_int(alpha=0.05).loc[exposure]
    values = [result.params[exposure], low, high]
    if kind != "linear":
        values = [math.exp(value) for value in values]
    return values, float(result.pvalues[exposure]), len(data)


@pytest.mark.parametrize("kind, outcome", [("linear", "nihss_24h"), ("linear", "nihss_day5"),
                                           ("logistic", "good_outcome"), ("ordinal", "mrs_90")])
@pytest.mark.parametrize("exposure", EXPOSURES)
def test_statistics_equal_a_direct_statsmodels_fit(kind: str, outcome: str, exposure: str, analysed: pd.DataFrame,
                                                   statistics: dict) -> None:
    reported = model(statistics, kind, outcome, exposure)
    assert reported["note"] is None, reported
    (estimate, low, high), p_value, n = fit_directly(kind, outcome, exposure, analysed)
    assert reported["n"] == n
    assert [reported["estimate"], reported["ci_low"], reported["ci_high"]] == pytest.approx([estimate, low, high],
                                                                                            rel=REL)
    assert reported["p_value"] == pytest.approx(p_value, rel=REL)


# --- (e) patients whose IMR is not assessable ------------------------------------------------


def test_not_assessable_patients_are_counted_and_left_out(simulated: SimulatedCohort, table_rows: dict,
                                                          statistics: dict, analysed: pd.DataFrame) -> None:
    flagged = {patient.patient_id for patient in simulated.patients if not patient.assessable}
    assert flagged, "the simulated cohort must hold not-assessable patients"
    assert {pid for pid, row in table_rows.items() if row["status"] == "not assessable"} == flagged
    assert all(table_rows[pid]["imr_volume_ml"] == "" for pid in flagged)
    assert (statistics["patients"], statistics["not_assessable"], statistics["failed"]) == \
           (PATIENTS, len(flagged), 0)
    assert statistics["analysed"] == PATIENTS - len(flagged) == len(analysed)
    assert not flagged & set(analysed["patient_id"])
    assert statistics["imr_volume_ml"]["n"] == len(analysed)
    assert statistics["imr_volume_ml"]["median"] == pytest.approx(float(np.median(analysed["imr_volume_ml"])),
                                                                  rel=REL)
