"""The four segments as a DICOM Segmentation on the post-EVT series' own frames.

BINARY, not LABELMAP: the standard validator (dciodvfy) still rejects labelmap
segmentations, and viewers that predate them show nothing.
"""

from __future__ import annotations

from typing import Any

import highdicom as hd
import numpy as np
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from ..segmentation_file import Segment
from .reference import DicomReference
from .terms import SEGMENT_MEANINGS, SEGMENTATION_SERIES, SOFTWARE, SOFTWARE_VERSION, method_parameters, new_instance


def segmentation(segments: list[Segment], reference: DicomReference, measures: dict[str, Any]) -> hd.seg.Segmentation:
    """A SEG referencing every slice of ``reference``; segment numbers follow the order of ``segments``.

    Empty segments are kept (with no frames), so that segment numbers and the report's
    references stay the same whatever the patient shows.
    """
    masks = np.stack([sitk.GetArrayViewFromImage(segment.mask).astype(bool) for segment in segments], axis=-1)
    frames = masks[list(reference.slices)]  # in the order of the source frames
    algorithm = hd.AlgorithmIdentificationSequence(
        name=SOFTWARE, family=codes.cid7162.NeighborhoodAnalysis, version=SOFTWARE_VERSION,
        parameters=method_parameters(measures))
    descriptions = [_description(number, segment, algorithm) for number, segment in enumerate(segments, 1)]
    return hd.seg.Segmentation(
        source_images=list(reference.instances),
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        **new_instance(SEGMENTATION_SERIES),
        content_label="IMR",
        content_description="IMR analysis: lesion, IMR, hyperperfusion, exclusion",
    )


def _description(number: int, segment: Segment, algorithm: hd.AlgorithmIdentificationSequence
                 ) -> hd.seg.SegmentDescription:
    meaning = SEGMENT_MEANINGS[segment.name]
    red, green, blue = (round(255 * channel) for channel in segment.color)
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=segment.name,
        segmented_property_category=meaning.category,
        segmented_property_type=meaning.type,
        algorithm_type=(hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC if meaning.automatic
                        else hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC),
        algorithm_identification=algorithm,
        tracking_id=segment.name,
        tracking_uid=hd.UID(),
        display_color=hd.color.CIELabColor.from_rgb(red, green, blue),
    )
