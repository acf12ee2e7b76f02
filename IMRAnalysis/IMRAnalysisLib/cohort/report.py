"""The cohort report: one self-contained HTML file that can be mailed or archived as it is.

Figures and thumbnails are embedded as PNG data URIs and the style sheet is inline, so the
file shows the same thing on any machine, offline, years later. Only the thumbnail links
point outside the file: to each patient's result folder next to the report.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, UnidentifiedImageError

from ..io.safe_output import write_text_atomic
from .statistics import CohortStatistics, ModelResult, Proportion

THUMBNAIL_PIXELS = 360
FIGURE_DPI = 100
MISSING = "–"
IMR_COLOR = "#c62828"
NIHSS_COLUMNS = (("nihss_24h", "NIHSS at 24 h"), ("nihss_day5", "NIHSS at day 5"))

EXPOSURE_LABELS = {
    "significant_imr": "Significant IMR (yes vs no)",
    "imr_volume_ml": "IMR volume (per mL)",
    "imr_relative_percent": "Relative IMR (per % of lesion)",
}
OUTCOME_LABELS = {
    "nihss_24h": "NIHSS at 24 h (points)",
    "nihss_day5": "NIHSS at day 5 (points)",
    "good_outcome": "Good outcome, mRS 0–2 at 90 days",
    "mrs_90": "mRS at 90 days (shift towards worse)",
}
MODEL_SECTIONS = (
    ("linear", "NIHSS on IMR: linear regression (OLS)", "β (NIHSS points)"),
    ("logistic", "Good outcome on IMR: logistic regression", "Odds ratio"),
    ("ordinal", "mRS shift on IMR: proportional-odds (ordinal logistic) regression", "Common odds ratio"),
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d2125; }
h1, h2 { font-weight: 600; } h2 { margin-top: 2em; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #d5d9de; padding: 0.25em 0.6em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #eef1f4; } .note { color: #8a4b00; } .failed { color: #b00020; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; }
.gallery figure { margin: 0; width: 360px; } .gallery img { max-width: 100%; border: 1px solid #ccd; }
"""


def write_report(path: Path, table: pd.DataFrame, statistics: CohortStatistics, cohort_folder: Path) -> None:
    """Write the cohort report to ``path`` in one step (readers never see half a report)."""
    path = Path(path)
    body = [
        _header(table, statistics),
        _section("IMR volume", _figure(_volume_histogram(table, statistics)), _spread_table(statistics)),
        _section("IMR frequency by final mTICI", _figure(_frequency_chart(statistics)), _frequency_table(statistics)),
        _section("IMR volume and NIHSS", _figure(_nihss_scatter(table, statistics))),
        *(_section(title, _model_table(kind, effect, getattr(statistics, kind)))
          for kind, title, effect in MODEL_SECTIONS),
        _section("Patients", _patient_table(table, statistics)),
        _section("Overview of every patient", _gallery(table, path.parent, Path(cohort_folder))),
    ]
    document = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>IMR cohort report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )
    write_text_atomic(path, document)


def format_number(value: float | None, digits: int = 1) -> str:
    """Fixed decimals for volumes, percentages and counts-like figures; a dash when missing."""
    return MISSING if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_estimate(value: float | None) -> str:
    """Three significant figures, never in exponent notation, so small effects per mL stay readable."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def format_p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _section(title: str, *parts: str) -> str:
    return f"<section>\n<h2>{_escape(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def _html_table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence[tuple[str, bool]]]) -> str:
    """Cells are (already escaped html, is_number); numbers are right-aligned."""
    head = "".join(f"<th>{_escape(header)}</th>" for header in headers)
    lines = [f'<table id="{table_id}">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for row in rows:
        cells = "".join(f'<td class="number">{text}</td>' if number else f"<td>{text}</td>" for text, number in row)
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _text(value: object) -> tuple[str, bool]:
    return _escape(value), False


def _number(text: str) -> tuple[str, bool]:
    return _escape(text), True


def _header(table: pd.DataFrame, statistics: CohortStatistics) -> str:
    counts = (
        ("Patients", statistics.patients),
        ("Analysed (assessable)", statistics.analysed),
        ("Not assessable (excluded)", statistics.not_assessable),
        ("Failed (excluded)", statistics.failed),
    )
    settings = [
        ("Significant IMR", f"> {format_number(statistics.significance_ml)} mL"),
        ("Adjusted for", ", ".join(statistics.covariates) or "nothing"),
        *_parameters(table),
    ]
    return (
        "<h1>IMR cohort report</h1>\n<p>Impaired microvascular reperfusion after thrombectomy "
        "(Valls Carbo et al. 2025). Not assessable and failed patients are excluded from every analysis.</p>\n"
        + _html_table("counts", ("Patients", "Number"), ((_text(name), _number(str(count))) for name, count in counts))
        + "\n"
        + _html_table("parameters", ("Analysis setting", "Value"), (
            (_text(name), _text(value)) for name, value in settings))
    )


def _parameters(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The run parameters recorded in the table; several values are listed when patients differ."""
    rows = []
    for column in sorted(name for name in table.columns if str(name).startswith("parameters_")):
        values = sorted({str(value) for value in table[column].dropna()})
        if values:
            rows.append((str(column).removeprefix("parameters_"), ", ".join(values)))
    return rows


def _spread_table(statistics: CohortStatistics) -> str:
    spreads = (("IMR volume (mL)", statistics.imr_volume_ml),
               ("Relative IMR (% of lesion)", statistics.imr_relative_percent))
    return _html_table("volume", ("Measure", "Median", "IQR (25th–75th percentile)", "Patients"), (
        (_text(name), _number(format_number(spread.median)),
         _number(f"{format_number(spread.q25)} – {format_number(spread.q75)}"), _number(str(spread.n)))
        for name, spread in spreads
    ))


def _frequency_rows(statistics: CohortStatistics) -> list[Proportion]:
    return [statistics.imr_frequency, *statistics.imr_frequency_by_mtici]


def _frequency_table(statistics: CohortStatistics) -> str:
    return _html_table("frequency", ("Final mTICI", "Significant IMR n/N", "%", "95 % CI (Wilson), %"), (
        (_text("all patients" if row.group == "all" else row.group), _number(f"{row.n}/{row.total}"),
         _number(format_number(row.percent)),
         _number(f"{format_number(row.ci_low_percent)} – {format_number(row.ci_high_percent)}"))
        for row in _frequency_rows(statistics)
    ))


def _model_table(kind: str, effect: str, models: Sequence[ModelResult]) -> str:
    return _html_table(f"{kind}-models", ("Outcome", "Exposure", effect, "95 % CI", "p", "n", "Note"), (
        (_text(OUTCOME_LABELS.get(model.outcome, model.outcome)),
         _text(EXPOSURE_LABELS.get(model.exposure, model.exposure)),
         _number(format_estimate(model.estimate)),
         _number(f"{format_estimate(model.ci_low)} – {format_estimate(model.ci_high)}"),
         _number(format_p(model.p_value)), _number(str(model.n)),
         (f'<span class="note">{_escape(model.note)}</span>' if model.note else "", False))
        for model in models
    )) + f"\n<p>Adjusted for: {_escape(', '.join(models[0].covariates) if models else '') or 'nothing'}.</p>"


def _assessable(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"].astype(str) == "assessable"]


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    if name not in table.columns:
        return pd.Series(np.nan, index=table.index, dtype=float)
    return pd.to_numeric(table[name], errors="coerce").astype(float)


def _patient_table(table: pd.DataFrame, statistics: CohortStatistics) -> str:
    volume = _column(table, "imr_volume_ml")
    relative = _column(table, "imr_relative_percent")

    def row(index) -> tuple[tuple[str, bool], ...]:
        status = str(table.at[index, "status"])
        significant = MISSING if math.isnan(volume[index]) else ("yes" if volume[index] > statistics.significance_ml
                                                                  else "no")
        note = _patient_note(table, index)
        note_html = f'<span class="failed">{_escape(note)}</span>' if status == "failed" else _escape(note)
        return (_text(table.at[index, "patient_id"]), _text(status), _number(format_number(volume[index])),
                _number(format_number(relative[index])), _text(significant), (note_html, False))

    headers = ("Patient", "Status", "IMR (mL)", "IMR (% of lesion)", "Significant IMR", "Error or reason")
    return _html_table("patients", headers, (row(index) for index in table.index))


def _patient_note(table: pd.DataFrame, index) -> str:
    for column in ("error", "not_assessable_reason"):
        if column in table.columns and isinstance(table.at[index, column], str) and table.at[index, column]:
            return table.at[index, column]
    return ""


def _gallery(table: pd.DataFrame, report_folder: Path, cohort_folder: Path) -> str:
    figures = []
    for index in table.index:
        patient_id = str(table.at[index, "patient_id"])
        folder = cohort_folder / "patients" / patient_id
        href = quote(Path(os.path.relpath(folder, report_folder)).as_posix()) + "/"
        caption = f"{_escape(patient_id)} · {_escape(table.at[index, 'status'])}"
        if str(table.at[index, "status"]) == "failed":
            content = f'<p class="failed">{_escape(_patient_note(table, index) or "failed")}</p>'
        else:
            content = _thumbnail(folder / "overview.png")
        figures.append(f'<figure><a href="{_escape(href)}">{content}</a><figcaption>{caption}</figcaption></figure>')
    return '<div class="gallery">\n' + "\n".join(figures) + "\n</div>"


def _thumbnail(overview: Path) -> str:
    try:
        with Image.open(overview) as image:
            image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except (OSError, UnidentifiedImageError):
        return '<p class="note">no readable overview.png</p>'
    return f'<img alt="overview" src="{_data_uri(buffer.getvalue())}">'


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return f'<img class="figure" alt="figure" src="{_data_uri(buffer.getvalue())}">'


def _new_figure(columns: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(4.8 * columns, 3.4), dpi=FIGURE_DPI, layout="constrained")
    return figure, list(np.atleast_1d(figure.subplots(1, columns)))


def _volume_histogram(table: pd.DataFrame, statistics: CohortStatistics) -> Figure:
    figure, (axes,) = _new_figure()
    volumes = _column(_assessable(table), "imr_volume_ml").dropna()
    if len(volumes):
        axes.hist(volumes, bins=min(30, max(5, len(volumes) // 3)), color="#607d8b", edgecolor="white")
    axes.axvline(statistics.significance_ml, color=IMR_COLOR, linestyle="--",
                 label=f"{format_number(statistics.significance_ml)} mL cut-off")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set(xlabel="IMR volume (mL)", ylabel="Patients", title=f"IMR volume, {len(volumes)} analysed patients")
    axes.legend(frameon=False)
    return figure


def _frequency_chart(statistics: CohortStatistics) -> Figure:
    figure, (axes,) = _new_figure()
    rows = [row for row in _frequency_rows(statistics) if row.total > 0]
    positions = np.arange(len(rows))
    percent = np.array([row.percent for row in rows], dtype=float)
    axes.bar(positions, percent, color=IMR_COLOR, alpha=0.75, yerr=error_bars(rows), capsize=4)
    for position, row in zip(positions, rows):
        axes.annotate(f"{row.n}/{row.total}", (position, row.ci_high_percent), ha="center", va="bottom",
                      xytext=(0, 3), textcoords="offset points", fontsize=8)
    axes.set_xticks(positions, [row.group.replace(" ", "\n") for row in rows])
    axes.set(xlabel="Final mTICI", ylabel="Significant IMR (%)", ylim=(0, 105),
             title="Significant IMR with Wilson 95 % CI")
    return figure


def error_bars(rows: Sequence[Proportion]) -> np.ndarray:
    """Lengths below and above each bar (2 x len(rows)); never negative, which matplotlib refuses."""
    errors = [[row.percent - row.ci_low_percent, row.ci_high_percent - row.percent] for row in rows]
    return np.maximum(np.array(errors, dtype=float).reshape(-1, 2).T, 0.0)


def _nihss_scatter(table: pd.DataFrame, statistics: CohortStatistics) -> Figure:
    """IMR volume against NIHSS; the line has the adjusted slope and passes through the points' means."""
    figure, panels = _new_figure(len(NIHSS_COLUMNS))
    analysed = _assessable(table)
    for axes, (outcome, label) in zip(panels, NIHSS_COLUMNS):
        points = pd.DataFrame({"x": _column(analysed, "imr_volume_ml"), "y": _column(analysed, outcome)}).dropna()
        axes.scatter(points["x"], points["y"], s=14, color="#37474f", alpha=0.7)
        model = next((model for model in statistics.linear
                      if (model.outcome, model.exposure) == (outcome, "imr_volume_ml")), None)
        title = f"{label}: no adjusted fit"
        if len(points) and model is not None and model.estimate is not None:
            x = np.array([points["x"].min(), points["x"].max()])
            axes.plot(x, points["y"].mean() + model.estimate * (x - points["x"].mean()), color=IMR_COLOR,
                      label=f"adjusted β = {format_estimate(model.estimate)} per mL")
            axes.legend(frameon=False, fontsize=8)
            title = label
        axes.axvline(statistics.significance_ml, color="#9e9e9e", linestyle=":", linewidth=1)
        axes.set(xlabel="IMR volume (mL)", ylabel=label, title=title)
    return figure
