"""Mirrored asymmetry map: each voxel against its homolog across the midline.

The ratio (value - mirror) / mirror is free of the map's arbitrary scale, which is why
the method works on any vendor's relative CBV. Where the mirror value is close to zero
(CSF, outside the head) the ratio means nothing, so it is left undefined (NaN) below a
floor set as a fraction of normal-tissue rCBV. Maps in absolute units whose normal
value is near zero (Tmax) use the plain difference value - mirror instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from .midline import mirror
from .parameters import AnalysisParameters
from .plane import Plane

_OUTSIDE = -1.0  # mirror sample beyond the field of view (rCBV is never negative)


@dataclass(frozen=True)
class AsymmetryMaps:
    ratio: sitk.Image  # float32, (value - mirror) / mirror or value - mirror, NaN where undefined
    mirrored: sitk.Image  # float32, the homolog's (smoothed) value at every voxel
    normal_reference: float  # median rCBV of normal-appearing brain, the floor's unit


def normal_tissue_reference(image: sitk.Image, brain: np.ndarray) -> float:
    """Median map value in the brain: the scale of 'normal'.

    A lesion is a few percent of the brain and barely moves the median, and leaving it
    out would tie the asymmetry map to the lesion mask, which the user keeps editing.
    """
    values = sitk.GetArrayViewFromImage(image)[brain]
    values = values[values > 0]
    return float(np.median(values)) if values.size else 0.0


def compute_asymmetry(
    image: sitk.Image,
    plane: Plane,
    parameters: AnalysisParameters,
    brain_mask: sitk.Image,
) -> AsymmetryMaps:
    """Asymmetry ratio of ``image`` through ``plane`` on ``image``'s own grid."""
    source = sitk.Cast(image, sitk.sitkFloat32)
    if parameters.smoothing_mm > 0:
        source = sitk.SmoothingRecursiveGaussian(source, parameters.smoothing_mm)
    mirrored = mirror(source, plane, default_value=_OUTSIDE)
    values = sitk.GetArrayViewFromImage(source).astype(np.float64)
    mirror_values = sitk.GetArrayViewFromImage(mirrored).astype(np.float64)
    brain = sitk.GetArrayViewFromImage(brain_mask).astype(bool)
    reference = normal_tissue_reference(source, brain)
    difference = parameters.asymmetry == "difference"
    floor = _OUTSIDE if difference else max(parameters.floor_fraction * reference, np.finfo(np.float32).tiny)
    defined = mirror_values > floor if difference else mirror_values >= floor
    if parameters.brain_mask:
        defined &= brain
    ratio = np.full(values.shape, np.nan, dtype=np.float32)
    ratio[defined] = values[defined] - mirror_values[defined]
    if not difference:
        ratio[defined] /= mirror_values[defined]
    ratio_image = sitk.GetImageFromArray(ratio)
    ratio_image.CopyInformation(image)
    mirrored_array = np.where(mirror_values == _OUTSIDE, np.nan, mirror_values).astype(np.float32)
    mirrored_image = sitk.GetImageFromArray(mirrored_array)
    mirrored_image.CopyInformation(image)
    return AsymmetryMaps(ratio_image, mirrored_image, reference)
