"""The cohort report read back with the standard library's HTML parser, as an independent reader."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread, imsave
from test_cohort_statistics import synthetic_cohort

from IMRAnalysisLib.cohort.report import error_bars, write_report
from IMRAnalysisLib.cohort.statistics import cohort_statistics, wilson_proportion

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DATA_PNG = "data:image/png;base64,"
HOSTILE_ERROR = "<script>alert('x')</script> & registration failed"
WITHOUT_OVERVIEW = "P039"
FIGURES = 3
OVERVIEW_SIZE = (400, 640)


class ReportReader(HTMLParser):
    """Images, links (with what they contain), every URL attribute, tables by id and the page text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.links: list[dict] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        self.urls += [value for name, value in attrs if name in ("src", "href") and value is not None]
        if tag == "img":
            self.images.append(attributes)
            if self.links and self.links[-1]["open"]:
                self.links[-1]["images"].append(attributes)
        elif tag == "a":
            self.links.append({"href": attributes.get("href"), "images": [], "text": "", "open": True})
        elif tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "a":
            self.links[-1]["open"] = False
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self.links and self.links[-1]["open"]:
            self.links[-1]["text"] += data


def write_overview(path: Path, seed: int) -> None:
    """A real PNG larger than a thumbnail, so the report has to downscale it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    gradient = np.linspace(0.0, 1.0, OVERVIEW_SIZE[1])[None, :] * np.ones(OVERVIEW_SIZE)
    imsave(path, gradient * np.random.default_rng(seed).uniform(0.5, 1.0), cmap="gray", vmin=0.0, vmax=1.0)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    table = synthetic_cohort(patients=40)
    table.loc[0, "error"] = HOSTILE_ERROR
    table["parameters_asymmetry_threshold_percent"] = 15.0
    for index, patient_id in enumerate(table["patient_id"]):
        if table.at[index, "status"] != "failed" and patient_id != WITHOUT_OVERVIEW:
            write_overview(folder / "patients" / patient_id / "overview.png", index)
    statistics = cohort_statistics(table)
    write_report(folder / "report.html", table, statistics, folder)
    html_text = (folder / "report.html").read_text(encoding="utf-8")
    reader = ReportReader()
    reader.feed(html_text)
    reader.close()
    return folder, table, statistics, html_text, reader


def decode_png(source: str) -> np.ndarray:
    assert source.startswith(DATA_PNG)
    png = base64.b64decode(source.removeprefix(DATA_PNG), validate=True)
    assert png.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(png), format="png")


def table_row(reader: ReportReader, table_id: str, first_cell: str, second_cell: str | None = None) -> list[str]:
    return next(row for row in reader.tables[table_id]
                if row[0] == first_cell and (second_cell is None or row[1] == second_cell))


def assert_shown(text: str, value: float) -> None:
    """The displayed number is the value rounded to the digits shown."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    assert abs(float(text) - value) <= 0.5 * 10.0 ** -decimals + 1e-12


def test_every_image_is_an_embedded_png(cohort):
    *_, reader = cohort
    assert reader.images
    for image in reader.images:
        pixels = decode_png(image["src"])
        assert pixels.ndim == 3 and pixels.shape[0] > 10 and pixels.shape[1] > 10


def test_figures_and_thumbnails_are_counted(cohort):
    _, table, *_, reader = cohort
    figures = [image for image in reader.images if image.get("class") == "figure"]
    thumbnails = [image for image in reader.images if image.get("class") != "figure"]
    with_overview = table[(table["status"] != "failed") & (table["patient_id"] != WITHOUT_OVERVIEW)]
    assert len(figures) == FIGURES
    assert len(thumbnails) == len(with_overview)
    assert {decode_png(image["src"]).shape[:2] for image in thumbnails} == {(225, 360)}


def test_one_link_per_patient_to_its_folder(cohort):
    _, table, *_, reader = cohort
    assert [link["href"] for link in reader.links] == [f"patients/{patient_id}/" for patient_id in table["patient_id"]]
    for link, (_, patient) in zip(reader.links, table.iterrows()):
        if patient["status"] == "failed":
            assert not link["images"] and patient["error"] in link["text"]
        elif patient["patient_id"] == WITHOUT_OVERVIEW:
            assert not link["images"] and "overview.png" in link["text"]
        else:
            assert len(link["images"]) == 1


def test_failed_patient_error_is_escaped_and_shown(cohort):
    *_, html_text, reader = cohort
    assert "script" not in reader.tags
    assert "&lt;script&gt;" in html_text and "<script>" not in html_text
    assert table_row(reader, "patients", "P000")[-1] == HOSTILE_ERROR
    assert sum(HOSTILE_ERROR in text for text in reader.text) == 2  # the patient table and the gallery


def test_no_external_resource(cohort):
    *_, html_text, reader = cohort
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "", html_text)
    assert not re.search(r"https?:|//|url\(|@import", without_images)
    assert not {"link", "script", "iframe", "object", "embed"} & set(reader.tags)
    for url in reader.urls:
        assert url.startswith(DATA_PNG) or re.fullmatch(r"patients/P\d{3}/", url)


def test_counts_and_parameters_in_header(cohort):
    _, table, statistics, _, reader = cohort
    counts = dict(reader.tables["counts"][1:])
    assert counts == {"Patients": "40", "Analysed (assessable)": str(statistics.analysed),
                      "Not assessable (excluded)": "13", "Failed (excluded)": "9"}
    parameters = dict(reader.tables["parameters"][1:])
    assert parameters["asymmetry_threshold_percent"] == "15.0"
    assert parameters["Adjusted for"] == "nihss_baseline, mtici"


def test_frequency_and_volume_figures_equal_the_statistics(cohort):
    _, _, statistics, _, reader = cohort
    for proportion in (statistics.imr_frequency, *statistics.imr_frequency_by_mtici):
        group = "all patients" if proportion.group == "all" else proportion.group
        _, fraction, percent, interval = table_row(reader, "frequency", group)
        assert fraction == f"{proportion.n}/{proportion.total}"
        assert_shown(percent, proportion.percent)
        low, high = interval.split(" – ")
        assert_shown(low, proportion.ci_low_percent)
        assert_shown(high, proportion.ci_high_percent)
    _, median, interquartile, patients = table_row(reader, "volume", "IMR volume (mL)")
    assert_shown(median, statistics.imr_volume_ml.median)
    assert_shown(interquartile.split(" – ")[1], statistics.imr_volume_ml.q75)
    assert patients == str(statistics.analysed)


@pytest.mark.parametrize("kind", ["linear", "logistic", "ordinal"])
def test_model_figures_equal_the_statistics(cohort, kind):
    *_, statistics, _, reader = cohort
    rows = reader.tables[f"{kind}-models"][1:]
    models = getattr(statistics, kind)
    assert len(rows) == len(models)
    for row, model in zip(rows, models):
        _, _, estimate, interval, p_value, cases, note = row
        assert cases == str(model.n)
        if model.note:
            assert (estimate, note) == ("–", model.note)
            continue
        assert_shown(estimate, model.estimate)
        low, high = interval.split(" – ")
        assert_shown(low, model.ci_low)
        assert_shown(high, model.ci_high)
        if model.p_value < 0.001:
            assert p_value == "< 0.001"
        else:
            assert_shown(p_value, model.p_value)


def test_report_of_a_cohort_without_analysable_patient(tmp_path):
    table = synthetic_cohort(patients=25).assign(status="failed", error="no rCBV map")
    path = tmp_path / "report.html"
    path.write_text("previous report", encoding="utf-8")
    write_report(path, table, cohort_statistics(table), tmp_path)
    reader = ReportReader()
    reader.feed(path.read_text(encoding="utf-8"))
    assert len([image for image in reader.images if image.get("class") == "figure"]) == FIGURES
    assert all("no patient" in row[-1] for row in reader.tables["linear-models"][1:])
    assert [entry.name for entry in tmp_path.iterdir()] == ["report.html"]


@pytest.mark.parametrize("total", range(1, 201))
def test_error_bars_at_none_and_all_significant_are_never_negative(total):
    """Rounding put the Wilson bound outside the proportion at 0/n and n/n; matplotlib refused the bar."""
    rows = [wilson_proportion("none", 0, total), wilson_proportion("all", total, total)]
    assert (rows[0].percent, rows[0].ci_low_percent) == (0.0, 0.0)
    assert (rows[1].percent, rows[1].ci_high_percent) == (100.0, 100.0)
    for row in rows:
        assert 0.0 <= row.ci_low_percent <= row.percent <= row.ci_high_percent <= 100.0
    bars = error_bars(rows)
    assert bars.shape == (2, 2) and (bars >= 0.0).all()


@pytest.mark.parametrize("volume_ml", [1.0, 9.0], ids=["0 of 3", "3 of 3"])
def test_report_of_a_cohort_where_no_or_every_patient_has_significant_imr(tmp_path, volume_ml):
    table = synthetic_cohort(patients=3).assign(status="assessable", error="", imr_volume_ml=volume_ml,
                                                imr_relative_percent=10.0, mtici="2B")
    write_report(tmp_path / "report.html", table, cohort_statistics(table), tmp_path)
    reader = ReportReader()
    reader.feed((tmp_path / "report.html").read_text(encoding="utf-8"))
    share = "0/3" if volume_ml < 5.0 else "3/3"
    assert table_row(reader, "frequency", "all patients")[1:3] == [share, "0.0" if share == "0/3" else "100.0"]
    assert len([image for image in reader.images if image.get("class") == "figure"]) == FIGURES
