"""What the DICOM results say about themselves: coded segment meanings, series names, the software.

Kept in one place so that the segmentation, the report and the pictures describe the
analysis the same way, and a PACS user sees names a radiologist recognises. Codes are
SNOMED CT (SCT) and DICOM (DCM) concepts, never private ones, so any viewer can read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highdicom as hd
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ... import __version__
from ...parameters import AnalysisParameters

SOFTWARE = "IMRAnalysis"
SOFTWARE_VERSION = __version__
# equipment that is a program has no serial number; the attribute is still required
DEVICE_SERIAL_NUMBER = "none"


@dataclass(frozen=True)
class SeriesName:
    """Number and description of one result series, as a PACS lists them beside the source."""

    number: int
    description: str


def new_instance(series: SeriesName) -> dict[str, Any]:
    """What every result object states about itself: new UIDs, its series' name, this program as equipment."""
    return {
        "series_instance_uid": hd.UID(), "series_number": series.number, "series_description": series.description,
        "sop_instance_uid": hd.UID(), "instance_number": 1,
        "manufacturer": SOFTWARE, "manufacturer_model_name": SOFTWARE, "software_versions": SOFTWARE_VERSION,
        "device_serial_number": DEVICE_SERIAL_NUMBER,
    }


SEGMENTATION_SERIES = SeriesName(9901, "IMR analysis - segmentation")
REPORT_SERIES = SeriesName(9902, "IMR analysis - measurements")
OVERVIEW_SERIES = SeriesName(9903, "IMR analysis - overview")
ASYMMETRY_SERIES = SeriesName(9904, "IMR analysis - asymmetry map")


@dataclass(frozen=True)
class SegmentMeaning:
    """Coded category and type of a segment, and whether the program found it or the user drew it."""

    category: Code
    type: Code
    automatic: bool


SEGMENT_MEANINGS: dict[str, SegmentMeaning] = {
    # the follow-up infarct, drawn by the user and carried onto post-EVT by the registration
    "Lesion": SegmentMeaning(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion, automatic=False),
    # perfusion findings: rCBV below (IMR) or above (hyperperfusion) the mirror homolog's
    "IMR": SegmentMeaning(codes.SCT.Function, codes.SCT.Perfusion, automatic=True),
    "Hyperperfusion": SegmentMeaning(codes.SCT.Function, codes.SCT.Perfusion, automatic=True),
    # tissue left out of the measures (haemorrhage, most often), drawn by the user
    "Exclusion": SegmentMeaning(codes.SCT.SpatialAndRelationalConcept, codes.DCM.NonSpecificVolume, automatic=False),
}


def method_parameters(measures: dict[str, Any]) -> dict[str, str]:
    """The method's settings as name -> text: what a reader needs to redo or question the analysis."""
    parameters = measures["parameters"]
    plane = measures["midline"]
    point = ", ".join(f"{value:.2f}" for value in plane["point_mm"])
    normal = ", ".join(f"{value:.4f}" for value in plane["normal"])
    named = {
        "map": f"post-EVT {parameters['perfusion_map']}",
        "threshold": _threshold_text(parameters),
        "direction": parameters["direction"],
        "smoothing": f"{parameters['smoothing_mm']} (used {measures.get('asymmetry_smoothing_mm', 0.0):g} mm)",
        "plane": f"{'estimated' if plane['estimated'] else 'given'}; point ({point}) mm, normal ({normal}), LPS",
    }
    others = {name: str(value) for name, value in parameters.items() if name not in ("perfusion_map", "threshold",
                                                                                     "direction", "smoothing_mm")}
    return {**named, **others}


def _threshold_text(parameters: dict[str, Any]) -> str:
    """The threshold in the unit the asymmetry is shown in (``AsymmetryScale``): % of the mirror, or s."""
    scale = AnalysisParameters.from_dict(parameters).asymmetry_scale
    relation = "of the mirror homolog" if scale.unit == "%" else "difference to the mirror homolog"
    return f"{scale.shown(scale.threshold)} {relation}"
