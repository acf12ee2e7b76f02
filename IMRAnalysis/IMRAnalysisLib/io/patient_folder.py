"""The patient folder convention shared by the Slicer module, the web workstation and cohorts.

One file (or DICOM series folder) per role, named after the role: ``post.nii.gz``,
``day5.nrrd``, ``lesion.seg.nrrd``, ``arrival/``... A timepoint may instead be its raw
DSC-MRI series, ``post_dsc.nii.gz`` or ``post_dsc/``, from which the map is computed as
``imr-analysis run --post-dsc`` computes it. Kept free of MRML so the batch command can
read a folder of patient folders without Slicer.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..parameters import MAP_LABELS
from .formats import SUPPORTED_SUFFIXES

MAP_ROLES = ("post", "day5", "arrival")
MASK_ROLES = ("lesion", "exclusion")
REQUIRED_ROLES = ("post", "day5", "lesion")
DSC_SUFFIX = "_dsc"
DSC_ROLES = tuple(f"{role}{DSC_SUFFIX}" for role in MAP_ROLES)  # "post_dsc": the series giving the post map
SEGMENTATION_SUFFIX = ".seg.nrrd"
# How messages name each timepoint's map, as the command line does; the day-5 study only
# carries the registration, so it is a perfusion map whatever map the analysis uses
_MAP_ROLE_NAMES = {"arrival": "arrival {} map", "post": "post-EVT {} map", "day5": "day-5 perfusion map"}
_TIMEPOINT_NAMES = {"arrival": "arrival", "post": "post-EVT", "day5": "day-5"}


def map_role(timepoint: str, perfusion_map: str = "rcbv") -> str:
    """How errors name a timepoint's map: ``post-EVT Tmax map`` when the analysis uses Tmax."""
    return _MAP_ROLE_NAMES[timepoint].format(MAP_LABELS[perfusion_map])


def dsc_map_name(timepoint: str, perfusion_map: str = "rcbv") -> str:
    """The name of a map computed from a timepoint's DSC series: ``post-EVT rCBV (from DSC)``."""
    return f"{_TIMEPOINT_NAMES[timepoint]} {MAP_LABELS[perfusion_map]} (from DSC)"


def dsc_timepoint(role: str) -> str | None:
    """``post`` for ``post_dsc``; None for a role that is not a DSC series."""
    return role[: -len(DSC_SUFFIX)] if role in DSC_ROLES else None


def role_suffixes(role: str) -> tuple[str, ...]:
    """File endings a role's file may have; masks may also be Slicer segmentations."""
    return (*SUPPORTED_SUFFIXES, SEGMENTATION_SUFFIX) if role in MASK_ROLES else SUPPORTED_SUFFIXES


def is_segmentation(path: Path) -> bool:
    return path.name.lower().endswith(SEGMENTATION_SUFFIX)


def patient_files(folder: Path) -> dict[str, Path]:
    """Role -> file by the naming convention (``post_dsc``: a DSC series); missing and ambiguous files are refused."""
    if not folder.is_dir():
        raise InputError("patient folder not found", folder)
    found: dict[str, list[Path]] = {role: [] for role in (*MAP_ROLES, *DSC_ROLES, *MASK_ROLES)}
    for path in sorted(folder.iterdir()):
        role, dot, suffix = path.name.lower().partition(".")
        dicom_folder = path.is_dir() and not dot
        if role in found and (dicom_folder or path.is_file() and dot + suffix in role_suffixes(role)):
            found[role].append(path)
    for role, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(path.name for path in paths)
            raise InputError(f"more than one {role} file ({names}): keep one", folder)
    for role in MAP_ROLES:
        series = found[f"{role}{DSC_SUFFIX}"]
        if found[role] and series:
            raise InputError(f"both a {role} map ({found[role][0].name}) and a {role} DSC series "
                             f"({series[0].name}): keep one", folder)
    for role in REQUIRED_ROLES:
        if not found[role] and not found.get(f"{role}{DSC_SUFFIX}"):
            raise InputError(f"no {role} file: expected one of {_expected(role)}", folder)
    return {role: paths[0] for role, paths in found.items() if paths}


def _expected(role: str) -> str:
    names = ", ".join(f"{role}{suffix}" for suffix in role_suffixes(role))
    if role not in MAP_ROLES:
        return names
    series = f"{role}{DSC_SUFFIX}"
    return f"{names}, or a DSC series {series}.nii.gz, {series}.nrrd or a DICOM folder {series}/"
