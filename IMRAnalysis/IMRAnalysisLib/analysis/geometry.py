"""Where voxels are: physical positions and extents of images and masks (LPS mm).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def physical_bounds(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """LPS (min, max) corners of the box enclosing the whole voxel grid, voxel corners included."""
    size = np.asarray(image.GetSize(), dtype=float)
    corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in size], indexing="ij")).reshape(3, -1).T
    points = np.asarray(image.GetOrigin(), dtype=float) + corners @ index_matrix(image).T
    return points.min(axis=0), points.max(axis=0)


def index_to_lps(image: sitk.Image, indices: np.ndarray) -> np.ndarray:
    """Physical LPS points of (n, 3) continuous (i, j, k) indices of ``image``."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    steps = np.asarray(indices, dtype=float) * np.asarray(image.GetSpacing())
    return np.asarray(image.GetOrigin()) + steps @ direction.T


def voxel_points(image: sitk.Image, mask: np.ndarray) -> np.ndarray:
    """LPS centres of the voxels of ``image`` where the (z, y, x) array ``mask`` is true."""
    return index_to_lps(image, np.argwhere(mask)[:, ::-1])


def mask_bounds(mask: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """LPS (min, max) corners of the box enclosing the nonzero voxels, voxel corners included.

    Each voxel's corners span its centre +- half the absolute voxel edge vectors, so the
    box of all corners is the box of the centres widened by that half-extent.
    """
    indices = nonzero_indices(mask)
    if indices[0].size == 0:
        raise ValueError("mask_bounds needs a mask with at least one nonzero voxel")
    matrix = index_matrix(mask)
    centres = affine_axes(matrix, np.asarray(mask.GetOrigin(), dtype=float), indices)
    half = 0.5 * np.abs(matrix).sum(axis=1)
    low = np.array([axis.min() for axis in centres]) - half
    high = np.array([axis.max() for axis in centres]) + half
    return low, high


def index_matrix(image: sitk.Image) -> np.ndarray:
    """Matrix taking a (continuous) index step to an LPS displacement: direction x spacing."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return direction * np.asarray(image.GetSpacing(), dtype=float)


def affine_axes(matrix: np.ndarray, offset: np.ndarray, indices: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """``matrix @ index + offset`` per output axis; axis-wise sums beat a (N, 3) matmul on big masks."""
    return [offset[row] + sum(matrix[row, col] * indices[col] for col in range(3)) for row in range(3)]


def nonzero_indices(mask: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ITK (x, y, z) indices of the mask's nonzero voxels."""
    z, y, x = np.nonzero(sitk.GetArrayViewFromImage(mask))
    return x, y, z
