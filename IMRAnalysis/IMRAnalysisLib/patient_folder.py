"""The patient folder convention shared by the Slicer module, the web workstation and cohorts.

One file (or DICOM series folder) per role, named after the role: ``post.nii.gz``,
``day5.nrrd``, ``lesion.seg.nrrd``, ``arrival/``... Kept free of MRML so the batch
command can read a folder of patient folders without Slicer.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .image_io import SUPPORTED_SUFFIXES

MAP_ROLES = ("post", "day5", "arrival")
MASK_ROLES = ("lesion", "exclusion")
REQUIRED_ROLES = ("post", "day5", "lesion")
SEGMENTATION_SUFFIX = ".seg.nrrd"


def role_suffixes(role: str) -> tuple[str, ...]:
    """File endings a role's file may have; masks may also be Slicer segmentations."""
    return (*SUPPORTED_SUFFIXES, SEGMENTATION_SUFFIX) if role in MASK_ROLES else SUPPORTED_SUFFIXES


def is_segmentation(path: Path) -> bool:
    return path.name.lower().endswith(SEGMENTATION_SUFFIX)


def patient_files(folder: Path) -> dict[str, Path]:
    """Role -> file by the naming convention; missing and ambiguous files are refused."""
    if not folder.is_dir():
        raise InputError("patient folder not found", folder)
    found: dict[str, list[Path]] = {role: [] for role in (*MAP_ROLES, *MASK_ROLES)}
    for path in sorted(folder.iterdir()):
        role, dot, suffix = path.name.lower().partition(".")
        dicom_folder = path.is_dir() and not dot
        if role in found and (dicom_folder or path.is_file() and dot + suffix in role_suffixes(role)):
            found[role].append(path)
    for role, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(path.name for path in paths)
            raise InputError(f"more than one {role} file ({names}): keep one", folder)
        if not paths and role in REQUIRED_ROLES:
            expected = ", ".join(f"{role}{suffix}" for suffix in role_suffixes(role))
            raise InputError(f"no {role} file: expected one of {expected}", folder)
    return {role: paths[0] for role, paths in found.items() if paths}
