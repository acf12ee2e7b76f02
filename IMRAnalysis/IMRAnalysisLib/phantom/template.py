"""Digital phantom patients: arrival, post-EVT and day-5 rCBV maps with a known IMR truth.

The anatomy is the symmetric MNI152 template (``template_anatomy``); each timepoint sees the
head in its own rigid pose on a clinical DSC-like grid, with partial volume, blur, noise
and its own arbitrary global scale. Regions are analytic head-space sets, so the truth
(volumes, midline, inter-timepoint transforms) is exact for what was drawn, and the
analysis can be checked end to end against it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..analysis.geometry import voxel_points
from ..analysis.plane import Plane
from ..errors import InputError
from .template_anatomy import LesionRegions, Region, RegionRequest, Template, build_regions, load_template

Timepoint = Literal["arrival", "post", "day5"]
TIMEPOINTS: tuple[Timepoint, ...] = ("arrival", "post", "day5")
SCALE_RANGE = (0.7, 1.4)  # per-timepoint global scale: maps are relative
FLOOR_NOISE = 0.25  # additive noise SD per unit of relative noise, in CBV units (WM = 1.7)
RENDER_VOXEL_MM = 1.75  # largest sub-voxel edge for partial volume (template: 2 mm)
TRUTH_SUPERSAMPLING = 2  # truth sub-voxels per rendering sub-voxel, per axis
ARRIVAL_TERRITORY_GAIN = 0.75  # pre-treatment deficit, wider than the final lesion
ARRIVAL_CORE_GAIN = 0.7  # on top of the territory's, in the lesion core
DAY5_LESION_GAIN = 0.7
HAEMORRHAGE_GAIN = 0.5


@dataclass(frozen=True)
class Pose:
    """Rigid head pose in the scanner, about the brain centre (degrees, LPS mm)."""

    yaw_deg: float = 0.0  # about the S-I axis
    roll_deg: float = 0.0  # about the A-P axis
    pitch_deg: float = 0.0  # about the L-R axis
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def rotation(self) -> np.ndarray:
        """R = Rz(yaw) Ry(roll) Rx(pitch), acting on LPS vectors."""
        yaw, roll, pitch = np.radians([self.yaw_deg, self.roll_deg, self.pitch_deg])
        cz, sz, cy, sy, cx, sx = np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch)
        rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
        return rz @ ry @ rx

    def head_to_scanner(self, points: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """q = R (p - c) + c + shift, for LPS points (..., 3)."""
        return np.dot(np.asarray(points) - centre, self.rotation().T) + centre + np.asarray(self.shift_mm)

    def scanner_to_head(self, points: np.ndarray, centre: np.ndarray) -> np.ndarray:
        return np.dot(np.asarray(points) - centre - np.asarray(self.shift_mm), self.rotation()) + centre


@dataclass(frozen=True)
class PhantomConfig:
    """Everything that defines one phantom patient; the same config gives the same patient.

    The default grid is 128 x 128 x 25 at 1.875 x 1.875 x 6.5 mm (240 mm in-plane field of
    view, as clinical DSC): the MNI brain is 182 mm long, so it stays inside for head
    rotations up to 15 degrees with in-plane shifts up to 20 mm.

    IMR and hyperperfusion change rCBV by 30 %, twice the default 15 % threshold: a
    voxel then crosses the threshold when half of it is affected, so the count of
    voxels estimates the physical volume without partial-volume bias. Deeper deficits
    are counted from a smaller fraction (threshold / depth) of a boundary voxel, which
    any voxel-wise threshold method, the published one included, does as well.
    """

    seed: int = 0
    side: Literal["left", "right"] = "left"  # patient's hemisphere of the lesion
    size: tuple[int, int, int] = (128, 128, 25)  # acquisition grid (i, j, k)
    spacing: tuple[float, float, float] = (1.875, 1.875, 6.5)  # mm
    flip_axes: tuple[bool, bool, bool] = (False, False, False)  # negate direction columns
    post_pose: Pose = Pose(yaw_deg=6.0, roll_deg=-4.0, pitch_deg=5.0, shift_mm=(4.0, -6.0, 3.0))
    arrival_pose: Pose = Pose(yaw_deg=-5.0, roll_deg=3.0, pitch_deg=-7.0, shift_mm=(-6.0, 5.0, -2.0))
    day5_pose: Pose = Pose(yaw_deg=9.0, roll_deg=2.0, pitch_deg=10.0, shift_mm=(7.0, 8.0, 4.0))
    lesion_ml: float = 40.0  # day-5 lesion
    imr_ml: float = 10.0  # IMR target; the truth reports the exact drawn value
    imr_depth: float = 0.30  # fractional post-EVT CBV reduction in IMR
    hyperperfusion_ml: float = 6.0
    hyperperfusion_gain: float = 0.30  # fractional post-EVT CBV increase
    exclusion_ml: float = 0.0  # haemorrhage, drawn as an exclusion mask; 0 = none
    exclusion_overlaps_imr: bool = True
    noise: float = 0.04  # relative noise SD
    blur_mm: float = 1.0  # Gaussian PSF sigma
    symmetric: bool = False  # lesion mask but no perfusion change anywhere

    def __post_init__(self) -> None:
        if self.side not in ("left", "right"):
            raise InputError(f"phantom side must be 'left' or 'right', got {self.side!r}")
        if len(self.size) != 3 or min(self.size) < 1 or len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise InputError("phantom size and spacing need three positive values each")
        if self.lesion_ml < 1.0:
            raise InputError(f"phantom lesion volume must be at least 1 mL, got {self.lesion_ml}")
        for name in ("imr_ml", "hyperperfusion_ml", "exclusion_ml", "noise", "blur_mm", "hyperperfusion_gain"):
            if getattr(self, name) < 0:
                raise InputError(f"phantom {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.imr_depth < 1.0:
            raise InputError(f"IMR depth must be in [0, 1), got {self.imr_depth}")

    def pose(self, timepoint: Timepoint) -> Pose:
        return getattr(self, f"{timepoint}_pose")

    def region_request(self) -> RegionRequest:
        deficit = 0.0 if self.symmetric else 1.0
        return RegionRequest(self.lesion_ml, self.imr_ml * deficit, self.hyperperfusion_ml * deficit,
                             self.exclusion_ml, self.exclusion_overlaps_imr)


PRESETS: dict[str, PhantomConfig] = {
    "default": PhantomConfig(),
    "left": PhantomConfig(side="left"),
    "right": PhantomConfig(side="right"),
    "anisotropic": PhantomConfig(seed=3, size=(160, 124, 28), spacing=(1.4, 1.9, 6.0)),
    "flipped": PhantomConfig(seed=4, flip_axes=(True, False, True)),
    "exclusion": PhantomConfig(seed=5, exclusion_ml=3.0, exclusion_overlaps_imr=True),
    "near_cutoff": PhantomConfig(seed=6, imr_ml=6.5),
    "hyperperfusion_only": PhantomConfig(seed=7, imr_ml=0.0, hyperperfusion_ml=8.0),
    "symmetric": PhantomConfig(seed=8, imr_ml=0.0, hyperperfusion_ml=0.0, symmetric=True),
    "isotropic": PhantomConfig(seed=9, size=(104, 120, 84), spacing=(2.0, 2.0, 2.0)),
}


@dataclass(frozen=True, eq=False)
class Grid:
    """An acquisition grid: index (i, j, k) -> origin + direction @ (spacing * index)."""

    size: tuple[int, int, int]
    spacing: np.ndarray
    direction: np.ndarray
    origin: np.ndarray

    @classmethod
    def centred(cls, config: PhantomConfig, centre: np.ndarray) -> "Grid":
        """The config's grid, its centre on the brain centre (before the head pose)."""
        spacing = np.asarray(config.spacing, dtype=float)
        direction = np.diag([-1.0 if flip else 1.0 for flip in config.flip_axes])
        extent = spacing * (np.asarray(config.size) - 1)
        return cls(tuple(int(n) for n in config.size), spacing, direction, centre - direction @ extent / 2.0)

    def refined(self, factor: np.ndarray) -> "Grid":
        """The sub-voxel grid whose factor^3 blocks tile this grid's voxels exactly."""
        spacing = self.spacing / factor
        origin = self.origin + self.direction @ (self.spacing * (0.5 / factor - 0.5))
        return Grid(tuple(int(n) for n in np.asarray(self.size) * factor), spacing, self.direction, origin)

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def points(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Physical points of the index box [low, high) as an array (k, j, i, 3)."""
        axes = [np.arange(lo, hi) for lo, hi in zip(low, high)]
        k, j, i = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        index = np.stack([i, j, k], axis=-1) * self.spacing
        return self.origin + np.dot(index, self.direction.T)

    def continuous_index(self, points: np.ndarray) -> np.ndarray:
        return ((np.asarray(points) - self.origin) @ self.direction) / self.spacing

    def index_box(self, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index box [low, high) covering physical ``corners``, clipped to the grid."""
        index = self.continuous_index(corners)
        low = np.clip(np.floor(index.min(0)).astype(int) - 1, 0, self.size)
        high = np.clip(np.ceil(index.max(0)).astype(int) + 2, 0, self.size)
        return low, high

    def to_image(self, array: np.ndarray) -> sitk.Image:
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(self.spacing.tolist())
        image.SetOrigin(self.origin.tolist())
        image.SetDirection(self.direction.ravel().tolist())
        return image


def render_factor(spacing: np.ndarray) -> np.ndarray:
    """Sub-voxels per voxel and axis, so that sub-voxels are at most RENDER_VOXEL_MM."""
    return np.maximum(1, np.ceil(np.asarray(spacing) / RENDER_VOXEL_MM - 1e-9)).astype(int)


def box_corners(box: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.array(list(itertools.product(*zip(*box))), dtype=float)


def block_mean(array: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Average (k, j, i)-ordered sub-voxel blocks of size factor (i, j, k), axis by axis (fast)."""
    fi, fj, fk = (int(f) for f in factor)
    nk, nj, ni = (n // f for n, f in zip(array.shape, (fk, fj, fi)))
    total = array.reshape(nk, fk, -1).sum(axis=1)
    total = total.reshape(nk, nj, fj, ni * fi).sum(axis=2)
    total = total.reshape(nk, nj, ni, fi).sum(axis=3)
    return total / float(fi * fj * fk)


@dataclass(frozen=True, eq=False)
class Patch:
    """The sub-voxels of the voxel box [low, high) of a grid: scanner and head points."""

    low: np.ndarray
    high: np.ndarray
    factor: np.ndarray
    scanner: np.ndarray  # (k, j, i, 3) LPS mm
    head: np.ndarray  # the same sub-voxels in head space

    def slices(self, fine: bool) -> tuple[slice, slice, slice]:
        """Array (k, j, i) slices of the box on the voxel or the sub-voxel grid."""
        scale = self.factor if fine else np.ones(3, dtype=int)
        low, high = self.low * scale, self.high * scale
        return tuple(slice(int(low[a]), int(high[a])) for a in (2, 1, 0))

    def inside(self, region: Region, template: Template) -> np.ndarray:
        return region.contains(self.head.reshape(-1, 3), template).reshape(self.head.shape[:3])


@dataclass(frozen=True, eq=False)
class Scanner:
    """One timepoint's acquisition: grid, head pose, and head-space brain centre."""

    grid: Grid
    pose: Pose
    centre: np.ndarray

    def to_head_transform(self) -> sitk.Euler3DTransform:
        """Scanner point -> head point, as resampling the head-space map needs."""
        transform = sitk.Euler3DTransform()
        transform.SetCenter((self.centre + np.asarray(self.pose.shift_mm)).tolist())
        transform.SetMatrix(self.pose.rotation().T.ravel().tolist())
        transform.SetTranslation((-np.asarray(self.pose.shift_mm)).tolist())
        return transform

    def patch(self, regions: list[Region], factor: np.ndarray) -> Patch | None:
        """Sub-voxels (``factor`` per voxel and axis) of the voxels that can meet ``regions``."""
        boxes = [region.box for region in regions if not region.empty]
        if not boxes:
            return None
        corners = np.concatenate([self.pose.head_to_scanner(box_corners(box), self.centre) for box in boxes])
        low, high = self.grid.index_box(corners)
        if np.any(high <= low):
            return None
        scanner_points = self.grid.refined(factor).points(low * factor, high * factor)
        return Patch(low, high, factor, scanner_points, self.pose.scanner_to_head(scanner_points, self.centre))


def resample_cbv(template: Template, grid: Grid, to_head: sitk.Transform) -> np.ndarray:
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(grid.size)
    resampler.SetOutputSpacing(grid.spacing.tolist())
    resampler.SetOutputOrigin(grid.origin.tolist())
    resampler.SetOutputDirection(grid.direction.ravel().tolist())
    resampler.SetTransform(to_head)
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetDefaultPixelValue(0.0)
    return sitk.GetArrayFromImage(resampler.Execute(template.cbv))


def modulations(config: PhantomConfig, regions: LesionRegions, timepoint: Timepoint) -> list[tuple[Region, float]]:
    """Which regions multiply CBV by how much at each timepoint (none if symmetric)."""
    if config.symmetric:
        return []
    table = {
        "arrival": [(regions.territory, ARRIVAL_TERRITORY_GAIN), (regions.core, ARRIVAL_CORE_GAIN)],
        "post": [(regions.imr, 1.0 - config.imr_depth), (regions.hyperperfusion, 1.0 + config.hyperperfusion_gain),
                 (regions.haemorrhage, HAEMORRHAGE_GAIN)],
        "day5": [(regions.lesion, DAY5_LESION_GAIN), (regions.haemorrhage, HAEMORRHAGE_GAIN)],
    }
    return [(region, gain) for region, gain in table[timepoint] if not region.empty]


def partial_volume_cbv(template: Template, scanner: Scanner, changes: list[tuple[Region, float]]) -> np.ndarray:
    """CBV with regional changes on sub-voxels, averaged into voxels (partial volume)."""
    factor = render_factor(scanner.grid.spacing)
    cbv = resample_cbv(template, scanner.grid.refined(factor), scanner.to_head_transform())
    patch = scanner.patch([region for region, _ in changes], factor)
    if patch is not None:
        block = cbv[patch.slices(fine=True)]
        for region, gain in changes:
            block[patch.inside(region, template)] *= gain
    return block_mean(cbv, factor).astype(np.float64)


def acquire(cbv: np.ndarray, grid: Grid, config: PhantomConfig, rng: np.random.Generator,
            scale: float) -> sitk.Image:
    """PSF blur, the timepoint's arbitrary global scale, then relative and floor noise."""
    if config.blur_mm > 0:
        cbv = ndimage.gaussian_filter(cbv, config.blur_mm / grid.spacing[::-1], mode="nearest")
    image = cbv * scale
    if config.noise > 0:
        image *= 1.0 + config.noise * rng.standard_normal(image.shape)
        image += FLOOR_NOISE * config.noise * scale * rng.standard_normal(image.shape)
    return grid.to_image(np.maximum(image, 0.0).astype(np.float32))


def draw_mask(template: Template, scanner: Scanner, region: Region) -> sitk.Image:
    """What a radiologist draws: voxels at least half occupied by the region."""
    mask = np.zeros(scanner.grid.size[::-1], dtype=np.uint8)
    patch = scanner.patch([region], render_factor(scanner.grid.spacing))
    if patch is not None:
        occupancy = block_mean(patch.inside(region, template).astype(np.float32), patch.factor)
        mask[patch.slices(fine=False)] = occupancy >= 0.5
    return scanner.grid.to_image(mask)


def relative_transform(source: Scanner, target: Scanner) -> sitk.Euler3DTransform:
    """Maps source-scanner physical points to target-scanner points of the same head point."""
    rotation = target.pose.rotation() @ source.pose.rotation().T
    transform = sitk.Euler3DTransform()
    transform.SetCenter((source.centre + np.asarray(source.pose.shift_mm)).tolist())
    transform.SetMatrix(rotation.ravel().tolist())
    transform.SetTranslation((np.asarray(target.pose.shift_mm) - np.asarray(source.pose.shift_mm)).tolist())
    return transform


def transform_to_dict(transform: sitk.Euler3DTransform, meaning: str) -> dict:
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(transform.GetMatrix()).reshape(3, 3)
    matrix[:3, 3] = transform.TransformPoint((0.0, 0.0, 0.0))
    return {
        "type": "Euler3DTransform",
        "meaning": meaning,
        "coordinate_system": "LPS",
        "matrix_4x4": matrix.tolist(),
        "center_mm": list(transform.GetCenter()),
        "parameters": list(transform.GetParameters()),
    }


@dataclass
class PhantomTruth:
    """Ground truth on the post-EVT grid (physical LPS space); volumes in mL."""

    imr_volume_ml: float
    lesion_volume_ml: float
    hyperperfusion_volume_ml: float
    exclusion_volume_ml: float
    midline: Plane
    post_to_day5: sitk.Transform
    post_to_arrival: sitk.Transform
    scales: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return truth_dict(self)


def truth_dict(truth: PhantomTruth, **extra: object) -> dict:
    """truth.json of either phantom family: volumes, plane, true transforms, then ``extra``, then the scales."""
    return {
        "imr_volume_ml": truth.imr_volume_ml,
        "lesion_volume_ml": truth.lesion_volume_ml,
        "hyperperfusion_volume_ml": truth.hyperperfusion_volume_ml,
        "exclusion_volume_ml": truth.exclusion_volume_ml,
        "midline": truth.midline.to_dict(),
        "post_to_day5": transform_to_dict(truth.post_to_day5, "post-EVT physical point -> day-5 physical point"),
        "post_to_arrival": transform_to_dict(truth.post_to_arrival, "post-EVT physical point -> arrival physical point"),
        **extra,
        "scales": dict(truth.scales),
    }


def mask_volume_ml(mask: sitk.Image | None) -> float:
    if mask is None:
        return 0.0
    voxel_ml = float(np.prod(mask.GetSpacing())) / 1000.0
    return float(sitk.GetArrayViewFromImage(mask).sum()) * voxel_ml


def lookup_nearest(mask: sitk.Image, points: np.ndarray) -> np.ndarray:
    """Mask value of the voxel nearest to each physical point (0 outside the grid)."""
    direction = np.asarray(mask.GetDirection()).reshape(3, 3)
    index = np.rint(np.dot(points - np.asarray(mask.GetOrigin()), direction) / np.asarray(mask.GetSpacing())).astype(int)
    size = np.asarray(mask.GetSize())
    inside = np.all((index >= 0) & (index < size), axis=1)
    values = np.zeros(len(points), dtype=bool)
    array = sitk.GetArrayViewFromImage(mask)
    good = index[inside]
    values[inside] = array[good[:, 2], good[:, 1], good[:, 0]] > 0
    return values


def apply_transform(transform: sitk.Euler3DTransform, points: np.ndarray) -> np.ndarray:
    """Vectorised TransformPoint: M (p - C) + C + t."""
    matrix = np.asarray(transform.GetMatrix()).reshape(3, 3)
    centre = np.asarray(transform.GetCenter())
    return np.dot(points - centre, matrix.T) + centre + np.asarray(transform.GetTranslation())


def measured_volume_ml(template: Template, post: Scanner, region: Region, to_day5: sitk.Euler3DTransform,
                       lesion: sitk.Image, exclusion: sitk.Image | None) -> float:
    """Volume of region & tissue & drawn lesion & not drawn exclusion, supersampling post."""
    factor = render_factor(post.grid.spacing) * TRUTH_SUPERSAMPLING
    patch = post.patch([region], factor)
    if patch is None:
        return 0.0
    inside = patch.inside(region, template)
    day5_points = apply_transform(to_day5, patch.scanner[inside])
    keep = lookup_nearest(lesion, day5_points)
    if exclusion is not None:
        keep &= ~lookup_nearest(exclusion, day5_points)
    return float(np.count_nonzero(keep)) * post.grid.refined(factor).voxel_ml


@dataclass
class PhantomPatient:
    """The three maps, the drawn masks and the truth of one phantom patient."""

    config: PhantomConfig
    arrival: sitk.Image
    post: sitk.Image
    day5: sitk.Image
    lesion: sitk.Image
    exclusion: sitk.Image | None
    truth: PhantomTruth

    def registration_error_voxels(self, post_to_day5: sitk.Transform, brain_mask: sitk.Image) -> float:
        """Largest distance, in post-EVT voxels, between a day-5 registration and the truth.

        Measured at every voxel of ``brain_mask`` (post-EVT grid), along each grid axis
        in its own spacing, so "within one voxel" means the same on anisotropic grids.
        """
        points = voxel_points(self.post, sitk.GetArrayViewFromImage(brain_mask).astype(bool))
        direction = np.asarray(self.post.GetDirection()).reshape(3, 3)
        estimated = np.array([post_to_day5.TransformPoint(point.tolist()) for point in points])
        true = np.array([self.truth.post_to_day5.TransformPoint(point.tolist()) for point in points])
        in_voxels = ((estimated - true) @ direction) / np.asarray(self.post.GetSpacing())
        return float(np.linalg.norm(in_voxels, axis=1).max())

    def write(self, directory: str | Path, fmt: Literal["nii.gz", "nrrd"] = "nii.gz") -> dict[str, Path]:
        """Write every image and ``truth.json`` (truth plus config) into ``directory``."""
        images = {"arrival": self.arrival, "post": self.post, "day5": self.day5, "lesion": self.lesion,
                  "exclusion": self.exclusion}
        return write_phantom_files(directory, fmt, images, {**self.truth.to_dict(), "config": asdict(self.config)})


def write_phantom_files(directory: str | Path, fmt: str, images: dict[str, sitk.Image | None],
                        truth: dict) -> dict[str, Path]:
    """Each image given (None: not written) as ``<name>.<fmt>`` and ``truth`` as truth.json; the paths."""
    if fmt not in ("nii.gz", "nrrd"):
        raise InputError(f"phantom format must be 'nii.gz' or 'nrrd', got {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, image in images.items():
        if image is not None:
            paths[name] = directory / f"{name}.{fmt}"
            sitk.WriteImage(image, str(paths[name]), useCompression=True)
    paths["truth"] = directory / "truth.json"
    paths["truth"].write_text(json.dumps(truth, indent=2) + "\n")
    return paths


def resolve_config(config: PhantomConfig | str) -> PhantomConfig:
    if isinstance(config, PhantomConfig):
        return config
    if config not in PRESETS:
        raise InputError(f"unknown phantom preset {config!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[config]


def make_phantom(config: PhantomConfig | str = "default") -> PhantomPatient:
    """Generate a phantom patient from a config or a preset name; deterministic by seed."""
    config = resolve_config(config)
    template = load_template()
    streams = np.random.SeedSequence(config.seed).spawn(3)
    region_rng, scale_rng, noise_rng = (np.random.default_rng(s) for s in streams)
    regions = build_regions(region_rng, config.region_request(), config.side, template)
    grid = Grid.centred(config, template.centre)
    scanners = {t: Scanner(grid, config.pose(t), template.centre) for t in TIMEPOINTS}
    scales = {t: float(scale_rng.uniform(*SCALE_RANGE)) for t in TIMEPOINTS}
    maps = {t: acquire(partial_volume_cbv(template, scanners[t], modulations(config, regions, t)),
                       grid, config, noise_rng, scales[t]) for t in TIMEPOINTS}
    lesion = draw_mask(template, scanners["day5"], regions.lesion)
    exclusion = draw_mask(template, scanners["day5"], regions.haemorrhage) if config.exclusion_ml > 0 else None
    truth = make_truth(template, scanners, regions, lesion, exclusion, scales)
    return PhantomPatient(config, maps["arrival"], maps["post"], maps["day5"], lesion, exclusion, truth)


def make_truth(template: Template, scanners: dict[Timepoint, Scanner], regions: LesionRegions,
               lesion: sitk.Image, exclusion: sitk.Image | None, scales: dict[str, float]) -> PhantomTruth:
    post = scanners["post"]
    to_day5 = relative_transform(post, scanners["day5"])
    rotation = post.pose.rotation()
    midline = Plane.from_vectors(post.pose.head_to_scanner(template.centre, template.centre), rotation[:, 0])
    return PhantomTruth(
        imr_volume_ml=measured_volume_ml(template, post, regions.imr, to_day5, lesion, exclusion),
        lesion_volume_ml=mask_volume_ml(lesion),
        hyperperfusion_volume_ml=measured_volume_ml(template, post, regions.hyperperfusion, to_day5, lesion, exclusion),
        exclusion_volume_ml=mask_volume_ml(exclusion),
        midline=midline,
        post_to_day5=to_day5,
        post_to_arrival=relative_transform(post, scanners["arrival"]),
        scales=scales,
    )
