"""The overview PNG a radiologist looks at before reading the numbers.

The slices are true axial planes (``axial_reformat``) shown in radiological convention:
patient's right on the image left, anterior at the top. So a finding on the patient's
left always appears on the image right, as on a PACS.

Rows: the post-EVT map; asymmetry against the mirror homolog (% for rCBV, s for Tmax); findings (lesion
outline, IMR in red, hyperperfusion in blue, exclusions hatched) with the mid-sagittal
plane drawn as a dashed line. Drawn with Pillow alone (``picture_drawing``), so the
picture costs a run tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image, ImageDraw

from ..analysis.plane import Plane
from ..conventions import SEGMENT_COLORS
from ..parameters import AnalysisParameters, AsymmetryScale
from .axial_reformat import MAX_SLICES, MIN_SLICES, AxialGrid, AxialSlice, axial_slices, slice_positions
from .picture_drawing import (
    Colour,
    dashed_line,
    font,
    hex_colour,
    outline,
    picture_of,
    red_blue,
    rgb8,
    text,
    upright_text,
)
from .safe_output import atomic_path

__all__ = ["MAX_SLICES", "MIN_SLICES", "Box", "LegendEntry", "Overview", "overview_picture", "save_overview",
           "slice_positions"]

PNG_COMPRESSION = 3  # zlib level: a quarter of the default's encoding time for a few % more bytes

PANEL_WIDTH = 300  # pixels; a panel's height follows the head's true aspect ratio
LEFT, RIGHT, TOP, BOTTOM, GAP = 50, 116, 105, 82, 7

BACKGROUND = hex_colour("#111318")
TEXT = hex_colour("#e9ecef")
SUBTITLE = hex_colour("#aab1bb")
FRAME = hex_colour("#3a3f47")
IMR_COLOR, HYPER_COLOR, EXCLUSION_COLOR, LESION_COLOR = (
    SEGMENT_COLORS[name] for name in ("IMR", "Hyperperfusion", "Exclusion", "Lesion"))
MIDLINE_COLOR = (0.0, 0.9, 1.0)
ASYMMETRY_ALPHA = 0.9  # over the map dimmed to 60 %, so anatomy shows through the colours
FILL_ALPHA = 0.7

ROWS = (("rcbv", "Post-EVT rCBV"), ("asymmetry", "Asymmetry vs mirror"), ("findings", "Findings"))


@dataclass(frozen=True)
class Box:
    """A rectangle of the picture in pixels, its right and bottom edges excluded."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height


@dataclass(frozen=True)
class LegendEntry:
    """One key of the legend: how a finding is drawn ("outline", "fill", "hatch" or "dashes")."""

    label: str
    colour: Colour
    style: str


@dataclass(frozen=True)
class Overview:
    """The drawn picture and where everything is on it, for saving, embedding and checking."""

    image: Image.Image
    panels: dict[str, Box]  # "findings-2": row label and column
    colorbar: Box
    colorbar_label: str
    texts: tuple[str, ...]
    legend: tuple[LegendEntry, ...]


def save_overview(path: str | Path, overview: Overview) -> None:
    """Write the overview to ``path`` as PNG, atomically."""
    with atomic_path(path) as temporary:
        overview.image.save(temporary, format="png", compress_level=PNG_COMPRESSION)


def overview_picture(
    post: sitk.Image,
    asymmetry: sitk.Image,
    lesion: sitk.Image,
    imr: sitk.Image,
    hyperperfusion: sitk.Image | None,
    exclusion: sitk.Image | None,
    plane: Plane | None,
    summary: str,
    scale: AsymmetryScale = AnalysisParameters().asymmetry_scale,
    method: str = "",
) -> Overview:
    """The overview; ``method`` (smoothing, noise, gradient) ends the subtitle, so the picture
    says how it was measured."""
    shown = axial_slices(post, asymmetry, lesion, imr, hyperperfusion, exclusion)
    panel = (PANEL_WIDTH, int(round(PANEL_WIDTH * shown.grid.rows / shown.grid.columns)))
    columns = len(shown.slices)
    size = (LEFT + columns * panel[0] + (columns - 1) * GAP + RIGHT, TOP + len(ROWS) * panel[1] + 2 * GAP + BOTTOM)
    picture = Image.new("RGB", size, rgb8(BACKGROUND))
    draw = ImageDraw.Draw(picture, "RGBA")
    texts: list[str] = []
    panels: dict[str, Box] = {}
    for row, (label, _title) in enumerate(ROWS):
        for column, axial in enumerate(shown.slices):
            box = Box(LEFT + column * (panel[0] + GAP), TOP + row * (panel[1] + GAP), *panel)
            panels[f"{label}-{column}"] = box
            image = _panel(label, axial, shown.grid, shown.window, scale, panel)
            _decorate(image, axial.z, shown.grid, plane, texts)
            picture.paste(image, (box.left, box.top))
            draw.rectangle((box.left - 1, box.top - 1, box.right, box.bottom), outline=rgb8(FRAME))
    last = panels[f"asymmetry-{columns - 1}"]
    colorbar = Box(last.right + 13, last.top + int(0.08 * last.height), 14, int(0.84 * last.height))
    colorbar_label = _colorbar(picture, draw, colorbar, scale, texts)
    _titles(picture, draw, [panels[f"{label}-0"] for label, _title in ROWS], summary, scale, method, texts)
    legend = _legend_entries(shown.slices, plane, scale)
    _legend(draw, legend, size, texts)
    return Overview(picture, panels, colorbar, colorbar_label, tuple(texts), legend)


def _panel(row: str, axial: AxialSlice, grid: AxialGrid, window: tuple[float, float], scale: AsymmetryScale,
           size: tuple[int, int]) -> Image.Image:
    """One panel: the map, the asymmetry over the dimmed map, or the findings with their outlines."""
    grey = _grey(axial.post, window)
    if row == "rcbv":
        return picture_of(grey, size)
    if row == "asymmetry":
        return picture_of(_over(0.6 * grey, _asymmetry_layer(axial.asymmetry, scale)), size)
    rgb = grey
    if axial.exclusion is not None:
        rgb = _over(rgb, _hatch(axial.exclusion, EXCLUSION_COLOR))
    if axial.hyperperfusion is not None:
        rgb = _over(rgb, _fill(axial.hyperperfusion, HYPER_COLOR, FILL_ALPHA))
    image = picture_of(_over(rgb, _fill(axial.imr, IMR_COLOR, FILL_ALPHA)), size)
    if axial.exclusion is not None:
        outline(image, axial.exclusion, EXCLUSION_COLOR, 1)
    outline(image, axial.lesion, LESION_COLOR, 2)
    return image


def _asymmetry_layer(asymmetry: np.ndarray, scale: AsymmetryScale) -> np.ndarray:
    """Diverging colours centred on 0: red on the impaired side (the IMR colour), blue on the other."""
    shown = scale.factor * asymmetry
    layer = np.zeros(shown.shape + (4,))
    layer[..., :3] = red_blue(_scale_fraction(shown, scale), reverse=not scale.impaired_below)
    layer[..., 3] = np.where(np.isfinite(shown), ASYMMETRY_ALPHA, 0.0)
    return layer


def _scale_fraction(shown: np.ndarray, scale: AsymmetryScale) -> np.ndarray:
    """A shown value's place on the colour scale, -limit at 0 and +limit at 1."""
    return (shown + scale.display_limit) / (2.0 * scale.display_limit)


def _grey(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The map as RGB grey levels in its display window."""
    level = np.clip((values - window[0]) / (window[1] - window[0]), 0.0, 1.0)
    return np.repeat(level[..., None], 3, axis=-1)


def _over(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """An RGBA layer composited over an opaque RGB picture."""
    alpha = rgba[..., 3:]
    return alpha * rgba[..., :3] + (1.0 - alpha) * rgb


def _fill(mask: np.ndarray, color: Colour, alpha: float) -> np.ndarray:
    rgba = np.zeros(mask.shape + (4,))
    rgba[mask] = (*color, alpha)
    return rgba


def _hatch(mask: np.ndarray, color: Colour) -> np.ndarray:
    """Diagonal stripes inside the mask, so excluded tissue stays visible underneath."""
    period = max(6, mask.shape[1] // 40)
    rows, columns = np.indices(mask.shape)
    stripes = ((rows + columns) % period) < period // 3
    return _fill(mask & stripes, color, 0.85)


def _decorate(image: Image.Image, z: float, grid: AxialGrid, plane: Plane | None, texts: list[str]) -> None:
    """Midline, orientation letters and slice height."""
    draw = ImageDraw.Draw(image, "RGBA")
    if plane is not None:
        _midline(draw, plane, z, grid, image.size)
    text(draw, (8, 6), "R", 17, TEXT, "lt", bold=True)
    text(draw, (image.width - 8, 6), "L", 17, TEXT, "rt", bold=True)
    height = f"S {z:+.1f} mm"
    corner = (8, image.height - 7)
    left, top, right, bottom = draw.textbbox(corner, height, font=font(12), anchor="lb")
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0, 140))
    text(draw, corner, height, 12, TEXT, "lb")
    texts.extend(("R", "L", height))


def _midline(draw: ImageDraw.ImageDraw, plane: Plane, z: float, grid: AxialGrid, size: tuple[int, int]) -> None:
    """Intersection of the mid-sagittal plane with the axial plane at height z."""
    normal = plane.normal_array
    offset = float(normal @ plane.point_array) - normal[2] * z
    left, right, top, bottom = grid.edges()
    if abs(normal[0]) >= abs(normal[1]):
        ys = np.array([top, bottom])
        xs = (offset - normal[1] * ys) / normal[0]
    elif abs(normal[1]) > 1e-9:
        xs = np.array([left, right])
        ys = (offset - normal[0] * xs) / normal[1]
    else:
        return
    across, down = grid.fraction(xs, ys)
    ends = [(float(a * size[0]), float(d * size[1])) for a, d in zip(across, down)]
    dashed_line(draw, ends[0], ends[1], rgb8(MIDLINE_COLOR, 0.85), dash=8.0, gap=5.0, width=2)


def _colorbar(picture: Image.Image, draw: ImageDraw.ImageDraw, box: Box, scale: AsymmetryScale,
              texts: list[str]) -> str:
    """Vertical colour bar beside the asymmetry row, +limit at the top, with the threshold marked."""
    limit, cut = scale.display_limit, scale.threshold
    values = np.linspace(limit, -limit, box.height)
    colours = red_blue(_scale_fraction(values, scale), reverse=not scale.impaired_below)
    bar = ASYMMETRY_ALPHA * colours + (1.0 - ASYMMETRY_ALPHA) * np.asarray(BACKGROUND)
    picture.paste(picture_of(np.repeat(bar[:, None, :], box.width, axis=1), (box.width, box.height)),
                  (box.left, box.top))
    draw.rectangle((box.left - 1, box.top - 1, box.right, box.bottom), outline=rgb8(FRAME))

    def row_of(value: float) -> float:
        return box.top + (limit - value) / (2.0 * limit) * (box.height - 1)

    for value in (-limit, -cut, 0.0, cut, limit):
        row = row_of(value)
        draw.line([(box.right, row), (box.right + 3, row)], fill=rgb8(TEXT))
        label = f"{value:+g}" if value else "0"
        text(draw, (box.right + 6, row), label, 12, TEXT, "lm")
        texts.append(label)
    for value in (-cut, cut):
        dashed_line(draw, (box.left, row_of(value)), (box.right, row_of(value)), rgb8((1.0, 1.0, 1.0)), 3.0, 1.5)
    relation = "vs mirror" if scale.unit == "%" else "minus mirror"
    label = f"{scale.map_label} {relation} ({scale.unit or 'map units'})"
    upright_text(picture, (box.right + 52, box.top + box.height / 2), label, 14, TEXT, BACKGROUND)
    texts.append(label)
    return label


def _titles(picture: Image.Image, draw: ImageDraw.ImageDraw, first_column: list[Box], summary: str,
            scale: AsymmetryScale, method: str, texts: list[str]) -> None:
    middle = picture.width / 2
    text(draw, (middle, 33), summary, 23, TEXT, bold=True)
    subtitle = (f"Axial reformat, radiological convention (patient's left on image right) · "
                f"{scale.map_label} threshold {scale.shown(scale.threshold)} against the mirror homolog"
                + (f" · {method}" if method else ""))
    text(draw, (middle, 71), subtitle, 14, SUBTITLE)
    titles = (f"Post-EVT {scale.map_label}", *(title for _label, title in ROWS[1:]))
    for box, title in zip(first_column, titles):
        upright_text(picture, (box.left / 2, box.top + box.height / 2), title, 15, TEXT, BACKGROUND)
    texts.extend((summary, subtitle, *titles))


def _legend_entries(slices: list[AxialSlice], plane: Plane | None, scale: AsymmetryScale) -> tuple[LegendEntry, ...]:
    cut = scale.shown(scale.threshold)
    impaired, other = scale.sides
    entries = [LegendEntry("Follow-up lesion", LESION_COLOR, "outline"),
               LegendEntry(f"IMR ({scale.map_label} > {cut} {impaired} mirror)", IMR_COLOR, "fill")]
    if any(axial.hyperperfusion is not None for axial in slices):
        entries.append(LegendEntry(f"Hyperperfusion (> {cut} {other})", HYPER_COLOR, "fill"))
    if any(axial.exclusion is not None for axial in slices):
        entries.append(LegendEntry("Excluded from analysis", EXCLUSION_COLOR, "hatch"))
    if plane is not None:
        entries.append(LegendEntry("Mid-sagittal plane", MIDLINE_COLOR, "dashes"))
    return tuple(entries)


SWATCH, SWATCH_GAP, ENTRY_GAP = (26, 12), 8, 34


def _legend(draw: ImageDraw.ImageDraw, entries: tuple[LegendEntry, ...], size: tuple[int, int],
            texts: list[str]) -> None:
    """The keys in one centred line under the panels."""
    widths = [SWATCH[0] + SWATCH_GAP + draw.textlength(entry.label, font=font(14)) for entry in entries]
    left = (size[0] - sum(widths) - ENTRY_GAP * (len(entries) - 1)) / 2
    middle = size[1] - 32
    for entry, width in zip(entries, widths):
        _swatch(draw, (left, middle - SWATCH[1] / 2, left + SWATCH[0], middle + SWATCH[1] / 2), entry)
        text(draw, (left + SWATCH[0] + SWATCH_GAP, middle), entry.label, 14, TEXT, "lm")
        texts.append(entry.label)
        left += width + ENTRY_GAP


def _swatch(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], entry: LegendEntry) -> None:
    left, top, right, bottom = box
    if entry.style == "fill":
        draw.rectangle(box, fill=rgb8(entry.colour, FILL_ALPHA))
    elif entry.style == "dashes":
        middle = (top + bottom) / 2
        dashed_line(draw, (left, middle), (right, middle), rgb8(entry.colour), dash=7.0, gap=4.0, width=2)
    else:
        if entry.style == "hatch":
            _hatch_lines(draw, box, rgb8(entry.colour))
        draw.rectangle(box, outline=rgb8(entry.colour), width=2 if entry.style == "outline" else 1)


def _hatch_lines(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], colour: tuple[int, ...]) -> None:
    """45-degree stripes across ``box``, each cut at its sides."""
    left, top, right, bottom = box
    rise = bottom - top
    for start in np.arange(left - rise, right, 5.0):
        first, last = max(0.0, left - start), min(rise, right - start)
        if last > first:
            draw.line([(start + first, bottom - first), (start + last, bottom - last)], fill=colour)
