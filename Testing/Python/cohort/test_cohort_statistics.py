"""Cohort statistics against direct statsmodels fits on synthetic cohorts drawn from known models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.proportion import proportion_confint

from IMRAnalysisLib.cohort.statistics import cohort_statistics, normalise_mtici
from IMRAnalysisLib.errors import InputError

PATIENTS = 400
FAILED = 9
NOT_ASSESSABLE = 13
TRUE_BETA_VOLUME = 0.4
MTICI_SPELLINGS = {"2b": "2B", " 2B": "2B", "2B": "2B", "2c": "2C", "3": "3"}
FORMULA_COVARIATES = "nihss_baseline + C(mtici)"
REL = 1e-9


def synthetic_cohort(patients: int = PATIENTS, seed: int = 20250) -> pd.DataFrame:
    """NIHSS linear in IMR volume, baseline NIHSS and mTICI 2B; mRS from a proportional-odds latent scale."""
    rng = np.random.default_rng(seed)
    volume = rng.gamma(1.5, 4.0, size=patients)
    lesion = volume + rng.uniform(10.0, 60.0, size=patients)
    baseline = rng.integers(2, 26, size=patients).astype(float)
    mtici = rng.choice(list(MTICI_SPELLINGS), size=patients)
    is_2b = np.array([MTICI_SPELLINGS[label] == "2B" for label in mtici])
    nihss_24h = 2.0 + TRUE_BETA_VOLUME * volume + 0.8 * baseline + 1.5 * is_2b + rng.normal(0.0, 2.0, patients)
    latent = -3.5 + 0.15 * volume + 0.15 * baseline + rng.logistic(size=patients)
    table = pd.DataFrame({
        "patient_id": [f"P{index:03d}" for index in range(patients)],
        "status": "assessable",
        "error": "",
        "imr_volume_ml": volume,
        "lesion_volume_ml": lesion,
        "imr_relative_percent": 100.0 * volume / lesion,
        "significant_imr": pd.Series(volume > 5.0, dtype=object),
        "mtici": mtici,
        "nihss_baseline": baseline,
        "nihss_24h": nihss_24h,
        "nihss_day5": nihss_24h - 1.0 + rng.normal(0.0, 1.5, patients),
        "mrs_90": np.clip(np.digitize(latent, [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]), 0, 6),
    })
    table.loc[: FAILED - 1, ["status", "error"]] = ["failed", "registration did not converge"]
    table.loc[FAILED: FAILED + NOT_ASSESSABLE - 1, "status"] = "not assessable"
    excluded = table["status"] != "assessable"
    table.loc[excluded, ["imr_volume_ml", "imr_relative_percent"]] = np.nan
    table.loc[excluded, "significant_imr"] = None
    table.loc[table.index[-3:-1], "nihss_24h"] = np.nan
    table.loc[table.index[-1], "mtici"] = None
    return table


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return synthetic_cohort()


@pytest.fixture(scope="module")
def statistics(cohort):
    return cohort_statistics(cohort)


@pytest.fixture(scope="module")
def analysed_rows(cohort) -> pd.DataFrame:
    """The rows every analysis uses, prepared here independently of the library."""
    rows = cohort[cohort["status"] == "assessable"].copy()
    rows["mtici"] = rows["mtici"].map(MTICI_SPELLINGS)
    rows["significant_imr"] = (rows["imr_volume_ml"] > 5.0).astype(float)
    rows["good_outcome"] = (rows["mrs_90"] <= 2).astype(float)
    return rows


def complete(rows: pd.DataFrame, outcome: str, exposure: str) -> pd.DataFrame:
    return rows.dropna(subset=[outcome, exposure, "nihss_baseline", "mtici"])


def linear_result(statistics, outcome: str, exposure: str):
    return next(model for model in statistics.linear if (model.outcome, model.exposure) == (outcome, exposure))


def assert_model_equals(result, estimate, ci, p_value, cases):
    assert result.note is None
    assert result.estimate == pytest.approx(estimate, rel=REL)
    assert result.ci_low == pytest.approx(ci[0], rel=REL)
    assert result.ci_high == pytest.approx(ci[1], rel=REL)
    assert result.p_value == pytest.approx(p_value, rel=REL)
    assert result.n == cases
    assert result.covariates == ("nihss_baseline", "mtici")


def test_counts_are_exact(statistics):
    assert (statistics.patients, statistics.failed, statistics.not_assessable) == (PATIENTS, FAILED, NOT_ASSESSABLE)
    assert statistics.analysed == PATIENTS - FAILED - NOT_ASSESSABLE


def test_frequency_overall_and_by_mtici_with_wilson_interval(statistics, analysed_rows):
    expected = {"all": analysed_rows["significant_imr"]}
    grades = analysed_rows["mtici"].fillna("not recorded")
    expected.update({grade: analysed_rows.loc[grades == grade, "significant_imr"] for grade in ("2B", "2C", "3")})
    expected["not recorded"] = analysed_rows.loc[grades == "not recorded", "significant_imr"]
    shown = [statistics.imr_frequency, *statistics.imr_frequency_by_mtici]
    assert [row.group for row in shown] == list(expected)
    for row, significant in zip(shown, expected.values()):
        count, total = int(significant.sum()), len(significant)
        low, high = proportion_confint(count, total, alpha=0.05, method="wilson")
        assert (row.n, row.total) == (count, total)
        assert row.percent == pytest.approx(100.0 * count / total, rel=REL)
        assert (row.ci_low_percent, row.ci_high_percent) == pytest.approx((100.0 * low, 100.0 * high), rel=REL)
    assert sum(row.total for row in statistics.imr_frequency_by_mtici) == statistics.analysed


def test_median_and_interquartile_range_equal_numpy(statistics, analysed_rows):
    for spread, column in ((statistics.imr_volume_ml, "imr_volume_ml"),
                           (statistics.imr_relative_percent, "imr_relative_percent")):
        q25, median, q75 = np.percentile(analysed_rows[column], [25, 50, 75])
        assert (spread.median, spread.q25, spread.q75) == pytest.approx((median, q25, q75), rel=REL)
        assert spread.n == statistics.analysed


@pytest.mark.parametrize("outcome", ["nihss_24h", "nihss_day5"])
@pytest.mark.parametrize("exposure", ["significant_imr", "imr_volume_ml", "imr_relative_percent"])
def test_linear_models_equal_a_direct_ols_fit(statistics, analysed_rows, outcome, exposure):
    rows = complete(analysed_rows, outcome, exposure)
    fit = smf.ols(f"{outcome} ~ {exposure} + {FORMULA_COVARIATES}", rows).fit()
    result = linear_result(statistics, outcome, exposure)
    assert result.effect == "beta"
    assert_model_equals(result, fit.params[exposure], fit.conf_int().loc[exposure], fit.pvalues[exposure], len(rows))


def test_linear_interval_covers_the_true_beta(statistics, analysed_rows):
    result = linear_result(statistics, "nihss_24h", "imr_volume_ml")
    assert result.ci_low < TRUE_BETA_VOLUME < result.ci_high
    assert result.n == statistics.analysed - 3  # two without NIHSS at 24 h, one without mTICI


@pytest.mark.parametrize("exposure", ["significant_imr", "imr_volume_ml", "imr_relative_percent"])
def test_logistic_models_equal_a_direct_logit_fit(statistics, analysed_rows, exposure):
    rows = complete(analysed_rows, "good_outcome", exposure)
    fit = smf.logit(f"good_outcome ~ {exposure} + {FORMULA_COVARIATES}", rows).fit(disp=False)
    result = next(model for model in statistics.logistic if model.exposure == exposure)
    assert (result.outcome, result.effect) == ("good_outcome", "odds ratio")
    interval = np.exp(fit.conf_int().loc[exposure])
    assert_model_equals(result, np.exp(fit.params[exposure]), interval, fit.pvalues[exposure], len(rows))


@pytest.mark.parametrize("exposure", ["significant_imr", "imr_volume_ml", "imr_relative_percent"])
def test_ordinal_models_equal_a_direct_proportional_odds_fit(statistics, analysed_rows, exposure):
    rows = complete(analysed_rows, "mrs_90", exposure)
    formula = f"mrs_90 ~ {exposure} + {FORMULA_COVARIATES}"
    fit = OrderedModel.from_formula(formula, rows, distr="logit").fit(method="bfgs", disp=False)
    result = next(model for model in statistics.ordinal if model.exposure == exposure)
    assert (result.outcome, result.effect) == ("mrs_90", "common odds ratio")
    interval = np.exp(fit.conf_int().loc[exposure])
    assert_model_equals(result, np.exp(fit.params[exposure]), interval, fit.pvalues[exposure], len(rows))
    # the same model from a hand-built design without intercept (thresholds take its place)
    columns = rows[[exposure, "nihss_baseline", "mtici"]]
    design = pd.get_dummies(columns, columns=["mtici"], drop_first=True, dtype=float)
    by_hand = OrderedModel(rows["mrs_90"].astype(int), design, distr="logit").fit(method="bfgs", disp=False)
    assert result.estimate == pytest.approx(np.exp(by_hand.params[exposure]), rel=1e-4)


def test_volume_worsens_outcome_as_simulated(statistics):
    logistic = next(model for model in statistics.logistic if model.exposure == "imr_volume_ml")
    ordinal = next(model for model in statistics.ordinal if model.exposure == "imr_volume_ml")
    assert logistic.ci_high < 1.0 < ordinal.ci_low


def test_to_dict_is_json_without_nan(statistics):
    empty = cohort_statistics(synthetic_cohort(patients=30).assign(status="failed"))
    for figures in (statistics, empty):
        text = json.dumps(figures.to_dict(), allow_nan=False)
        assert json.loads(text)["patients"] == figures.patients


def test_no_analysable_patient_gives_counts_and_notes():
    figures = cohort_statistics(synthetic_cohort(patients=30).assign(status="not assessable"))
    assert (figures.patients, figures.not_assessable, figures.analysed) == (30, 30, 0)
    assert (figures.imr_frequency.n, figures.imr_frequency.total, figures.imr_frequency.percent) == (0, 0, None)
    assert figures.imr_volume_ml.median is None
    for result in (*figures.linear, *figures.logistic, *figures.ordinal):
        assert result.estimate is None and result.p_value is None and result.n == 0
        assert "no patient" in result.note


def test_degenerate_tables_give_notes_not_exceptions():
    table = synthetic_cohort(patients=60, seed=3)
    assessable = table["status"] == "assessable"
    tiny = cohort_statistics(table[assessable].head(4))
    assert all("too few complete cases" in model.note for model in tiny.linear)

    no_variation = cohort_statistics(table.assign(imr_volume_ml=7.0, imr_relative_percent=20.0))
    assert all("exposure does not vary" in model.note for model in no_variation.linear)

    without_mrs = cohort_statistics(table.drop(columns=["mrs_90"]))
    assert all(model.note == "column 'mrs_90' is not in the cohort table" for model in without_mrs.ordinal)
    assert all(model.estimate is None for model in (*without_mrs.ordinal, *without_mrs.logistic))
    assert all(model.note is None for model in without_mrs.linear)

    separated = table.assign(mrs_90=np.where(table["imr_volume_ml"] > 5.0, 5, 1))
    figures = cohort_statistics(separated)
    binary = [model for model in (*figures.logistic, *figures.ordinal) if model.exposure == "significant_imr"]
    assert all("separation" in model.note and model.estimate is None for model in binary)

    constant = cohort_statistics(table.assign(ica_occlusion=0), covariates=("nihss_baseline", "ica_occlusion"))
    assert all(model.note == "covariate 'ica_occlusion' does not vary among the complete cases"
               for model in (*constant.linear, *constant.logistic, *constant.ordinal))

    collinear = table.assign(volume_twice=2.0 * table["imr_volume_ml"])
    figures = cohort_statistics(collinear, covariates=("volume_twice",))
    by_volume = [model for model in (*figures.linear, *figures.logistic, *figures.ordinal)
                 if model.exposure == "imr_volume_ml"]
    assert all("singular design" in model.note for model in by_volume)


def test_unknown_covariate_names_it_and_lists_the_columns():
    with pytest.raises(InputError, match=r"covariate 'age' is not a column.*'nihss_baseline'"):
        cohort_statistics(synthetic_cohort(patients=20), covariates=("nihss_baseline", "age"))


def test_number_covariate_with_a_word_is_refused():
    table = synthetic_cohort(patients=40)
    table["nihss_baseline"] = table["nihss_baseline"].astype(object)
    table.loc[33, "nihss_baseline"] = "NA"
    with pytest.raises(InputError, match=r"'nihss_baseline' mixes numbers and text \('NA' for patient 'P033'\)"):
        cohort_statistics(table)


def test_mrs_outside_the_scale_is_refused():
    table = synthetic_cohort(patients=40)
    table.loc[35, "mrs_90"] = 7
    with pytest.raises(InputError, match="P035"):
        cohort_statistics(table)


def test_mtici_spellings_are_normalised_and_unknown_labels_kept():
    assert [normalise_mtici(value) for value in ("2b", " 2 B", "mTICI 2c", 3.0, "3", None, float("nan"))] == [
        "2B", "2B", "2C", "3", "3", None, None]
    table = synthetic_cohort(patients=80)
    table.loc[40:44, "mtici"] = "2b-67"
    groups = [row.group for row in cohort_statistics(table).imr_frequency_by_mtici]
    assert groups == ["2B", "2C", "3", "2B-67", "not recorded"]


def test_user_covariates_numeric_and_categorical():
    table = synthetic_cohort(patients=200)
    rng = np.random.default_rng(5)
    table["age"] = rng.normal(70.0, 10.0, len(table))
    table["sex"] = rng.choice(["F", "M", "X"], len(table))
    figures = cohort_statistics(table, covariates=("age", "sex"))
    rows = table[table["status"] == "assessable"].dropna(subset=["nihss_24h"])
    fit = smf.ols("nihss_24h ~ imr_volume_ml + age + C(sex)", rows).fit()
    result = linear_result(figures, "nihss_24h", "imr_volume_ml")
    assert result.estimate == pytest.approx(fit.params["imr_volume_ml"], rel=REL)
    assert result.covariates == ("age", "sex")
