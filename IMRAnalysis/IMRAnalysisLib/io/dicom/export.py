"""The ``dicom/`` folder of a result: the results as DICOM objects, filed with the patient's own series.

Written into the (staging) result folder after the overview, so it is part of the same
all-or-nothing result and carries the picture the folder shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom import Dataset

from ...analysis.pipeline import AnalysisResult
from ...conventions import verdict
from ..result_views import segments_of, shown_asymmetry
from .pictures import asymmetry_map, overview_capture
from .reference import DicomReference
from .report import measurement_report
from .segmentation import segmentation

DICOM_FOLDER = "dicom"
SEGMENTATION_FILE = "segmentation.dcm"
REPORT_FILE = "measurements.dcm"
OVERVIEW_FILE = "overview.dcm"
ASYMMETRY_FILE = "asymmetry_map.dcm"
# copied from the source as they are; highdicom copies patient name, ID, birth date and sex,
# study UID, ID, date and time, accession number and referring physician itself
STUDY_ATTRIBUTES = ("StudyDescription", "IssuerOfPatientID")


def write_dicom_folder(folder: Path, result: AnalysisResult, measures: dict[str, Any], reference: DicomReference) -> None:
    """SEG, SR, overview capture and asymmetry map into ``folder/dicom``; ``folder`` already holds overview.png."""
    target = folder / DICOM_FOLDER
    target.mkdir()
    seg = segmentation(segments_of(result), reference, measures)
    objects: dict[str, Dataset] = {
        SEGMENTATION_FILE: seg,
        REPORT_FILE: measurement_report(measures, seg, reference, verdict(measures).sentence),
        OVERVIEW_FILE: overview_capture(folder / "overview.png", reference),
        ASYMMETRY_FILE: asymmetry_map(shown_asymmetry(result), result.parameters.asymmetry_scale, reference),
    }
    for name, dataset in objects.items():
        _carry_study_description(dataset, reference)
        dataset.save_as(target / name, enforce_file_format=True)


def _carry_study_description(dataset: Dataset, reference: DicomReference) -> None:
    """Study-level identity highdicom does not copy, so the PACS lists the results under the same study."""
    source = reference.instances[0]
    for keyword in STUDY_ATTRIBUTES:
        if keyword in source:
            setattr(dataset, keyword, source[keyword].value)
