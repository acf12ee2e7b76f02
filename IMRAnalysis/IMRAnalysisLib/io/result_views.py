"""A result as readers see it: its named segments, its asymmetry in shown units, and the
method in one line (the verdict's line is ``conventions.verdict``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import SimpleITK as sitk

from ..analysis.pipeline import AnalysisResult
from ..conventions import SEGMENT_COLORS
from ..parameters import AnalysisParameters
from .segmentation_file import Segment

if TYPE_CHECKING:
    pass


def segments_of(result: AnalysisResult) -> list[Segment]:
    """The four named, coloured segments on the post-EVT grid."""
    masks = {
        "Lesion": result.segments.lesion,
        "IMR": result.segments.imr,
        "Hyperperfusion": result.segments.hyperperfusion,
        "Exclusion": result.segments.exclusion,
    }
    return [Segment(name, SEGMENT_COLORS[name], mask) for name, mask in masks.items()]


def shown_asymmetry(result: AnalysisResult) -> sitk.Image:
    """The asymmetry map in the unit it is shown and named in (% for ratios, s for Tmax)."""
    return sitk.Cast(result.asymmetry.ratio * result.parameters.asymmetry_scale.factor, sitk.sitkFloat32)


def method_summary(measures: dict) -> str:
    """How the asymmetry was measured, in a few words: smoothing, its noise, the corrected gradient."""
    parameters = measures["parameters"]
    smoothing = measures.get("asymmetry_smoothing_mm", 0.0)
    automatic = " (auto)" if parameters.get("smoothing_mm") == "auto" else ""
    scale = AnalysisParameters.from_dict(parameters).asymmetry_scale
    noise = measures.get(f"asymmetry_noise_{scale.suffix}")
    parts = [f"smoothing {smoothing:g} mm{automatic}"]
    if noise is not None:
        parts.append(f"asymmetry noise {scale.shown(noise)}")
    if measures.get("left_right_gradient_percent") is not None:
        parts.append(f"L-R gradient {measures['left_right_gradient_percent']:+.1f} % corrected")
    return ", ".join(parts)
