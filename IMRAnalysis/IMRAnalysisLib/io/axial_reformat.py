"""Axial slices of the maps on true axial planes, whatever their storage order.

Whatever the grid (flipped, oblique, anisotropic), the slices are reformatted onto
axial planes of an LPS-aligned grid with square pixels, so a picture drawn from them
keeps the head's true shape and puts the patient's left on the image right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..analysis.geometry import index_to_lps, voxel_points

MIN_SLICES = 3
MAX_SLICES = 5
MAX_PIXELS = 512


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

    def fraction(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LPS mm -> position across the plane's picture (0 at its left and top edge, 1 at the other)."""
        return ((x - self.x0 + self.spacing / 2) / (self.columns * self.spacing),
                (y - self.y0 + self.spacing / 2) / (self.rows * self.spacing))

    def edges(self) -> tuple[float, float, float, float]:
        """Outer edges of the picture in mm: left and right x, top (anterior) and bottom y."""
        half = self.spacing / 2
        return (self.xs[0] - half, self.xs[-1] + half, self.ys[0] - half, self.ys[-1] + half)

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


@dataclass(frozen=True)
class AxialSlices:
    """The slices a picture shows, on their common cropped grid, with the map's display window."""

    grid: AxialGrid
    slices: list[AxialSlice]
    window: tuple[float, float]


def axial_slices(post: sitk.Image, asymmetry: sitk.Image, lesion: sitk.Image, imr: sitk.Image,
                 hyperperfusion: sitk.Image | None, exclusion: sitk.Image | None) -> AxialSlices:
    """3-5 axial slices through the lesion, cropped to the head (the same crop on every slice)."""
    grid = axial_grid(post)
    volumes = [_as_float(volume) for volume in (post, asymmetry, lesion, imr, hyperperfusion, exclusion)]
    slices = [_reformat(volumes, grid, z) for z in slice_positions(post, lesion)]
    window = _robust_window(post)
    grid, slices = _crop_to_head(grid, slices, window)
    return AxialSlices(grid, slices, window)


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


