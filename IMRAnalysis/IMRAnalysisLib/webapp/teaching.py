"""Guided mode for teaching: the method's steps, each shown in the views with one sentence.

A step names what the views show (background and foreground volumes, visible segments,
the midline); ``Workstation.show_layers`` puts it on screen. The sentences follow the
README's "method, step by step", which follows Valls Carbo et al. 2025.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..mrml_logic import EXCLUSION, HYPERPERFUSION, IMR, LESION

POST, DAY5, MIRRORED, ASYMMETRY = "post", "day5", "mirrored", "asymmetry"


@dataclass(frozen=True)
class TeachingStep:
    title: str
    sentence: str
    background: str = POST
    foreground: str | None = None
    segments: tuple[str, ...] = ()
    midline: bool = False


STEPS = (
    TeachingStep(
        "Registration",
        "The day-5 map (overlaid) is rigidly registered onto the post-EVT rCBV map, so the day-5 lesion "
        "can be carried onto the map IMR is measured on.",
        foreground=DAY5,
    ),
    TeachingStep(
        "Midline",
        "The mid-sagittal plane is estimated by registering the post-EVT map to its own mirror image, "
        "because heads are never perfectly straight in the scanner.",
        midline=True,
    ),
    TeachingStep(
        "Mirror",
        "Each voxel gets the rCBV of its mirror homolog, sampled at its reflection through the midline.",
        background=MIRRORED,
        midline=True,
    ),
    TeachingStep(
        "Asymmetry",
        "The asymmetry map is (value - mirror) / mirror: red where rCBV is below its mirror, blue above; "
        "a ratio makes it independent of the scanner's scale.",
        foreground=ASYMMETRY,
        midline=True,
    ),
    TeachingStep(
        "Lesion restriction",
        "Only voxels inside the day-5 ischemic lesion (outlined) can be IMR.",
        foreground=ASYMMETRY,
        segments=(LESION,),
    ),
    TeachingStep(
        "Threshold",
        "Lesion voxels more than 15 % below their mirror are IMR (filled red); more than 15 % above is "
        "hyperperfusion (blue).",
        foreground=ASYMMETRY,
        segments=(LESION, IMR, HYPERPERFUSION),
    ),
    TeachingStep(
        "Exclusion",
        "Voxels in the exclusion mask (haemorrhage), outlined, are removed from IMR: their low rCBV is "
        "blood, not impaired reperfusion.",
        segments=(LESION, IMR, EXCLUSION),
    ),
    TeachingStep(
        "Measures",
        "IMR volume in mL, relative to the lesion in %, and significant IMR above 5 mL: the results panel.",
        foreground=ASYMMETRY,
        segments=(LESION, IMR, HYPERPERFUSION, EXCLUSION),
        midline=True,
    ),
)
WORKSTATION_VIEW = STEPS[-1]  # what the views show outside the guided mode
