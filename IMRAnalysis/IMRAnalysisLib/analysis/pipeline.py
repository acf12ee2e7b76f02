"""The analysis, stage by stage: images in memory -> measures.

Each stage is its own function so a front end can redo only what changed: a moved
midline needs a new asymmetry map, an edited mask only new segments and measures; the
registration is computed once (``AnalysisResult.registrations``) and reused.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import SimpleITK as sitk

from ..errors import AnalysisCancelled, InputError
from ..parameters import AnalysisParameters, PatientFlags
from .assessability import Assessment, assess, missing_homologs
from .asymmetry import AsymmetryMaps, compute_asymmetry
from .brain_mask import automatic_brain_mask
from .measures import compute_measures, volume_ml
from .midline import MidlineResult, estimate_midline, user_midline
from .plane import Plane, check_user_plane
from .registration import Cancel, RegistrationResult, align_to_post, resample_onto, single_threaded_itk
from .segments import Segments, empty_like, mask_onto, segment_imr

Progress = Callable[[str], None]
# progress messages of one ``run_analysis``: brain, plane, registration, masks, asymmetry
RUN_STAGES = 5
# what the asymmetry map depends on (the threshold sets the automatic smoothing's noise target)
# IMR is counted within this many detection sigmas of what the detection map finds, and
# only from regions larger than a ball of that radius (smaller ones are the size noise makes)
DETECTION_REACH = 2.0
_ASYMMETRY_PARAMETERS = ("smoothing_mm", "match_resolution", "shading_correction", "floor_fraction", "brain_mask",
                         "asymmetry", "threshold")


@dataclass(frozen=True)
class AnalysisInputs:
    """Validated images of one patient; ``sources`` names each for error messages."""

    post: sitk.Image
    day5: sitk.Image
    lesion: sitk.Image
    arrival: sitk.Image | None = None
    exclusion: sitk.Image | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def source(self, role: str) -> str:
        return self.sources.get(role, role)


@dataclass(frozen=True)
class AnalysisResult:
    post: sitk.Image
    parameters: AnalysisParameters
    flags: PatientFlags
    brain_mask: sitk.Image
    registrations: dict[str, RegistrationResult]
    aligned: dict[str, sitk.Image]  # arrival and day 5 resampled onto the post-EVT grid
    midline: MidlineResult
    asymmetry: AsymmetryMaps
    segments: Segments
    measures: dict[str, Any]


def _check_cancel(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise AnalysisCancelled("analysis cancelled")


def register_timepoints(
    inputs: AnalysisInputs,
    brain_mask: sitk.Image,
    parameters: AnalysisParameters,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> dict[str, RegistrationResult]:
    """Day 5 (and arrival, when given) registered rigidly onto post-EVT, side by side.

    Each registration is single-threaded for reproducibility, so the two run in parallel
    threads (SimpleITK releases the GIL); the results do not depend on it.
    """
    moving = {"day5": inputs.day5}
    if inputs.arrival is not None:
        moving["arrival"] = inputs.arrival
    _check_cancel(cancel)
    if progress is not None:
        verb = "registering" if parameters.registration else "checking the alignment of"
        progress(f"{verb} {' and '.join(moving)} to post-EVT")
    with single_threaded_itk(), ThreadPoolExecutor(max_workers=len(moving)) as pool:
        futures = {
            name: pool.submit(align_to_post, inputs.post, image, brain_mask, parameters.registration,
                              parameters.registration_seed, cancel)
            for name, image in moving.items()
        }
        return {name: future.result() for name, future in futures.items()}


def mask_on_post(
    mask: sitk.Image, space: str, post: sitk.Image, registrations: dict[str, RegistrationResult]
) -> sitk.Image:
    """A mask drawn on ``space``'s grid carried onto the post-EVT grid."""
    transform = registrations["day5"].transform if space == "day5" else None
    return mask_onto(mask, post, transform)


def require_lesion_in_brain(lesion: sitk.Image, brain_mask: sitk.Image, source: str) -> None:
    lesion_array = sitk.GetArrayViewFromImage(lesion).astype(bool)
    if not lesion_array.any():
        raise InputError("the lesion lies outside the post-EVT field of view", source)
    inside = np.count_nonzero(lesion_array & sitk.GetArrayViewFromImage(brain_mask).astype(bool))
    if inside < 0.5 * np.count_nonzero(lesion_array):
        raise InputError(
            f"only {100.0 * inside / np.count_nonzero(lesion_array):.0f} % of the lesion lies inside the brain"
            " on the post-EVT map; check that the mask belongs to this patient and the grid it was drawn on",
            source, setting="lesion grid",
        )


def masks_on_post(
    inputs: AnalysisInputs,
    brain_mask: sitk.Image,
    parameters: AnalysisParameters,
    registrations: dict[str, RegistrationResult],
) -> tuple[sitk.Image, sitk.Image]:
    """Lesion (checked to lie in the brain) and exclusion (empty if none) on the post grid."""
    lesion = mask_on_post(inputs.lesion, parameters.lesion_space, inputs.post, registrations)
    require_lesion_in_brain(lesion, brain_mask, inputs.source("lesion"))
    if inputs.exclusion is None:
        return lesion, empty_like(inputs.post)
    return lesion, mask_on_post(inputs.exclusion, parameters.exclusion_space, inputs.post, registrations)


def aligned_maps(inputs: AnalysisInputs, registrations: dict[str, RegistrationResult]) -> dict[str, sitk.Image]:
    """Day 5 and arrival resampled onto the post-EVT grid, for review and export."""
    moving = {"arrival": inputs.arrival, "day5": inputs.day5}
    return {
        name: resample_onto(sitk.Cast(image, sitk.sitkFloat32), inputs.post, registrations[name].transform)
        for name, image in moving.items()
        if image is not None
    }


def find_midline(
    post: sitk.Image,
    brain_mask: sitk.Image,
    parameters: AnalysisParameters,
    plane: Plane | None = None,
    cancel: Cancel | None = None,
) -> MidlineResult:
    """The user's plane when given, the estimated mid-sagittal plane otherwise."""
    if plane is not None:
        return user_midline(post, plane, brain_mask)
    return estimate_midline(post, brain_mask, parameters.registration_seed, cancel)


def register_and_find_midline(
    inputs: AnalysisInputs,
    brain_mask: sitk.Image,
    parameters: AnalysisParameters,
    midline: Plane | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> tuple[dict[str, RegistrationResult], MidlineResult]:
    """``register_timepoints`` and ``find_midline`` side by side.

    The plane needs only the post-EVT map, so it is found while the other timepoints
    register; every registration is single-threaded, so the three share the cores.
    """
    if progress is not None:
        progress("estimating the mid-sagittal plane" if midline is None else "using the given mid-sagittal plane")
    with single_threaded_itk(), ThreadPoolExecutor(max_workers=1) as pool:
        plane_job = pool.submit(find_midline, inputs.post, brain_mask, parameters, midline, cancel)
        registrations = register_timepoints(inputs, brain_mask, parameters, progress, cancel)
        return registrations, plane_job.result()


def measure(
    post: sitk.Image,
    lesion: sitk.Image,
    exclusion: sitk.Image,
    brain_mask: sitk.Image,
    midline: MidlineResult,
    registrations: dict[str, RegistrationResult],
    parameters: AnalysisParameters,
    flags: PatientFlags,
    asymmetry: AsymmetryMaps | None = None,
) -> tuple[AsymmetryMaps, Segments, dict[str, Any]]:
    """Asymmetry (unless given, e.g. after an exclusion edit), segments and measures."""
    if asymmetry is None:
        asymmetry = compute_asymmetry(post, midline.plane, parameters, brain_mask, lesion)
    missing = None
    if parameters.assessability_checks:
        homologs = missing_homologs(lesion, midline.plane, asymmetry.detection_smoothing_mm)
        missing = homologs.missing
    sigma = asymmetry.detection_smoothing_mm
    segments = segment_imr(asymmetry.ratio, lesion, exclusion, parameters, missing, asymmetry.detection,
                           DETECTION_REACH * sigma, 4.0 / 3.0 * np.pi * (DETECTION_REACH * sigma) ** 3 / 1000.0,
                           asymmetry.across_slices)
    assessment = (assess(post, lesion, midline.plane, brain_mask, parameters, asymmetry, homologs,
                         volume_ml(segments.imr))
                  if parameters.assessability_checks else Assessment())
    measures = compute_measures(
        segments, asymmetry.ratio, parameters, flags, midline, registrations, asymmetry, assessment, missing
    )
    return asymmetry, segments, measures


def run_analysis(
    inputs: AnalysisInputs,
    parameters: AnalysisParameters = AnalysisParameters(),
    flags: PatientFlags = PatientFlags(),
    midline: Plane | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> AnalysisResult:
    """The whole analysis of one patient, from validated images to measures."""
    say = progress or (lambda message: None)
    say("finding the brain on the post-EVT map")
    brain_mask = automatic_brain_mask(inputs.post)
    if midline is not None:
        check_user_plane(midline, inputs.post, brain_mask)  # before the registration, not after
    registrations, found_midline = register_and_find_midline(inputs, brain_mask, parameters, midline, say, cancel)
    _check_cancel(cancel)
    say("carrying the masks onto the post-EVT grid")
    lesion, exclusion = masks_on_post(inputs, brain_mask, parameters, registrations)
    say("computing the asymmetry map and IMR")
    asymmetry, segments, measures = measure(
        inputs.post, lesion, exclusion, brain_mask, found_midline, registrations, parameters, flags
    )
    return AnalysisResult(
        inputs.post, parameters, flags, brain_mask, registrations, aligned_maps(inputs, registrations),
        found_midline, asymmetry, segments, measures,
    )


def remeasure(
    result: AnalysisResult,
    lesion: sitk.Image | None = None,
    exclusion: sitk.Image | None = None,
    midline: Plane | None = None,
    parameters: AnalysisParameters | None = None,
    flags: PatientFlags | None = None,
) -> AnalysisResult:
    """Redo only what an edit invalidates; masks given here are already on the post grid.

    The registration is never redone. A new plane, a new lesion (its mirror is left out
    of the normal tissue the noise is measured on), or a change to a parameter the
    asymmetry map depends on, recomputes the map; exclusion edits alone reuse it.
    """
    parameters = parameters or result.parameters
    new_midline = result.midline if midline is None else user_midline(result.post, midline, result.brain_mask)
    reuse = midline is None and lesion is None and all(
        getattr(parameters, name) == getattr(result.parameters, name) for name in _ASYMMETRY_PARAMETERS
    )
    asymmetry, segments, measures = measure(
        result.post,
        lesion if lesion is not None else result.segments.lesion,
        exclusion if exclusion is not None else result.segments.exclusion,
        result.brain_mask,
        new_midline,
        result.registrations,
        parameters,
        flags or result.flags,
        result.asymmetry if reuse else None,
    )
    return replace(
        result,
        parameters=parameters,
        flags=flags or result.flags,
        midline=new_midline,
        asymmetry=asymmetry,
        segments=segments,
        measures=measures,
    )
