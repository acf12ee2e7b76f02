"""Maps written as scanners and perfusion software send them: classic MR (stored integers with rescale
slope and intercept), enhanced MR, parametric maps, and a coloured screenshot."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
# what a PACS must file the results under, unchanged
IDENTITY = {
    "PatientName": "Doe^Jane", "PatientID": "IMR-0042", "PatientBirthDate": "19560102", "PatientSex": "F",
    "StudyDate": "20250214", "StudyTime": "101500", "StudyID": "S42", "AccessionNumber": "ACC0042",
    "ReferringPhysicianName": "Roe^Richard", "StudyDescription": "MRI head perfusion post-EVT",
}
RESCALE = (0.0005, -1.0)  # slope, intercept: stored = (value - intercept) / slope


def _ds(values) -> list[str]:
    return [f"{value:.10g}" for value in values]


def part10_dataset(sop_class: str) -> Dataset:
    """An empty instance of ``sop_class`` with the file meta information a DICOM file needs."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    return dataset


def _base(sop_class: str, study: str) -> Dataset:
    """An instance in ``study`` of the patient every test series belongs to."""
    dataset = part10_dataset(sop_class)
    for keyword, value in IDENTITY.items():
        setattr(dataset, keyword, value)
    dataset.StudyInstanceUID = study
    dataset.Modality = "MR"
    return dataset


def write_mr_series(folder: Path, image: sitk.Image, description: str = "rCBV post-EVT",
                    study: str | None = None) -> str:
    """``image`` as a classic MR series in ``folder``; returns its SeriesInstanceUID."""
    folder.mkdir(parents=True, exist_ok=True)
    slope, intercept = RESCALE
    stored = np.round((sitk.GetArrayFromImage(image) - intercept) / slope).astype(np.uint16)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    study, series, frame_of_reference = study or generate_uid(), generate_uid(), generate_uid()
    for k, pixels in enumerate(stored):
        dataset = _base(MR_IMAGE, study)
        dataset.SeriesInstanceUID, dataset.FrameOfReferenceUID = series, frame_of_reference
        dataset.SeriesNumber, dataset.InstanceNumber, dataset.SeriesDescription = 7, k + 1, description
        dataset.Manufacturer, dataset.PositionReferenceIndicator = "Phantom Scanner Co", ""
        dataset.BodyPartExamined, dataset.PatientPosition = "HEAD", "HFS"
        dataset.ImageType = ["DERIVED", "PRIMARY", "PERFUSION"]
        dataset.ScanningSequence, dataset.SequenceVariant, dataset.ScanOptions = "EP", "NONE", ""
        dataset.MRAcquisitionType, dataset.EchoTime, dataset.RepetitionTime = "2D", 30, 1500
        dataset.EchoTrainLength, dataset.SliceThickness = 1, f"{image.GetSpacing()[2]:g}"
        dataset.ImagePositionPatient = _ds(image.TransformIndexToPhysicalPoint((0, 0, k)))
        dataset.ImageOrientationPatient = _ds(list(direction[:, 0]) + list(direction[:, 1]))
        dataset.PixelSpacing = _ds([image.GetSpacing()[1], image.GetSpacing()[0]])
        dataset.Rows, dataset.Columns = pixels.shape
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 0
        dataset.RescaleSlope, dataset.RescaleIntercept, dataset.RescaleType = f"{slope:g}", f"{intercept:g}", "US"
        dataset.PixelData = pixels.tobytes()
        dataset.save_as(folder / f"slice{k:03d}.dcm", enforce_file_format=True)
    return series


def _series(folder: Path) -> list[Dataset]:
    return [pydicom.dcmread(path) for path in sorted(folder.iterdir())]


def write_enhanced_mr(folder: Path, classic: Path) -> str:
    """The classic MR series of ``classic`` as one multi-frame image, as newer scanners send maps."""
    folder.mkdir(parents=True, exist_ok=True)
    image = hd.legacy.LegacyConvertedEnhancedMRImage(_series(classic), series_instance_uid=hd.UID(), series_number=8,
                                                     sop_instance_uid=hd.UID(), instance_number=1)
    image.save_as(folder / "enhanced.dcm", enforce_file_format=True)
    return image.SeriesInstanceUID


def write_parametric_map(folder: Path, classic: Path, image: sitk.Image, stored_as_integers: bool) -> None:
    """``image`` (on the grid of the series in ``classic``) as perfusion software exports a map:
    floats, or integers with a real-world value slope and intercept."""
    folder.mkdir(parents=True, exist_ok=True)
    values = sitk.GetArrayFromImage(image).astype(np.float32)
    slope, intercept = RESCALE if stored_as_integers else (1.0, 0.0)
    pixels = np.round((values - intercept) / slope).astype(np.uint16) if stored_as_integers else values
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="rCBV", lut_explanation="relative cerebral blood volume", unit=hd.sr.CodedConcept("1", "UCUM", "no units"),
        value_range=(0, 65535) if stored_as_integers else (0.0, float(values.max())), slope=slope, intercept=intercept)
    hd.pm.ParametricMap(
        source_images=_series(classic), pixel_array=pixels, series_instance_uid=hd.UID(), series_number=9,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="Perfusion Software Co",
        manufacturer_model_name="Perfusion", software_versions="1", device_serial_number="1",
        contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=2.0, window_width=4.0)],
    ).save_as(folder / "rcbv.dcm", enforce_file_format=True)


def write_rgb_capture(folder: Path, rows: int = 64, columns: int = 64) -> Path:
    """A coloured screenshot of a map, as perfusion software exports one for viewing."""
    folder.mkdir(parents=True, exist_ok=True)
    dataset = _base(SECONDARY_CAPTURE, generate_uid())
    dataset.SeriesInstanceUID, dataset.ConversionType = generate_uid(), "WSD"
    dataset.Rows, dataset.Columns = rows, columns
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation, dataset.PlanarConfiguration = 3, "RGB", 0
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    dataset.PixelData = np.random.default_rng(1).integers(0, 255, (rows, columns, 3), dtype=np.uint8).tobytes()
    path = folder / "capture.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path
