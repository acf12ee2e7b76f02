"""Tests for io.images: every user mistake is one clear InputError; geometry survives I/O."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from dicom_series import write_rgb_capture

from IMRAnalysisLib.analysis.geometry import mask_bounds, physical_bounds
from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.io.dicom_folders import dicom_series
from IMRAnalysisLib.io.formats import SUPPORTED_SUFFIXES
from IMRAnalysisLib.io.images import read_image, read_map, read_mask, require_inside, require_overlap, write_image

OBLIQUE = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
FLIPPED_OBLIQUE = OBLIQUE @ np.diag([-1.0, 1.0, 1.0])
SPACING = (0.7, 1.3, 5.0)
ORIGIN = (-12.3, 45.6, 7.89)


def make_image(
    array: np.ndarray,
    spacing=SPACING,
    origin=ORIGIN,
    direction: np.ndarray = FLIPPED_OBLIQUE,
) -> sitk.Image:
    """An image from a (z, y, x) array with the given geometry."""
    image = sitk.GetImageFromArray(array, isVector=False)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(np.asarray(direction, dtype=float).ravel().tolist())
    return image


def ramp(shape=(5, 6, 7), dtype=np.float32) -> np.ndarray:
    return (np.arange(np.prod(shape)).reshape(shape) + 1).astype(dtype)


def assert_input_error(call, path: Path, *words: str) -> str:
    """The call raises InputError whose message names the file and contains the key words."""
    with pytest.raises(InputError) as caught:
        call()
    message = str(caught.value)
    assert Path(path).name in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def assert_same_geometry(a: sitk.Image, b: sitk.Image, tolerance: float = 1e-12) -> None:
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=tolerance)
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), rtol=0, atol=tolerance)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=tolerance)


def write_nrrd_header(path: Path, fields: str, raw: bytes = bytes(27)) -> Path:
    """A hand-made 3x3x3 uint8 NRRD file, for geometries SimpleITK refuses to write."""
    header = (
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 3 3 3\nencoding: raw\n"
        f"space: left-posterior-superior\nspace origin: (0,0,0)\n{fields}\n\n"
    )
    path.write_bytes(header.encode() + raw)
    return path


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
@pytest.mark.parametrize("direction", [np.eye(3), np.diag([-1.0, 1.0, -1.0]), FLIPPED_OBLIQUE])
def test_round_trip_keeps_geometry_and_values(tmp_path, suffix, direction):
    image = make_image(ramp(), direction=direction)
    path = tmp_path / f"map{suffix}"
    write_image(image, path)
    back = read_image(path, "post-EVT rCBV map")
    # NIfTI stores the geometry in float32 fields; the other formats store it exactly.
    assert_same_geometry(back, image, tolerance=2e-6 if suffix.startswith(".nii") else 1e-12)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), ramp())


@pytest.mark.parametrize("suffix", [".nhdr", ".mhd"])
def test_write_is_atomic_and_detached_header_names_final_data_file(tmp_path, suffix):
    path = tmp_path / f"mask{suffix}"
    write_image(make_image(ramp()), path)
    write_image(make_image(ramp() * 2), path)  # overwrite in place
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert "tmp" not in path.read_text(errors="replace")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(read_image(path, "map")), ramp() * 2)


def test_write_uncompressed(tmp_path):
    write_image(make_image(ramp()), tmp_path / "a.nrrd", compress=False)
    header = (tmp_path / "a.nrrd").read_bytes().split(b"\n\n")[0].decode()
    assert "encoding: raw" in header


def test_write_unsupported_suffix(tmp_path):
    path = tmp_path / "out.png"
    assert_input_error(lambda: write_image(make_image(ramp()), path), path, "supported", ".nii.gz")


def test_write_into_missing_folder(tmp_path):
    path = tmp_path / "missing" / "out.nrrd"
    assert_input_error(lambda: write_image(make_image(ramp()), path), path, "folder does not exist")


# --- DICOM ----------------------------------------------------------------------------


def write_dicom_series(folder: Path, volume: sitk.Image, series: str, prefix: str) -> None:
    """One file per slice with the tags a reader needs to rebuild the 3D geometry."""
    folder.mkdir(exist_ok=True)
    direction = np.asarray(volume.GetDirection()).reshape(3, 3)
    orientation = list(direction[:, 0]) + list(direction[:, 1])
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    root = "1.2.826.0.1.3680043.2.1125.7"
    for k in range(volume.GetDepth()):
        slice_ = volume[:, :, k]
        tags = {
            "0008|0060": "MR",
            "0020|000d": f"{root}.1",
            "0020|000e": f"{root}.{series}",
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.10g}" for v in volume.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0037": "\\".join(f"{v:.10g}" for v in orientation),
            "0028|0030": f"{volume.GetSpacing()[1]:.10g}\\{volume.GetSpacing()[0]:.10g}",
        }
        for tag, value in tags.items():
            slice_.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{prefix}{k:03d}.dcm"))
        writer.Execute(slice_)


def test_dicom_series_folder_keeps_geometry(tmp_path):
    # DICOM derives the slice axis from the in-plane axes, so the direction is a rotation.
    volume = make_image(ramp(dtype=np.int16), direction=OBLIQUE)
    write_dicom_series(tmp_path / "dicom", volume, "2", "a")
    image = read_image(tmp_path / "dicom", "post-EVT rCBV map")
    assert_same_geometry(image, volume, tolerance=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), ramp(dtype=np.int16))


def test_dicom_folder_with_several_series_is_refused_unless_one_is_chosen(tmp_path):
    small = make_image(ramp((3, 6, 7), np.int16), direction=OBLIQUE)
    large = make_image(ramp((5, 6, 7), np.int16), direction=OBLIQUE)
    write_dicom_series(tmp_path / "dicom", small, "3", "b")
    write_dicom_series(tmp_path / "dicom", large, "2", "a")
    root = "1.2.826.0.1.3680043.2.1125.7"
    message = assert_input_error(lambda: read_image(tmp_path / "dicom", "map"), tmp_path / "dicom",
                                 "holds 2 DICOM series", "choose one by its UID", f"UID {root}.2", f"UID {root}.3",
                                 "5 images", "3 images")
    assert "\n" not in message  # the command line adds its option, --series (test_cli_hostile_inputs)
    assert read_image(tmp_path / "dicom", "map", series=f"{root}.3").GetSize() == (7, 6, 3)
    assert read_image(tmp_path / "dicom", "map", series=f"{root}.2").GetSize() == (7, 6, 5)
    assert dicom_series(tmp_path / "dicom", "map", f"{root}.2").uid == f"{root}.2"
    assert_input_error(lambda: read_image(tmp_path / "dicom", "map", series="9.9"), tmp_path / "dicom",
                       "no DICOM series with UID 9.9")


def test_dicom_series_with_a_missing_slice_is_refused(tmp_path):
    write_dicom_series(tmp_path / "dicom", make_image(ramp((6, 6, 7), np.int16), direction=OBLIQUE), "2", "a")
    (tmp_path / "dicom" / "a003.dcm").unlink()
    assert_input_error(lambda: read_image(tmp_path / "dicom", "map"), tmp_path / "dicom", "missing or unevenly")


def test_colour_secondary_capture_is_refused_as_a_display_rendering(tmp_path):
    write_rgb_capture(tmp_path / "screenshot")
    message = assert_input_error(lambda: read_image(tmp_path / "screenshot", "post-EVT rCBV map"),
                                 tmp_path / "screenshot", "colour picture (RGB, secondary capture)",
                                 "display rendering of a map, not its values")
    assert "\n" not in message


def test_folder_without_dicom(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    assert_input_error(lambda: read_image(folder, "post-EVT rCBV map"), folder, "no DICOM series")


# --- reading errors -------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "absent.nrrd"
    assert_input_error(lambda: read_image(path, "post-EVT rCBV map"), path, "rCBV map", "not found")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "map.png"
    path.write_bytes(b"\x89PNG")
    words = ("unsupported", ".nii.gz", ".nrrd", ".mhd", "DICOM")
    assert_input_error(lambda: read_image(path, "map"), path, *words)


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_garbage_bytes(tmp_path, suffix):
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    assert_input_error(lambda: read_image(path, "lesion mask"), path, "cannot be read", "damaged")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_truncated_file(tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    write_image(make_image(np.random.default_rng(1).random((16, 32, 32)).astype(np.float32)), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    assert_input_error(lambda: read_image(path, "post-EVT rCBV map"), path, "truncated")


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_nifti_nan_and_inf_are_refused_not_read_as_zero(tmp_path, suffix, endian):
    """SimpleITK reads them as 0; the stored data says otherwise (file written by nibabel)."""
    nibabel = pytest.importorskip("nibabel")
    values = ramp((6, 7, 8)).astype(endian + "f4")
    values[1, 2, 3:6] = np.nan
    values[2, 2, 2] = np.inf
    path = tmp_path / f"holes{suffix}"
    header = nibabel.Nifti1Header(endianness=endian)
    nibabel.save(nibabel.Nifti1Image(values, np.diag([2.0, 2.0, 3.0, 1.0]), header), str(path))
    message = assert_input_error(lambda: read_map(path, "post-EVT rCBV map"), path, "3 NaN and 1 infinite")
    assert "finite" in message
    assert_input_error(lambda: read_image(path, "post-EVT rCBV map"), path, "NaN")


@pytest.mark.parametrize("suffix", [".nhdr", ".mhd"])
def test_detached_header_with_missing_data_file(tmp_path, suffix):
    path = tmp_path / f"map{suffix}"
    write_image(make_image(ramp()), path)
    data_files = [p for p in tmp_path.iterdir() if p != path]
    for data_file in data_files:
        data_file.unlink()
    assert_input_error(lambda: read_image(path, "map"), path, "data file", data_files[0].name, "missing")


def test_2d_image(tmp_path):
    path = tmp_path / "slice.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(ramp((6, 7))), str(path))
    assert_input_error(lambda: read_image(path, "map"), path, "2D", "3D volume")


def test_single_slice_3d_image(tmp_path):
    path = tmp_path / "slice.nii.gz"
    write_image(make_image(ramp((1, 6, 7))), path)
    assert_input_error(lambda: read_image(path, "map"), path, "2D", "single slice", "7 x 6 x 1")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_4d_image(tmp_path, suffix):
    path = tmp_path / f"series{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(ramp((3, 4, 5, 6)), isVector=False), str(path))
    assert_input_error(
        lambda: read_image(path, "map"), path, "is 4D (3 volumes); a single 3D volume is expected"
    )


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_4d_image_with_one_volume_is_squeezed(tmp_path, suffix):
    path = tmp_path / f"one{suffix}"
    direction = np.eye(4)
    direction[:3, :3] = FLIPPED_OBLIQUE
    image = make_image(ramp((1, 5, 6, 7)), SPACING + (2.5,), ORIGIN + (0.0,), direction)
    sitk.WriteImage(image, str(path))
    back = read_image(path, "map")
    assert back.GetDimension() == 3
    expected = make_image(ramp((5, 6, 7)))
    assert_same_geometry(back, expected, tolerance=2e-6 if suffix.startswith(".nii") else 1e-12)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), ramp((5, 6, 7)))


def test_vector_image(tmp_path):
    path = tmp_path / "rgb.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(ramp((4, 5, 6, 3)), isVector=True), str(path))
    assert_input_error(lambda: read_image(path, "map"), path, "3 values per voxel", "scalar")


@pytest.mark.parametrize(
    "fields, words",
    [
        ("space directions: (0,0,0) (0,1,0) (0,0,1)", ("degenerate", "spacing")),
        ("space directions: (1,0,0) (1,0,0) (0,0,1)", ("degenerate", "singular")),
        ("space directions: (1,0,0) (0.5,1,0) (0,0,1)", ("sheared", "not perpendicular")),
        ("space directions: (0.001875,0,0) (0,0.001875,0) (0,0,0.0065)", ("0.001875", "metres")),
        ("space directions: (1,0,0) (0,1,0) (0,0,100)", ("spacing", "not plausible")),
    ],
    ids=["zero-spacing", "singular", "sheared", "metres", "huge"],
)
def test_degenerate_nrrd_geometry(tmp_path, fields, words):
    path = write_nrrd_header(tmp_path / "bad.nrrd", fields)
    assert_input_error(lambda: read_image(path, "map"), path, *words)


def test_negative_spacing(tmp_path):
    path = tmp_path / "bad.mha"
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        "TransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = 0 0 0\nElementSpacing = -1 1 1\n"
        "DimSize = 3 3 3\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    )
    path.write_bytes(header.encode() + bytes(27))
    assert_input_error(lambda: read_image(path, "map"), path, "degenerate", "spacing", "-1")


# --- maps -----------------------------------------------------------------------------


def test_sheared_nifti(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    path = tmp_path / "sheared.nii.gz"
    affine = np.array([[2.0, 1.0, 0, 0], [0, 2.0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]])
    nibabel.save(nibabel.Nifti1Image(ramp((8, 8, 8)), affine), str(path))
    assert_input_error(lambda: read_map(path, "post-EVT rCBV map"), path, "sheared")


@pytest.mark.parametrize("shape", [(2, 32, 32), (3, 32, 32), (16, 32, 3)])
def test_map_with_too_few_slices(tmp_path, shape):
    path = tmp_path / "thin.nrrd"
    write_image(make_image(ramp(shape)), path)
    assert_input_error(lambda: read_map(path, "post-EVT rCBV map"), path, "too few voxels", "at least 4")


def test_read_map_is_float32_with_geometry(tmp_path):
    path = tmp_path / "map.nrrd"
    image = make_image(ramp(dtype=np.int16))
    write_image(image, path)
    back = read_map(path, "post-EVT rCBV map")
    assert back.GetPixelID() == sitk.sitkFloat32
    assert_same_geometry(back, image)


def test_map_with_nan_and_inf(tmp_path):
    values = ramp()
    values[0, 0, :3] = np.nan
    values[1, 1, 1] = np.inf
    path = tmp_path / "map.nrrd"
    write_image(make_image(values), path)
    assert_input_error(lambda: read_map(path, "post-EVT rCBV map"), path, "3 NaN and 1 infinite")


def test_map_with_negative_values(tmp_path):
    values = ramp()
    values[0, 0, :4] = [-1.0, -2.5, -0.5, -0.25]
    path = tmp_path / "map.nii.gz"
    write_image(make_image(values), path)
    assert_input_error(lambda: read_map(path, "map"), path, "4 negative", "-2.5", "rCBV cannot be negative")


@pytest.mark.parametrize("value, words", [(0.0, ("all zero",)), (3.0, ("constant", "3"))])
def test_constant_map(tmp_path, value, words):
    path = tmp_path / "map.mha"
    write_image(make_image(np.full((5, 6, 7), value, np.float32)), path)
    assert_input_error(lambda: read_map(path, "map"), path, *words)


# --- masks ----------------------------------------------------------------------------


def labelled(values: dict[tuple[int, int, int], int]) -> np.ndarray:
    array = np.zeros((5, 6, 7), np.uint8)
    for index, value in values.items():
        array[index] = value
    return array


def test_binary_mask(tmp_path):
    path = tmp_path / "lesion.nrrd"
    image = make_image(labelled({(1, 2, 3): 1, (2, 2, 3): 1}).astype(np.int16))
    write_image(image, path)
    mask = read_mask(path, "lesion mask")
    assert mask.GetPixelID() == sitk.sitkUInt8
    assert_same_geometry(mask, image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), labelled({(1, 2, 3): 1, (2, 2, 3): 1}))


@pytest.mark.parametrize("labels, listed", [((255,), "0, 255"), ((1, 2), "0, 1, 2")])
def test_mask_with_other_labels_needs_label_option(tmp_path, labels, listed):
    """The library names the problem and the setting; the command line adds its option (test_cli_errors)."""
    path = tmp_path / "lesion.nii.gz"
    write_image(make_image(labelled({(1, i, 3): v for i, v in enumerate(labels)})), path)
    message = assert_input_error(lambda: read_mask(path, "lesion mask"), path, listed, "choose the label to use")
    with pytest.raises(InputError) as caught:
        read_mask(path, "lesion mask")
    assert caught.value.setting == "mask label" and "--" not in message


def test_label_selection(tmp_path):
    path = tmp_path / "labels.nrrd"
    write_image(make_image(labelled({(1, 1, 1): 1, (2, 2, 2): 2, (3, 3, 3): 2})), path)
    mask = read_mask(path, "lesion mask", label=2)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), labelled({(2, 2, 2): 1, (3, 3, 3): 1}))


def test_absent_label(tmp_path):
    path = tmp_path / "labels.nrrd"
    write_image(make_image(labelled({(1, 1, 1): 1, (2, 2, 2): 2})), path)
    assert_input_error(lambda: read_mask(path, "lesion mask", label=5), path, "label 5", "0, 1, 2")


def test_non_positive_label(tmp_path):
    path = tmp_path / "labels.nrrd"
    write_image(make_image(labelled({(1, 1, 1): 1})), path)
    assert_input_error(lambda: read_mask(path, "lesion mask", label=0), path, "label 0", "positive")


def test_mask_with_fractional_values(tmp_path):
    path = tmp_path / "resampled.nrrd"
    write_image(make_image(labelled({(1, 1, 1): 1}).astype(np.float32) * 0.5), path)
    assert_input_error(lambda: read_mask(path, "lesion mask"), path, "non-integer", "0.5")


def test_empty_mask(tmp_path):
    path = tmp_path / "empty.nrrd"
    write_image(make_image(labelled({})), path)
    assert_input_error(lambda: read_mask(path, "lesion mask"), path, "mask is empty")
    assert sitk.GetArrayFromImage(read_mask(path, "exclusion mask", allow_empty=True)).sum() == 0


# --- physical extent ------------------------------------------------------------------


def brute_force_corner_box(image: sitk.Image, indices) -> tuple[np.ndarray, np.ndarray]:
    """Box of the corners of the given voxels, each corner transformed by ITK itself."""
    points = [
        image.TransformContinuousIndexToPhysicalPoint([i + dx, j + dy, k + dz])
        for (i, j, k) in indices
        for dx, dy, dz in itertools.product((-0.5, 0.5), repeat=3)
    ]
    return np.min(points, axis=0), np.max(points, axis=0)


def test_physical_bounds_oblique_flipped():
    image = make_image(ramp())
    corners = itertools.product((0, 6), (0, 5), (0, 4))
    low, high = physical_bounds(image)
    expected_low, expected_high = brute_force_corner_box(image, corners)
    np.testing.assert_allclose(low, expected_low, atol=1e-9)
    np.testing.assert_allclose(high, expected_high, atol=1e-9)


def test_mask_bounds_oblique_flipped():
    voxels = {(1, 2, 3): 1, (4, 0, 6): 1, (2, 5, 0): 1}
    mask = make_image(labelled(voxels))
    low, high = mask_bounds(mask)
    expected_low, expected_high = brute_force_corner_box(mask, [(x, y, z) for (z, y, x) in voxels])
    np.testing.assert_allclose(low, expected_low, atol=1e-9)
    np.testing.assert_allclose(high, expected_high, atol=1e-9)


def translated(image: sitk.Image, shift_mm) -> sitk.Image:
    moved = sitk.Image(image)
    moved.SetOrigin((np.asarray(image.GetOrigin()) + shift_mm).tolist())
    return moved


def test_overlapping_images_pass():
    image = make_image(np.ones((10, 20, 20), np.float32), spacing=(1.0, 1.0, 1.0))
    require_overlap(image, "a.nrrd", translated(image, [3.0, -2.0, 1.0]), "b.nrrd")


def test_distant_images_fail():
    image = make_image(np.ones((10, 20, 20), np.float32), spacing=(1.0, 1.0, 1.0))
    with pytest.raises(InputError) as caught:
        require_overlap(image, "pre.nrrd", translated(image, [40.0, 0.0, 0.0]), "post.nrrd")
    message = str(caught.value)
    for word in ("pre.nrrd", "post.nrrd", "do not overlap in physical space", "same patient/session"):
        assert word in message


def test_mask_inside_image_on_another_grid_passes(tmp_path):
    image = make_image(np.ones((10, 20, 20), np.float32), spacing=(1.0, 1.0, 2.0))
    # The mask grid is coarser and axis-aligned; its voxels sit around the image centre.
    centre = image.TransformContinuousIndexToPhysicalPoint((9.5, 9.5, 4.5))
    origin = tuple(np.subtract(centre, 2.0))
    mask = make_image(np.ones((3, 3, 3), np.uint8), (2.0, 2.0, 2.0), origin, np.eye(3))
    require_inside(mask, tmp_path / "lesion.nrrd", image, tmp_path / "map.nrrd", "lesion mask")


def test_mask_outside_image_fails(tmp_path):
    image = make_image(np.ones((10, 20, 20), np.float32), spacing=(1.0, 1.0, 2.0))
    mask = make_image(np.ones((10, 20, 20), np.uint8), spacing=(1.0, 1.0, 2.0))
    mask = translated(mask, 30.0 * FLIPPED_OBLIQUE[:, 0])  # beyond the 20 mm image width
    mask_path, image_path = tmp_path / "lesion.nrrd", tmp_path / "map.nrrd"
    message = assert_input_error(
        lambda: require_inside(mask, mask_path, image, image_path, "lesion mask"),
        mask_path,
        "100%",
        "outside",
    )
    assert "map.nrrd" in message


def test_mask_mostly_inside_passes(tmp_path):
    image = make_image(np.ones((10, 20, 20), np.float32), spacing=(1.0, 1.0, 2.0))
    mask = translated(image, 8.0 * FLIPPED_OBLIQUE[:, 0])  # 8 of 20 columns leave the view
    require_inside(sitk.Cast(mask, sitk.sitkUInt8), "lesion.nrrd", image, "map.nrrd", "lesion mask")


def test_failed_write_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "out.nrrd"
    path.mkdir()  # a folder is in the way, so the final move fails
    assert_input_error(lambda: write_image(make_image(ramp()), path), path, "cannot write")
    assert [p.name for p in tmp_path.iterdir()] == ["out.nrrd"]


def test_itk_write_failure_is_one_line(tmp_path):
    path = tmp_path / "labels.nrrd"
    image = sitk.Image([3, 3, 3], sitk.sitkLabelUInt8)  # a pixel type no file writer takes
    message = assert_input_error(lambda: write_image(image, path), path, "cannot write", "not supported")
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("min_fraction, fails", [(0.5, True), (0.3, False)])
def test_overlap_fraction_threshold(min_fraction, fails):
    image = make_image(np.ones((10, 20, 20), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    moved = translated(image, [12.0, 0.0, 0.0])  # 8 of 20 mm shared: 40 %
    if fails:
        with pytest.raises(InputError, match="40% of the smaller one is shared"):
            require_overlap(image, "a.nrrd", moved, "b.nrrd", min_fraction)
    else:
        require_overlap(image, "a.nrrd", moved, "b.nrrd", min_fraction)


def test_mask_partly_outside_fails_above_half():
    image = make_image(np.ones((10, 20, 20), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    mask = translated(sitk.Cast(image, sitk.sitkUInt8), [12.0, 0.0, 0.0])  # 12 of 20 columns out
    with pytest.raises(InputError, match="60% of the lesion mask voxels lie outside"):
        require_inside(mask, "lesion.nrrd", image, "map.nrrd", "lesion mask")
