"""3D Slicer's ``.seg.nrrd`` segmentation format, read and written without Slicer.

The layout follows what Slicer's own ``vtkMRMLSegmentationStorageNode`` writes and
reads (Slicer/Slicer, Libs/MRML/Core/vtkMRMLSegmentationStorageNode.cxx):

- One 3D NRRD (``kinds: domain domain domain``) when every segment fits in one layer,
  otherwise 4D with the layer axis first (``kinds: list domain domain domain``, its
  space direction ``none``); ``space: left-posterior-superior``; gzip.
- Overlapping segments cannot share a labelmap, so segments are packed into layers as
  Slicer's ``CollapseBinaryLabelmaps`` does: each goes to the first layer it does not
  overlap, with the next free label value of that layer.
- ``SegmentN_Extent`` is in file voxel indices. Slicer crops a whole layer to the extent
  of the first segment listed in it, so every segment of a layer gets the full grid
  extent. An empty segment is written by Slicer as ``0 -1 0 -1 0 -1``; empty segments
  here share one all-zero layer of their own, so that extent never crops real voxels.
- ``Segmentation_ConversionParameters`` carries the reference volume's geometry
  (IJK-to-RAS matrix row by row, then the extent, each value followed by ``;``), so that
  Slicer neither crops nor resamples the segments when it loads or saves them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import nrrd
import numpy as np
import SimpleITK as sitk

from ..conventions import LPS_TO_RAS
from ..errors import InputError
from .safe_output import atomic_path

SOURCE_REPRESENTATION = "Binary labelmap"
_GEOMETRY_PARAMETER = "Reference image geometry"
_GEOMETRY_DESCRIPTION = (
    "Image geometry description string determining the geometry of the labelmap that is "
    "created in course of conversion. Can be copied from a volume, using the button."
)
_STATUS_TAG = "Segmentation.Status:completed|"
_EMPTY_EXTENT = (0, -1, 0, -1, 0, -1)
_MAX_LABEL = 255


@dataclass(frozen=True)
class Segment:
    """One named, coloured binary mask (uint8 0/1 on the reference grid)."""

    name: str
    color: tuple[float, float, float]
    mask: sitk.Image


@dataclass(frozen=True)
class _Placement:
    layer: int
    label: int
    empty: bool


def write_segmentation(path: str | Path, segments: Sequence[Segment], reference: sitk.Image) -> None:
    """Write ``segments`` as a Slicer segmentation whose reference geometry is ``reference``."""
    _check_segments(segments, reference)
    masks = [_voxels(segment.mask) for segment in segments]
    layers, placements = _pack_layers(masks)
    header = _image_header(reference, len(layers))
    header.update(_segmentation_fields(reference))
    for index, (segment, placement) in enumerate(zip(segments, placements)):
        header.update(_segment_fields(index, segment, placement, reference.GetSize()))
    data = layers[0] if len(layers) == 1 else np.stack(layers)
    with atomic_path(path) as temporary:
        nrrd.write(str(temporary), data, _sorted_custom_fields(header), index_order="F")


def _check_segments(segments: Sequence[Segment], reference: sitk.Image) -> None:
    """Reject what Slicer could not represent (programming errors, not user input)."""
    if not segments:
        raise ValueError("a segmentation file needs at least one segment")
    names = [segment.name for segment in segments]
    if len(set(names)) != len(names):
        raise ValueError(f"segment names must be unique, got {names}")
    for segment in segments:
        if not segment.name or not segment.name.isascii() or not segment.name.isprintable():
            raise ValueError(f"segment name {segment.name!r} must be one non-empty line of ASCII (pynrrd)")
        if len(segment.color) != 3 or not all(0.0 <= float(c) <= 1.0 for c in segment.color):
            raise ValueError(f"segment {segment.name!r} colour must be three values in [0, 1]")
        if not _same_grid(segment.mask, reference):
            raise ValueError(f"segment {segment.name!r} mask is not on the reference grid")


def _same_grid(image: sitk.Image, reference: sitk.Image) -> bool:
    return (
        image.GetSize() == reference.GetSize()
        and np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-6)
        and np.allclose(image.GetSpacing(), reference.GetSpacing(), atol=1e-9)
        and np.allclose(image.GetDirection(), reference.GetDirection(), atol=1e-9)
    )


def _voxels(mask: sitk.Image) -> np.ndarray:
    """Boolean array indexed (i, j, k), the NRRD file's axis order."""
    return sitk.GetArrayViewFromImage(mask).transpose(2, 1, 0) != 0


def _pack_layers(masks: list[np.ndarray]) -> tuple[list[np.ndarray], list[_Placement]]:
    """Share layers between non-overlapping segments; empty segments share a last, empty layer."""
    layers: list[np.ndarray] = []
    placements: dict[int, _Placement] = {}
    for index, mask in enumerate(masks):
        if not mask.any():
            continue
        layer = next((n for n, labels in enumerate(layers) if _fits(labels, mask)), len(layers))
        if layer == len(layers):
            layers.append(np.zeros(mask.shape, dtype=np.uint8))
        label = int(layers[layer].max()) + 1
        layers[layer][mask] = label
        placements[index] = _Placement(layer, label, empty=False)
    empty = [index for index, mask in enumerate(masks) if index not in placements]
    if empty:
        layers.append(np.zeros(masks[0].shape, dtype=np.uint8))
        for label, index in enumerate(empty, start=1):
            placements[index] = _Placement(len(layers) - 1, label, empty=True)
    return layers, [placements[index] for index in range(len(masks))]


def _fits(labels: np.ndarray, mask: np.ndarray) -> bool:
    return labels.max() < _MAX_LABEL and not labels[mask].any()


def _ijk_to_lps(image: sitk.Image) -> np.ndarray:
    """3x3 matrix whose columns are the voxel axes in LPS millimetres."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return direction * np.asarray(image.GetSpacing(), dtype=float)


def _image_header(reference: sitk.Image, layer_count: int) -> dict:
    axes = _ijk_to_lps(reference).T
    kinds = ["domain", "domain", "domain"]
    if layer_count > 1:
        axes = np.vstack([np.full(3, np.nan), axes])
        kinds = ["list", *kinds]
    return {
        "space": "left-posterior-superior",
        "space directions": axes,
        "kinds": kinds,
        "encoding": "gzip",
        "space origin": np.asarray(reference.GetOrigin(), dtype=float),
    }


def _segmentation_fields(reference: sitk.Image) -> dict[str, str]:
    geometry = f"{_GEOMETRY_PARAMETER}|{reference_geometry_string(reference)}|{_GEOMETRY_DESCRIPTION}&"
    return {
        "Segmentation_ContainedRepresentationNames": f"{SOURCE_REPRESENTATION}|",
        "Segmentation_ConversionParameters": geometry,
        "Segmentation_MasterRepresentation": SOURCE_REPRESENTATION,
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
    }


def reference_geometry_string(image: sitk.Image) -> str:
    """Slicer's serialized image geometry: IJK-to-RAS (row-major 4x4), then the IJK extent."""
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag(LPS_TO_RAS) @ _ijk_to_lps(image)
    matrix[:3, 3] = np.diag(LPS_TO_RAS) @ np.asarray(image.GetOrigin(), dtype=float)
    extent = _full_extent(image.GetSize())
    return "".join(f"{_number(value)};" for value in [*matrix.ravel(), *extent])


def _full_extent(size: Sequence[int]) -> tuple[int, ...]:
    return tuple(bound for count in size for bound in (0, int(count) - 1))


def _number(value: float) -> str:
    """Shortest text that reads back to the same double (as Slicer's vtkNumberToString)."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _segment_fields(index: int, segment: Segment, placement: _Placement, size: Sequence[int]) -> dict[str, str]:
    extent = _EMPTY_EXTENT if placement.empty else _full_extent(size)
    prefix = f"Segment{index}_"
    return {
        prefix + "Color": " ".join(_number(c) for c in segment.color),
        prefix + "ColorAutoGenerated": "0",
        prefix + "Extent": " ".join(str(bound) for bound in extent),
        prefix + "ID": segment.name,
        prefix + "LabelValue": str(placement.label),
        prefix + "Layer": str(placement.layer),
        prefix + "Name": segment.name,
        prefix + "NameAutoGenerated": "0",
        prefix + "Tags": _STATUS_TAG,
    }


def _sorted_custom_fields(header: dict) -> dict:
    """Key-value fields in name order, as Slicer's writer (a std::map) emits them."""
    standard = {key: value for key, value in header.items() if not _is_custom(key)}
    custom = {key: header[key] for key in sorted(header) if _is_custom(key)}
    return {**standard, **custom}


def _is_custom(key: str) -> bool:
    return key.startswith(("Segment", "Segmentation_"))


def read_segmentation(path: str | Path) -> dict[str, sitk.Image]:
    """Segment name -> uint8 0/1 mask on the file's grid, for a Slicer ``.seg.nrrd``."""
    path = Path(path)
    data, header = _read_nrrd(path)
    layers = _layers(data, header, path)
    fields = _segment_table(header)
    if not fields and not any(key.startswith("Segmentation_") for key in header):
        raise InputError("not a 3D Slicer segmentation (no Segment or Segmentation_ fields)", path)
    template = _geometry_template(header, layers.shape[1:], path)
    masks: dict[str, sitk.Image] = {}
    for index in sorted(fields):
        name, mask = _segment_mask(index, fields[index], layers, path)
        if name in masks:
            raise InputError(f"two segments are named {name!r}; rename one in Slicer", path)
        masks[name] = _mask_image(mask, template)
    return masks


def _read_nrrd(path: Path) -> tuple[np.ndarray, dict]:
    try:
        with open(path, "rb") as stream:
            header = nrrd.read_header(_header_lines(stream, path))
            return nrrd.read_data(header, stream, str(path), index_order="F"), header
    except FileNotFoundError as error:
        raise InputError("segmentation file not found", path) from error
    except (nrrd.NRRDError, OSError, ValueError, EOFError, zlib.error) as error:
        raise InputError(f"not a readable NRRD segmentation ({error})", path) from error


def _header_lines(stream: BinaryIO, path: Path) -> list[str]:
    """Header lines decoded as UTF-8 (Slicer keeps accented segment names; pynrrd would drop them).

    Leaves ``stream`` at the first byte after the header, where attached data starts.
    """
    magic = stream.readline(16)
    if not magic.startswith(b"NRRD"):
        raise InputError("not a NRRD file (a .seg.nrrd starts with 'NRRD')", path)
    lines = [magic.decode("ascii")]
    while lines[-1].strip():
        lines.append(stream.readline().decode("utf-8", errors="replace"))
    return lines


def _layers(data: np.ndarray, header: dict, path: Path) -> np.ndarray:
    """Label layers as one (layer, i, j, k) integer array."""
    kinds = [str(kind) for kind in header.get("kinds", ["domain"] * data.ndim)]
    if not np.issubdtype(data.dtype, np.integer):
        raise InputError(f"segmentation voxels must be integer labels, got {data.dtype}", path)
    if data.ndim == 3 and kinds == ["domain"] * 3:
        return data[np.newaxis]
    if data.ndim == 4 and kinds == ["list", "domain", "domain", "domain"]:
        return data
    raise InputError(f"segmentation must be 3D or 4D with the layer axis first, got kinds {kinds}", path)


def _segment_table(header: dict) -> dict[int, dict[str, str]]:
    """Per-segment fields from ``Segment<index>_<field>`` keys."""
    table: dict[int, dict[str, str]] = {}
    for key, value in header.items():
        prefix, _, field = key.partition("_")
        if prefix.startswith("Segment") and prefix[len("Segment"):].isdigit() and field:
            table.setdefault(int(prefix[len("Segment"):]), {})[field] = str(value)
    return table


def _geometry_template(header: dict, shape: tuple[int, ...], path: Path) -> sitk.Image:
    """An empty image carrying the file's LPS geometry."""
    space = header.get("space")
    if space not in ("left-posterior-superior", "right-anterior-superior"):
        raise InputError(f"segmentation space must be LPS or RAS, got {space!r}", path)
    try:
        axes = np.asarray(header["space directions"], dtype=float)[-3:].T
        origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    except (KeyError, TypeError, ValueError) as error:
        raise InputError("segmentation has no usable 'space directions'", path) from error
    if space == "right-anterior-superior":
        axes, origin = np.diag(LPS_TO_RAS) @ axes, np.diag(LPS_TO_RAS) @ origin
    spacing = np.linalg.norm(axes, axis=0)
    if axes.shape != (3, 3) or not np.all(np.isfinite(axes)) or np.any(spacing == 0):
        raise InputError("segmentation 'space directions' must be three finite non-zero vectors", path)
    template = sitk.Image([int(n) for n in shape], sitk.sitkUInt8)
    template.SetOrigin(origin.tolist())
    template.SetSpacing(spacing.tolist())
    template.SetDirection((axes / spacing).ravel().tolist())
    return template


def _segment_mask(index: int, fields: dict[str, str], layers: np.ndarray, path: Path) -> tuple[str, np.ndarray]:
    """Name and (i, j, k) mask of one segment, clipped to its extent as Slicer does."""
    name = fields.get("Name") or fields.get("ID") or f"Segment_{index}"
    try:
        layer = int(fields.get("Layer", index))
        label = int(fields.get("LabelValue", 1))
        extent = [int(v) for v in fields["Extent"].split()] if "Extent" in fields else None
    except ValueError as error:
        raise InputError(f"segment {name!r} has a malformed field ({error})", path) from error
    if not 0 <= layer < layers.shape[0]:
        raise InputError(f"segment {name!r} refers to layer {layer}, the file has {layers.shape[0]}", path)
    mask = layers[layer] == label
    if extent is not None:
        mask &= _extent_mask(extent, mask.shape, name, path)
    return name, mask


def _extent_mask(extent: list[int], shape: tuple[int, ...], name: str, path: Path) -> np.ndarray:
    if len(extent) != 6:
        raise InputError(f"segment {name!r} extent must have six numbers", path)
    inside = np.zeros(shape, dtype=bool)
    low = [max(extent[2 * axis], 0) for axis in range(3)]
    high = [min(extent[2 * axis + 1], shape[axis] - 1) for axis in range(3)]
    if all(lo <= hi for lo, hi in zip(low, high)):
        inside[low[0] : high[0] + 1, low[1] : high[1] + 1, low[2] : high[2] + 1] = True
    return inside


def _mask_image(mask: np.ndarray, template: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(mask.transpose(2, 1, 0), dtype=np.uint8))
    image.CopyInformation(template)
    return image
