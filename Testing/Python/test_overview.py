"""The overview PNG: right side, right shape, whatever the storage order of the maps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.overview import MAX_SLICES, MIN_SLICES, overview_figure, save_overview, slice_positions
from IMRAnalysisLib.plane import Plane

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


def render(tmp_path: Path, side: int) -> tuple[np.ndarray, dict[str, list[tuple[int, int, int, int]]]]:
    """The PNG's RGB pixels and, per row label, each panel's pixel box (top, bottom, left, right)."""
    inputs = phantom(side)
    path = tmp_path / f"overview-{side:+d}.png"
    save_overview(path, overview_figure(summary=SUMMARY, **inputs))
    pixels = matplotlib.image.imread(path)[..., :3]
    figure = overview_figure(summary=SUMMARY, **inputs)
    height = pixels.shape[0]
    boxes: dict[str, list[tuple[int, int, int, int]]] = {}
    for axes in figure.axes:
        row, _, column = axes.get_label().rpartition("-")
        if column.isdigit():
            box = axes.get_window_extent()
            edges = (height - box.y1, height - box.y0, box.x0, box.x1)
            boxes.setdefault(row, []).append(tuple(int(round(v)) for v in edges))
    return pixels, boxes


def red(pixels: np.ndarray) -> np.ndarray:
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (r > 0.45) & (r > 2.0 * g) & (r > 2.0 * b)


def red_left_right(pixels: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """Red pixels in the image-left and image-right halves of the given panels."""
    left = right = 0
    for top, bottom, start, stop in boxes:
        middle = (start + stop) // 2
        panel = red(pixels[top + 2 : bottom - 2])
        left += int(panel[:, start + 2 : middle].sum())
        right += int(panel[:, middle : stop - 2].sum())
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


def test_head_keeps_its_true_shape_on_an_oblique_anisotropic_grid(tmp_path: Path) -> None:
    pixels, boxes = render(tmp_path, side=+1)
    top, bottom, left, right = boxes["rcbv"][len(boxes["rcbv"]) // 2]
    panel = pixels[top + 2 : bottom - 2, left + 2 : right - 2]
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
    figure = overview_figure(summary="IMR 0.0 mL (0 % of lesion), not significant", **inputs)
    save_overview(tmp_path / "minimal.png", figure)
    assert matplotlib.image.imread(tmp_path / "minimal.png").shape[0] > 600


def test_rendering_leaves_no_global_matplotlib_state(tmp_path: Path) -> None:
    before = dict(matplotlib.rcParams)
    save_overview(tmp_path / "a.png", overview_figure(summary=SUMMARY, **phantom(+1)))
    assert dict(matplotlib.rcParams) == before
    code = "import sys, IMRAnalysisLib.overview; print('matplotlib.pyplot' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_tmax_overview_is_in_seconds_with_red_on_the_delayed_side(tmp_path: Path) -> None:
    """A Tmax delay (impaired when longer) shows red where Tmax exceeds the mirror, labelled in s."""
    inputs = phantom(+1)
    delay = np.where(sitk.GetArrayFromImage(inputs["lesion"]) > 0, 3.0, 0.0).astype(np.float32)
    seconds = sitk.GetImageFromArray(delay)
    seconds.CopyInformation(inputs["asymmetry"])
    inputs.update(asymmetry=seconds, imr=inputs["lesion"], hyperperfusion=None)
    scale = AnalysisParameters.for_map("tmax").asymmetry_scale
    figure = overview_figure(summary=SUMMARY, scale=scale, **inputs)
    path = tmp_path / "tmax.png"
    save_overview(path, figure)
    pixels = matplotlib.image.imread(path)[..., :3]
    height = pixels.shape[0]
    panels = []
    for axes in figure.axes:
        row, _, column = axes.get_label().rpartition("-")
        if row == "asymmetry" and column.isdigit():
            box = axes.get_window_extent()
            panels.append(tuple(int(round(v)) for v in (height - box.y1, height - box.y0, box.x0, box.x1)))
    left, right = red_left_right(pixels, panels)
    assert right > 300 and left < 0.02 * right
    colorbar = next(axes for axes in figure.axes if axes.get_label() == "asymmetry-colorbar")
    assert colorbar.get_ylabel() == "Tmax minus mirror (s)"
    texts = [text.get_text() for text in figure.texts] + [text.get_text() for text in figure.legends[0].get_texts()]
    assert not any("%" in text for text in texts if text != SUMMARY), texts
    assert any("2 s" in text for text in texts)


def test_segments_have_the_colours_of_the_segmentation_file() -> None:
    """The legend's lesion, IMR, hyperperfusion and exclusion are the colours Slicer shows them in."""
    from matplotlib.colors import to_rgb

    from IMRAnalysisLib.conventions import SEGMENT_COLORS

    figure = overview_figure(summary=SUMMARY, **phantom(+1))
    handles = {handle.get_label().split(" (")[0]: handle for handle in figure.legends[0].legend_handles}
    shown = {"Lesion": to_rgb(handles["Follow-up lesion"].get_edgecolor()),
             "IMR": to_rgb(handles["IMR"].get_facecolor()),
             "Hyperperfusion": to_rgb(handles["Hyperperfusion"].get_facecolor()),
             "Exclusion": to_rgb(handles["Excluded from analysis"].get_edgecolor())}
    for name, colour in SEGMENT_COLORS.items():
        assert shown[name] == pytest.approx(colour), name
