"""The measures as a DICOM SR measurement report (TID 1500), each tied to its segment in the SEG.

One measurement group per segment: its volume, and for IMR the relative volume and the
verdict. A value that ``metrics.json`` leaves null (IMR of a patient who is not
assessable) is left out rather than written as a number, and the verdict then says the
significance is undetermined, with the reason in words. The method's settings are the
algorithm parameters of every group, so the report can be questioned without the files.
"""

from __future__ import annotations

from typing import Any

import highdicom as hd
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from .reference import DicomReference
from .terms import REPORT_SERIES, SEGMENT_MEANINGS, SOFTWARE, SOFTWARE_VERSION, method_parameters, new_instance

MILLILITRE = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
# measure key of each segment's volume in metrics.json
VOLUME_MEASURES = {"Lesion": "lesion_volume_ml", "IMR": "imr_volume_ml", "Hyperperfusion": "hyperperfusion_volume_ml",
                   "Exclusion": "exclusion_volume_ml"}
RELATIVE_MEASURE = "imr_relative_percent"
_VERDICTS = {True: codes.SCT.Significant, False: codes.SCT.NotSignificant, None: codes.SCT.SignificanceUndetermined}


def measurement_report(measures: dict[str, Any], seg: hd.seg.Segmentation, reference: DicomReference,
                       summary: str) -> hd.sr.Comprehensive3DSR:
    """The report on ``seg``'s segments; ``summary`` is the one-line verdict shown on the overview."""
    algorithm = hd.sr.AlgorithmIdentification(
        name=SOFTWARE, version=SOFTWARE_VERSION,
        parameters=[f"{name}: {value}" for name, value in method_parameters(measures).items()])
    groups = [_group(item, measures, seg, reference, algorithm, summary) for item in seg.SegmentSequence]
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name=SOFTWARE, manufacturer_name=SOFTWARE,
                                                       model_name=SOFTWARE)
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device, observer_identifying_attributes=device)),
        procedure_reported=codes.DCM.PerfusionAnalysisBySusceptibilityMRTechnique,
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[seg, *reference.instances],
        content=report[0],
        **new_instance(REPORT_SERIES),
        is_complete=True,
    )


def _group(segment: Any, measures: dict[str, Any], seg: hd.seg.Segmentation, reference: DicomReference,
           algorithm: hd.sr.AlgorithmIdentification, summary: str
           ) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """The measurement group of one SEG segment, tracked by the segment's own tracking UID."""
    name = segment.SegmentLabel
    meaning = SEGMENT_MEANINGS[name]
    measurements = _measured(codes.SCT.Volume, measures[VOLUME_MEASURES[name]], MILLILITRE,
                             codes.DCM.SumOfSegmentedVoxelMethodForVolume)
    evaluations = []
    if name == "IMR":
        measurements += _measured(codes.DCM.VolumeRatio, measures[RELATIVE_MEASURE], codes.UCUM.Percent)
        evaluations.append(hd.sr.QualitativeEvaluation(codes.DCM.LevelOfSignificance,
                                                       _VERDICTS[measures["significant_imr"]]))
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=segment.TrackingUID, identifier=name),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
            segment_number=int(segment.SegmentNumber),
            source_series=hd.sr.SourceSeriesForSegmentation(reference.series_uid)),
        finding_category=meaning.category,
        finding_type=meaning.type,
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations or None,
    )
    if name == "IMR":  # TID 1501 allows a text answer; highdicom builds coded ones only
        group[0].ContentSequence.append(hd.sr.TextContentItem(
            name=codes.DCM.Comment, value=summary, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    return group


def _measured(name: Code, value: float | None, unit: Code | hd.sr.CodedConcept,
              method: Code | None = None) -> list[hd.sr.Measurement]:
    """The measurement, or none where metrics.json holds null (no number stands in for a missing one)."""
    return [] if value is None else [hd.sr.Measurement(name=name, value=value, unit=unit, method=method)]
