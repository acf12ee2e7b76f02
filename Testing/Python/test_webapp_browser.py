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
import zipfile
from pathlib import Path

import numpy as np
import pytest

IN_CI = bool(os.environ.get("CI"))  # CI installs everything: there a missing part fails, never skips
if not IN_CI:
    pytest.importorskip("trame_slicer")
    pytest.importorskip("playwright.sync_api")

import playwright.sync_api as playwright_api  # noqa: E402

from IMRAnalysisLib.cli import main as cli_main  # noqa: E402
from IMRAnalysisLib.webapp.process import CHROMIUM, CHROMIUM_ARGS, PAGE_READY_JS, running_app  # noqa: E402

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not IN_CI, reason=f"{CHROMIUM} is not installed (run .ci/run)"
)

READY_TIMEOUT_MS = 120_000
STEP_TIMEOUT_MS = 60_000
AXIAL_VIEW = 3  # Quad View, in page order: coronal, sagittal, 3D, axial
PAINT_STROKE_PX = 12  # a short stroke around the view's centre


@pytest.fixture(scope="module")
def cli_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The command line's demo: the same phantom patient, measured by ``imr-analysis run``."""
    out = tmp_path_factory.mktemp("cli") / "demo"
    assert cli_main(["demo", "--out", str(out), "--quiet"]) == 0
    return out / "results"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("IMR_TEST_ARTIFACTS") or tmp_path_factory.mktemp("webapp-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(artifacts: Path):
    server = running_app(["--demo"], log=artifacts / "webapp-server.log")
    with server as (url, _), playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.errors = []
            page.on("pageerror", lambda error: page.errors.append(str(error)))
            page.goto(url)
            page.wait_for_function(PAGE_READY_JS, timeout=READY_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


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
        page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()
    _wait_edit(page, undo_index)
    page.click("#imr-tool-none")


def test_demo_page_shows_four_rendered_views_and_the_command_lines_imr(page, cli_demo: Path, artifacts: Path) -> None:
    _wait_views_rendered(page)
    metrics = json.loads((cli_demo / "metrics.json").read_text())
    assert page.locator("#imr-imr_volume_ml").inner_text() == f"{metrics['imr_volume_ml']:.2f} mL"
    assert page.locator("#imr-lesion_volume_ml").inner_text() == f"{metrics['lesion_volume_ml']:.2f} mL"
    assert "significant IMR" in page.locator("#imr-badge").inner_text()
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
    imr = _shown(page, "imr_volume_ml")
    for button in ("right", "right", "clockwise"):
        page.click(f"#imr-midline-{button}")
    page.wait_for_function("() => JSON.stringify(window.trame.state.get('imr_midline_moved')) === '[2,-1]'")
    _recompute(page)
    assert _shown(page, "imr_volume_ml") != imr
    page.click("#imr-midline-reset")
    page.wait_for_function("() => window.trame.state.get('imr_midline_moved')[0] === 0")
    _recompute(page)
    assert _shown(page, "imr_volume_ml") == imr
    assert page.errors == []


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
    assert page.errors == []


def test_uploaded_files_open_as_a_patient_with_the_command_lines_imr(page, cli_demo: Path) -> None:
    phantom = cli_demo.parent / "phantom"
    page.click("#imr-upload-panel button")
    for role in ("post", "day5", "lesion", "arrival"):
        page.set_input_files(f"#imr-upload-{role}", str(phantom / f"{role}.nii.gz"))
        page.wait_for_function(f"() => window.trame.state.get('imr_upload_{role}')")
    runs = _state(page, "imr_run_count")
    page.click("#imr-upload-open")
    page.wait_for_function(f"() => window.trame.state.get('imr_run_count') > {runs}", timeout=READY_TIMEOUT_MS)
    metrics = json.loads((cli_demo / "metrics.json").read_text())
    assert page.locator("#imr-imr_volume_ml").inner_text() == f"{metrics['imr_volume_ml']:.2f} mL"
    _wait_views_rendered(page)
    assert page.errors == []


def test_guided_mode_shows_each_step_of_the_method_in_the_views(page, artifacts: Path) -> None:
    from IMRAnalysisLib.webapp.teaching import STEPS

    page.click("#imr-guided-start")
    pictures = []
    for index, step in enumerate(STEPS):
        page.wait_for_function(f"() => window.trame.state.get('imr_step') === {index}")
        assert page.locator("#imr-step-title").inner_text().endswith(step.title)
        assert page.locator("#imr-step-sentence").inner_text() == step.sentence
        pictures.append(_settled_view(page, AXIAL_VIEW))
        page.screenshot(path=str(artifacts / f"webapp-guided-{index + 1}-{step.title.lower().replace(' ', '-')}.png"))
        if index < len(STEPS) - 1:
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
