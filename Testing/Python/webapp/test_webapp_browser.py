"""The web workstation in real headless Chromium: demo page, mask corrections, recompute, export.

One ``imr-analysis app --demo`` server and one browser page serve the whole module;
the tests run in file order, each starting from the state the previous one left (as a
user would). Waits are on the page's state (``window.trame.state``) and frames, bounded,
never fixed sleeps.
Screenshots go to ``$IMR_TEST_ARTIFACTS`` (default: a pytest temporary folder).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import SimpleITK as sitk

IN_CI = bool(os.environ.get("CI"))  # CI installs everything: there a missing part fails, never skips
if not IN_CI:
    pytest.importorskip("trame_slicer")
    pytest.importorskip("playwright.sync_api")

import playwright.sync_api as playwright_api  # noqa: E402

from IMRAnalysisLib.cli import main as cli_main  # noqa: E402
from IMRAnalysisLib.conventions import verdict  # noqa: E402
from IMRAnalysisLib.phantom.dsc import DscPhantomConfig, make_dsc_phantom, patient_dsc, write_series  # noqa: E402
from IMRAnalysisLib.webapp.process import CHROMIUM, CHROMIUM_ARGS, PAGE_READY_JS, running_app  # noqa: E402
from IMRAnalysisLib.webapp.uploads import UPLOAD_ROLES  # noqa: E402

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not IN_CI, reason=f"{CHROMIUM} is not installed (run .ci/run)"
)

READY_TIMEOUT_MS = 120_000
DSC_OPEN_TIMEOUT_MS = 300_000  # upload, perfusion maps of two series, then the analysis
STEP_TIMEOUT_MS = 60_000
AXIAL_VIEW = 3  # Quad View, in page order: coronal, sagittal, 3D, axial
PAINT_STROKE_PX = 12  # a short stroke around the view's centre
RECEIVED_JS = (  # the server holds exactly the expected uploads: {role: [file name, size]}
    "(expected) => { const held = window.trame.state.get('imr_uploads_received') || {};"
    " const sorted = (files) => JSON.stringify(Object.keys(files).sort().map((role) => [role, files[role]]));"
    " return sorted(held) === sorted(expected); }"
)


@pytest.fixture(scope="module")
def cli_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The command line's demo: the same phantom patient, measured by ``imr-analysis run``."""
    out = tmp_path_factory.mktemp("cli") / "demo"
    assert cli_main(["demo", "--out", str(out), "--quiet"]) == 0
    return out / "results"


def _cli_metrics(out: Path, files: dict[str, Path], *options: str) -> dict:
    """``imr-analysis run`` on a patient's files (``post_dsc`` -> ``--post-dsc``); its metrics.json."""
    inputs = [f"--{role.replace('_', '-')}={path}" for role, path in files.items()]
    assert cli_main(["run", "--quiet", "--out", str(out), *inputs, *options]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def dsc_patient(default_phantom, cli_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo patient with its post-EVT and day-5 maps as DSC series (as test_dsc_pipeline makes them)."""
    folder = tmp_path_factory.mktemp("dsc-patient")
    series = patient_dsc(default_phantom, DscPhantomConfig(noise_sd=0.5), ("post", "day5"))
    files = {f"{name}_dsc": write_series(image, folder / f"{name}_dsc.nrrd") for name, image in series.items()}
    return {**files, "lesion": cli_demo.parent / "phantom" / "lesion.nii.gz"}


@pytest.fixture(scope="module")
def tmax_patient(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A patient folder: the DSC phantom at both timepoints (another noise draw at day 5: one study given
    twice is refused), its lesion the region whose bolus is 3 s late."""
    folder = tmp_path_factory.mktemp("tmax") / "patient"
    folder.mkdir()
    phantom = make_dsc_phantom()
    phantom.write(folder / "post_dsc.nrrd")
    make_dsc_phantom(DscPhantomConfig(seed=phantom.config.seed + 1)).write(folder / "day5_dsc.nrrd")
    delayed = sitk.Cast(phantom.series.volume_image(phantom.delayed.astype(np.float32)), sitk.sitkUInt8)
    sitk.WriteImage(delayed, str(folder / "lesion.nrrd"))
    return {role: folder / f"{role}.nrrd" for role in ("post_dsc", "day5_dsc", "lesion")}


@pytest.fixture(scope="module")
def cli_tmax(tmax_patient: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _cli_metrics(tmp_path_factory.mktemp("cli-tmax") / "out", tmax_patient, "--map", "tmax")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("IMR_TEST_ARTIFACTS") or tmp_path_factory.mktemp("webapp-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def _workstation_page(browser, arguments: list[str], log: Path) -> Iterator:
    """``imr-analysis app ARGUMENTS`` and a page on it, once the patient is shown; page errors collected."""
    with running_app(arguments, log=log) as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.errors = []
            page.address = url  # with the access token, which only the server's output tells
            page.on("pageerror", lambda error: page.errors.append(str(error)))
            page.goto(url, timeout=READY_TIMEOUT_MS)  # the server answers once its first analysis is done
            page.wait_for_function(PAGE_READY_JS, timeout=READY_TIMEOUT_MS)
            yield page
        finally:
            page.close()


@pytest.fixture(scope="module")
def page(browser, artifacts: Path):
    with _workstation_page(browser, ["--demo"], artifacts / "webapp-server.log") as page:
        yield page


def _state(page, name: str):
    return page.evaluate(f"() => window.trame.state.get('{name}')")


def _shown(page, key: str) -> float:
    return float(page.locator(f"#imr-{key}").inner_text().split()[0])


def _views(page):
    return page.locator(".image-display-area")


def _wait_views_rendered(page) -> None:
    """Every view shows a picture with contrast (the splash and a blank view have none)."""
    page.wait_for_function(PAGE_READY_JS, timeout=STEP_TIMEOUT_MS)
    for index in range(4):
        pixels = _png_pixels(_views(page).nth(index).screenshot())
        assert pixels.std() > 0.05, f"view {index} shows no image"


def _png_pixels(png: bytes) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]


def _recompute(page) -> None:
    """Click Recompute and wait until the server has sent the new results."""
    runs = _state(page, "imr_run_count")
    page.click("#imr-recompute")
    page.wait_for_function(f"() => window.trame.state.get('imr_run_count') > {runs}", timeout=STEP_TIMEOUT_MS)


def _wait_new_frame(page, index: int, frame: str) -> None:
    """Until the view shows another frame than ``frame`` (its image source before an action)."""
    page.wait_for_function(f"(frame) => document.querySelectorAll('.image-display-area')[{index}].src !== frame",
                           arg=frame, timeout=STEP_TIMEOUT_MS)


def _select(page, segment: str, tool: str) -> int:
    """Select a segment and a tool; returns the undo index to wait past."""
    page.click(f"#imr-segment-{segment}")
    page.click(f"#imr-tool-{tool}")
    page.wait_for_function(f"() => window.trame.state.get('imr_effect') === '{tool}'"
                           f" && window.trame.state.get('imr_segment') === '{segment.title()}'")
    return _state(page, "imr_undo_index")


def _wait_edit(page, undo_index: int) -> None:
    page.wait_for_function(f"() => window.trame.state.get('imr_undo_index') !== {undo_index}", timeout=STEP_TIMEOUT_MS)


def _stroke(page, tool: str, segment: str, offset: float = 0.0) -> None:
    """A short mouse stroke with ``tool`` on ``segment`` in the axial view, centred on the IMR.

    ``offset`` moves the stroke left by that fraction of the view's width.
    """
    centred = _state(page, "imr_centre_count")
    page.click("#imr-centre")
    page.wait_for_function(f"() => window.trame.state.get('imr_centre_count') > {centred}")
    undo_index = _select(page, segment, tool)
    box = _views(page).nth(AXIAL_VIEW).bounding_box()
    x, y = box["x"] + box["width"] * (0.5 - offset), box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for dx, dy in ((PAINT_STROKE_PX, 0), (PAINT_STROKE_PX, PAINT_STROKE_PX), (0, PAINT_STROKE_PX), (0, 0)):
        # The page merges mouse moves queued while the server is busy into the last one; waiting
        # for the frame that shows each corner keeps the corners (scissors need a polygon).
        frame = _views(page).nth(AXIAL_VIEW).get_attribute("src")
        page.mouse.move(x + dx, y + dy, steps=4)
        _wait_new_frame(page, AXIAL_VIEW, frame)
    page.mouse.up()
    _wait_edit(page, undo_index)
    page.click("#imr-tool-none")


def test_a_second_browser_is_told_the_workstation_is_in_use(page, browser) -> None:
    second = browser.new_page()
    try:
        response = second.goto(page.address)
        assert response.status == 409
        assert "open in another browser tab or window" in second.locator("#imr-in-use").inner_text()
        assert second.goto(page.address.split("?")[0]).status == 403  # and without the token, nothing
    finally:
        second.close()
    assert page.errors == []


def test_demo_page_shows_four_rendered_views_and_the_command_lines_imr(page, cli_demo: Path, artifacts: Path) -> None:
    _wait_views_rendered(page)
    metrics = json.loads((cli_demo / "metrics.json").read_text())
    assert page.locator("#imr-imr_volume_ml").inner_text() == f"{metrics['imr_volume_ml']:.2f} mL"
    assert page.locator("#imr-lesion_volume_ml").inner_text() == f"{metrics['lesion_volume_ml']:.2f} mL"
    assert page.locator("#imr-badge").inner_text().strip() == verdict(metrics).sentence  # the overview's line
    assert page.errors == []
    page.screenshot(path=str(artifacts / "webapp-demo-before.png"))


def test_exclusion_paint_lowers_imr_and_undo_restores_it(page, artifacts: Path) -> None:
    original, undo_index = _shown(page, "imr_volume_ml"), _state(page, "imr_undo_index")
    _stroke(page, "paint", "exclusion")
    _recompute(page)
    painted = _shown(page, "imr_volume_ml")
    assert painted < original
    assert _shown(page, "exclusion_volume_ml") > 0
    page.screenshot(path=str(artifacts / "webapp-demo-after-exclusion.png"))
    page.click("#imr-undo")
    page.wait_for_function(f"() => window.trame.state.get('imr_undo_index') === {undo_index}",
                           timeout=STEP_TIMEOUT_MS)
    _recompute(page)
    assert _shown(page, "imr_volume_ml") == original
    page.click("#imr-redo")
    page.wait_for_function(f"() => window.trame.state.get('imr_undo_index') === {undo_index + 1}",
                           timeout=STEP_TIMEOUT_MS)
    _recompute(page)
    assert _shown(page, "imr_volume_ml") == painted
    page.click("#imr-undo")
    page.wait_for_function(f"() => window.trame.state.get('imr_undo_index') === {undo_index}",
                           timeout=STEP_TIMEOUT_MS)
    _recompute(page)
    assert page.errors == []


def test_erasing_lesion_lowers_lesion_and_imr(page, artifacts: Path) -> None:
    lesion, imr = _shown(page, "lesion_volume_ml"), _shown(page, "imr_volume_ml")
    _stroke(page, "erase", "lesion")
    _recompute(page)
    assert _shown(page, "lesion_volume_ml") < lesion
    assert _shown(page, "imr_volume_ml") < imr
    page.screenshot(path=str(artifacts / "webapp-demo-after-erase.png"))
    assert page.errors == []


def test_export_zip_holds_the_result_folder_with_the_edited_segments(page, cli_demo: Path, tmp_path: Path) -> None:
    import slicerio

    page.click("#imr-export")
    link = page.locator("#imr-download")
    link.wait_for(timeout=STEP_TIMEOUT_MS)
    with page.expect_download(timeout=STEP_TIMEOUT_MS) as download:
        link.click()
    archive = tmp_path / "export.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        zipped.extractall(tmp_path / "export")
    assert {path.name for path in cli_demo.iterdir()} <= names
    exported = json.loads((tmp_path / "export" / "metrics.json").read_text())
    assert f"{exported['lesion_volume_ml']:.2f} mL" == page.locator("#imr-lesion_volume_ml").inner_text()
    assert exported["inputs"] == {role: f"{role}.nii.gz" for role in ("post", "day5", "lesion", "arrival")}

    def lesion_voxels(folder: Path) -> int:
        segmentation = slicerio.read_segmentation(str(folder / "Segmentation.seg.nrrd"))
        assert {segment["name"] for segment in segmentation["segments"]} >= {"Lesion", "IMR", "Exclusion"}
        extracted = slicerio.extract_segments(segmentation, [("Lesion", 1)])
        return int(np.count_nonzero(extracted["voxels"] == 1))

    assert 0 < lesion_voxels(tmp_path / "export") < lesion_voxels(cli_demo)
    assert page.errors == []


def test_islands_keep_largest_removes_a_stray_lesion_stroke(page) -> None:
    lesion = _shown(page, "lesion_volume_ml")
    _stroke(page, "paint", "lesion", offset=0.3)  # in the other hemisphere: a second island
    _recompute(page)
    assert _shown(page, "lesion_volume_ml") > lesion
    undo_index = _select(page, "lesion", "islands")
    page.click("#imr-islands-keep-largest")
    _wait_edit(page, undo_index)
    page.click("#imr-tool-none")
    _recompute(page)
    assert _shown(page, "lesion_volume_ml") == lesion
    assert page.errors == []


def test_scissors_cut_the_lesion(page) -> None:
    lesion = _shown(page, "lesion_volume_ml")
    _stroke(page, "scissors", "lesion")
    _recompute(page)
    assert _shown(page, "lesion_volume_ml") < lesion
    assert page.errors == []


def test_threshold_sets_the_exclusion_from_the_map_and_undo_removes_it(page) -> None:
    imr = _shown(page, "imr_volume_ml")
    undo_index = _select(page, "exclusion", "threshold")
    page.fill("#imr-threshold-low", "0")
    page.fill("#imr-threshold-high", "0.5")
    page.wait_for_function("() => Number(window.trame.state.get('imr_threshold_high')) === 0.5")
    page.click("#imr-threshold-apply")
    _wait_edit(page, undo_index)
    page.click("#imr-tool-none")
    _recompute(page)
    assert _shown(page, "exclusion_volume_ml") > 0
    assert _shown(page, "imr_volume_ml") <= imr
    page.click("#imr-undo")
    page.wait_for_function(f"() => window.trame.state.get('imr_undo_index') === {undo_index}",
                           timeout=STEP_TIMEOUT_MS)
    _recompute(page)
    assert _shown(page, "exclusion_volume_ml") == 0
    assert _shown(page, "imr_volume_ml") == imr
    assert page.errors == []


def test_a_moved_midline_changes_imr_and_reset_restores_it(page) -> None:
    """A plane 2 mm off makes normal tissue asymmetric: IMR changes (to not assessable, by the default checks)."""
    def shown() -> str:
        return page.locator("#imr-imr_volume_ml").inner_text()

    imr = shown()
    for button in ("right", "right", "clockwise"):
        page.click(f"#imr-midline-{button}")
    page.wait_for_function("() => JSON.stringify(window.trame.state.get('imr_midline_moved')) === '[2,-1]'")
    _recompute(page)
    assert shown() != imr
    page.click("#imr-midline-reset")
    page.wait_for_function("() => window.trame.state.get('imr_midline_moved')[0] === 0")
    _recompute(page)
    assert shown() == imr
    assert page.errors == []


def test_midline_nudges_beyond_a_step_or_out_of_the_brain_are_refused(page) -> None:
    """Any client may call the nudge (its trigger is public): 1e6 mm, nan or 20 mm steps out of the head."""
    for shift, refusal in (("1e6", "moves at most 20 mm"), ("NaN", "not a finite number"),
                           ("'left'", "not a number")):
        page.evaluate(f"() => window.trame.trigger('imr_move_midline', [{shift}, 0])")
        _wait_status(page, refusal)
    for _ in range(10):  # 20 mm at a time until the plane would leave the brain
        page.evaluate("() => window.trame.trigger('imr_move_midline', [20, 0])")
        page.wait_for_timeout(200)
        if "out of the brain" in page.locator("#imr-status").inner_text():
            break
    assert "out of the brain: less than 25% of the brain on one side" in page.locator("#imr-status").inner_text()
    assert 0 < _state(page, "imr_midline_moved")[0] <= 100
    page.click("#imr-midline-reset")
    page.wait_for_function("() => window.trame.state.get('imr_midline_moved')[0] === 0")
    assert page.errors == []


def _wait_status(page, text: str) -> None:
    page.wait_for_function("(text) => window.trame.state.get('imr_status').includes(text)", arg=text,
                           timeout=STEP_TIMEOUT_MS)
    assert text in page.locator("#imr-status").inner_text()


def test_parameters_edited_in_the_page_are_used_and_checked(page) -> None:
    imr = _shown(page, "imr_volume_ml")
    page.click("#imr-parameters-panel button")
    page.fill("#imr-param-threshold", "30")
    page.wait_for_function("() => Number(window.trame.state.get('imr_param_threshold')) === 30")
    _recompute(page)
    assert _shown(page, "imr_volume_ml") < imr
    assert "threshold 30 %" in page.locator("#imr-parameters").inner_text()
    page.fill("#imr-param-threshold", "150")
    page.wait_for_function("() => Number(window.trame.state.get('imr_param_threshold')) === 150")
    page.click("#imr-recompute")
    page.wait_for_function("() => window.trame.state.get('imr_status').startsWith('error: threshold')",
                           timeout=STEP_TIMEOUT_MS)
    assert "threshold 30 %" in page.locator("#imr-parameters").inner_text()
    page.fill("#imr-param-threshold", "15")
    page.wait_for_function("() => Number(window.trame.state.get('imr_param_threshold')) === 15")
    _recompute(page)
    page.evaluate("() => window.trame.state.set('imr_param_smoothing_mm', 'nan')")  # as a script could
    page.click("#imr-recompute")
    _wait_status(page, "error: Smoothing sigma (mm, or auto): not a finite number ('nan')")
    assert "smoothing 0 mm" in page.locator("#imr-parameters").inner_text()
    page.fill("#imr-param-smoothing_mm", "auto")  # the default again, for the patients opened after
    page.wait_for_function("() => window.trame.state.get('imr_param_smoothing_mm') === 'auto'")
    _recompute(page)
    assert page.errors == []


def test_uploaded_files_open_as_a_patient_with_the_command_lines_imr(page, cli_demo: Path, tmp_path: Path) -> None:
    """... and the exported metrics name each input by its upload's name, never the server's folder."""
    phantom = cli_demo.parent / "phantom"
    files = {role: tmp_path / f"patient 7 {role}.nii.gz" for role in ("post", "day5", "lesion", "arrival")}
    for role, path in files.items():
        shutil.copy(phantom / f"{role}.nii.gz", path)
    _upload_files(page, files)
    runs = _state(page, "imr_run_count")
    page.click("#imr-upload-open")
    page.wait_for_function(f"() => window.trame.state.get('imr_run_count') > {runs}", timeout=READY_TIMEOUT_MS)
    metrics = json.loads((cli_demo / "metrics.json").read_text())
    assert page.locator("#imr-imr_volume_ml").inner_text() == f"{metrics['imr_volume_ml']:.2f} mL"
    _wait_views_rendered(page)
    exported = _exported_metrics(page, tmp_path)
    assert exported["inputs"] == {role: path.name for role, path in files.items()}
    assert page.errors == []


def _exported_metrics(page, folder: Path) -> dict:
    """Export, download the zip; its metrics.json."""
    url = _state(page, "imr_export_url")
    page.click("#imr-export")
    page.wait_for_function("(url) => window.trame.state.get('imr_export_url') !== url", arg=url,
                           timeout=STEP_TIMEOUT_MS)
    with page.expect_download(timeout=STEP_TIMEOUT_MS) as download:
        page.click("#imr-download")
    download.value.save_as(folder / "export.zip")
    with zipfile.ZipFile(folder / "export.zip") as zipped:
        return json.loads(zipped.read("metrics.json"))


def test_guided_mode_shows_each_step_of_the_method_in_the_views(page, artifacts: Path) -> None:
    from IMRAnalysisLib.parameters import AnalysisParameters
    from IMRAnalysisLib.webapp.teaching import step_texts

    page.click("#imr-guided-start")
    pictures = []
    steps = step_texts(AnalysisParameters())  # the demo's rCBV, with the published threshold
    for index, step in enumerate(steps):
        page.wait_for_function(f"() => window.trame.state.get('imr_step') === {index}")
        assert page.locator("#imr-step-title").inner_text().endswith(step["title"])
        assert page.locator("#imr-step-sentence").inner_text() == step["sentence"]
        pictures.append(_settled_view(page, AXIAL_VIEW))
        name = step["title"].lower().replace(" ", "-")
        page.screenshot(path=str(artifacts / f"webapp-guided-{index + 1}-{name}.png"))
        if index < len(steps) - 1:
            frame = _views(page).nth(AXIAL_VIEW).get_attribute("src")
            page.click("#imr-step-next")
            _wait_new_frame(page, AXIAL_VIEW, frame)
    different = [not np.array_equal(a, b) for a, b in zip(pictures, pictures[1:])]
    assert all(different), f"steps without a change in the axial view: {different}"
    page.click("#imr-guided-stop")
    page.wait_for_function("() => window.trame.state.get('imr_step') === -1")
    assert page.errors == []


def _settled_view(page, index: int) -> np.ndarray:
    """The view's picture once two consecutive captures agree (interactive frames are followed by a still one)."""
    previous = None
    for _ in range(50):
        picture = _png_pixels(_views(page).nth(index).screenshot())
        if previous is not None and np.array_equal(picture, previous):
            return picture
        previous = picture
        page.wait_for_timeout(100)
    return previous


def _expand(page, panel: str) -> None:
    """Open an expansion panel (a click on an open one would close it)."""
    if "v-expansion-panel--active" not in page.locator(f"#{panel}").get_attribute("class"):
        page.click(f"#{panel} button")


def _upload_files(page, files: dict[str, Path]) -> None:
    """Put ``files`` (upload role -> path) in the upload panel, empty the others; wait until the server has them."""
    _expand(page, "imr-upload-panel")
    for role in UPLOAD_ROLES:
        page.set_input_files(f"#imr-upload-{role}", str(files[role]) if role in files else [])
    _wait_received(page, files)


def _wait_received(page, files: dict[str, Path]) -> None:
    expected = {role: [path.name, path.stat().st_size] for role, path in files.items()}
    page.wait_for_function(RECEIVED_JS, arg=expected, timeout=STEP_TIMEOUT_MS)


def _choose_map(page, label: str) -> None:
    page.locator(".v-field", has=page.locator("#imr-perfusion-map")).click()  # the field opens the menu
    page.get_by_role("option", name=label).click()
    page.wait_for_function(f"() => window.trame.state.get('imr_perfusion_map') === '{label.lower()}'")


def _open_uploaded(page) -> None:
    """Open the uploaded patient; fails on a new error status rather than waiting for the timeout."""
    runs, status = _state(page, "imr_run_count"), _state(page, "imr_status")
    page.click("#imr-upload-open")
    page.wait_for_function(
        "([runs, status]) => { const now = window.trame.state.get('imr_status');"
        " return window.trame.state.get('imr_run_count') > runs || (now.startsWith('error') && now !== status); }",
        arg=[runs, status], timeout=DSC_OPEN_TIMEOUT_MS)
    assert _state(page, "imr_run_count") > runs, _state(page, "imr_status")


def _assert_shows(page, metrics: dict) -> None:
    for key in ("imr_volume_ml", "lesion_volume_ml"):
        assert page.locator(f"#imr-{key}").inner_text() == f"{metrics[key]:.2f} mL"


def test_dsc_series_uploaded_as_timepoints_give_the_command_lines_imr(page, dsc_patient, tmp_path, artifacts) -> None:
    phantom = dsc_patient["lesion"].parent
    _upload_files(page, {"post": phantom / "post.nii.gz", **dsc_patient})
    page.click("#imr-upload-open")
    page.wait_for_function("() => window.trame.state.get('imr_status').startsWith('error: both')",
                           timeout=STEP_TIMEOUT_MS)
    assert "post-EVT map and a post-EVT DSC series" in page.locator("#imr-status").inner_text()
    page.set_input_files("#imr-upload-post", [])
    _wait_received(page, dsc_patient)
    _choose_map(page, "rCBV")
    _open_uploaded(page)
    _assert_shows(page, _cli_metrics(tmp_path / "cli", dsc_patient))
    assert page.locator("#imr-parameters").inner_text().startswith("Parameters: rCBV, threshold 15 %")
    _wait_views_rendered(page)
    page.screenshot(path=str(artifacts / "webapp-dsc-patient.png"))
    assert page.errors == []


def test_tmax_chosen_on_the_page_is_measured_in_seconds(page, tmax_patient, cli_tmax, artifacts) -> None:
    _upload_files(page, tmax_patient)
    _choose_map(page, "Tmax")
    _open_uploaded(page)
    _assert_shows(page, cli_tmax)
    assert cli_tmax["imr_relative_percent"] > 80.0  # the delayed region is the IMR
    shown = page.locator("#imr-parameters").inner_text()
    assert shown.startswith("Parameters: Tmax, threshold 2 s, increase") and "%" not in shown
    _expand(page, "imr-parameters-panel")
    assert page.get_by_label("Asymmetry threshold (s)").input_value() == "2"
    _select(page, "exclusion", "threshold")
    assert page.get_by_label("Tmax from").is_visible()
    page.click("#imr-tool-none")
    _wait_views_rendered(page)
    page.screenshot(path=str(artifacts / "webapp-tmax.png"))
    assert page.errors == []


def test_app_opens_a_patient_folder_of_dsc_series_with_the_map_given(browser, tmax_patient, cli_tmax,
                                                                      artifacts) -> None:
    arguments = ["--patient", str(tmax_patient["lesion"].parent), "--map", "tmax"]
    with _workstation_page(browser, arguments, artifacts / "webapp-tmax-server.log") as page:
        _assert_shows(page, cli_tmax)
        assert page.locator("#imr-parameters").inner_text().startswith("Parameters: Tmax, threshold 2 s")
        _expand(page, "imr-upload-panel")
        assert "Tmax" in page.locator("#imr-upload-panel").inner_text()  # the map chosen for the next patient
        _wait_views_rendered(page)
        assert page.errors == []


def test_uploads_above_the_limit_are_refused_with_a_message(browser, artifacts: Path, tmp_path: Path) -> None:
    """The page refuses a file before sending it; the server drops one sent past the page; the others stay."""
    limit_bytes = 10_000
    big, small = tmp_path / "big post.nii.gz", tmp_path / "lesion.nrrd"
    big.write_bytes(bytes(2 * limit_bytes))
    small.write_bytes(bytes(limit_bytes // 2 + 1))
    arguments = ["--max-upload-mb", str(limit_bytes / 1e6)]
    with running_app(arguments, log=artifacts / "webapp-limit-server.log") as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(url, timeout=READY_TIMEOUT_MS)
            page.wait_for_function("() => window.trame?.state?.get('imr_status')?.startsWith('no patient')",
                                   timeout=READY_TIMEOUT_MS)
            _expand(page, "imr-upload-panel")
            page.set_input_files("#imr-upload-post", str(big))
            message = page.locator("#imr-upload-message")
            message.wait_for(timeout=STEP_TIMEOUT_MS)
            limit = "the uploads may total at most 0.01 MB (imr-analysis app --max-upload-mb)"
            assert message.inner_text() == f"big post.nii.gz: {limit}"
            page.set_input_files("#imr-upload-lesion", str(small))
            _wait_received(page, {"lesion": small})
            assert not message.is_visible()
            page.evaluate("(size) => window.trame.state.set('imr_upload_day5', "
                          "{name: 'day 5.nii', size, type: '', content: new Uint8Array(size)})", small.stat().st_size)
            page.wait_for_function("() => window.trame.state.get('imr_upload_message').startsWith('day 5.nii')",
                                   timeout=STEP_TIMEOUT_MS)
            assert message.inner_text() == f"day 5.nii: {limit}"
            _wait_received(page, {"lesion": small})
            assert page.evaluate("() => window.trame.state.get('imr_upload_day5')") is None
        finally:
            page.close()
