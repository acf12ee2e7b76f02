"""Conventions every output and front end shares, each written once.

Segment colours: the segmentation file, the DICOM SEG, the Slicer and web scenes and the
overview picture all take them from here, so a lesion is one colour everywhere.
Coordinates: the library, ITK and NIfTI/NRRD files work in LPS, Slicer's scene in RAS.
The verdict: the one sentence the overview, the web page and the DICOM report show first.
The measures: key, title, unit and meaning of each reported measure (as Slicer's Segment
Statistics keeps its measurements), from which the Slicer results table and the web
results panel are built; each key is also the measure's metrics.csv column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .parameters import AnalysisParameters

SEGMENT_COLORS: dict[str, tuple[float, float, float]] = {
    "Lesion": (0.95, 0.85, 0.25),
    "IMR": (0.90, 0.10, 0.10),
    "Hyperperfusion": (0.15, 0.45, 0.95),
    "Exclusion": (0.55, 0.25, 0.75),
}

# LPS <-> RAS: negate x (left/right) and y (posterior/anterior); the same factors both ways
LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


def lps_to_ras(point: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """A point or vector given in LPS, in RAS (or the other way round)."""
    return np.asarray(point, dtype=float) * LPS_TO_RAS


@dataclass(frozen=True)
class Verdict:
    """What a reader takes in first: ``kind`` is "significant", "not significant" or "not assessable"."""

    kind: str
    sentence: str


def verdict(measures: Mapping[str, Any]) -> Verdict:
    """The patient's verdict from its measures (metrics.json)."""
    if measures["status"] != "assessable":
        return Verdict("not assessable", f"IMR not assessable ({measures['not_assessable_reason']})")
    kind = "significant" if measures["significant_imr"] else "not significant"
    threshold = measures["parameters"]["significance_ml"]
    return Verdict(kind, f"IMR {measures['imr_volume_ml']:.1f} mL ({measures['imr_relative_percent']:.0f} % of "
                         f"{measures['lesion_volume_ml']:.1f} mL lesion), {kind} (> {threshold:g} mL)")


@dataclass(frozen=True)
class Measure:
    """One reported measure: where it is in metrics.json, how it is titled and what it means."""

    path: tuple[str, ...]  # keys into metrics.json
    title: str
    unit: str  # "" for text and yes/no values
    description: str
    numeric: bool = True
    factor: float = 1.0  # shown value = stored value x factor (a threshold stored as 0.15, shown as 15 %)

    @property
    def key(self) -> str:
        """The measure's metrics.csv column."""
        return "_".join(self.path)

    @property
    def heading(self) -> str:
        """The title with its unit, as spreadsheets and the Slicer table show it."""
        return f"{self.title} ({self.unit})" if self.unit else self.title

    def value(self, measures: Mapping[str, Any]) -> Any:
        """The shown value in ``measures`` (None when the measure is absent or null)."""
        value: Any = measures
        for key in self.path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value * self.factor if self.numeric and value is not None else value


def measure_registry(parameters: AnalysisParameters = AnalysisParameters()) -> tuple[Measure, ...]:
    """Every reported measure; the asymmetry's ones carry the unit of the map ``parameters`` analyse."""
    scale, perfusion_map = parameters.asymmetry_scale, parameters.perfusion_map
    unit = scale.unit or "map units"
    text = {"unit": "", "numeric": False}
    return (
        Measure(("status",), "Status", description="assessable, or not assessable (see the reason)", **text),
        Measure(("not_assessable_reason",), "Not assessable reason", description="why the mirror cannot measure IMR",
                **text),
        Measure(("imr_volume_ml",), "IMR volume", "mL", "lesion voxels beyond the threshold on the impaired side"),
        Measure(("lesion_volume_ml",), "Lesion volume", "mL", "the day-5 lesion on the post-EVT grid"),
        Measure(("imr_relative_percent",), "Relative IMR volume", "%", "IMR volume over lesion volume"),
        Measure(("significant_imr",), "Significant IMR", description="IMR volume above the significance threshold",
                **text),
        Measure(("parameters", "significance_ml"), "Significance threshold", "mL", "IMR volume called significant"),
        Measure(("hyperperfusion_volume_ml",), "Hyperperfusion volume", "mL",
                "lesion voxels beyond the threshold on the other side"),
        Measure(("exclusion_volume_ml",), "Exclusion volume", "mL", "excluded tissue, e.g. haemorrhage"),
        Measure(("imr_cluster_count",), "IMR clusters", "n", "connected IMR regions kept"),
        Measure(("hyperperfusion_cluster_count",), "Hyperperfusion clusters", "n",
                "connected hyperperfusion regions kept"),
        Measure((f"imr_median_asymmetry_{scale.suffix}",), "IMR median asymmetry", unit,
                "median asymmetry against the mirror inside IMR"),
        Measure(("lesion_undefined_asymmetry_ml",), "Lesion with undefined asymmetry", "mL",
                "lesion without a measurable asymmetry (CSF, field of view, no homolog)"),
        Measure(("lesion_without_homolog_ml",), "Lesion without usable mirror homolog", "mL",
                "lesion whose mirror lies in the lesion or too near the plane"),
        Measure(("asymmetry_smoothing_mm",), "Asymmetry smoothing", "mm", "Gaussian sigma on voxel and mirror"),
        Measure((f"asymmetry_noise_{scale.suffix}",), "Asymmetry noise in normal tissue", unit,
                "spread of the asymmetry outside the lesion and its mirror"),
        Measure(("left_right_gradient_percent",), "Left-right gradient corrected", "%",
                "smooth left-right shading divided out of the asymmetry"),
        Measure((f"mirror_region_contrast_{scale.suffix}",), "Mirror region against its surroundings", unit,
                "how abnormal the lesion's mirror region is against same-side tissue"),
        Measure(("warnings",), "Warnings", description="what to check before trusting the figures", **text),
        Measure(("parameters", "threshold"), "Asymmetry threshold", unit, "asymmetry beyond which a voxel counts",
                factor=scale.factor),
        Measure((f"normal_tissue_{perfusion_map}",), f"Normal tissue {scale.map_label}", "map units",
                "the map's value in normal tissue, the floor's reference"),
        Measure(("midline", "estimated"), "Midline estimated", description="the plane was found, not given", **text),
        Measure(("midline", "symmetry_correlation"), "Midline symmetry correlation", "r",
                "correlation of the map with its mirror image"),
        Measure(("registration", "day5", "correlation"), "Day-5 registration correlation", "r",
                "correlation of the registered day-5 map with post-EVT"),
        Measure(("registration", "arrival", "correlation"), "Arrival registration correlation", "r",
                "correlation of the registered arrival map with post-EVT"),
    )
