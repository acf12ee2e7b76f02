"""Patient-level measures, named with their units, as the paper reports them."""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..parameters import AnalysisParameters, PatientFlags
from .alignment_check import STEP_DEG
from .assessability import Assessment
from .asymmetry import AsymmetryMaps
from .midline import MidlineResult
from .registration import RegistrationResult
from .segments import Segments, voxel_volume_ml

_DECIMALS = 4
_TIMEPOINT_NAMES = {"day5": "day-5", "arrival": "arrival"}
# What a reader takes in first: printed by ``run``, and columns of every cohort table even
# when no patient could be measured
HEADLINE_MEASURES = (
    "status",
    "imr_volume_ml",
    "lesion_volume_ml",
    "imr_relative_percent",
    "significant_imr",
    "hyperperfusion_volume_ml",
)


def volume_ml(mask: sitk.Image) -> float:
    """Volume of a 0/1 mask in mL (cm3): voxel count times voxel volume."""
    return round(int(np.count_nonzero(sitk.GetArrayViewFromImage(mask))) * voxel_volume_ml(mask), _DECIMALS)


def _median_shown(ratio: sitk.Image, mask: sitk.Image, factor: float) -> float | None:
    """Median asymmetry inside ``mask`` in shown units (% for a ratio, the map's unit otherwise)."""
    values = sitk.GetArrayViewFromImage(ratio)[sitk.GetArrayViewFromImage(mask).astype(bool)]
    values = values[np.isfinite(values)]
    return round(float(np.median(values)) * factor, 2) if values.size else None


def _undefined_in_lesion_ml(ratio: sitk.Image, segments: Segments, missing_homologs: np.ndarray | None) -> float:
    """Lesion volume without a measurable asymmetry: CSF, edge of the field of view, no usable homolog."""
    lesion = sitk.GetArrayViewFromImage(segments.lesion).astype(bool)
    excluded = sitk.GetArrayViewFromImage(segments.exclusion).astype(bool)
    undefined = ~np.isfinite(sitk.GetArrayViewFromImage(ratio))
    if missing_homologs is not None:
        undefined = undefined | missing_homologs
    return round(int(np.count_nonzero(lesion & ~excluded & undefined)) * voxel_volume_ml(ratio), _DECIMALS)


def _registration_findings(registrations: dict[str, RegistrationResult], reference: float,
                           parameters: AnalysisParameters, exclusion_given: bool) -> tuple[list[str], list[str]]:
    """Registrations whose maps do not line up: reasons when they carry the lesion or the
    exclusion onto post-EVT (IMR would be measured in the wrong place), warnings otherwise."""
    reasons, warnings = [], []
    carrying = {parameters.lesion_space} | ({parameters.exclusion_space} if exclusion_given else set())
    for name, result in registrations.items():
        if not result.failed(reference):
            continue
        timepoint = _TIMEPOINT_NAMES.get(name, name)
        what = f"{timepoint} registration failed" if result.registered else (
            f"{timepoint} map is not aligned with post-EVT (registration off)")
        if result.correlates_too_little(reference):
            evidence = (f"the two correlate {result.correlation:.2f} in the brain,"
                        f" {result.relative_correlation(reference):.2f} of the post-EVT map's {reference:.2f} with"
                        " its own mirror")
        else:
            evidence = (f"a pose one voxel or {STEP_DEG:g} degree away matches post-EVT better (mutual information"
                        f" +{result.nearby_gain:.3f}), so the maps are off by more than a voxel")
        sentence = f"the {what}: {evidence}"
        if name in carrying:
            reasons.append(sentence + ", so the masks drawn on it would land in the wrong place")
        else:
            warnings.append(sentence + ", so check its overlay before using it")
    return reasons, warnings


def _rounded(value: float | None, decimals: int) -> float | None:
    return None if value is None else round(float(value), decimals)


def compute_measures(
    segments: Segments,
    ratio: sitk.Image,
    parameters: AnalysisParameters,
    flags: PatientFlags,
    midline: MidlineResult,
    registrations: dict[str, RegistrationResult],
    asymmetry: AsymmetryMaps,
    assessment: Assessment = Assessment(),
    missing_homologs: np.ndarray | None = None,
) -> dict[str, Any]:
    """All measures of one analysis; IMR figures are null when IMR is not assessable.

    The asymmetry and reference names carry the map and unit (``..._percent``,
    ``..._seconds``, ``normal_tissue_tmax``) so a cohort column never mixes units.
    """
    exclusion_ml = volume_ml(segments.exclusion)
    failed, doubtful = _registration_findings(registrations, midline.symmetry_correlation, parameters,
                                              exclusion_ml > 0)
    reasons = flags.not_assessable_reasons() + failed + assessment.reasons
    imr_ml = volume_ml(segments.imr)
    lesion_ml = volume_ml(segments.lesion)
    relative = round(100.0 * imr_ml / lesion_ml, 2) if lesion_ml > 0 else None
    assessable = not reasons
    scale = parameters.asymmetry_scale
    return {
        "status": "assessable" if assessable else "not assessable",
        "not_assessable_reason": "; ".join(reasons),
        "imr_volume_ml": imr_ml if assessable else None,
        "lesion_volume_ml": lesion_ml,
        "imr_relative_percent": relative if assessable else None,
        "significant_imr": (imr_ml > parameters.significance_ml) if assessable else None,
        "hyperperfusion_volume_ml": volume_ml(segments.hyperperfusion),
        "exclusion_volume_ml": exclusion_ml,
        "imr_cluster_count": segments.imr_clusters,
        "hyperperfusion_cluster_count": segments.hyperperfusion_clusters,
        f"imr_median_asymmetry_{scale.suffix}": _median_shown(ratio, segments.imr, scale.factor),
        "lesion_undefined_asymmetry_ml": _undefined_in_lesion_ml(ratio, segments, missing_homologs),
        "lesion_without_homolog_ml": assessment.missing_homolog_ml,
        f"normal_tissue_{parameters.perfusion_map}": round(asymmetry.normal_reference, 6),
        "asymmetry_smoothing_mm": asymmetry.smoothing_mm,
        "detection_smoothing_mm": asymmetry.detection_smoothing_mm,
        f"asymmetry_noise_{scale.suffix}": _rounded(
            None if asymmetry.noise is None else asymmetry.noise * scale.factor, 2),
        f"asymmetry_tail_noise_{scale.suffix}": _rounded(
            None if asymmetry.tail_noise is None else asymmetry.tail_noise * scale.factor, 2),
        f"mirror_region_contrast_{scale.suffix}": _rounded(
            None if assessment.mirror_contrast is None else assessment.mirror_contrast * scale.factor, 2),
        # an intensity gradient, in %: only ratio maps have one (Tmax in seconds is not shaded)
        **({"left_right_gradient_percent": _rounded(asymmetry.shading_percent, 2)}
           if parameters.asymmetry == "ratio" else {}),
        "warnings": "; ".join(doubtful + assessment.warnings),
        "midline": {
            **midline.plane.to_dict(),
            "estimated": midline.estimated,
            "symmetry_correlation": round(midline.symmetry_correlation, 4),
        },
        "registration": {name: result.quality(midline.symmetry_correlation) for name, result in registrations.items()},
        "parameters": parameters.to_dict(),
        "flags": {
            "ica_occlusion": flags.ica_occlusion,
            "hemorrhagic_transformation": flags.hemorrhagic_transformation,
            "reocclusion": flags.reocclusion,
        },
        "software": {"name": "IMRAnalysis", "version": __version__},
    }
