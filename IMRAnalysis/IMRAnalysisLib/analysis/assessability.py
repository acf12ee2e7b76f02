"""When the mirror cannot measure a patient: the checks that stand beside the paper's flags.

The paper leaves out patients with carotid occlusion, re-occlusion or haemorrhage. The
mirror comparison has limits of its own, and a number reported past them is a confident
wrong answer:

- lesion voxels with no usable homolog: on or next to the mid-sagittal plane (the voxel
  and its mirror share signal once both are blurred) or whose mirror lies in the lesion
  itself (bilateral lesions). They are left out of IMR and counted; when they could
  change the verdict, the patient is not assessable;
- an abnormal mirror region: when the lesion's mirror is itself hypoperfused against the
  tissue around it in its own hemisphere (an old contralateral infarct, chronic
  hypoperfusion), a reduction in the lesion is hidden;
- asymmetry noise that stays too high, even smoothed, to tell a 15 % change from noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..parameters import AnalysisParameters
from .asymmetry import SHADING_REPORT_MM, AsymmetryMaps, signed_distance
from .midline import mirror
from .plane import Plane
from .segments import grown, voxel_volume_ml

NOISE_LIMIT = 0.5  # asymmetry noise SD above this x threshold: not assessable
MIN_MIRROR_REGION_ML = 1.0  # smaller mirror regions are not compared with their surroundings
_SHELL_MM = (4.0, 14.0)  # the mirror region's surroundings: this far outside it, same hemisphere
_SHADING_WARNING = 0.5  # warn when the corrected gradient reaches this x threshold at SHADING_REPORT_MM


def plane_margin_mm(image: sitk.Image, smoothing_mm: float) -> float:
    """How close to the plane a voxel and its mirror still share signal: in-plane voxel and smoothing."""
    return 1.5 * max(image.GetSpacing()[:2]) + 2.0 * smoothing_mm


@dataclass(frozen=True)
class Homologs:
    """Lesion voxels (post grid, (z, y, x)) whose mirror homolog cannot be used, by cause."""

    near_plane: np.ndarray
    in_lesion: np.ndarray

    @property
    def missing(self) -> np.ndarray:
        return self.near_plane | self.in_lesion


def missing_homologs(lesion: sitk.Image, plane: Plane, smoothing_mm: float) -> Homologs:
    lesion_array = sitk.GetArrayViewFromImage(lesion).astype(bool)
    near = lesion_array & (np.abs(signed_distance(lesion, plane)) < plane_margin_mm(lesion, smoothing_mm))
    mirrored = sitk.GetArrayFromImage(mirror(sitk.Cast(lesion, sitk.sitkFloat32), plane)) >= 0.5
    return Homologs(near, lesion_array & mirrored & ~near)


def mirror_region_contrast(
    image: sitk.Image, lesion: sitk.Image, plane: Plane, brain_mask: sitk.Image,
    parameters: AnalysisParameters, asymmetry: AsymmetryMaps,
) -> float | None:
    """The lesion's mirror region against the tissue around it in its own hemisphere.

    Median map value in the mirror region over that of a shell 4-14 mm outside it, both
    on the far side of the plane and above the floor: for a ratio map -0.25 means 25 %
    below its surroundings; for a difference map, in the map's unit. None when the
    mirror region is too small (or absent, as for a lesion on both sides).
    """
    spacing = image.GetSpacing()
    values = sitk.GetArrayViewFromImage(image).astype(np.float64)
    lesion_array = sitk.GetArrayViewFromImage(lesion).astype(bool)
    brain = sitk.GetArrayViewFromImage(brain_mask).astype(bool)
    distance = signed_distance(image, plane)
    lesion_side = np.sign(np.median(distance[lesion_array])) if lesion_array.any() else 0.0
    far_side = (distance * lesion_side < -plane_margin_mm(image, asymmetry.smoothing_mm)) & brain
    tissue = values >= parameters.floor_fraction * asymmetry.normal_reference
    region = (sitk.GetArrayFromImage(mirror(sitk.Cast(lesion, sitk.sitkFloat32), plane)) >= 0.5)
    region &= far_side & ~lesion_array
    if np.count_nonzero(region) * voxel_volume_ml(image) < MIN_MIRROR_REGION_ML:
        return None
    near, far = (grown(region, radius, spacing) for radius in _SHELL_MM)
    shell = far & ~near & far_side & ~grown(lesion_array, _SHELL_MM[0], spacing) & tissue
    region &= tissue
    if not region.any() or not shell.any():
        return None
    inside, around = float(np.median(values[region])), float(np.median(values[shell]))
    if parameters.asymmetry == "difference":
        return inside - around
    return inside / around - 1.0 if around > 0 else None


@dataclass(frozen=True)
class Assessment:
    """The checks' figures, the reasons a patient is not assessable and the warnings."""

    missing_homolog_ml: float = 0.0
    mirror_contrast: float | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def assess(
    image: sitk.Image, lesion: sitk.Image, plane: Plane, brain_mask: sitk.Image,
    parameters: AnalysisParameters, asymmetry: AsymmetryMaps, homologs: Homologs, imr_ml: float,
) -> Assessment:
    """The mirror's limits for this patient; every check is skipped by ``assessability_checks=False``."""
    if not parameters.assessability_checks:
        return Assessment()
    scale = parameters.asymmetry_scale
    voxel_ml = voxel_volume_ml(image)
    missing_ml = round(float(np.count_nonzero(homologs.missing)) * voxel_ml, 4)
    contrast = mirror_region_contrast(image, lesion, plane, brain_mask, parameters, asymmetry)
    reasons, warnings = [], []
    if asymmetry.noise is None:
        reasons.append("too little normal brain tissue to measure the asymmetry noise")
    elif asymmetry.noise > NOISE_LIMIT * parameters.threshold:
        reasons.append(
            f"the asymmetry noise in normal tissue ({scale.shown(asymmetry.noise * scale.factor)} SD after"
            f" {asymmetry.smoothing_mm:g} mm smoothing) is too high to measure a {scale.shown(scale.threshold)}"
            " asymmetry reliably"
        )
    impaired_sign = -1.0 if parameters.direction == "decrease" else 1.0
    if contrast is not None and impaired_sign * contrast > parameters.threshold:
        reasons.append(
            f"the lesion's mirror region is abnormal: {scale.shown(abs(contrast) * scale.factor)}"
            f" {scale.sides[0]} the tissue around it in its own hemisphere, so it cannot serve as the reference"
        )
    if imr_ml <= parameters.significance_ml < imr_ml + missing_ml:
        where = ("has its mirror homolog inside the lesion (a lesion on both sides)"
                 if np.count_nonzero(homologs.in_lesion) > np.count_nonzero(homologs.near_plane)
                 else "lies on or next to the mid-sagittal plane")
        reasons.append(f"{missing_ml:g} mL of the lesion {where}, enough to change the"
                       f" {parameters.significance_ml:g} mL verdict")
    elif missing_ml > 0:
        warnings.append(f"{missing_ml:g} mL of the lesion has no usable mirror homolog (on or next to the"
                        " mid-sagittal plane, or mirrored into the lesion) and is left out of IMR")
    if asymmetry.shading_percent is not None and abs(asymmetry.shading_percent) >= (
            100.0 * _SHADING_WARNING * parameters.threshold):
        warnings.append(f"a left-right intensity gradient of {asymmetry.shading_percent:+.0f} % at"
                        f" {SHADING_REPORT_MM:g} mm from the plane was corrected (coil shading?); check the map")
    return Assessment(missing_ml, contrast, reasons, warnings)
