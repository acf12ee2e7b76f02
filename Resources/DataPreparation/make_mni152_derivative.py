"""Make the reduced MNI152 2009a symmetric tissue maps that the digital phantom ships with.

Run once from the repository root (provenance; the output is committed):

    python Resources/DataPreparation/make_mni152_derivative.py [--source DIR] [--output DIR]

The source is the 1 mm grey- and white-matter probability maps of the symmetric ICBM152
2009a template (uint8, 197x233x189, x = 0 at voxel 98). Each map is low-pass filtered with
the separable [1, 2, 1] / 4 kernel and sampled at even millimetre coordinates: an exact
anti-aliased 2x decimation whose sample points are symmetric about x = 0, so the
template's exact left-right symmetry survives (x = 0 is a voxel centre). The result is
cropped to the tissue bounding box plus a margin (symmetric in x), stored in LPS with an
identity direction, as uint8 (probability x 255) gzip NIfTI.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "mni152"
DEFAULT_OUTPUT = REPO / "IMRAnalysis" / "IMRAnalysisLib" / "data"
SOURCES = {
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
SPACING_MM = 2
MARGIN_MM = 6
TISSUE_THRESHOLD = 0.02


def read_lps(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Probability array indexed (x, y, z) in LPS order, and the LPS coordinate of voxel 0."""
    image = sitk.ReadImage(str(path))
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    if not np.allclose(np.abs(direction), np.eye(3)) or image.GetSpacing() != (1.0, 1.0, 1.0):
        raise ValueError(f"{path}: expected an axis-aligned 1 mm grid")
    array = sitk.GetArrayFromImage(image).transpose(2, 1, 0).astype(np.float64) / 255.0
    origin = np.asarray(image.GetOrigin())
    signs = np.diag(direction)
    for axis in range(3):
        if signs[axis] < 0:
            array = np.flip(array, axis)
            origin[axis] -= array.shape[axis] - 1
    return array, origin


def decimate(array: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[1, 2, 1] / 4 filter, then keep voxels at even coordinates (symmetric about 0)."""
    kernel = np.array([0.25, 0.5, 0.25])
    for axis in range(3):
        array = ndimage.convolve1d(array, kernel, axis=axis, mode="constant")
    start = (np.asarray(origin, dtype=int) % SPACING_MM).astype(int)
    decimated = array[start[0]::SPACING_MM, start[1]::SPACING_MM, start[2]::SPACING_MM]
    return decimated, origin + start


def crop_box(tissue: np.ndarray, origin: np.ndarray) -> tuple[slice, slice, slice]:
    """Tissue bounding box plus margin, widened in x to stay symmetric about x = 0."""
    index = np.argwhere(tissue > TISSUE_THRESHOLD)
    margin = MARGIN_MM // SPACING_MM
    low = np.maximum(index.min(0) - margin, 0)
    high = np.minimum(index.max(0) + margin + 1, tissue.shape)
    centre = int(round(-origin[0] / SPACING_MM))
    half = max(centre - low[0], high[0] - 1 - centre)
    low[0], high[0] = centre - half, centre + half + 1
    if low[0] < 0 or high[0] > tissue.shape[0]:
        raise ValueError("the crop box does not fit symmetrically about x = 0")
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high))


def to_image(array: np.ndarray, origin: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(np.round(array.transpose(2, 1, 0) * 255).astype(np.uint8))
    image.SetSpacing((float(SPACING_MM),) * 3)
    image.SetOrigin(tuple(float(v) for v in origin))
    return image


def check_symmetry(array: np.ndarray, origin: np.ndarray, name: str) -> None:
    """x = 0 must be the centre voxel and the map must equal its left-right flip."""
    centre = -origin[0] / SPACING_MM
    if centre != (array.shape[0] - 1) / 2:
        raise ValueError(f"{name}: x = 0 is not the centre of axis 0")
    correlation = np.corrcoef(array.ravel(), array[::-1].ravel())[0, 1]
    print(f"{name}: shape {array.shape}, origin {origin.tolist()}, flip correlation {correlation:.6f}")
    if not np.array_equal(array, array[::-1]):
        raise ValueError(f"{name}: not exactly symmetric about x = 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    maps = {}
    for name, filename in SOURCES.items():
        array, origin = read_lps(args.source / filename)
        maps[name], origin = decimate(array, origin)
    box = crop_box(maps["gm"] + maps["wm"], origin)
    origin = origin + SPACING_MM * np.array([s.start for s in box])
    args.output.mkdir(parents=True, exist_ok=True)
    for name, array in maps.items():
        image = to_image(array[box], origin)
        stored = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
        check_symmetry(stored, origin, name)
        path = args.output / f"mni152_sym_{name}_{SPACING_MM}mm.nii.gz"
        sitk.WriteImage(image, str(path), useCompression=True)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
