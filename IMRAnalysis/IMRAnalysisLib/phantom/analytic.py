"""Second phantom family: an analytic head scanned voxel by voxel, with an exact IMR truth.

Why a second family: accuracy measured on one phantom could reflect that phantom's
style (template anatomy, resampling, how partial volume arises) rather than the method.
This family shares only the rigid pose convention (``phantom.Pose``) with the template
phantom; everything else is built another way, so a claim that holds on both holds on
data of two independent styles.

- Anatomy (``analytic_anatomy``): (super)ellipsoids and ribbons around them,
  cortex, sulci, fissures, ventricles, deep grey nuclei, cerebellum and brainstem,
  exactly mirror-symmetric about the head's mid-sagittal plane.
- Regions (``analytic_lesion``): lesion, IMR, hyperperfusion and the lesion's
  mirror homolog, unions of ellipsoids sized to target volumes on a 0.5 mm lattice.
- Scan: each voxel is the mean of the continuous map over its footprint (supersampled
  to about 1 mm), then an in-plane Gaussian point spread, a left-right coil shading in
  scanner coordinates, an arbitrary global scale per timepoint, and multiplicative noise.

``ROBUSTNESS_CONDITIONS`` names the degradations of the robustness table, each as a
patient without IMR and the same patient with IMR.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..analysis.plane import Plane
from ..errors import InputError
from . import analytic_anatomy as anatomy
from .analytic_lesion import LOCATIONS, Lesion, Location, grow_lesion, place_cores
from .template import PhantomTruth, Pose, truth_dict, write_phantom_files

Timepoint = Literal["arrival", "post", "day5"]
TIMEPOINTS: tuple[Timepoint, ...] = ("arrival", "post", "day5")
FIELD_OF_VIEW_MM = 240.0  # in plane, as clinical DSC
COVERAGE_MM = 160.0  # through plane: the brain's 120 mm height, tilted by up to 15 degrees
SCALE_RANGE = (0.7, 1.4)  # per-timepoint global scale: maps are relative
AIR_NOISE = 0.01  # additive noise SD outside the head, white-matter units
SHADING_HALF_WIDTH_MM = 80.0  # the head's half width: shading reaches +-s at the scalp
ARRIVAL_TERRITORY_GAIN = 0.7
ARRIVAL_CORE_GAIN = 0.8  # on top of the territory's
DAY5_LESION_GAIN = 0.6
CHUNK_POINTS = 1_000_000  # sub-voxel samples evaluated at once


def tilted_poses(degrees: float) -> dict[Timepoint, Pose]:
    """Three different head poses, each tilted by about ``degrees`` (yaw, roll and pitch mixed)
    and shifted by up to 20 mm at 15 degrees."""
    mixes = {"arrival": (0.70, 0.35, -0.62), "post": (0.60, -0.55, 0.58), "day5": (-0.50, 0.62, 0.60)}
    shifts = {"arrival": (9.0, 8.0, -5.0), "post": (6.0, -9.0, 4.0), "day5": (-12.0, 14.0, 6.0)}
    return {
        timepoint: Pose(*(degrees * np.asarray(mix) / np.linalg.norm(mix)).tolist(),
                        shift_mm=tuple(float(v) * degrees / 15.0 for v in shifts[timepoint]))
        for timepoint, mix in mixes.items()
    }


def clinical_size(spacing: tuple[float, float, float]) -> tuple[int, int, int]:
    """Grid size for a 240 mm in-plane field of view and 160 mm of slices."""
    return (int(round(FIELD_OF_VIEW_MM / spacing[0])), int(round(FIELD_OF_VIEW_MM / spacing[1])),
            int(np.ceil(COVERAGE_MM / spacing[2])))


_DEFAULT_POSES = tilted_poses(7.0)
_CLINICAL_SPACING = (1.875, 1.875, 5.0)


@dataclass(frozen=True)
class AnalyticPhantomConfig:
    """Everything that defines one analytic phantom patient; the same config gives the same patient.

    ``shading`` is the coil shading's relative gain at the scalp on the lesion's side
    (the other side gets the opposite): negative makes the lesion side darker. For a
    bilateral lesion, "the lesion's side" is ``side``. ``imr_ml`` and
    ``hyperperfusion_ml`` count both hemispheres of a bilateral lesion together.
    """

    seed: int = 0
    side: Literal["left", "right"] = "left"
    lesion_location: Location = "mca"
    size: tuple[int, int, int] = clinical_size(_CLINICAL_SPACING)
    spacing: tuple[float, float, float] = _CLINICAL_SPACING
    flip_axes: tuple[bool, bool, bool] = (False, False, False)  # negate direction columns
    centre: tuple[float, float, float] = (3.0, -12.0, 20.0)  # head centre in the scanner (LPS mm), unposed
    subsample_mm: float = 1.0  # largest sub-voxel edge of the footprint mean
    blur_mm: float = 1.0  # in-plane Gaussian PSF sigma
    noise: float = 0.05  # relative (multiplicative) noise SD
    shading: float = 0.0  # in [-0.1, 0.1] typically; see above
    lesion_ml: float = 40.0
    imr_ml: float = 8.0
    imr_depth: float = 0.35  # fractional post-EVT rCBV reduction in IMR
    hyperperfusion_ml: float = 3.0
    hyperperfusion_gain: float = 0.30
    mirror_hypoperfusion: float = 0.0  # 0 = none, else the factor on the lesion's mirror, all timepoints
    post_pose: Pose = _DEFAULT_POSES["post"]
    day5_pose: Pose = _DEFAULT_POSES["day5"]
    arrival_pose: Pose = _DEFAULT_POSES["arrival"]
    lesion_on_post: bool = False  # also draw the lesion on the post-EVT grid

    def __post_init__(self) -> None:
        if self.side not in ("left", "right"):
            raise InputError(f"phantom side must be 'left' or 'right', got {self.side!r}")
        if self.lesion_location not in LOCATIONS:
            raise InputError(f"lesion location must be one of {', '.join(LOCATIONS)}, got {self.lesion_location!r}")
        if len(self.size) != 3 or min(self.size) < 1 or len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise InputError("phantom size and spacing need three positive values each")
        for name in ("lesion_ml", "subsample_mm"):
            if getattr(self, name) <= 0:
                raise InputError(f"phantom {name} must be positive, got {getattr(self, name)}")
        for name in ("imr_ml", "hyperperfusion_ml", "hyperperfusion_gain", "noise", "blur_mm"):
            if getattr(self, name) < 0:
                raise InputError(f"phantom {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.imr_depth < 1.0 or not 0.0 <= self.mirror_hypoperfusion < 1.0:
            raise InputError("IMR depth and mirror hypoperfusion factor must be in [0, 1)")
        if abs(self.shading) >= 1.0:
            raise InputError(f"shading must be in (-1, 1), got {self.shading}")
        if self.mirror_hypoperfusion and self.lesion_location == "bilateral":
            raise InputError("a bilateral lesion is its own mirror: no mirror hypoperfusion")

    @property
    def side_sign(self) -> int:
        return 1 if self.side == "left" else -1

    @property
    def margin_mm(self) -> float:
        """How far IMR stays inside the lesion's edges: about a slice, so that drawing the
        mask on voxels and carrying it between grids never decides the truth."""
        return 0.5 * max(self.spacing) + 2.0

    def pose(self, timepoint: Timepoint) -> Pose:
        return getattr(self, f"{timepoint}_pose")


def in_mirror_box(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Which head-centred points have (|x|, y, z) inside [low, high]: a box and its mirror."""
    ax = np.abs(points[:, 0])
    inside = (ax >= low[0]) & (ax <= high[0])
    for axis in (1, 2):
        inside &= (points[:, axis] >= low[axis]) & (points[:, axis] <= high[axis])
    return inside


@dataclass(frozen=True, eq=False)
class Scan:
    """One timepoint's acquisition: the grid (an empty image), the head pose and centre."""

    grid: sitk.Image
    pose: Pose
    centre: np.ndarray
    subsample_mm: float

    @classmethod
    def of(cls, config: AnalyticPhantomConfig, timepoint: Timepoint) -> "Scan":
        """The config's grid, centred on the unposed head centre."""
        grid = sitk.Image([int(n) for n in config.size], sitk.sitkUInt8)
        direction = np.diag([-1.0 if flip else 1.0 for flip in config.flip_axes])
        centre = np.asarray(config.centre, dtype=float)
        extent = np.asarray(config.spacing) * (np.asarray(config.size) - 1)
        grid.SetSpacing([float(s) for s in config.spacing])
        grid.SetDirection(direction.ravel().tolist())
        grid.SetOrigin((centre - direction @ extent / 2.0).tolist())
        return cls(grid, config.pose(timepoint), centre, config.subsample_mm)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(reversed(self.grid.GetSize()))

    def to_image(self, array: np.ndarray) -> sitk.Image:
        image = sitk.GetImageFromArray(array)
        image.CopyInformation(self.grid)
        return image

    def _voxel_centres(self, matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """matrix @ (i, j, k) + offset for every voxel, (k, j, i) order, built axis by axis."""
        nk, nj, ni = self.shape
        points = (offset + np.arange(nk)[:, None, None, None] * matrix[:, 2]
                  + np.arange(nj)[None, :, None, None] * matrix[:, 1]
                  + np.arange(ni)[None, None, :, None] * matrix[:, 0])
        return points.reshape(-1, 3)

    @cached_property
    def index_to_scanner(self) -> tuple[np.ndarray, np.ndarray]:
        direction = np.asarray(self.grid.GetDirection()).reshape(3, 3)
        return direction * np.asarray(self.grid.GetSpacing()), np.asarray(self.grid.GetOrigin())

    @cached_property
    def head_centres(self) -> np.ndarray:
        """Head-centred points of every voxel centre: R^T (q - centre - shift)."""
        matrix, origin = self.index_to_scanner
        rotation = self.pose.rotation()
        return self._voxel_centres(rotation.T @ matrix,
                                   rotation.T @ (origin - self.centre - np.asarray(self.pose.shift_mm)))

    @property
    def half_diagonal(self) -> float:
        return 0.5 * float(np.linalg.norm(self.grid.GetSpacing()))

    def footprint_offsets(self) -> np.ndarray:
        """Head-space offsets (F, 3) of the sub-voxel samples from a voxel's centre (midpoint rule)."""
        spacing = np.asarray(self.grid.GetSpacing())
        counts = np.maximum(1, np.ceil(spacing / self.subsample_mm - 1e-9)).astype(int)
        fractions = [(np.arange(n) + 0.5) / n - 0.5 for n in counts]
        steps = np.array(list(itertools.product(*fractions))) * spacing
        direction = np.asarray(self.grid.GetDirection()).reshape(3, 3)
        return steps @ direction.T @ self.pose.rotation()

    def footprint_mean(self, function: Callable[[np.ndarray], np.ndarray], selected: np.ndarray) -> np.ndarray:
        """Mean of ``function`` (head-centred points -> values) over each selected voxel's box;
        zero on the others. Returns a (k, j, i) array."""
        offsets = self.footprint_offsets()
        centres = self.head_centres[selected]
        means = np.empty(len(centres))
        chunk = max(1, CHUNK_POINTS // len(offsets))
        for start in range(0, len(centres), chunk):
            points = (centres[start:start + chunk, None, :] + offsets[None, :, :]).reshape(-1, 3)
            means[start:start + chunk] = function(points).reshape(-1, len(offsets)).mean(axis=1)
        array = np.zeros(int(np.prod(self.shape)))
        array[selected] = means
        return array.reshape(self.shape)

    def in_head(self) -> np.ndarray:
        """Flat indices of the voxels whose footprint can meet the head (anything non-zero)."""
        centres = self.head_centres
        reach = anatomy.brain_depth(np.abs(centres[:, 0]), centres[:, 1], centres[:, 2])
        return np.flatnonzero(reach > -(anatomy.HEAD_SHELL_MM + 1.5 * self.half_diagonal))

    def near(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Flat indices of the voxels whose footprint can meet the (|x|, y, z) box or its mirror."""
        return np.flatnonzero(in_mirror_box(self.head_centres, low - self.half_diagonal, high + self.half_diagonal))

    def shading_gain(self, shading: float) -> np.ndarray:
        """1 + shading * x_rel, x_rel in [-1, 1] the scanner x offset from the head centre
        over the head's half width (coil sensitivity is fixed to the scanner, not the head)."""
        matrix, origin = self.index_to_scanner
        x = self._voxel_centres(matrix, origin)[:, 0] - self.pose.head_to_scanner(self.centre, self.centre)[0]
        return (1.0 + shading * np.clip(x / SHADING_HALF_WIDTH_MM, -1.0, 1.0)).reshape(self.shape)


def changes(config: AnalyticPhantomConfig, lesion: Lesion,
            timepoint: Timepoint) -> list[tuple[Callable[[np.ndarray], np.ndarray], float]]:
    """Which regions multiply rCBV by how much at a timepoint."""
    table = {
        "arrival": [(lesion.territory, ARRIVAL_TERRITORY_GAIN), (lesion.lesion, ARRIVAL_CORE_GAIN)],
        "post": [(lesion.in_imr, 1.0 - config.imr_depth), (lesion.in_hyperperfusion, 1.0 + config.hyperperfusion_gain)],
        "day5": [(lesion.lesion, DAY5_LESION_GAIN)],
    }
    chronic = [(lesion.mirror, config.mirror_hypoperfusion)] if config.mirror_hypoperfusion else []
    return table[timepoint] + chronic


def continuous_map(config: AnalyticPhantomConfig, lesion: Lesion,
                   timepoint: Timepoint) -> Callable[[np.ndarray], np.ndarray]:
    """rCBV at head-centred points for a timepoint: anatomy times the regions' gains."""
    low, high = lesion.reach()
    table = changes(config, lesion, timepoint)

    def values(points: np.ndarray) -> np.ndarray:
        result = anatomy.rcbv(points)
        near = np.flatnonzero(in_mirror_box(points, low, high))
        for region, gain in table:
            result[near[region(points[near])]] *= gain
        return result

    return values


def acquire(scan: Scan, clean: np.ndarray, config: AnalyticPhantomConfig, scale: float,
            rng: np.random.Generator) -> sitk.Image:
    """In-plane PSF, coil shading, global scale, then multiplicative noise (and faint noise in air)."""
    image = clean
    if config.blur_mm > 0:
        spacing = scan.grid.GetSpacing()
        image = ndimage.gaussian_filter(image, (0.0, config.blur_mm / spacing[1], config.blur_mm / spacing[0]),
                                        mode="nearest")
    image = image * scan.shading_gain(config.shading * config.side_sign) * scale
    if config.noise > 0:
        image *= 1.0 + config.noise * rng.standard_normal(image.shape)
        air = clean == 0
        image[air] += AIR_NOISE * scale * rng.standard_normal(int(np.count_nonzero(air)))
    return scan.to_image(np.maximum(image, 0.0).astype(np.float32))


def draw_lesion(scan: Scan, lesion: Lesion) -> sitk.Image:
    """What a radiologist draws: voxels at least half of whose footprint is lesion."""
    occupancy = scan.footprint_mean(lambda points: lesion.lesion(points).astype(float), scan.near(*lesion.reach(1.0)))
    return scan.to_image((occupancy >= 0.5).astype(np.uint8))


def pose_transform(source: Pose, target: Pose, centre: np.ndarray) -> sitk.Euler3DTransform:
    """Maps a point of the ``source`` scan to the ``target`` scan's point of the same head point."""
    transform = sitk.Euler3DTransform()
    transform.SetCenter((centre + np.asarray(source.shift_mm)).tolist())
    transform.SetMatrix((target.rotation() @ source.rotation().T).ravel().tolist())
    transform.SetTranslation((np.asarray(target.shift_mm) - np.asarray(source.shift_mm)).tolist())
    return transform


@dataclass
class AnalyticTruth(PhantomTruth):
    """The template family's truth (volumes physical, on a 0.5 mm lattice) and whether the mirror can measure it."""

    expected_assessable: bool = True
    expected_reason: str = ""  # "" when the mirror method can measure this patient
    touches_plane: bool = False  # the lesion reaches the mid-sagittal plane

    def to_dict(self) -> dict:
        return truth_dict(self, expected_assessable=self.expected_assessable, expected_reason=self.expected_reason,
                          touches_plane=self.touches_plane)


@dataclass
class AnalyticPhantom:
    """The three maps, the drawn lesion and the truth of one analytic phantom patient."""

    config: AnalyticPhantomConfig
    arrival: sitk.Image
    post: sitk.Image
    day5: sitk.Image
    lesion: sitk.Image  # drawn on the day-5 grid
    exclusion: sitk.Image | None
    truth: AnalyticTruth
    regions: Lesion
    lesion_post: sitk.Image | None = None  # drawn on the post-EVT grid, when asked for

    def write(self, directory: str | Path, fmt: Literal["nii.gz", "nrrd"] = "nii.gz") -> dict[str, Path]:
        """Write every image and ``truth.json`` (truth plus config) into ``directory``."""
        images = {"arrival": self.arrival, "post": self.post, "day5": self.day5, "lesion": self.lesion,
                  "lesion_post": self.lesion_post}
        return write_phantom_files(directory, fmt, images, {**self.truth.to_dict(), "config": asdict(self.config)})


def expectation(config: AnalyticPhantomConfig) -> tuple[bool, str]:
    """Whether the mirror method can measure this patient, and why not."""
    if config.lesion_location == "bilateral":
        return False, "bilateral"
    if config.mirror_hypoperfusion:
        return False, "mirror abnormal"
    return True, ""


def make_analytic_phantom(config: AnalyticPhantomConfig = AnalyticPhantomConfig()) -> AnalyticPhantom:
    """Generate a patient; deterministic by ``config.seed``."""
    region_rng, scale_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(3))
    lesion = grow_lesion(config.lesion_location, config.side_sign, config.lesion_ml, config.margin_mm, region_rng)
    lesion, volumes = place_cores(lesion, config.imr_ml, config.hyperperfusion_ml, region_rng)
    scans = {timepoint: Scan.of(config, timepoint) for timepoint in TIMEPOINTS}
    scales = {timepoint: float(scale_rng.uniform(*SCALE_RANGE)) for timepoint in TIMEPOINTS}
    maps = {
        timepoint: acquire(scan, scan.footprint_mean(continuous_map(config, lesion, timepoint), scan.in_head()),
                           config, scales[timepoint], noise_rng)
        for timepoint, scan in scans.items()
    }
    post = scans["post"]
    assessable, reason = expectation(config)
    truth = AnalyticTruth(
        imr_volume_ml=volumes.imr_ml,
        lesion_volume_ml=volumes.lesion_ml,
        hyperperfusion_volume_ml=volumes.hyperperfusion_ml,
        exclusion_volume_ml=0.0,
        midline=Plane.from_vectors(post.pose.head_to_scanner(post.centre, post.centre), post.pose.rotation()[:, 0]),
        post_to_day5=pose_transform(post.pose, scans["day5"].pose, post.centre),
        post_to_arrival=pose_transform(post.pose, scans["arrival"].pose, post.centre),
        expected_assessable=assessable,
        expected_reason=reason,
        touches_plane=volumes.touches_plane,
        scales=scales,
    )
    lesion_post = draw_lesion(post, lesion) if config.lesion_on_post else None
    return AnalyticPhantom(config, maps["arrival"], maps["post"], maps["day5"], draw_lesion(scans["day5"], lesion),
                           None, truth, lesion, lesion_post)


def on_grid(spacing: tuple[float, float, float]) -> dict[str, tuple]:
    """Config fields of a clinical grid with this spacing."""
    return {"spacing": spacing, "size": clinical_size(spacing)}


def _poses(degrees: float) -> dict[str, Pose]:
    return {f"{timepoint}_pose": pose for timepoint, pose in tilted_poses(degrees).items()}


_ROLL_7 = {"post_pose": Pose(roll_deg=7.0, shift_mm=(3.0, -4.0, 2.0)),
           "day5_pose": Pose(roll_deg=-6.0, yaw_deg=3.0, shift_mm=(-5.0, 6.0, 3.0)),
           "arrival_pose": Pose(roll_deg=5.0, pitch_deg=-3.0, shift_mm=(4.0, 3.0, -3.0))}
CONDITION_CHANGES: dict[str, dict] = {
    "clean, tilt 0 deg": {"noise": 0.0, **_poses(0.0)},
    "clean, tilt 7 deg": {"noise": 0.0, **_poses(7.0)},
    "clean, tilt 15 deg": {"noise": 0.0, **_poses(15.0)},
    "noise 5 %": {"noise": 0.05},
    "noise 10 %": {"noise": 0.10},
    "noise 15 %": {"noise": 0.15},
    "3 mm slices": on_grid((1.875, 1.875, 3.0)),
    "8 mm slices, roll 7 deg": {**on_grid((1.875, 1.875, 8.0)), **_ROLL_7},
    "isotropic 2 mm": on_grid((2.0, 2.0, 2.0)),
    "shading -10 % (lesion side darker), noise 5 %": {"shading": -0.10},
    "shading +10 %, noise 5 %": {"shading": 0.10},
    "medial lesion (touches the plane), IMR 4.9 mL": {"lesion_location": "medial", "imr_ml": 4.9},
    "posterior fossa": {"lesion_location": "posterior_fossa", "lesion_ml": 30.0},
    "bilateral, IMR 2 x 5 mL": {"lesion_location": "bilateral", "lesion_ml": 60.0, "imr_ml": 10.0},
    "mirror region hypoperfused (x0.75)": {"mirror_hypoperfusion": 0.75},
}


def condition_pair(index: int, changes: dict) -> tuple[AnalyticPhantomConfig, AnalyticPhantomConfig]:
    """The same patient (seed, side) without IMR and with IMR (8 mL unless the condition says)."""
    base = replace(AnalyticPhantomConfig(), seed=100 + index, side="left" if index % 2 == 0 else "right", **changes)
    return replace(base, imr_ml=0.0), base


ROBUSTNESS_CONDITIONS: dict[str, tuple[AnalyticPhantomConfig, AnalyticPhantomConfig]] = {
    name: condition_pair(index, changes) for index, (name, changes) in enumerate(CONDITION_CHANGES.items())
}
