"""The plane convention (LPS, normal to the left) and the reflection through it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.brain_mask import automatic_brain_mask
from IMRAnalysisLib.analysis.midline import mirror, plane_from_symmetry_map
from IMRAnalysisLib.analysis.plane import Plane, check_user_plane
from IMRAnalysisLib.errors import InputError

TILTED = Plane.from_vectors(np.array([3.0, -10.0, 20.0]), np.array([-0.9, 0.3, 0.1]))


def test_normal_is_unit_and_points_left() -> None:
    assert np.linalg.norm(TILTED.normal_array) == pytest.approx(1.0)
    assert TILTED.normal[0] > 0


def test_reflection_is_an_involution_fixing_the_plane() -> None:
    points = np.random.default_rng(1).normal(scale=50.0, size=(100, 3))
    assert np.allclose(TILTED.reflect(TILTED.reflect(points)), points)
    assert np.allclose(TILTED.reflect(TILTED.point_array), TILTED.point_array)
    assert np.allclose(TILTED.signed_distance(TILTED.reflect(points)), -TILTED.signed_distance(points))


def test_itk_transform_matches_numpy_reflection() -> None:
    transform = TILTED.reflection_transform()
    point = np.array([40.0, 5.0, -7.0])
    assert np.allclose(transform.TransformPoint(point.tolist()), TILTED.reflect(point))


def test_symmetry_map_recovers_the_plane() -> None:
    matrix, offset = TILTED.reflection_matrix()
    points = np.random.default_rng(2).normal(scale=40.0, size=(50, 3))
    recovered = plane_from_symmetry_map(matrix, offset, points)
    assert recovered.angle_to(TILTED) < 1e-6
    assert abs(recovered.signed_distance(TILTED.point_array)) < 1e-6


def test_ras_round_trip_and_file(tmp_path) -> None:
    point_ras, normal_ras = TILTED.to_ras()
    assert point_ras == pytest.approx([-3.0, 10.0, 20.0])
    again = Plane.from_dict({"coordinate_system": "RAS", "point_mm": point_ras, "normal": normal_ras})
    assert again.angle_to(TILTED) < 1e-9 and abs(again.signed_distance(TILTED.point_array)) < 1e-9
    path = tmp_path / "midline.json"
    path.write_text(json.dumps(TILTED.to_dict()))
    assert Plane.read(path) == TILTED


@pytest.mark.parametrize(
    "content, words",
    [("not json", "not readable JSON"), ('{"point_mm": [1, 2]}', "'point_mm' and 'normal'"),
     ('{"point_mm": [0, 0, 0], "normal": [0, 0, 0]}', "non-zero")],
)
def test_bad_midline_files_are_named(tmp_path, content: str, words: str) -> None:
    path = tmp_path / "plane.json"
    path.write_text(content)
    with pytest.raises(InputError, match=words):
        Plane.read(path)


def test_mirror_of_an_image_uses_physical_space() -> None:
    """A flipped-axis grid: the mirror of a left blob lands on the right in physical space."""
    image = sitk.Image([20, 10, 5], sitk.sitkFloat32)
    image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    image.SetOrigin((9.5, 0, 0))  # x runs 9.5 .. -9.5: symmetric about x = 0
    image[2, 5, 2] = 7.0  # x = 7.5 (left)
    mirrored = mirror(image, Plane.from_vectors(np.zeros(3), np.array([1.0, 0, 0])))
    assert mirrored[17, 5, 2] == pytest.approx(7.0)  # x = -7.5 (right)


# --- planes given by hand ------------------------------------------------------------------


@pytest.fixture(scope="module")
def post_and_brain(default_phantom):
    return default_phantom.post, automatic_brain_mask(default_phantom.post)


def test_the_true_midline_and_a_shifted_one_are_accepted(default_phantom, post_and_brain) -> None:
    truth = default_phantom.truth.midline
    check_user_plane(truth, *post_and_brain)
    check_user_plane(Plane.from_vectors(truth.point_array + 10.0 * truth.normal_array, truth.normal_array),
                     *post_and_brain)


@pytest.mark.parametrize("point, normal, words", [
    ((1000.0, 0.0, 0.0), (1.0, 0.0, 0.0), "does not divide the brain"),
    (None, (0.0, 0.0, 1.0), "tilted 9"),
    (None, (1.0, 1.0, 0.0), "tilted"),
])
def test_a_plane_that_cannot_be_mid_sagittal_is_refused(default_phantom, post_and_brain, point, normal,
                                                         words) -> None:
    plane = Plane.from_vectors(default_phantom.truth.midline.point_array if point is None else np.array(point),
                               np.array(normal))
    with pytest.raises(InputError, match=words):
        check_user_plane(plane, *post_and_brain)


def test_a_zero_normal_is_the_user_s_error_only_when_the_user_gave_it() -> None:
    """A computed plane with no normal is a defect (ValueError), never reported as bad input (exit 2)."""
    with pytest.raises(ValueError, match="non-zero normal") as raised:
        Plane.from_vectors(np.zeros(3), np.zeros(3))
    assert not isinstance(raised.value, InputError)
    with pytest.raises(InputError, match="non-zero vector"):
        Plane.given(np.zeros(3), np.array([0.0, 0.0, np.nan]))
