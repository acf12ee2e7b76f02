"""Reading, checking and writing the images the analysis works on.

Every user mistake (missing, damaged or unsuitable file, mask with unexpected labels,
images from different sessions) becomes an ``InputError`` naming the file, so that the
command line can print one line instead of a traceback. Images keep their full physical
geometry (LPS origin, spacing, direction cosines): nothing here resamples or reorients.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import SimpleITK as sitk

from ..analysis.geometry import affine_axes, index_matrix, nonzero_indices, physical_bounds
from ..errors import InputError
from .dicom_folders import dicom_series
from .formats import FORMATS, SUPPORTED_SUFFIXES, SUPPORTED_TEXT
from .nifti_payload import stored_values

_DETACHED_HEADERS = (".nhdr", ".mhd")
_MAX_LISTED_LABELS = 8
_DATA_FILE_FIELD = re.compile(
    r"^\s*(?:data ?file|ElementDataFile)\s*[:=][ \t]*(.*?)\s*$", re.IGNORECASE | re.MULTILINE
)
# Continuous-index slack so that voxels exactly on a shared grid edge count as inside.
_EDGE_TOLERANCE = 1e-6
# Voxel edges of a head image, mm: outside this the header is in other units (metres) or broken.
SPACING_RANGE_MM = (0.1, 30.0)
# Columns of a direction matrix further from orthonormal than this are sheared, not rounded.
_ORTHONORMAL_TOLERANCE = 1e-3
# Voxels along every axis of a map: the smoothing and registration need at least four.
MIN_MAP_VOXELS = 4
_SLICE_GAP_TOLERANCE_MM = 0.01
_PHOTOMETRIC_TAG, _SOP_CLASS_TAG = "0028|0004", "0008|0016"
_SECONDARY_CAPTURE_CLASSES = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame variants (.7.1 to .7.4)
_SHEARED = ("the {role} has a sheared geometry: its axes are not perpendicular unit vectors, so its voxel "
            "volumes would be wrong; resample it onto a regular grid")

_Result = TypeVar("_Result")


# --- reading ----------------------------------------------------------------------------


def read_image(path: str | Path, role: str, series: str | None = None) -> sitk.Image:
    """A single scalar 3D volume from a supported file or a DICOM series folder.

    ``role`` names the image in messages ("post-EVT rCBV map", "lesion mask").
    ``series`` is the SeriesInstanceUID to read from a folder holding several series.
    A 4D image with one volume is returned as 3D with the same spatial geometry.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"the {role} was not found (no such file or folder)", path)
    if path.is_dir():
        return _read_dicom_series(path, role, series)
    return _read_file(path, role)


def read_map(path: str | Path, role: str, series: str | None = None) -> sitk.Image:
    """A float32 rCBV map whose voxels are all finite and non-negative and not all equal."""
    return check_map(read_image(path, role, series), path, role)


def check_map(image: sitk.Image, source: str | Path, role: str) -> sitk.Image:
    """The map as float32 once its values are usable; ``source`` names it in errors.

    Separate from reading so that maps arriving as scene nodes get the same checks.
    """
    _require_enough_voxels(image.GetSize(), source, role)
    image = sitk.Cast(image, sitk.sitkFloat32)
    values = sitk.GetArrayViewFromImage(image)
    require_finite(values, source, role)
    _require_non_negative(values, source, role)
    _require_not_constant(values, source, role)
    return image


def read_mask(
    path: str | Path, role: str, label: int | None = None, *, allow_empty: bool = False, series: str | None = None
) -> sitk.Image:
    """A uint8 0/1 mask: the file's voxels equal to ``label``, or a 0/1 file as it is.

    Without ``label`` anything but 0 and 1 is refused rather than guessed, since a
    0/255 or multi-label file may mean several different structures. Exclusion masks
    pass ``allow_empty=True`` because having nothing to exclude is legitimate.
    """
    if label is not None and label < 1:
        raise InputError(f"label {label} cannot select the {role}: labels are positive integers", path)
    image = read_image(path, role, series)
    values = sitk.GetArrayViewFromImage(image)
    _require_integer_values(values, path, role)
    selected = _select_label(values, label, path, role)
    if not allow_empty and not selected.any():
        raise InputError(f"mask is empty: no voxel of the {role} is set", path)
    mask = sitk.GetImageFromArray(selected.astype(np.uint8))
    mask.CopyInformation(image)
    return mask


def _read_file(path: Path, role: str) -> sitk.Image:
    suffix = _supported_suffix(path)
    if suffix is None:
        raise InputError(f"unsupported file type for the {role}; supported: {SUPPORTED_TEXT}", path)
    image_io, format_name = FORMATS[suffix]
    if suffix in _DETACHED_HEADERS:
        _require_data_file(path, format_name)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO(image_io)
    _read_or_fail(reader.ReadImageInformation, path, role, format_name)
    _check_shape(reader.GetDimension(), reader.GetSize(), reader.GetNumberOfComponents(), path, role)
    spacing, direction = _spatial_geometry(reader.GetSpacing(), reader.GetDirection())
    _check_geometry(spacing, direction, reader.GetOrigin(), path, role)
    if image_io == "NiftiImageIO":
        check_nifti_file(path, role)
    image = _read_or_fail(reader.Execute, path, role, format_name)
    return _squeezed(image) if image.GetDimension() == 4 else image


def _read_dicom_series(folder: Path, role: str, series: str | None) -> sitk.Image:
    files = dicom_series(folder, role, series).files
    _refuse_display_rendering(files[0], folder, role)
    from .multiframe_files import is_multiframe  # pydicom: only for DICOM folders, and every run imports this module

    if is_multiframe(Path(files[0])):
        return _read_multiframe_map([Path(name) for name in files], folder, role)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    image = _read_or_fail(reader.Execute, folder, role, "DICOM")
    _check_shape(image.GetDimension(), image.GetSize(), image.GetNumberOfComponentsPerPixel(), folder, role)
    _check_geometry(image.GetSpacing(), image.GetDirection(), image.GetOrigin(), folder, role)
    _require_even_slices(reader, image, folder, role)
    return image


def _read_multiframe_map(files: list[Path], folder: Path, role: str) -> sitk.Image:
    """An enhanced MR image or parametric map (one volume of frames), as real values on its grid."""
    from .dicom_frames import read_multiframe

    values, grid, _ = read_multiframe(files, files[0] if len(files) == 1 else folder, role)
    if len(values) > 1:
        raise InputError(f"the {role} holds {len(values)} volumes (a time series); a single 3D map is expected", folder)
    image = sitk.GetImageFromArray(values[0])
    image.CopyInformation(grid)
    _check_shape(3, image.GetSize(), 1, folder, role)
    _check_geometry(image.GetSpacing(), image.GetDirection(), image.GetOrigin(), folder, role)
    return image


def _refuse_display_rendering(first_file: str, folder: Path, role: str) -> None:
    """Refuse a coloured picture of a map (vendors export screenshots as secondary captures):
    its pixels are colours of a colour bar, not the map's values."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(first_file)
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return  # the series reader reports damaged files with its own message
    photometric = reader.GetMetaData(_PHOTOMETRIC_TAG).strip() if reader.HasMetaDataKey(_PHOTOMETRIC_TAG) else ""
    if photometric and not photometric.startswith("MONOCHROME"):
        capture = ", secondary capture" if reader.HasMetaDataKey(_SOP_CLASS_TAG) and reader.GetMetaData(
            _SOP_CLASS_TAG).strip().startswith(_SECONDARY_CAPTURE_CLASSES) else ""
        raise InputError(f"the {role} is a colour picture ({photometric}{capture}): a display rendering of a map, not "
                         "its values; export the map itself (MR image or Parametric Map) from the perfusion software",
                         folder)


def _require_even_slices(reader: sitk.ImageSeriesReader, image: sitk.Image, folder: Path, role: str) -> None:
    """Refuse missing or unevenly spaced slices: ITK stacks them as if evenly spaced, so volumes would be wrong."""
    key = "0020|0032"  # Image Position (Patient)
    if not all(reader.HasMetaDataKey(index, key) for index in range(image.GetDepth())):
        return
    normal = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)[:, 2]
    depths = [np.asarray(reader.GetMetaData(index, key).split("\\"), dtype=float) @ normal
              for index in range(image.GetDepth())]
    steps = np.abs(np.diff(depths))
    if steps.size and np.ptp(steps) > max(_SLICE_GAP_TOLERANCE_MM, 0.01 * float(np.mean(steps))):
        raise InputError(f"the {role} has missing or unevenly spaced slices (gaps from {steps.min():.3g} to "
                         f"{steps.max():.3g} mm); a complete series is expected", folder)


def _supported_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((suffix for suffix in SUPPORTED_SUFFIXES if name.endswith(suffix)), None)


def _read_or_fail(step: Callable[[], _Result], path: Path, role: str, format_name: str) -> _Result:
    """Run an ITK read step; ITK's own failure (a multi-line C++ report) becomes one line."""
    try:
        return step()
    except RuntimeError as error:
        if "orthonormal" in str(error):  # ITK's NIfTI reader refuses a sheared sform/qform itself
            raise InputError(_SHEARED.format(role=role), path) from error
        raise InputError(
            f"the {role} cannot be read: the file is damaged, truncated or not a valid {format_name} file",
            path,
        ) from error


def _require_data_file(header: Path, format_name: str) -> None:
    """A detached header whose data file is gone gets a message naming that data file."""
    name = _detached_data_file_name(header)
    if name is not None and not (header.parent / name).is_file():
        raise InputError(f"the data file '{name}' named in this {format_name} header is missing", header)


def _detached_data_file_name(header: Path) -> str | None:
    """The single data file a .nhdr/.mhd header names, or None (embedded, list, pattern, unreadable)."""
    try:
        text = header.read_bytes()[:65536].decode("latin-1")
    except OSError:
        return None
    match = _DATA_FILE_FIELD.search(text)
    if match is None:
        return None
    words = match.group(1).split()
    return words[0] if len(words) == 1 and words[0] not in ("LOCAL", "LIST") else None


# --- shape and geometry -----------------------------------------------------------------


def _check_shape(dimension: int, size: tuple[int, ...], components: int, path: Path, role: str) -> None:
    """Refuse what the analysis cannot mean: colour/vector voxels, time series, single slices."""
    if components > 1:
        raise InputError(
            f"the {role} has {components} values per voxel (vector or colour image); "
            "a scalar image is expected",
            path,
        )
    if dimension == 4 and size[3] > 1:
        raise InputError(f"the {role} is 4D ({size[3]} volumes); a single 3D volume is expected", path)
    if dimension not in (3, 4):
        raise InputError(f"the {role} is {dimension}D; a single 3D volume is expected", path)
    if min(size[:3]) == 1:
        shape = " x ".join(str(n) for n in size[:3])
        raise InputError(
            f"the {role} is 2D (a single slice of {shape} voxels); a 3D volume is expected", path
        )


def _require_enough_voxels(size: tuple[int, ...], path: str | Path, role: str) -> None:
    if min(size) < MIN_MAP_VOXELS:
        shape = " x ".join(str(n) for n in size)
        raise InputError(f"the {role} has too few voxels along one axis ({shape}); "
                         f"a map needs at least {MIN_MAP_VOXELS} in every direction", path)


def _spatial_geometry(
    spacing: tuple[float, ...], direction: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Spacing and direction of the first three axes (the whole geometry of a 3D image)."""
    dimension = len(spacing)
    matrix = np.asarray(direction, dtype=float).reshape(dimension, dimension)
    return np.asarray(spacing[:3], dtype=float), matrix[:3, :3]


def _check_geometry(
    spacing: tuple[float, ...] | np.ndarray,
    direction: tuple[float, ...] | np.ndarray,
    origin: tuple[float, ...],
    path: Path,
    role: str,
) -> None:
    """Refuse geometries that cannot place voxels in space (ITK's own refusal is unreadable)."""
    spacing = np.asarray(spacing, dtype=float)
    matrix = np.asarray(direction, dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        values = ", ".join(f"{s:g}" for s in spacing)
        raise InputError(
            f"the {role} has a degenerate geometry: voxel spacing ({values}) must be positive", path
        )
    low, high = SPACING_RANGE_MM
    if np.any(spacing < low) or np.any(spacing > high):
        values = ", ".join(f"{s:g}" for s in spacing)
        raise InputError(f"the {role} has a voxel spacing of ({values}) mm, not plausible for a head image "
                         f"(expected {low:g} to {high:g} mm; is the header in metres?)", path)
    if not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-6:
        raise InputError(f"the {role} has a degenerate geometry: its direction matrix is singular", path)
    if np.abs(matrix.T @ matrix - np.eye(3)).max() > _ORTHONORMAL_TOLERANCE:
        raise InputError(_SHEARED.format(role=role), path)
    if not np.all(np.isfinite(origin)):
        raise InputError(f"the {role} has a degenerate geometry: its origin is not a finite point", path)


def _squeezed(image: sitk.Image) -> sitk.Image:
    """The single volume of a 4D image, keeping the spatial origin, spacing and direction."""
    size = list(image.GetSize())
    return sitk.Extract(
        image,
        size=size[:3] + [0],
        index=[0, 0, 0, 0],
        directionCollapseToStrategy=sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX,
    )


def check_nifti_file(path: Path, role: str) -> None:
    """Refuse a NIfTI file cut short or holding NaN/inf voxels: ITK would zero-fill or zero them silently."""
    values = stored_values(path)
    if values is None:
        raise InputError(f"the {role} file is truncated or damaged: its image data is incomplete", path)
    if values.dtype.kind == "f":
        require_finite(values, path, role)


# --- voxel value checks -----------------------------------------------------------------


def require_finite(values: np.ndarray, path: str | Path, role: str) -> None:
    """Refuse NaN and infinite values, counting each, for maps and series alike."""
    finite = np.isfinite(values)
    if not finite.all():
        nan = int(np.count_nonzero(np.isnan(values)))
        infinite = values.size - int(np.count_nonzero(finite)) - nan
        raise InputError(
            f"the {role} has {nan} NaN and {infinite} infinite voxels; every voxel must be a finite number "
            "(set voxels outside the brain to 0)",
            path,
        )


def _require_non_negative(values: np.ndarray, path: str | Path, role: str) -> None:
    lowest = float(values.min())
    if lowest < 0:
        count = int(np.count_nonzero(values < 0))
        raise InputError(
            f"the {role} has {count} negative voxels (minimum {lowest:.4g}); rCBV cannot be negative", path
        )


def _require_not_constant(values: np.ndarray, path: str | Path, role: str) -> None:
    lowest, highest = float(values.min()), float(values.max())
    if lowest == highest:
        what = "all zero" if highest == 0 else f"constant (every voxel is {highest:g})"
        raise InputError(f"the {role} is {what}: it holds no perfusion information", path)


def _require_integer_values(values: np.ndarray, path: str | Path, role: str) -> None:
    if values.dtype.kind != "f":
        return
    fractional = values != np.round(values)  # NaN counts as fractional
    count = int(np.count_nonzero(fractional))
    if count:
        example = float(values[fractional].flat[0])
        raise InputError(
            f"the {role} has {count} voxels with non-integer values (e.g. {example:g}); "
            "a mask holds integer labels (was it resampled with linear instead of "
            "nearest-neighbour interpolation?)",
            path,
        )


def _select_label(values: np.ndarray, label: int | None, path: str | Path, role: str) -> np.ndarray:
    if label is None:
        if np.count_nonzero((values != 0) & (values != 1)):
            raise InputError(
                f"the {role} has labels {_label_list(values)}, not just 0 and 1: choose the label to use",
                path, setting="mask label",
            )
        return values == 1
    selected = values == label
    if not selected.any():
        raise InputError(f"label {label} is not in the {role} (labels found: {_label_list(values)})", path)
    return selected


def _label_list(values: np.ndarray) -> str:
    labels = [f"{v:g}" for v in np.unique(values)]
    if len(labels) > _MAX_LISTED_LABELS:
        return ", ".join(labels[:_MAX_LISTED_LABELS]) + f", ... ({len(labels)} distinct values)"
    return ", ".join(labels)


# --- physical extent ----------------------------------------------------------------------


def require_overlap(
    image_a: sitk.Image,
    path_a: str | Path,
    image_b: sitk.Image,
    path_b: str | Path,
    min_fraction: float = 0.5,
) -> None:
    """Catch images from different patients or sessions before they are compared voxel by voxel."""
    low_a, high_a = physical_bounds(image_a)
    low_b, high_b = physical_bounds(image_b)
    shared = np.prod(np.clip(np.minimum(high_a, high_b) - np.maximum(low_a, low_b), 0, None))
    smaller = min(np.prod(high_a - low_a), np.prod(high_b - low_b))
    fraction = float(shared / smaller)
    if fraction < min_fraction:
        raise InputError(
            f"{path_a} and {path_b} do not overlap in physical space ({fraction:.0%} of the smaller "
            f"one is shared, at least {min_fraction:.0%} is needed): "
            "check that they belong to the same patient/session"
        )


def require_distinct(
    image_a: sitk.Image, path_a: str | Path, role_a: str, image_b: sitk.Image, path_b: str | Path, role_b: str
) -> None:
    """Refuse one study given for two timepoints (same file, or a copy): it would register perfectly
    and say nothing about change, without a word of warning."""
    same_grid = image_a.GetSize() == image_b.GetSize() and all(
        np.allclose(getter(image_a), getter(image_b), rtol=0, atol=1e-6)
        for getter in (sitk.Image.GetOrigin, sitk.Image.GetSpacing, sitk.Image.GetDirection))
    if same_grid and np.array_equal(sitk.GetArrayViewFromImage(image_a), sitk.GetArrayViewFromImage(image_b)):
        raise InputError(f"the {role_b} is the same image as the {role_a} ({path_a}); give the {role_b} itself",
                         path_b)


def require_inside(
    mask: sitk.Image, mask_path: str | Path, image: sitk.Image, image_path: str | Path, role: str
) -> None:
    """Refuse a mask (named ``role`` in messages) whose voxels mostly fall outside the image.

    Positions are compared physically, so the mask may be on any grid.
    """
    indices = nonzero_indices(mask)
    count = indices[0].size
    if count == 0:
        return
    # Mask index -> LPS point -> image continuous index, as one affine map.
    to_image = np.linalg.inv(index_matrix(image))
    matrix = to_image @ index_matrix(mask)
    offset = to_image @ (np.asarray(mask.GetOrigin()) - np.asarray(image.GetOrigin()))
    inside = np.ones(count, dtype=bool)
    for axis, size in zip(affine_axes(matrix, offset, indices), image.GetSize()):
        inside &= (axis >= -0.5 - _EDGE_TOLERANCE) & (axis <= size - 0.5 + _EDGE_TOLERANCE)
    outside = 1.0 - np.count_nonzero(inside) / count
    if outside > 0.5:
        raise InputError(
            f"{outside:.0%} of the {role} voxels lie outside the field of view of {image_path}: "
            "check that they belong to the same patient/session",
            mask_path,
        )


# --- writing ------------------------------------------------------------------------------


def write_image(image: sitk.Image, path: str | Path, compress: bool = True) -> None:
    """Write so that ``path`` is either the old file or the complete new one, never half-written.

    The image is written under its final name into a hidden temporary folder beside
    ``path`` (so a .nhdr/.mhd header names the right data file), then moved into place,
    data file first and header last.
    """
    path = Path(path)
    suffix = _supported_suffix(path)
    if suffix is None:
        raise InputError(f"cannot write this file type; supported: {', '.join(SUPPORTED_SUFFIXES)}", path)
    if not path.parent.is_dir():
        raise InputError("cannot write: the folder does not exist", path)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror}", path) from error
    try:
        _write_with_itk(image, staging / path.name, FORMATS[suffix][0], compress, path)
        _move_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_with_itk(image: sitk.Image, target: Path, image_io: str, compress: bool, path: Path) -> None:
    writer = sitk.ImageFileWriter()
    writer.SetFileName(str(target))
    writer.SetImageIO(image_io)
    writer.SetUseCompression(compress)
    try:
        writer.Execute(image)
    except RuntimeError as error:
        raise InputError(f"cannot write: {_itk_reason(error)}", path) from error


def _move_into_place(staging: Path, path: Path) -> None:
    header = staging / path.name
    try:
        for written in sorted(staging.iterdir()):
            if written != header:
                os.replace(written, path.parent / written.name)
        os.replace(header, path)
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror}", path) from error


def _itk_reason(error: RuntimeError) -> str:
    """The last line of an ITK report without its source location and object address."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return re.sub(r"^.*?ERROR:\s*(\w+\(0x[0-9a-fA-F]+\):\s*)?", "", lines[-1]) if lines else "unknown error"
