"""Automatic brain mask on a perfusion map.

Perfusion maps are near zero outside the head and in CSF, so an Otsu threshold of the
smoothed map finds tissue; closing and hole filling bring back ventricles and sulci
(they are brain, only without blood volume), and the largest component drops noise.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage


def _closing_radius(image: sitk.Image, radius_mm: float) -> list[int]:
    return [max(1, int(round(radius_mm / spacing))) for spacing in image.GetSpacing()]


def automatic_brain_mask(image: sitk.Image) -> sitk.Image:
    """uint8 mask of the brain (tissue, ventricles and sulci) on ``image``'s grid."""
    smoothed = sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32), 2.0)
    values = sitk.GetArrayViewFromImage(smoothed)
    positive = values[values > 0]
    threshold = _otsu(positive) if positive.size else 0.0
    tissue = sitk.GetImageFromArray((values > threshold * 0.5).astype(np.uint8))
    tissue.CopyInformation(image)
    closed = sitk.BinaryMorphologicalClosing(tissue, _closing_radius(image, 6.0), sitk.sitkBall)
    array = sitk.GetArrayFromImage(closed).astype(bool)
    array = ndimage.binary_fill_holes(array)
    for k in range(array.shape[0]):
        array[k] = ndimage.binary_fill_holes(array[k])
    labels, count = ndimage.label(array)
    if count > 1:
        sizes = ndimage.sum_labels(array, labels, index=np.arange(1, count + 1))
        array = labels == (int(np.argmax(sizes)) + 1)
    mask = sitk.GetImageFromArray(array.astype(np.uint8))
    mask.CopyInformation(image)
    return mask


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of a 1-D sample (robust to the long upper tail of vessels)."""
    clipped = np.clip(values, 0, np.percentile(values, 99.5))
    histogram, edges = np.histogram(clipped, bins=256)
    centres = 0.5 * (edges[:-1] + edges[1:])
    weight_low = np.cumsum(histogram)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(histogram * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])
