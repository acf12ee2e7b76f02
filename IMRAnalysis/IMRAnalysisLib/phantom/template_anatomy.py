"""Head-space anatomy of the digital phantom: MNI152 tissue, CBV and seeded lesion regions.

Head space is the LPS physical space of the symmetric MNI152 2009a template (reduced copy
in ``data/``, see ``data/MNI152_LICENSE.txt``): x = 0 is the exact mid-sagittal plane and
+x is the patient's left. Every region is an analytic set, a union of ellipsoids above a
level, restricted to a box and to brain tissue, so membership can be evaluated at any
point of any scanner grid and the truth volumes are exact for what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

DATA_DIR = Path(__file__).parent.parent / "data"  # the package's shared data folder
TEMPLATE_FILES = {"gm": "mni152_sym_gm_2mm.nii.gz", "wm": "mni152_sym_wm_2mm.nii.gz"}
GM_CBV = 4.0
WM_CBV = 1.7
BRAIN_THRESHOLD = 0.5
CALIBRATION_MM = 1.25
MIDLINE_CLEARANCE_MM = 4.0

Box = tuple[np.ndarray, np.ndarray]
MIRROR = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True, eq=False)
class Template:
    """Tissue probabilities (indexed x, y, z) on an axis-aligned LPS grid, and their CBV."""

    tissue: np.ndarray
    cbv: sitk.Image
    origin: np.ndarray
    spacing: float
    brain_box: Box  # physical bounding box of brain tissue
    centre: np.ndarray  # brain-box centre, on x = 0: the pivot of every head pose

    def tissue_at(self, points: np.ndarray) -> np.ndarray:
        """pGM + pWM at LPS points (N, 3), trilinear like the CBV resampling, 0 outside."""
        index = (np.asarray(points, dtype=float) - self.origin) / self.spacing
        return ndimage.map_coordinates(self.tissue, index.T, order=1, mode="constant", cval=0.0)

    def brain_at(self, points: np.ndarray) -> np.ndarray:
        return self.tissue_at(points) >= BRAIN_THRESHOLD



def _read_probability(name: str) -> sitk.Image:
    image = sitk.ReadImage(str(DATA_DIR / TEMPLATE_FILES[name]), sitk.sitkFloat32)
    return image / 255.0


@lru_cache(maxsize=1)
def load_template() -> Template:
    """The packaged MNI152 derivative, read once per process."""
    gm, wm = _read_probability("gm"), _read_probability("wm")
    tissue = sitk.GetArrayFromImage(gm + wm).transpose(2, 1, 0).astype(np.float64)
    cbv = gm * GM_CBV + wm * WM_CBV
    origin = np.asarray(gm.GetOrigin())
    spacing = float(gm.GetSpacing()[0])
    index = np.argwhere(tissue >= BRAIN_THRESHOLD)
    low, high = origin + spacing * index.min(0), origin + spacing * index.max(0)
    centre = np.round((low + high) / 2.0)
    centre[0] = 0.0
    return Template(tissue, cbv, origin, spacing, (low, high), centre)


@dataclass(frozen=True, eq=False)
class Blob:
    """A union of ellipsoids; ``field`` is 1 at a centre, 0 on the surfaces, lower outside."""

    centres: np.ndarray  # (n, 3) LPS mm
    shapes: np.ndarray  # (n, 3, 3): p - c -> unit-sphere coordinates

    def field(self, points: np.ndarray) -> np.ndarray:
        """max over ellipsoids of 1 - |A (p - c)|^2: lowering the level grows every lobe."""
        values = np.full(len(points), -np.inf)
        for centre, shape in zip(self.centres, self.shapes):
            np.maximum(values, 1.0 - _quadratic_form(points - centre, shape.T @ shape), out=values)
        return values

    def mirrored(self) -> "Blob":
        return Blob(self.centres @ MIRROR, self.shapes @ MIRROR)


def _quadratic_form(d: np.ndarray, q: np.ndarray) -> np.ndarray:
    """d^T q d for rows d of (N, 3), symmetric q; written out, ten times faster than matmul."""
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    return x * (q[0, 0] * x + 2.0 * q[0, 1] * y + 2.0 * q[0, 2] * z) + y * (q[1, 1] * y + 2.0 * q[1, 2] * z) + q[2, 2] * z * z


def random_blob(rng: np.random.Generator, centre: np.ndarray, radius: float, count: int,
                spread: float) -> Blob:
    """Seeded irregular blob of roughly ``radius``: lobes jittered around ``centre``."""
    centres = centre + rng.normal(0.0, spread, size=(count, 3))
    shapes = []
    for _ in range(count):
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        radii = radius * rng.uniform(0.55, 1.0, size=3)
        shapes.append(np.diag(1.0 / radii) @ rotation.T)
    return Blob(centres, np.asarray(shapes))


def _in_box(points: np.ndarray, box: Box) -> np.ndarray:
    mask = (points[:, 0] >= box[0][0]) & (points[:, 0] <= box[1][0])
    for axis in (1, 2):
        mask &= (points[:, axis] >= box[0][axis]) & (points[:, axis] <= box[1][axis])
    return mask


def _mirror_box(box: Box) -> Box:
    low, high = box[0].copy(), box[1].copy()
    low[0], high[0] = -box[1][0], -box[0][0]
    return low, high


@dataclass(frozen=True, eq=False)
class Region:
    """{p in box : blob.field(p) >= level, inside every ``within``, outside every ``outside``}.

    ``contains`` also requires brain tissue; the nested constraints are shapes only (the
    result is intersected with tissue once). ``blob=None`` is the empty region.
    """

    blob: Blob | None
    level: float
    box: Box
    within: tuple["Region", ...] = ()
    outside: tuple["Region", ...] = ()

    @property
    def empty(self) -> bool:
        return self.blob is None

    def shape_contains(self, points: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(points), dtype=bool) if self.empty else _in_box(points, self.box)
        for other in self.within:
            mask[mask] = other.shape_contains(points[mask])
        for other in self.outside:
            mask[mask] = ~other.shape_contains(points[mask])
        if mask.any() and self.level > -np.inf:
            mask[mask] = self.blob.field(points[mask]) >= self.level
        return mask

    def contains(self, points: np.ndarray, template: Template) -> np.ndarray:
        """Membership of LPS head points (N, 3)."""
        points = np.asarray(points, dtype=float).reshape(-1, 3)
        mask = self.shape_contains(points)
        if mask.any():
            mask[mask] = template.brain_at(points[mask])
        return mask

    def mirrored(self) -> "Region":
        if self.empty:
            return self
        return Region(self.blob.mirrored(), self.level, _mirror_box(self.box),
                      tuple(r.mirrored() for r in self.within),
                      tuple(r.mirrored() for r in self.outside))


def empty_region() -> Region:
    return Region(None, np.inf, (np.zeros(3), np.zeros(3)))


@dataclass(frozen=True, eq=False)
class Calibration:
    """Brain-tissue sample points on multiples of the spacing (so mirror-symmetric)."""

    points: np.ndarray
    spacing: float

    @property
    def voxel_ml(self) -> float:
        return self.spacing**3 / 1000.0

    def within(self, region: Region) -> "Calibration":
        """Only the samples inside ``region``: later regions nested in it fit faster."""
        return Calibration(self.points[region.shape_contains(self.points)], self.spacing)


def make_calibration(box: Box, template: Template, spacing: float = CALIBRATION_MM) -> Calibration:
    axes = [np.arange(np.ceil(lo / spacing), np.floor(hi / spacing) + 1) * spacing
            for lo, hi in zip(*box)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return Calibration(points[template.brain_at(points)], spacing)


def _level_for_volume(ranked: np.ndarray, volume_ml: float, voxel_ml: float) -> float:
    """Level keeping the ``volume_ml`` of samples with the highest values (all if too few)."""
    count = int(round(volume_ml / voxel_ml))
    if count >= len(ranked):
        return float(ranked[-1] - 1e-9)
    return float(0.5 * (ranked[count - 1] + ranked[count]))


def fit_regions(blob: Blob, volumes_ml: list[float], calibration: Calibration, box: Box,
                within: tuple[Region, ...] = (), outside: tuple[Region, ...] = ()) -> list[Region]:
    """Regions of ``blob``, one per volume, each holding that volume of brain among candidates.

    A region takes every candidate if they hold less than asked (it saturates). Each box
    is tightened to the selected samples (plus one spacing) so that scanner grids only
    need to be evaluated near the region.
    """
    unconstrained = Region(blob, -np.inf, box, within, outside)
    candidates = calibration.points[unconstrained.shape_contains(calibration.points)]
    values = blob.field(candidates)
    ranked = np.sort(values)[::-1]
    regions = []
    for volume_ml in volumes_ml:
        if volume_ml <= 0 or round(volume_ml / calibration.voxel_ml) < 1 or len(values) == 0:
            regions.append(empty_region())
            continue
        level = _level_for_volume(ranked, volume_ml, calibration.voxel_ml)
        selected = candidates[values >= level]
        margin = calibration.spacing
        tight = (np.maximum(selected.min(0) - margin, box[0]), np.minimum(selected.max(0) + margin, box[1]))
        regions.append(replace(unconstrained, level=level, box=tight))
    return regions


def fit_region(blob: Blob, volume_ml: float, calibration: Calibration, box: Box,
               within: tuple[Region, ...] = (), outside: tuple[Region, ...] = ()) -> Region:
    return fit_regions(blob, [volume_ml], calibration, box, within, outside)[0]


def centroid(region: Region, calibration: Calibration) -> np.ndarray:
    return calibration.points[region.shape_contains(calibration.points)].mean(axis=0)


def equivalent_radius(volume_ml: float) -> float:
    """Radius (mm) of the sphere of this volume."""
    return float((3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0))


def _unit(rng: np.random.Generator) -> np.ndarray:
    vector = rng.normal(size=3)
    return vector / np.linalg.norm(vector)


@dataclass(frozen=True, eq=False)
class LesionRegions:
    """Every head-space region of one patient (empty regions where not requested)."""

    lesion: Region  # day-5 ischaemic lesion
    core: Region  # the lesion's deeper half: lowest arrival CBV, home of IMR
    territory: Region  # arrival hypoperfused territory, larger than the lesion
    imr: Region
    hyperperfusion: Region
    haemorrhage: Region

    def mirrored(self) -> "LesionRegions":
        return LesionRegions(*(getattr(self, f.name).mirrored() for f in fields(self)))


@dataclass(frozen=True)
class RegionRequest:
    """Volumes (mL) of the regions to draw; see PhantomConfig."""

    lesion_ml: float
    imr_ml: float
    hyperperfusion_ml: float
    exclusion_ml: float
    exclusion_overlaps_imr: bool


LESION_CENTRE = np.array([42.0, 5.0, 15.0])  # left lateral MCA territory (LPS mm)
LESION_CENTRE_SD = np.array([2.0, 5.0, 4.0])
CORE_FRACTION = 0.5  # IMR lives in the deeper half of the lesion
INNER_FRACTION = 0.8  # hyperperfusion avoids the outer fifth
TERRITORY_FACTOR = 2.0  # arrival deficit / final lesion volume
IMR_MARGIN = 1.35  # hyperperfusion and a separate haemorrhage avoid IMR lobes grown this much


def _territory_box(centre: np.ndarray, volume_ml: float, template: Template) -> Box:
    """Search box around the lesion centre, left of the midline, inside the brain box."""
    half = 1.6 * equivalent_radius(volume_ml) + 12.0
    low = np.maximum(centre - half, template.brain_box[0])
    high = np.minimum(centre + half, template.brain_box[1])
    low[0] = max(low[0], MIDLINE_CLEARANCE_MM)
    return low, high


def _grown(region: Region, factor: float, box: Box) -> Region:
    """The same lobes with radii scaled by ``factor``, as a shape for ``outside``."""
    if region.empty:
        return region
    return Region(region.blob, 1.0 - (1.0 - region.level) * factor**2, box)


@dataclass(frozen=True)
class _Frame:
    """Where the inner regions go: lesion samples, search box, core centroid and axis."""

    calibration: Calibration
    box: Box
    middle: np.ndarray
    radius: float
    axis: np.ndarray


def build_left_regions(rng: np.random.Generator, request: RegionRequest,
                       template: Template) -> LesionRegions:
    """Draw the regions of a left-hemisphere (+x) MCA-territory lesion."""
    centre = LESION_CENTRE + rng.normal(0.0, LESION_CENTRE_SD)
    territory_ml = TERRITORY_FACTOR * request.lesion_ml
    box = _territory_box(centre, territory_ml, template)
    calibration = make_calibration(box, template)
    radius = equivalent_radius(request.lesion_ml)
    blob = random_blob(rng, centre, radius, count=4, spread=0.3 * radius)
    volumes = [request.lesion_ml, territory_ml, CORE_FRACTION * request.lesion_ml,
               INNER_FRACTION * request.lesion_ml]
    lesion, territory, core, inner = fit_regions(blob, volumes, calibration, box)
    calibration = calibration.within(lesion)
    frame = _Frame(calibration, box, centroid(core, calibration), radius, _unit(rng))
    imr, hyper = _imr_and_hyperperfusion(rng, request, frame, core, inner)
    haemorrhage = _haemorrhage(rng, request, frame, lesion, imr)
    return LesionRegions(lesion, core, territory, imr, hyper, haemorrhage)


def _imr_and_hyperperfusion(rng: np.random.Generator, request: RegionRequest, frame: _Frame,
                            core: Region, inner: Region) -> tuple[Region, Region]:
    """IMR in the core, off-centre along the axis; hyperperfusion on the other side, apart."""
    imr_blob = random_blob(rng, frame.middle + 0.25 * frame.radius * frame.axis,
                           equivalent_radius(max(request.imr_ml, 1.0)), count=3, spread=3.0)
    imr = fit_region(imr_blob, request.imr_ml, frame.calibration, frame.box, within=(core,))
    hyper_blob = random_blob(rng, frame.middle - 0.45 * frame.radius * frame.axis,
                             equivalent_radius(max(request.hyperperfusion_ml, 1.0)), count=3, spread=3.0)
    apart = () if imr.empty else (_grown(imr, IMR_MARGIN, frame.box),)
    hyper = fit_region(hyper_blob, request.hyperperfusion_ml, frame.calibration, frame.box,
                       within=(inner,), outside=apart)
    return imr, hyper


def _haemorrhage(rng: np.random.Generator, request: RegionRequest, frame: _Frame,
                 lesion: Region, imr: Region) -> Region:
    """Haemorrhage inside the lesion: on the IMR region if asked, else away from it."""
    size = equivalent_radius(max(request.exclusion_ml, 0.5))
    if request.exclusion_overlaps_imr and not imr.empty:
        centre = centroid(imr, frame.calibration) + rng.normal(0.0, 2.0, 3)
        blob = random_blob(rng, centre, size, count=2, spread=2.0)
        return fit_region(blob, request.exclusion_ml, frame.calibration, frame.box, within=(lesion,))
    side = np.cross(frame.axis, _unit(rng))
    side /= np.linalg.norm(side)
    blob = random_blob(rng, frame.middle + 0.45 * frame.radius * side, size, count=2, spread=2.0)
    apart = () if imr.empty else (_grown(imr, IMR_MARGIN, frame.box),)
    return fit_region(blob, request.exclusion_ml, frame.calibration, frame.box, within=(lesion,), outside=apart)


def build_regions(rng: np.random.Generator, request: RegionRequest, side: str,
                  template: Template) -> LesionRegions:
    """Regions on the patient's ``side``; right is the exact mirror of left (same seed)."""
    regions = build_left_regions(rng, request, template)
    return regions if side == "left" else regions.mirrored()
