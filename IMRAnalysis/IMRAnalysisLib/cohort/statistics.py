"""The cohort analysis of Valls Carbo et al. 2025: IMR frequency, IMR volume, and IMR against outcome.

Only assessable patients are analysed; failed and not-assessable runs are counted and left
out. Significant IMR is recomputed from the IMR volume at ``significance_ml`` so a cohort
can be re-read at another cut-off (at the run's cut-off it equals the ``significant_imr``
column). Every model reports the complete cases it used; a model that cannot be fitted
honestly (too few cases, no variation, separation, a singular design, a missing column)
gets a note and null figures instead of a number that would mislead.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.proportion import proportion_confint
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning, PerfectSeparationWarning

from ..errors import InputError

STATUSES = ("assessable", "not assessable", "failed")
MTICI_ORDER = ("0", "1", "2A", "2B", "2C", "3")
MTICI_MISSING = "not recorded"
GOOD_OUTCOME_MAX_MRS = 2
CONFIDENCE = 0.95
CERTAIN_PROBABILITY = 1.0 - 1e-6

EXPOSURES = ("significant_imr", "imr_volume_ml", "imr_relative_percent")
LINEAR_OUTCOMES = ("nihss_24h", "nihss_day5")
MRS = "mrs_90"
GOOD_OUTCOME = "good_outcome"

_SEPARATION = "perfect or quasi-complete separation: some outcomes are predicted with certainty, the estimate diverges"


@dataclass(frozen=True)
class Proportion:
    """n of N patients with significant IMR, with a Wilson 95 % confidence interval, in percent."""

    group: str
    n: int
    total: int
    percent: float | None
    ci_low_percent: float | None
    ci_high_percent: float | None


@dataclass(frozen=True)
class Spread:
    """Median and interquartile range (25th and 75th percentiles) of the patients with a value."""

    median: float | None
    q25: float | None
    q75: float | None
    n: int


@dataclass(frozen=True)
class ModelResult:
    """One exposure's effect on one outcome, adjusted for the covariates.

    ``estimate`` is the regression coefficient (linear) or the odds ratio (logistic, ordinal);
    for the ordinal model an odds ratio above 1 means a shift towards a worse (higher) mRS.
    """

    kind: str
    outcome: str
    exposure: str
    effect: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    covariates: tuple[str, ...]
    note: str | None = None


@dataclass(frozen=True)
class CohortStatistics:
    """Everything the cohort report shows; ``to_dict`` is JSON-ready (no NaN)."""

    patients: int
    failed: int
    not_assessable: int
    analysed: int
    significance_ml: float
    covariates: tuple[str, ...]
    imr_frequency: Proportion
    imr_frequency_by_mtici: tuple[Proportion, ...]
    imr_volume_ml: Spread
    imr_relative_percent: Spread
    linear: tuple[ModelResult, ...]
    logistic: tuple[ModelResult, ...]
    ordinal: tuple[ModelResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain values for ``json.dumps``: missing figures are already None, never NaN."""
        return asdict(self)


def cohort_statistics(
    table: pd.DataFrame,
    covariates: Sequence[str] = ("nihss_baseline", "mtici"),
    significance_ml: float = 5.0,
) -> CohortStatistics:
    """The paper's cohort figures from the cohort table (one row per patient)."""
    _require_columns(table, ("patient_id", "status", "imr_volume_ml"), "column")
    _require_columns(table, covariates, "covariate")
    for covariate in covariates:
        if covariate != "mtici":
            _refuse_mixed_numbers_and_text(table, covariate)
    status = table["status"].astype(str)
    unknown = sorted(set(status) - set(STATUSES))
    if unknown:
        raise InputError(f"unknown patient status {unknown}; expected one of {list(STATUSES)}")
    analysed = _analysis_frame(table[status == "assessable"], significance_ml)
    models = _Models(analysed, tuple(covariates))
    return CohortStatistics(
        patients=len(table),
        failed=int((status == "failed").sum()),
        not_assessable=int((status == "not assessable").sum()),
        analysed=len(analysed),
        significance_ml=float(significance_ml),
        covariates=tuple(covariates),
        imr_frequency=_proportion("all", analysed["significant_imr"]),
        imr_frequency_by_mtici=_frequency_by_mtici(analysed),
        imr_volume_ml=_spread(analysed["imr_volume_ml"]),
        imr_relative_percent=_spread(analysed["imr_relative_percent"]),
        linear=tuple(models.fit(_fit_linear, outcome, exposure) for outcome in LINEAR_OUTCOMES
                     for exposure in EXPOSURES),
        logistic=tuple(models.fit(_fit_logistic, GOOD_OUTCOME, exposure) for exposure in EXPOSURES),
        ordinal=tuple(models.fit(_fit_ordinal, MRS, exposure) for exposure in EXPOSURES),
    )


def normalise_mtici(value: Any) -> str | None:
    """``"2b"``, ``"mTICI 2b"``, ``"2 B"`` -> ``"2B"``; ``3.0`` -> ``"3"``; unknown labels kept; missing -> None."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (int, float, np.number)) and float(value).is_integer():
        return str(int(value))
    text = re.sub(r"\s+", "", str(value)).upper()
    text = re.sub(r"^M?TICI", "", text)
    return text or None


def _require_columns(table: pd.DataFrame, names: Sequence[str], what: str) -> None:
    for name in names:
        if name not in table.columns:
            raise InputError(f"{what} {name!r} is not a column of the cohort table; columns: {list(table.columns)}")


def _refuse_mixed_numbers_and_text(table: pd.DataFrame, covariate: str) -> None:
    """A number column with a stray word ("NA", "unknown") would silently become a category."""
    if _is_numeric(table[covariate]):
        return
    labels = table[covariate].dropna().astype(str)
    is_number = pd.to_numeric(labels, errors="coerce").notna()
    if is_number.any() and not is_number.all():
        word = labels[~is_number].iloc[0]
        patient = table.loc[labels[~is_number].index[0], "patient_id"]
        raise InputError(f"covariate {covariate!r} mixes numbers and text ({word!r} for patient {patient!r}); "
                         "leave unknown values empty, or use only text labels for a category")


def _analysis_frame(rows: pd.DataFrame, significance_ml: float) -> pd.DataFrame:
    """The assessable rows with the derived columns the models use."""
    frame = rows.reset_index(drop=True).copy()
    volume = _numeric(frame, "imr_volume_ml")
    frame["imr_volume_ml"] = volume
    frame["significant_imr"] = (volume > significance_ml).astype(float).where(volume.notna())
    frame["imr_relative_percent"] = _numeric(frame, "imr_relative_percent")
    if "mtici" in frame.columns:
        frame["mtici"] = frame["mtici"].map(normalise_mtici).astype(object)
    if MRS in frame.columns:
        mrs = _numeric(frame, MRS)
        wrong = mrs.notna() & ~mrs.isin(range(7))
        if wrong.any():
            patient = frame.loc[wrong.idxmax(), "patient_id"]
            raise InputError(f"{MRS} must be an integer from 0 to 6; patient {patient!r} has {mrs[wrong].iloc[0]!r}")
        frame[MRS] = mrs
        frame[GOOD_OUTCOME] = (mrs <= GOOD_OUTCOME_MAX_MRS).astype(float).where(mrs.notna())
    return frame


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats (NaN when missing); text that is not a number is the user's error."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    values = frame[column].map(lambda value: np.nan if value is None or value is pd.NA else value)
    try:
        return pd.to_numeric(values.map(lambda value: float(value) if isinstance(value, bool) else value)).astype(float)
    except (TypeError, ValueError) as error:
        raise InputError(f"column {column!r} must hold numbers: {error}") from error


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _proportion(group: str, significant: pd.Series) -> Proportion:
    known = significant.dropna()
    return wilson_proportion(group, int(known.sum()), len(known))


def wilson_proportion(group: str, count: int, total: int) -> Proportion:
    """count of total with its Wilson interval, which always contains the proportion.

    At 0/n and n/n rounding puts the computed bound a hair on the wrong side of the
    proportion (5.6e-15 instead of 0); it is clipped into [0, p] and [p, 1], and the
    percentages are all scaled the same way so the order survives the scaling.
    """
    if total == 0:
        return Proportion(group, 0, 0, None, None, None)
    proportion = count / total
    low, high = proportion_confint(count, total, alpha=1.0 - CONFIDENCE, method="wilson")
    low, high = min(max(float(low), 0.0), proportion), max(min(float(high), 1.0), proportion)
    return Proportion(group, count, total, 100.0 * proportion, _finite(100.0 * low), _finite(100.0 * high))


def _mtici_sort_key(label: str) -> tuple[int, str]:
    if label == MTICI_MISSING:
        return (len(MTICI_ORDER) + 1, label)
    return (MTICI_ORDER.index(label), "") if label in MTICI_ORDER else (len(MTICI_ORDER), label)


def _frequency_by_mtici(analysed: pd.DataFrame) -> tuple[Proportion, ...]:
    if "mtici" not in analysed.columns:
        return ()
    grades = analysed["mtici"].fillna(MTICI_MISSING)
    return tuple(
        _proportion(grade, analysed.loc[grades == grade, "significant_imr"])
        for grade in sorted(set(grades), key=_mtici_sort_key)
    )


def _spread(values: pd.Series) -> Spread:
    known = values.dropna().to_numpy(dtype=float)
    if known.size == 0:
        return Spread(None, None, None, 0)
    q25, median, q75 = np.percentile(known, [25.0, 50.0, 75.0])
    return Spread(_finite(median), _finite(q25), _finite(q75), int(known.size))


class _NotFitted(Exception):
    """Why a model has no honest estimate; becomes the result's note."""


@dataclass(frozen=True)
class _Fit:
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float


Fitter = Callable[[str, pd.DataFrame], _Fit]


class _Models:
    """Complete cases and a formula with column-name-proof variable names, shared by the three model kinds."""

    def __init__(self, analysed: pd.DataFrame, covariates: tuple[str, ...]) -> None:
        self.analysed = analysed
        self.covariates = covariates

    def fit(self, fitter: Fitter, outcome: str, exposure: str) -> ModelResult:
        kind, effect = _KINDS[fitter]
        data = pd.DataFrame(index=self.analysed.index)
        complete_cases = 0
        try:
            data["y"] = self._column(outcome, numeric=True)
            data["x"] = self._column(exposure, numeric=True)
            terms = ["x"]
            for index, covariate in enumerate(self.covariates):
                categorical = covariate == "mtici" or not _is_numeric(self.analysed[covariate])
                data[f"c{index}"] = self._column(covariate, numeric=not categorical)
                terms.append(f"C(c{index})" if categorical else f"c{index}")
            data = data.dropna()
            complete_cases = len(data)
            _check_cases(data)
            for index, covariate in enumerate(self.covariates):
                if f"c{index}" in terms and data[f"c{index}"].nunique() < 2:
                    raise _NotFitted(f"covariate {covariate!r} does not vary among the complete cases")
            fit = fitter("y ~ " + " + ".join(terms), data)
        except _NotFitted as reason:
            return ModelResult(kind, outcome, exposure, effect, None, None, None, None, complete_cases,
                               self.covariates, str(reason))
        return ModelResult(kind, outcome, exposure, effect, _finite(fit.estimate), _finite(fit.ci_low),
                           _finite(fit.ci_high), _finite(fit.p_value), complete_cases, self.covariates)

    def _column(self, name: str, numeric: bool) -> pd.Series:
        if name not in self.analysed.columns:
            source = MRS if name == GOOD_OUTCOME else name
            raise _NotFitted(f"column {source!r} is not in the cohort table")
        if numeric:
            return _numeric(self.analysed, name)
        labels = self.analysed[name]
        return labels.where(labels.isna(), labels.astype(str))  # one label type, so categories sort


def _is_numeric(column: pd.Series) -> bool:
    """Numbers (or booleans), also when missing values made pandas store them as objects."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return True
    return all(isinstance(value, (int, float, bool, np.number)) for value in column.dropna())


def _check_cases(data: pd.DataFrame) -> None:
    if len(data) == 0:
        raise _NotFitted("no patient has the outcome, the exposure and every covariate")
    if data["x"].nunique() < 2:
        raise _NotFitted("the exposure does not vary among the complete cases")
    if data["y"].nunique() < 2:
        raise _NotFitted("the outcome does not vary among the complete cases")


def _check_design(exog: np.ndarray, observations: int, parameters: int, has_constant: bool) -> None:
    """Refuse before fitting: too few cases for the parameters, or a design that cannot separate them."""
    if observations <= parameters:
        raise _NotFitted(f"too few complete cases: {observations} for {parameters} parameters")
    design = exog if has_constant else np.column_stack([np.ones(len(exog)), exog])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise _NotFitted("singular design: the exposure and covariates are collinear among the complete cases")


def _run(fit: Callable[[], Any]) -> Any:
    """Fit, turning the optimiser's failures into notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", HessianInversionWarning)
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = fit()
        except PerfectSeparationWarning as error:
            raise _NotFitted(_SEPARATION) from error
        except (ConvergenceWarning, HessianInversionWarning) as error:
            raise _NotFitted(f"the fit did not converge: {error}") from error
        except (ValueError, np.linalg.LinAlgError) as error:
            raise _NotFitted(f"the model could not be fitted: {error}") from error
    retvals = getattr(result, "mle_retvals", None)
    if retvals is not None and not retvals.get("converged", True):
        raise _NotFitted("the fit did not converge")
    return result


def _coefficient(result: Any, odds_ratio: bool) -> _Fit:
    low, high = result.conf_int(alpha=1.0 - CONFIDENCE).loc["x"]
    values = (result.params["x"], low, high)
    if not all(math.isfinite(value) for value in (*values, result.bse["x"])):
        raise _NotFitted("the estimate or its standard error is not finite")
    transform = math.exp if odds_ratio else float
    try:
        estimate, low, high = (transform(value) for value in values)
    except OverflowError as error:
        raise _NotFitted(_SEPARATION) from error
    return _Fit(estimate, low, high, float(result.pvalues["x"]))


def _fit_linear(formula: str, data: pd.DataFrame) -> _Fit:
    model = smf.ols(formula, data)
    _check_design(model.exog, len(data), model.exog.shape[1], has_constant=True)
    return _coefficient(_run(model.fit), odds_ratio=False)


def _fit_logistic(formula: str, data: pd.DataFrame) -> _Fit:
    model = smf.logit(formula, data)
    _check_design(model.exog, len(data), model.exog.shape[1], has_constant=True)
    result = _run(lambda: model.fit(disp=False))
    probability = result.predict()
    _check_not_certain(np.where(model.endog == 1, probability, 1.0 - probability))
    return _coefficient(result, odds_ratio=True)


def _fit_ordinal(formula: str, data: pd.DataFrame) -> _Fit:
    """Proportional odds (shift) model; thresholds play the intercept's part, so the design has none."""
    model = _run(lambda: OrderedModel.from_formula(formula, data, distr="logit"))
    _check_design(model.exog, len(data), model.exog.shape[1] + model.k_levels - 1, has_constant=False)
    result = _run(lambda: model.fit(method="bfgs", disp=False))
    probabilities = result.predict()
    _check_not_certain(probabilities[np.arange(len(data)), model.endog.astype(int)])
    return _coefficient(result, odds_ratio=True)


def _check_not_certain(observed_probability: np.ndarray) -> None:
    if np.any(observed_probability > CERTAIN_PROBABILITY):
        raise _NotFitted(_SEPARATION)


_KINDS: dict[Fitter, tuple[str, str]] = {
    _fit_linear: ("linear", "beta"),
    _fit_logistic: ("logistic", "odds ratio"),
    _fit_ordinal: ("ordinal", "common odds ratio"),
}
