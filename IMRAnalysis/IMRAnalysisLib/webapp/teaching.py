"""Guided mode for teaching: the method's steps, each shown in the views with one sentence.

A step names what the views show (background and foreground volumes, visible segments,
the midline); ``Workstation.show_layers`` puts it on screen. The sentences follow the
README's "method, step by step", which follows Valls Carbo et al. 2025; ``step_texts``
words them for the map analysed (rCBV, rCBF or Tmax) and its threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..mrml.logic import EXCLUSION, HYPERPERFUSION, IMR, LESION
from ..parameters import AnalysisParameters

POST, DAY5, MIRRORED, ASYMMETRY = "post", "day5", "mirrored", "asymmetry"


@dataclass(frozen=True)
class TeachingStep:
    title: str
    sentence: str  # with {map}, {asymmetry}, {threshold}, {impaired}, {other}, {significance}: see step_texts
    background: str = POST
    foreground: str | None = None
    segments: tuple[str, ...] = ()
    midline: bool = False


STEPS = (
    TeachingStep(
        "Registration",
        "The day-5 map (overlaid) is rigidly registered onto the post-EVT {map} map, so the day-5 lesion "
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
        "Each voxel gets the {map} of its mirror homolog, sampled at its reflection through the midline.",
        background=MIRRORED,
        midline=True,
    ),
    TeachingStep(
        "Asymmetry",
        "The asymmetry map is {asymmetry}: red where {map} is {impaired} its mirror, blue {other}.",
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
        "Lesion voxels more than {threshold} {impaired} their mirror are IMR (filled red); more than {threshold} "
        "{other} is hyperperfusion (blue).",
        foreground=ASYMMETRY,
        segments=(LESION, IMR, HYPERPERFUSION),
    ),
    TeachingStep(
        "Exclusion",
        "Voxels in the exclusion mask (haemorrhage), outlined, are removed from IMR: their {map} "
        "measures blood, not impaired reperfusion.",
        segments=(LESION, IMR, EXCLUSION),
    ),
    TeachingStep(
        "Measures",
        "IMR volume in mL, relative to the lesion in %, and significant IMR above {significance} mL: the results "
        "panel.",
        foreground=ASYMMETRY,
        segments=(LESION, IMR, HYPERPERFUSION, EXCLUSION),
        midline=True,
    ),
)
WORKSTATION_VIEW = STEPS[-1]  # what the views show outside the guided mode


def step_texts(parameters: AnalysisParameters) -> list[dict[str, str]]:
    """Each step's title and sentence, worded for the map, unit and threshold of ``parameters``."""
    scale = parameters.asymmetry_scale
    impaired, other = scale.sides
    if parameters.asymmetry == "ratio":
        asymmetry = "(value - mirror) / mirror in %, free of the scanner's scale"
    else:
        asymmetry = f"value - mirror, in {scale.unit or 'map units'}"
    words = {"map": scale.map_label, "asymmetry": asymmetry, "threshold": scale.shown(scale.threshold),
             "impaired": impaired, "other": other, "significance": f"{parameters.significance_ml:g}"}
    return [{"title": step.title, "sentence": step.sentence.format(**words)} for step in STEPS]
