"""Pictures for any PACS viewer: the overview as a secondary capture, the asymmetry map as a parametric map.

The secondary capture is what every viewer can show; the parametric map keeps the
asymmetry's values (% or s, NaN where undefined, as in the NRRD) for viewers that read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import highdicom as hd
import numpy as np
import SimpleITK as sitk
from PIL import Image

from ...parameters import AsymmetryScale
from .reference import DicomReference
from .terms import ASYMMETRY_SERIES, OVERVIEW_SERIES, new_instance

# the overview is drawn in radiological convention: patient's left to the right, posterior down
_OVERVIEW_ORIENTATION = ("L", "P")
# UCUM code and meaning of each shown unit ("": a difference of relative values)
_Picture = TypeVar("_Picture", hd.sc.SCImage, hd.pm.ParametricMap)
_UCUM = {"%": ("%", "Percent"), "s": ("s", "second"), "": ("1", "no units")}


def overview_capture(png: Path, reference: DicomReference) -> hd.sc.SCImage:
    """The overview PNG as an RGB secondary capture in the patient's study."""
    with Image.open(png) as picture:
        pixels = np.asarray(picture.convert("RGB"))
    capture = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=reference.instances[0],
        pixel_array=pixels,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        patient_orientation=_OVERVIEW_ORIENTATION,
        **new_instance(OVERVIEW_SERIES),
    )
    return _of_the_head(capture, reference)


def asymmetry_map(asymmetry: sitk.Image, scale: AsymmetryScale, reference: DicomReference) -> hd.pm.ParametricMap:
    """The asymmetry in shown units on the post-EVT series' frames."""
    values = sitk.GetArrayFromImage(asymmetry).astype(np.float32)[list(reference.slices)]  # source frame order
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="asymmetry",
        lut_explanation=f"{scale.map_label} asymmetry against the mirror homolog ({scale.unit})",
        unit=hd.sr.CodedConcept(_UCUM[scale.unit][0], "UCUM", _UCUM[scale.unit][1]),
        value_range=(low, high),
        slope=1.0,
        intercept=0.0,
    )
    return _of_the_head(hd.pm.ParametricMap(
        source_images=list(reference.instances),
        pixel_array=values,
        **new_instance(ASYMMETRY_SERIES),
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(
            window_center=0.0, window_width=4.0 * scale.threshold, window_explanation="two thresholds either side")],
        content_label="ASYMMETRY",
    ), reference)


def _of_the_head(image: _Picture, reference: DicomReference) -> _Picture:
    """The body part, as the source names it: the head is unpaired, so no laterality is required."""
    image.BodyPartExamined = reference.instances[0].get("BodyPartExamined") or "HEAD"
    return image
