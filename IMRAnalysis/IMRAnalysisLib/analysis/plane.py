"""The mid-sagittal plane and the reflection through it.

Convention: physical coordinates in millimetres, LPS (x towards the patient's Left,
y Posterior, z Superior), as ITK, DICOM and NRRD/NIfTI readers in SimpleITK use. The
normal is a unit vector oriented towards the patient's left (positive x component);
Slicer's RAS is obtained by negating x and y (``to_ras``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .geometry import voxel_points

_LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])
# A plane given by hand must be this close to the image's left-right axis (heads lie within
# ~15 degrees of it) and leave this share of the brain on each side to be a mid-sagittal plane.
MAX_USER_TILT_DEG = 30.0
MIN_USER_SIDE_FRACTION = 0.25


@dataclass(frozen=True)
class Plane:
    """A plane through ``point`` with unit ``normal`` (LPS, mm), normal towards left."""

    point: tuple[float, float, float]
    normal: tuple[float, float, float]

    @classmethod
    def from_vectors(cls, point: np.ndarray, normal: np.ndarray) -> "Plane":
        normal = np.asarray(normal, dtype=float)
        length = np.linalg.norm(normal)
        if not np.isfinite(length) or length < 1e-9:  # a computed normal: a defect, not the user's error
            raise ValueError(f"a plane needs a finite non-zero normal, got {normal.tolist()}")
        normal = normal / length
        if normal[0] < 0:
            normal = -normal
        return cls(tuple(float(v) for v in point), tuple(float(v) for v in normal))

    @property
    def normal_array(self) -> np.ndarray:
        return np.asarray(self.normal)

    @property
    def point_array(self) -> np.ndarray:
        return np.asarray(self.point)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Distance (mm) of LPS points (..., 3) from the plane, positive on the left."""
        return (np.asarray(points, dtype=float) - self.point_array) @ self.normal_array

    def reflect(self, points: np.ndarray) -> np.ndarray:
        """Mirror LPS points (..., 3) through the plane."""
        points = np.asarray(points, dtype=float)
        return points - 2.0 * self.signed_distance(points)[..., None] * self.normal_array

    def reflection_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear part and offset of the reflection x -> A x + b."""
        n = self.normal_array
        matrix = np.eye(3) - 2.0 * np.outer(n, n)
        offset = 2.0 * float(self.point_array @ n) * n
        return matrix, offset

    def reflection_transform(self) -> sitk.AffineTransform:
        """The reflection as an ITK transform, for resampling an image onto its mirror."""
        matrix, offset = self.reflection_matrix()
        transform = sitk.AffineTransform(3)
        transform.SetMatrix(matrix.ravel().tolist())
        transform.SetTranslation(offset.tolist())
        return transform

    def angle_to(self, other: "Plane") -> float:
        """Angle between the two normals in degrees (orientation-free)."""
        cosine = abs(float(self.normal_array @ other.normal_array))
        return float(np.degrees(np.arccos(min(1.0, cosine))))

    def projected(self, point: np.ndarray) -> "Plane":
        """The same plane, described by the foot of ``point`` on it (a stable anchor)."""
        foot = np.asarray(point, dtype=float) - self.signed_distance(point) * self.normal_array
        return Plane.from_vectors(foot, self.normal_array)

    def to_ras(self) -> tuple[list[float], list[float]]:
        return (self.point_array * _LPS_TO_RAS).tolist(), (self.normal_array * _LPS_TO_RAS).tolist()

    def to_dict(self) -> dict[str, list[float] | str]:
        point_ras, normal_ras = self.to_ras()
        return {
            "coordinate_system": "LPS",
            "point_mm": list(self.point),
            "normal": list(self.normal),
            "point_ras_mm": point_ras,
            "normal_ras": normal_ras,
        }

    @classmethod
    def from_dict(cls, values: dict, source: str | Path | None = None) -> "Plane":
        try:
            system = str(values.get("coordinate_system", "LPS")).upper()
            point = np.asarray(values["point_mm"], dtype=float)
            normal = np.asarray(values["normal"], dtype=float)
        except (KeyError, TypeError, ValueError) as error:
            raise InputError(
                "a midline file needs 'point_mm' and 'normal' (three numbers each)", source
            ) from error
        if point.shape != (3,) or normal.shape != (3,) or not np.all(np.isfinite([*point, *normal])):
            raise InputError("midline 'point_mm' and 'normal' must be three finite numbers each", source)
        if system == "RAS":
            point, normal = point * _LPS_TO_RAS, normal * _LPS_TO_RAS
        elif system != "LPS":
            raise InputError(f"midline coordinate_system must be LPS or RAS, got {system}", source)
        return cls.given(point, normal, source)

    @classmethod
    def given(cls, point: np.ndarray, normal: np.ndarray, source: str | Path | None = None) -> "Plane":
        """A plane a user gave: a zero normal is their error (``from_vectors`` calls it a defect)."""
        try:
            return cls.from_vectors(point, normal)
        except ValueError as error:
            raise InputError("the midline normal must be a non-zero vector", source) from error

    @classmethod
    def read(cls, path: str | Path) -> "Plane":
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except FileNotFoundError as error:
            raise InputError("midline file not found", path) from error
        except (OSError, ValueError) as error:
            raise InputError(f"midline file is not readable JSON ({error})", path) from error
        if not isinstance(values, dict):
            raise InputError("midline file must hold a JSON object", path)
        return cls.from_dict(values, path)


def check_user_plane(plane: Plane, image: sitk.Image, brain_mask: sitk.Image) -> None:
    """Refuse a hand-placed plane that cannot be the mid-sagittal plane of ``image``.

    A plane outside the head would pair every voxel with air, and an axial or coronal one
    compares unrelated structures: both give confident but meaningless IMR volumes.
    """
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    left_right = direction[:, int(np.argmax(np.abs(direction[0])))]
    tilt = float(np.degrees(np.arccos(min(1.0, abs(float(plane.normal_array @ left_right))))))
    if tilt > MAX_USER_TILT_DEG:
        raise InputError(f"the given mid-sagittal plane is tilted {tilt:.0f} degrees from the image's left-right "
                         f"axis (at most {MAX_USER_TILT_DEG:g}): its normal must point from one hemisphere to "
                         "the other")
    sides = plane.signed_distance(voxel_points(image, sitk.GetArrayViewFromImage(brain_mask).astype(bool))) > 0
    if sides.size:
        smaller = min(np.count_nonzero(sides), np.count_nonzero(~sides)) / sides.size
        if smaller < MIN_USER_SIDE_FRACTION:
            raise InputError(f"the given mid-sagittal plane does not divide the brain into two halves: "
                             f"{100 * smaller:.0f} % of it lies on one side (at least "
                             f"{100 * MIN_USER_SIDE_FRACTION:.0f} % is needed); check the plane's point")
