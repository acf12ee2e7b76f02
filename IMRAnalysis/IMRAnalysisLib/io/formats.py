"""The image file formats read and written, by suffix.
"""

from __future__ import annotations

SUPPORTED_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


# Suffix -> (ITK reader/writer, format name for messages). The reader is chosen by
# suffix rather than by probing, so a file that is not what its name says is rejected.
FORMATS: dict[str, tuple[str, str]] = {
    ".nii": ("NiftiImageIO", "NIfTI"),
    ".nii.gz": ("NiftiImageIO", "NIfTI"),
    ".nrrd": ("NrrdImageIO", "NRRD"),
    ".nhdr": ("NrrdImageIO", "NRRD"),
    ".mha": ("MetaImageIO", "MetaImage"),
    ".mhd": ("MetaImageIO", "MetaImage"),
}


SUPPORTED_TEXT = ", ".join(SUPPORTED_SUFFIXES) + ", or a folder holding one DICOM series"
