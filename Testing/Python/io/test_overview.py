"""The overview PNG: right side, right shape, whatever the storage order of the maps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from scipy import ndimage

from IMRAnalysisLib.analysis.plane import Plane
from IMRAnalysisLib.conventions import SEGMENT_COLORS
from IMRAnalysisLib.io.overview import MAX_SLICES, MIN_SLICES, Box, overview_picture, save_overview, slice_positions
from IMRAnalysisLib.parameters import AnalysisParameters

HEAD_SEMI_AXES_MM = np.array([68.0, 88.0, 62.0])  # left-right, anterior-posterior, superior-inferior
SUMMARY = "IMR 7.9 mL (21 % of lesion), significant"


def rotation(axis: list[float], degrees: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = np.radians(degrees)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def scanner_grid(direction: np.ndarray, spacing: tuple[float, float, float], size: tuple[int, int, int]) -> sitk.Image:
    """A grid centred on the head (LPS origin)."""
    image = sitk.Image(size, sitk.sitkFloat32)
    image.SetDirection(direction.ravel().tolist())
    image.SetSpacing(spacing)
    image.SetOrigin((-(direction @ (np.asarray(spacing) * (np.asarray(size) - 1) / 2))).tolist())
    return image


OBLIQUE_FLIPPED_ANISOTROPIC = dict(
    direction=rotation([0.2, 0.1, 1.0], 20.0) @ np.diag([-1.0, 1.0, 1.0]), spacing=(1.4, 1.1, 5.0), size=(135, 175, 28)
)


def lps_points(reference: sitk.Image) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in reference.GetSize()[::-1]), indexing="ij")
    matrix = np.asarray(reference.GetDirection()).reshape(3, 3) * np.asarray(reference.GetSpacing())
    return np.stack([i, j, k], axis=-1).astype(float) @ matrix.T + np.asarray(reference.GetOrigin())


def ball(points: np.ndarray, centre: tuple[float, float, float], radius: float) -> np.ndarray:
    return np.linalg.norm(points - np.asarray(centre), axis=-1) <= radius


def head_rcbv(points: np.ndarray, side: int) -> np.ndarray:
    """Ellipsoid head with a ventricle and a low-rCBV blob on the patient's left (side=+1) or right."""
    head = ((points / HEAD_SEMI_AXES_MM) ** 2).sum(axis=-1) <= 1
    values = np.where(head, 2.0, 0.0)
    ventricle = head & (np.abs(points[..., 0]) < 6) & (np.abs(points[..., 1]) < 25) & (np.abs(points[..., 2]) < 20)
    values[ventricle] = 0.3
    values[ball(points, (side * 35.0, 10.0, 5.0), 16.0)] = 1.0
    return values


def phantom(side: int, grid: dict = OBLIQUE_FLIPPED_ANISOTROPIC) -> dict:
    """All overview inputs for a lesion on the patient's left (side=+1) or right (side=-1)."""
    reference = scanner_grid(**grid)
    points = lps_points(reference)
    post = head_rcbv(points, side)
    mirror = head_rcbv(points * [-1.0, 1.0, 1.0], side)
    with np.errstate(divide="ignore", invalid="ignore"):
        asymmetry = np.where(mirror > 0.5, (post - mirror) / mirror, np.nan)
    lesion = ball(points, (side * 35.0, 10.0, 5.0), 24.0) & (post > 0)
    exclusion = ball(points, (side * 25.0, 45.0, 0.0), 9.0)

    def image(array: np.ndarray, dtype: type) -> sitk.Image:
        result = sitk.GetImageFromArray(array.astype(dtype))
        result.CopyInformation(reference)
        return result

    return dict(
        post=image(post, np.float32),
        asymmetry=image(asymmetry, np.float32),
        lesion=image(lesion, np.uint8),
        imr=image(lesion & (asymmetry < -0.15), np.uint8),
        hyperperfusion=image(lesion & (asymmetry > 0.15), np.uint8),
        exclusion=image(exclusion, np.uint8),
        plane=Plane.from_vectors(np.zeros(3), np.array([1.0, 0.0, 0.0])),
    )


def read_png(path: Path) -> np.ndarray:
    """RGB pixels 0-1, as any viewer reads the file."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")) / 255.0


def render(tmp_path: Path, side: int) -> tuple[np.ndarray, dict[str, list[Box]]]:
    """The PNG's RGB pixels and, per row label, each panel's pixel box."""
    path = tmp_path / f"overview-{side:+d}.png"
    overview = overview_picture(summary=SUMMARY, **phantom(side))
    save_overview(path, overview)
    boxes: dict[str, list[Box]] = {}
    for label, box in overview.panels.items():
        row, _, _column = label.rpartition("-")
        boxes.setdefault(row, []).append(box)
    return read_png(path), boxes


def red(pixels: np.ndarray) -> np.ndarray:
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (r > 0.45) & (r > 2.0 * g) & (r > 2.0 * b)


def red_left_right(pixels: np.ndarray, boxes: list[Box]) -> tuple[int, int]:
    """Red pixels in the image-left and image-right halves of the given panels."""
    left = right = 0
    for box in boxes:
        middle = (box.left + box.right) // 2
        panel = red(pixels[box.top + 2 : box.bottom - 2])
        left += int(panel[:, box.left + 2 : middle].sum())
        right += int(panel[:, middle : box.right - 2].sum())
    return left, right


def test_png_exists_with_sane_size_and_no_leftovers(tmp_path: Path) -> None:
    pixels, boxes = render(tmp_path, side=+1)
    assert (tmp_path / "overview-+1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 800 <= pixels.shape[1] <= 3000 and 600 <= pixels.shape[0] <= 3000
    assert sorted(boxes) == ["asymmetry", "findings", "rcbv"]
    assert MIN_SLICES <= len(boxes["findings"]) <= MAX_SLICES
    assert [p.name for p in tmp_path.iterdir()] == ["overview-+1.png"]


@pytest.mark.parametrize("side", [+1, -1])
def test_lesion_on_patient_left_is_red_on_image_right(tmp_path: Path, side: int) -> None:
    pixels, boxes = render(tmp_path, side)
    for row in ("findings", "asymmetry"):
        left, right = red_left_right(pixels, boxes[row])
        same_side, other_side = (right, left) if side > 0 else (left, right)
        assert same_side > 300, f"{row}: too few red pixels ({same_side})"
        assert other_side < 0.02 * same_side, f"{row}: red on the wrong side ({left} left, {right} right)"


def test_the_lesion_is_outlined_in_its_colour_on_its_side_only(tmp_path: Path) -> None:
    pixels, boxes = render(tmp_path, side=-1)
    outline = np.all(np.abs(pixels - np.asarray(SEGMENT_COLORS["Lesion"])) < 1.5 / 255, axis=-1)
    left = right = 0
    for box in boxes["findings"]:
        middle = (box.left + box.right) // 2
        left += int(outline[box.top : box.bottom, box.left : middle].sum())
        right += int(outline[box.top : box.bottom, middle : box.right].sum())
    assert left > 200 and right == 0
    assert not any(outline[box.top : box.bottom, box.left : box.right].any() for box in boxes["rcbv"])


def test_head_keeps_its_true_shape_on_an_oblique_anisotropic_grid(tmp_path: Path) -> None:
    pixels, boxes = render(tmp_path, side=+1)
    box = boxes["rcbv"][len(boxes["rcbv"]) // 2]
    panel = pixels[box.top + 2 : box.bottom - 2, box.left + 2 : box.right - 2]
    labels, count = ndimage.label(panel.min(axis=-1) > 0.6)
    head = labels == 1 + int(np.argmax(ndimage.sum(np.ones_like(labels), labels, range(1, count + 1))))
    rows, columns = np.nonzero(head)
    width, height = np.ptp(columns) + 1, np.ptp(rows) + 1
    assert width / height == pytest.approx(HEAD_SEMI_AXES_MM[0] / HEAD_SEMI_AXES_MM[1], rel=0.04)


def test_slices_sit_on_original_slice_positions_within_the_lesion() -> None:
    grid = dict(direction=np.diag([1.0, -1.0, -1.0]), spacing=(1.2, 1.0, 4.0), size=(120, 180, 32))
    inputs = phantom(+1, grid)
    positions = slice_positions(inputs["post"], inputs["lesion"])
    origin_z = inputs["post"].GetOrigin()[2]
    assert MIN_SLICES <= len(positions) <= MAX_SLICES and positions == sorted(positions)
    for z in positions:
        assert (z - origin_z) / 4.0 == pytest.approx(round((z - origin_z) / 4.0), abs=1e-9)
        assert 5.0 - 24.0 <= z <= 5.0 + 24.0


def test_a_one_slice_lesion_still_gets_three_neighbouring_slices() -> None:
    grid = dict(direction=np.eye(3), spacing=(1.0, 1.0, 5.0), size=(150, 190, 30))
    inputs = phantom(+1, grid)
    array = sitk.GetArrayFromImage(inputs["lesion"])
    array[np.arange(array.shape[0]) != 15] = 0
    thin = sitk.GetImageFromArray(array)
    thin.CopyInformation(inputs["lesion"])
    positions = slice_positions(inputs["post"], thin)
    middle = inputs["post"].GetOrigin()[2] + 15 * 5.0
    assert positions == pytest.approx([middle - 5.0, middle, middle + 5.0])


def test_optional_inputs_may_be_missing(tmp_path: Path) -> None:
    inputs = phantom(+1) | dict(hyperperfusion=None, exclusion=None, plane=None)
    overview = overview_picture(summary="IMR 0.0 mL (0 % of lesion), not significant", **inputs)
    save_overview(tmp_path / "minimal.png", overview)
    assert read_png(tmp_path / "minimal.png").shape[0] > 600
    assert [entry.label for entry in overview.legend] == ["Follow-up lesion", "IMR (rCBV > 15 % below mirror)"]


def test_drawing_the_overview_never_loads_a_plotting_library(tmp_path: Path) -> None:
    """Importing matplotlib alone cost a run more than half a second (README, performance)."""
    code = ("import sys; sys.path.insert(0, %r); import test_overview as t; "
            "t.save_overview(%r, t.overview_picture(summary=t.SUMMARY, **t.phantom(+1))); "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'matplotlib'))")
    code = code % (str(Path(__file__).parent), str(tmp_path / "a.png"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert read_png(tmp_path / "a.png").shape[0] > 600


def test_tmax_overview_is_in_seconds_with_red_on_the_delayed_side(tmp_path: Path) -> None:
    """A Tmax delay (impaired when longer) shows red where Tmax exceeds the mirror, labelled in s."""
    inputs = phantom(+1)
    delay = np.where(sitk.GetArrayFromImage(inputs["lesion"]) > 0, 3.0, 0.0).astype(np.float32)
    seconds = sitk.GetImageFromArray(delay)
    seconds.CopyInformation(inputs["asymmetry"])
    inputs.update(asymmetry=seconds, imr=inputs["lesion"], hyperperfusion=None)
    scale = AnalysisParameters.for_map("tmax").asymmetry_scale
    overview = overview_picture(summary=SUMMARY, scale=scale, **inputs)
    path = tmp_path / "tmax.png"
    save_overview(path, overview)
    panels = [box for label, box in overview.panels.items() if label.startswith("asymmetry-")]
    left, right = red_left_right(read_png(path), panels)
    assert right > 300 and left < 0.02 * right
    assert overview.colorbar_label == "Tmax minus mirror (s)"
    assert not any("%" in text for text in overview.texts if text != SUMMARY), overview.texts
    assert any("2 s" in text for text in overview.texts)


def test_the_colour_bar_runs_from_blue_above_to_red_below_the_mirror(tmp_path: Path) -> None:
    """rCBV: the top of the bar (+50 %) blue as hyperperfusion, the bottom red as IMR."""
    overview = overview_picture(summary=SUMMARY, **phantom(+1))
    save_overview(tmp_path / "bar.png", overview)
    bar = overview.colorbar
    column = read_png(tmp_path / "bar.png")[bar.top + 1 : bar.bottom - 1, (bar.left + bar.right) // 2]
    top, bottom = column[0], column[-1]
    assert top[2] > 2 * top[0] and bottom[0] > 2 * bottom[2]
    assert [text for text in ("+50", "+15", "0", "-15", "-50") if text not in overview.texts] == []


def test_segments_have_the_colours_of_the_segmentation_file() -> None:
    """The legend's lesion, IMR, hyperperfusion and exclusion are the colours Slicer shows them in."""
    legend = {entry.label.split(" (")[0]: entry for entry in overview_picture(summary=SUMMARY, **phantom(+1)).legend}
    shown = {"Lesion": legend["Follow-up lesion"], "IMR": legend["IMR"], "Hyperperfusion": legend["Hyperperfusion"],
             "Exclusion": legend["Excluded from analysis"]}
    for name, colour in SEGMENT_COLORS.items():
        assert shown[name].colour == pytest.approx(colour), name
