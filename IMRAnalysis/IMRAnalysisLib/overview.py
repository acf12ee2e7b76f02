"""The overview PNG a radiologist looks at before reading the numbers.

Whatever the storage order of the maps (flipped, oblique, anisotropic), the slices are
reformatted onto true axial planes of an LPS-aligned grid with square pixels and shown
in radiological convention: patient's right on the image left, anterior at the top. So
a finding on the patient's left always appears on the image right, as on a PACS.

Rows: the post-EVT map; asymmetry against the mirror homolog (% for rCBV, s for Tmax); findings (lesion
outline, IMR in red, hyperperfusion in blue, exclusions hatched yellow) with the
mid-sagittal plane drawn as a dashed line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .conventions import SEGMENT_COLORS
from .image_io import index_to_lps, voxel_points
from .parameters import AnalysisParameters, AsymmetryScale
from .plane import Plane
from .results_folder import atomic_path

MIN_SLICES = 3
MAX_SLICES = 5
MAX_PIXELS = 512
DPI = 110
PNG_COMPRESSION = 3  # zlib level: a quarter of the default's encoding time for a few % more bytes

PANEL_WIDTH_IN = 2.7
LEFT_IN, RIGHT_IN, TOP_IN, BOTTOM_IN, GAP_IN = 0.45, 1.05, 0.95, 0.75, 0.06

BACKGROUND = "#111318"
TEXT = "#e9ecef"
IMR_COLOR, HYPER_COLOR, EXCLUSION_COLOR, LESION_COLOR = (
    SEGMENT_COLORS[name] for name in ("IMR", "Hyperperfusion", "Exclusion", "Lesion"))
MIDLINE_COLOR = (0.0, 0.9, 1.0)
ASYMMETRY_ALPHA = 0.9  # over the map dimmed to 60 %, so anatomy shows through the colours

ROWS = (("rcbv", "Post-EVT rCBV"), ("asymmetry", "Asymmetry vs mirror"), ("findings", "Findings"))


@dataclass(frozen=True)
class AxialGrid:
    """Square-pixel axial plane geometry in LPS mm: column = x (to the left), row = y (posterior)."""

    x0: float
    y0: float
    spacing: float
    columns: int
    rows: int

    @property
    def xs(self) -> np.ndarray:
        return self.x0 + self.spacing * np.arange(self.columns)

    @property
    def ys(self) -> np.ndarray:
        return self.y0 + self.spacing * np.arange(self.rows)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """imshow extent (left, right, bottom, top): anterior (small y) at the top."""
        half = self.spacing / 2
        return (self.xs[0] - half, self.xs[-1] + half, self.ys[-1] + half, self.ys[0] - half)

    def cropped(self, rows: slice, columns: slice) -> "AxialGrid":
        return AxialGrid(
            float(self.xs[columns.start]), float(self.ys[rows.start]), self.spacing,
            columns.stop - columns.start, rows.stop - rows.start,
        )


@dataclass(frozen=True)
class AxialSlice:
    """All maps of one axial plane at height ``z`` (mm, LPS/RAS superior coordinate)."""

    z: float
    post: np.ndarray
    asymmetry: np.ndarray
    lesion: np.ndarray
    imr: np.ndarray
    hyperperfusion: np.ndarray | None
    exclusion: np.ndarray | None

    def cropped(self, rows: slice, columns: slice) -> "AxialSlice":
        def crop(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[rows, columns]

        return AxialSlice(
            self.z, crop(self.post), crop(self.asymmetry), crop(self.lesion), crop(self.imr),
            crop(self.hyperperfusion), crop(self.exclusion),
        )


def save_overview(path: str | Path, figure: Figure) -> None:
    """Write an overview figure to ``path`` as PNG, atomically."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=figure.dpi, facecolor=BACKGROUND,
                       pil_kwargs={"compress_level": PNG_COMPRESSION})


def overview_figure(
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
) -> Figure:
    """The overview as a matplotlib Figure (Agg canvas, no pyplot state), for saving or embedding.

    ``method`` (smoothing, noise, gradient) ends the subtitle, so the picture says how it was measured.
    """
    grid = axial_grid(post)
    volumes = [_as_float(volume) for volume in (post, asymmetry, lesion, imr, hyperperfusion, exclusion)]
    slices = [_reformat(volumes, grid, z) for z in slice_positions(post, lesion)]
    window = _robust_window(post)
    grid, slices = _crop_to_head(grid, slices, window)
    figure, axes = _new_figure(grid, len(slices))
    for column, axial in enumerate(slices):
        _draw_grey(axes[0][column], axial, grid, window)
        image = _draw_asymmetry(axes[1][column], axial, grid, window, scale)
        _draw_findings(axes[2][column], axial, grid, window)
        for row in axes:
            _decorate(row[column], axial.z, grid, plane)
    _add_colorbar(figure, axes[1][-1], image, scale)
    _add_titles(figure, [row[0] for row in axes], summary, scale, method)
    _add_legend(figure, slices, plane, scale)
    return figure


def axial_grid(image: sitk.Image) -> AxialGrid:
    """LPS-aligned plane covering the image's footprint, pixels about the finest voxel size."""
    corners = _corners_lps(image)
    low, high = corners.min(axis=0), corners.max(axis=0)
    field = float(max(high[0] - low[0], high[1] - low[1]))
    spacing = max(min(image.GetSpacing()), field / MAX_PIXELS)
    columns = int(np.floor((high[0] - low[0]) / spacing)) + 1
    rows = int(np.floor((high[1] - low[1]) / spacing)) + 1
    return AxialGrid(float(low[0]), float(low[1]), float(spacing), columns, rows)


def _corners_lps(image: sitk.Image) -> np.ndarray:
    size = np.asarray(image.GetSize()) - 1
    indices = np.array([[i, j, k] for i in (0, size[0]) for j in (0, size[1]) for k in (0, size[2])], dtype=float)
    return index_to_lps(image, indices)


def slice_positions(post: sitk.Image, lesion: sitk.Image) -> list[float]:
    """3-5 heights (mm) spread over the lesion, on the image's own slice positions."""
    step, base = _slice_step(post)
    volume_slices = np.round((_corners_lps(post)[:, 2] - base) / step)
    lesion_points = voxel_points(post, sitk.GetArrayViewFromImage(lesion) != 0)
    if lesion_points.size:
        lesion_slices = np.round((lesion_points[:, 2] - base) / step)
    else:
        lesion_slices = volume_slices
    chosen = _spread(*(int(bound) for bound in (lesion_slices.min(), lesion_slices.max(),
                                                volume_slices.min(), volume_slices.max())))
    return [base + step * slice_number for slice_number in chosen]


def _slice_step(image: sitk.Image) -> tuple[float, float]:
    """Distance (mm) between the image's slices along S, and the height of its first slice."""
    matrix = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    axis = int(np.argmax(np.abs(matrix[2])))
    return float(abs(matrix[2, axis])), float(image.GetOrigin()[2])


def _spread(low: int, high: int, volume_low: int, volume_high: int) -> list[int]:
    """Evenly spread slice numbers over [low, high], or a centred window if it is too thin."""
    available = high - low + 1
    count = min(MAX_SLICES, max(MIN_SLICES, available), volume_high - volume_low + 1)
    if available >= count:
        fractions = (np.arange(count) + 0.5) / count
        return sorted({int(np.floor(low + (available - 1) * fraction + 0.5)) for fraction in fractions})
    start = min(max(low - (count - available) // 2, volume_low), volume_high - count + 1)
    return list(range(start, start + count))


def _as_float(image: sitk.Image | None) -> sitk.Image | None:
    return None if image is None else sitk.Cast(image, sitk.sitkFloat32)


def _reformat(volumes: list[sitk.Image | None], grid: AxialGrid, z: float) -> AxialSlice:
    post, asymmetry, *masks = volumes
    plane_values = [_resample(post, grid, z, 0.0), _resample(asymmetry, grid, z, np.nan)]
    plane_masks = [None if mask is None else _resample(mask, grid, z, 0.0) >= 0.5 for mask in masks]
    return AxialSlice(z, *plane_values, *plane_masks)


def _resample(image: sitk.Image, grid: AxialGrid, z: float, outside: float) -> np.ndarray:
    """Linear interpolation onto one axial plane; masks are thresholded at 0.5 by the caller."""
    plane = sitk.Image([grid.columns, grid.rows, 1], sitk.sitkFloat32)
    plane.SetSpacing([grid.spacing, grid.spacing, grid.spacing])
    plane.SetOrigin([grid.x0, grid.y0, z])
    values = sitk.Resample(image, plane, sitk.Transform(), sitk.sitkLinear, float(outside), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(values)[0]


def _crop_to_head(
    grid: AxialGrid, slices: list[AxialSlice], window: tuple[float, float]
) -> tuple[AxialGrid, list[AxialSlice]]:
    """Drop the empty or noise-only border of the field of view (same crop on every panel)."""
    level = window[0] + 0.1 * (window[1] - window[0])
    inside = np.zeros((grid.rows, grid.columns), dtype=bool)
    for axial in slices:
        inside |= (axial.post > level) | axial.lesion
    if not inside.any():
        return grid, slices
    margin = int(np.ceil(6.0 / grid.spacing))
    rows, columns = (np.flatnonzero(inside.any(axis=axis)) for axis in (1, 0))
    row_range = slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, grid.rows))
    column_range = slice(max(columns[0] - margin, 0), min(columns[-1] + margin + 1, grid.columns))
    return grid.cropped(row_range, column_range), [axial.cropped(row_range, column_range) for axial in slices]


def _robust_window(post: sitk.Image) -> tuple[float, float]:
    """1st-99th percentile of the non-zero rCBV, so outliers and background do not set the contrast."""
    values = sitk.GetArrayViewFromImage(post)
    values = values[np.isfinite(values) & (values != 0)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, [1, 99])
    return float(low), float(high if high > low else low + 1.0)


def _new_figure(grid: AxialGrid, columns: int) -> tuple[Figure, list[list[Axes]]]:
    """Figure with fixed-size panels (inches) so every panel keeps the true aspect ratio."""
    panel_height = PANEL_WIDTH_IN * (grid.rows / grid.columns)
    width = LEFT_IN + columns * PANEL_WIDTH_IN + (columns - 1) * GAP_IN + RIGHT_IN
    height = TOP_IN + len(ROWS) * panel_height + (len(ROWS) - 1) * GAP_IN + BOTTOM_IN
    figure = Figure(figsize=(width, height), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    axes = []
    for row, (label, _title) in enumerate(ROWS):
        bottom = (height - TOP_IN - row * (panel_height + GAP_IN) - panel_height) / height
        lefts = [(LEFT_IN + column * (PANEL_WIDTH_IN + GAP_IN)) / width for column in range(columns)]
        box = (PANEL_WIDTH_IN / width, panel_height / height)
        axes.append([_panel(figure, (left, bottom, *box), f"{label}-{n}") for n, left in enumerate(lefts)])
    return figure, axes


def _panel(figure: Figure, box: tuple[float, float, float, float], label: str) -> Axes:
    """One image panel; ``label`` ("findings-2") lets tests and embedders find it."""
    axes = figure.add_axes(box, label=label)
    axes.set_facecolor("black")
    axes.xaxis.set_visible(False)  # no ticks: hidden axes are never built, which is most of a panel's cost
    axes.yaxis.set_visible(False)
    for spine in axes.spines.values():
        spine.set_color("#3a3f47")
    return axes


def _draw_grey(axes: Axes, axial: AxialSlice, grid: AxialGrid, window: tuple[float, float]) -> None:
    _show(axes, _grey(axial.post, window), grid)


def _draw_asymmetry(
    axes: Axes, axial: AxialSlice, grid: AxialGrid, window: tuple[float, float], scale: AsymmetryScale
) -> ScalarMappable:
    """Diverging map centred on 0: red on the impaired side (the IMR colour), blue on the other,
    over the map dimmed to 60 %; what it returns keys the colour bar."""
    limit = scale.display_limit
    colours = ScalarMappable(Normalize(-limit, limit), colormaps["RdBu" if scale.impaired_below else "RdBu_r"])
    shown = scale.factor * axial.asymmetry
    layer = colours.to_rgba(np.nan_to_num(shown))
    layer[..., 3] = np.where(np.isfinite(shown), ASYMMETRY_ALPHA, 0.0)
    _show(axes, _over(0.6 * _grey(axial.post, window), layer), grid)
    return colours


def _draw_findings(axes: Axes, axial: AxialSlice, grid: AxialGrid, window: tuple[float, float]) -> None:
    rgb = _grey(axial.post, window)
    if axial.exclusion is not None:
        rgb = _over(rgb, _hatch(axial.exclusion, EXCLUSION_COLOR))
        _outline(axes, axial.exclusion, grid, EXCLUSION_COLOR, 0.9)
    if axial.hyperperfusion is not None:
        rgb = _over(rgb, _fill(axial.hyperperfusion, HYPER_COLOR, 0.7))
    _show(axes, _over(rgb, _fill(axial.imr, IMR_COLOR, 0.7)), grid)
    _outline(axes, axial.lesion, grid, LESION_COLOR, 1.3)


def _grey(values: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The map as RGB grey levels in its display window."""
    level = np.clip((values - window[0]) / (window[1] - window[0]), 0.0, 1.0)
    return np.repeat(level[..., None], 3, axis=-1)


def _over(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """An RGBA layer composited over an opaque RGB picture: each panel is one image, as
    drawing layered images costs matplotlib a resampling pass per layer."""
    alpha = rgba[..., 3:]
    return alpha * rgba[..., :3] + (1.0 - alpha) * rgb


def _show(axes: Axes, rgb: np.ndarray, grid: AxialGrid) -> None:
    axes.imshow(rgb, extent=grid.extent, interpolation="nearest")


def _fill(mask: np.ndarray, color: tuple[float, float, float], alpha: float) -> np.ndarray:
    rgba = np.zeros(mask.shape + (4,))
    rgba[mask] = (*color, alpha)
    return rgba


def _hatch(mask: np.ndarray, color: tuple[float, float, float]) -> np.ndarray:
    """Diagonal stripes inside the mask, so excluded tissue stays visible underneath."""
    period = max(6, mask.shape[1] // 40)
    rows, columns = np.indices(mask.shape)
    stripes = ((rows + columns) % period) < period // 3
    return _fill(mask & stripes, color, 0.85)


def _outline(axes: Axes, mask: np.ndarray, grid: AxialGrid, color: tuple[float, float, float], width: float) -> None:
    if mask.any() and not mask.all():
        axes.contour(grid.xs, grid.ys, mask.astype(float), levels=[0.5], colors=[color], linewidths=width)


def _decorate(axes: Axes, z: float, grid: AxialGrid, plane: Plane | None) -> None:
    """Midline, orientation letters and slice height; then pin the view to the grid."""
    left, right, bottom, top = grid.extent
    if plane is not None:
        _draw_midline(axes, plane, z, grid)
    label = dict(color=TEXT, fontsize=11, fontweight="bold", va="top", transform=axes.transAxes)
    axes.text(0.03, 0.97, "R", ha="left", **label)
    axes.text(0.97, 0.97, "L", ha="right", **label)
    axes.text(0.03, 0.03, f"S {z:+.1f} mm", color=TEXT, fontsize=8, ha="left", va="bottom", transform=axes.transAxes,
              bbox=dict(facecolor="black", alpha=0.55, edgecolor="none", pad=1.5))
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)


def _draw_midline(axes: Axes, plane: Plane, z: float, grid: AxialGrid) -> None:
    """Intersection of the mid-sagittal plane with the axial plane at height z."""
    normal = plane.normal_array
    offset = float(normal @ plane.point_array) - normal[2] * z
    left, right, bottom, top = grid.extent
    if abs(normal[0]) >= abs(normal[1]):
        ys = np.array([top, bottom])
        xs = (offset - normal[1] * ys) / normal[0]
    elif abs(normal[1]) > 1e-9:
        xs = np.array([left, right])
        ys = (offset - normal[0] * xs) / normal[1]
    else:
        return
    axes.plot(xs, ys, linestyle=(0, (5, 3)), color=MIDLINE_COLOR, linewidth=1.0, alpha=0.85)


def _add_colorbar(figure: Figure, anchor: Axes, image: ScalarMappable, scale: AsymmetryScale) -> None:
    """Vertical colour bar beside the asymmetry row, with the threshold marked."""
    box = anchor.get_position()
    bar = figure.add_axes((box.x1 + 0.12 / figure.get_figwidth(), box.y0 + 0.08 * box.height,
                           0.13 / figure.get_figwidth(), 0.84 * box.height), label="asymmetry-colorbar")
    limit, cut = scale.display_limit, scale.threshold
    colorbar = figure.colorbar(image, cax=bar, ticks=[-limit, -cut, 0.0, cut, limit], alpha=ASYMMETRY_ALPHA)
    colorbar.ax.set_yticklabels([f"{value:+g}" if value else "0" for value in (-limit, -cut, 0.0, cut, limit)])
    colorbar.ax.tick_params(colors=TEXT, labelsize=8)
    colorbar.outline.set_edgecolor("#3a3f47")
    relation = "vs mirror" if scale.unit == "%" else "minus mirror"
    colorbar.set_label(f"{scale.map_label} {relation} ({scale.unit or 'map units'})", color=TEXT, fontsize=9)
    for value in (-cut, cut):
        colorbar.ax.axhline(value, color="white", linewidth=1.0, linestyle=(0, (2, 1)))


def _add_titles(figure: Figure, first_column: list[Axes], summary: str, scale: AsymmetryScale, method: str) -> None:
    height = figure.get_figheight()
    figure.text(0.5, 1 - 0.3 / height, summary, ha="center", va="center", color=TEXT,
                fontsize=15, fontweight="bold")
    subtitle = (f"Axial reformat, radiological convention (patient's left on image right) · "
                f"{scale.map_label} threshold {scale.shown(scale.threshold)} against the mirror homolog"
                + (f" · {method}" if method else ""))
    figure.text(0.5, 1 - 0.65 / height, subtitle, ha="center", va="center", color="#aab1bb", fontsize=9)
    titles = (f"Post-EVT {scale.map_label}", *(title for _label, title in ROWS[1:]))
    for axes, title in zip(first_column, titles):
        box = axes.get_position()
        figure.text(0.5 * box.x0, (box.y0 + box.y1) / 2, title, rotation=90, ha="center", va="center",
                    color=TEXT, fontsize=10)


def _add_legend(figure: Figure, slices: list[AxialSlice], plane: Plane | None, scale: AsymmetryScale) -> None:
    cut = scale.shown(scale.threshold)
    impaired, other = scale.sides
    handles = [
        Patch(facecolor="none", edgecolor=LESION_COLOR, linewidth=1.3, label="Follow-up lesion"),
        Patch(facecolor=(*IMR_COLOR, 0.7), edgecolor="none",
              label=f"IMR ({scale.map_label} > {cut} {impaired} mirror)"),
    ]
    if any(axial.hyperperfusion is not None for axial in slices):
        handles.append(Patch(facecolor=(*HYPER_COLOR, 0.7), edgecolor="none",
                             label=f"Hyperperfusion (> {cut} {other})"))
    if any(axial.exclusion is not None for axial in slices):
        handles.append(Patch(facecolor="none", edgecolor=EXCLUSION_COLOR, hatch="////",
                             label="Excluded from analysis"))
    if plane is not None:
        handles.append(Line2D([], [], color=MIDLINE_COLOR, linestyle=(0, (5, 3)), label="Mid-sagittal plane"))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=9,
                  labelcolor=TEXT, bbox_to_anchor=(0.5, 0.12 / figure.get_figheight()))
