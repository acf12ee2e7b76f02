"""IMR and hyperperfusion segments from the asymmetry map and the day-5 lesion.

IMR is defined voxel by voxel (Valls Carbo et al. 2025): inside the follow-up lesion,
outside haemorrhage, asymmetry beyond the threshold in the impaired direction. The
opposite direction is kept as its own finding (hyperperfusion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..parameters import AnalysisParameters
from .registration import resample_onto

_FULL_CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # voxels touching at a corner are one cluster


@dataclass(frozen=True)
class Segments:
    """uint8 0/1 masks on the post-EVT grid."""

    lesion: sitk.Image
    exclusion: sitk.Image
    imr: sitk.Image
    hyperperfusion: sitk.Image
    imr_clusters: int
    hyperperfusion_clusters: int


def mask_onto(mask: sitk.Image, reference: sitk.Image, transform: sitk.Transform | None) -> sitk.Image:
    """A 0/1 mask carried onto ``reference``'s grid through physical space.

    Linear interpolation of the 0/1 values thresholded at one half keeps the volume of a
    mask drawn on thick slices unbiased, where nearest-neighbour would shift its edges.
    """
    fraction = resample_onto(sitk.Cast(mask, sitk.sitkFloat32), reference, transform, sitk.sitkLinear, 0.0)
    return sitk.Cast(fraction >= 0.5, sitk.sitkUInt8)


def empty_like(reference: sitk.Image) -> sitk.Image:
    empty = sitk.Image(reference.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(reference)
    return empty


def _as_image(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.CopyInformation(reference)
    return image


def occupied_box(mask: np.ndarray, margin: tuple[int, ...] = (0, 0, 0)) -> tuple[slice, ...]:
    """The index box holding every set voxel of a non-empty ``mask``, grown by ``margin`` voxels
    per axis and clipped to the array: masks are a few mL of a head, so work stays in the box."""
    box = ndimage.find_objects(mask.view(np.uint8))[0]
    return tuple(slice(max(0, side.start - pad), side.stop + pad) for side, pad in zip(box, margin))


def _drop_small_clusters(mask: np.ndarray, min_voxels: float,
                         confirmed_by: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The clusters of ``mask`` of at least ``min_voxels``, and, given ``confirmed_by``, holding
    one of its voxels; with their count."""
    if not mask.any():
        return mask, 0
    box = occupied_box(mask)
    labels, count = ndimage.label(mask[box], structure=_FULL_CONNECTIVITY)
    sizes = ndimage.sum_labels(mask[box], labels, index=np.arange(1, count + 1))
    keep = np.concatenate([[False], sizes >= min_voxels])
    if confirmed_by is not None:
        confirmed = np.zeros(count + 1, dtype=bool)
        confirmed[np.unique(labels[confirmed_by[box]])] = True
        keep &= confirmed
    kept = np.zeros_like(mask)
    kept[box] = keep[labels]
    return kept, int(np.count_nonzero(keep))


def voxel_volume_ml(image: sitk.Image) -> float:
    return float(np.prod(image.GetSpacing())) / 1000.0


def grown(mask: np.ndarray, radius_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """(z, y, x) ``mask`` grown by ``radius_mm`` in physical distance (computed in its bounding box only)."""
    result = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return result
    box = occupied_box(mask, tuple(int(np.ceil(radius_mm / step)) + 1 for step in reversed(spacing)))
    image = sitk.GetImageFromArray(mask[box].astype(np.uint8))
    image.SetSpacing(spacing)
    distance = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    result[box] = sitk.GetArrayViewFromImage(distance) <= radius_mm
    return result


def _beyond(ratio: sitk.Image, region: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    array = sitk.GetArrayViewFromImage(ratio)
    with np.errstate(invalid="ignore"):
        return region & (array < -threshold), region & (array > threshold)


def segment_imr(
    ratio: sitk.Image, lesion: sitk.Image, exclusion: sitk.Image | None, parameters: AnalysisParameters,
    unmeasurable: np.ndarray | None = None, detection: sitk.Image | None = None, reach_mm: float = 0.0,
    min_found_ml: float = 0.0, across_slices: sitk.Image | None = None,
) -> Segments:
    """IMR and hyperperfusion masks from the asymmetry ratio, lesion and exclusion (post grid).

    ``unmeasurable`` lesion voxels (no usable mirror homolog) are counted in neither. With a
    ``detection`` map (the asymmetry smoothed until normal tissue stays within the
    threshold), a voxel counts where ``detection`` is beyond the threshold, and where
    ``ratio`` is within ``reach_mm`` of that: the smoother map keeps noise and
    partial-volume tails out, the sharper one places the edges that smoothing pulls in.
    Regions of ``detection`` smaller than ``min_found_ml`` (the size of the smoothing kernel:
    what noise makes) find nothing, and so do those where the detection map filtered
    ``across_slices`` (``asymmetry`` module: what a sheet thinner than a slice makes in a
    tilted head) has no region of that size beyond the threshold; the others keep their
    whole extent.
    """
    exclusion = exclusion if exclusion is not None else empty_like(ratio)
    region = sitk.GetArrayViewFromImage(lesion).astype(bool) & ~sitk.GetArrayViewFromImage(exclusion).astype(bool)
    if unmeasurable is not None:
        region &= ~unmeasurable
    lower, higher = _beyond(ratio, region, parameters.threshold)
    if detection is not None or across_slices is not None:
        found_voxels = min_found_ml / voxel_volume_ml(ratio)
        confirming = ([None, None] if across_slices is None else
                      [_drop_small_clusters(side, found_voxels)[0]
                       for side in _beyond(across_slices, region, parameters.threshold)])
        found = [_drop_small_clusters(side, found_voxels, confirm)[0] for side, confirm in
                 zip(_beyond(ratio if detection is None else detection, region, parameters.threshold), confirming)]
        lower, higher = (core | (fine & grown(core, reach_mm, ratio.GetSpacing()))
                         for core, fine in zip(found, (lower, higher)))
    impaired, opposite = (lower, higher) if parameters.direction == "decrease" else (higher, lower)
    min_voxels = parameters.min_cluster_ml / voxel_volume_ml(ratio)
    impaired, imr_clusters = _drop_small_clusters(impaired, min_voxels)
    opposite, hyper_clusters = _drop_small_clusters(opposite, min_voxels)
    return Segments(
        lesion=sitk.Cast(lesion, sitk.sitkUInt8),
        exclusion=sitk.Cast(exclusion, sitk.sitkUInt8),
        imr=_as_image(impaired, ratio),
        hyperperfusion=_as_image(opposite, ratio),
        imr_clusters=imr_clusters,
        hyperperfusion_clusters=hyper_clusters,
    )
