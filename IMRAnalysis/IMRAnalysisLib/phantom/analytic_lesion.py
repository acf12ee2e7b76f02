"""Lesion, IMR, hyperperfusion and mirror regions of the analytic phantom, with their volumes.

Regions live in *side coordinates*: head-centred LPS with x multiplied by the lesion's
side (+1 left, -1 right), so every location is described once, on the +x side. A
bilateral lesion uses |x| instead and is mirror-symmetric by construction.

Each region grows homothetically with one scale about its centre (a union of ellipsoids
that all contain that centre), so the scale at which a point enters is closed-form. The
volume of a region at scale s is then the count of lattice points that entered below s:
sorting the entry scales gives the scale of any target volume exactly, without a search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InputError
from . import analytic_anatomy as anatomy

Location = Literal["mca", "posterior_fossa", "medial", "bilateral"]
Compartment = Literal["cerebrum", "cerebellum"]
LOCATIONS: tuple[Location, ...] = ("mca", "posterior_fossa", "medial", "bilateral")

SEARCH_STEP_MM = 1.5  # lattice that finds the lesion scale
TRUTH_STEP_MM = 0.5  # lattice of every truth volume and of the IMR and hyperperfusion scales
ARRIVAL_TERRITORY = 1.35  # the arrival deficit: the lesion grown by this scale factor
MIRROR_DILATION = 1.1  # the chronically hypoperfused mirror region, slightly larger
MAX_OFFSET = 0.7  # each ellipsoid holds the centre: |offset / radius| is capped at this


@dataclass(frozen=True)
class Template:
    """Where a lesion sits: its centre, compartment and ellipsoids (offset, radii), side coordinates."""

    compartment: Compartment
    centre: tuple[float, float, float]
    parts: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...]


MCA = Template("cerebrum", (44.0, -4.0, 14.0), (
    ((0.0, 0.0, 0.0), (15.0, 24.0, 17.0)),
    ((-8.0, -10.0, 4.0), (14.0, 18.0, 13.0)),
    ((-12.0, 9.0, -6.0), (18.0, 18.0, 14.0)),  # towards the putamen
    ((3.0, 14.0, 10.0), (12.0, 14.0, 12.0)),
))
TEMPLATES: dict[Location, Template] = {
    "mca": MCA,
    "bilateral": MCA,
    "medial": Template("cerebrum", (9.0, -38.0, 36.0), (
        ((0.0, 0.0, 0.0), (13.0, 24.0, 15.0)),
        ((2.0, -12.0, -7.0), (10.0, 16.0, 12.0)),
        ((1.0, 13.0, 6.0), (10.0, 16.0, 11.0)),
    )),
    "posterior_fossa": Template("cerebellum", (26.0, 52.0, -38.0), (
        ((0.0, 0.0, 0.0), (15.0, 15.0, 12.0)),
        ((6.0, -6.0, 4.0), (10.0, 10.0, 9.0)),
        ((-6.0, 7.0, -3.0), (10.0, 10.0, 9.0)),
    )),
}
COMPARTMENT_BOX = {  # side-coordinate boxes holding each compartment's lesion half
    "cerebrum": ((0.0, -88.0, -42.0), (74.0, 82.0, 62.0)),
    "cerebellum": ((0.0, 24.0, -60.0), (54.0, 80.0, -16.0)),
}


@dataclass(frozen=True, eq=False)
class Blob:
    """A union of ellipsoids about ``centre`` that grows with one scale s (homothety)."""

    centre: np.ndarray  # (3,)
    offsets: np.ndarray  # (K, 3), each inside its own ellipsoid
    radii: np.ndarray  # (K, 3)

    @classmethod
    def random(cls, centre: np.ndarray, parts: tuple, rng: np.random.Generator, jitter_mm: float = 3.0) -> "Blob":
        """Jittered offsets and radii, offsets pulled in so every ellipsoid holds the centre."""
        offsets = np.array([offset for offset, _ in parts], dtype=float)
        radii = np.array([radius for _, radius in parts], dtype=float)
        offsets += rng.uniform(-jitter_mm, jitter_mm, offsets.shape)
        radii *= rng.uniform(0.85, 1.15, radii.shape)
        reach = np.linalg.norm(offsets / radii, axis=1, keepdims=True)
        offsets *= np.minimum(1.0, MAX_OFFSET / np.maximum(reach, 1e-12))
        return cls(np.asarray(centre, dtype=float), offsets, radii)

    def entry_scale(self, points: np.ndarray) -> np.ndarray:
        """Smallest s at which each point is inside: |(p - c)/(s r) - o/r| <= 1, solved for 1/s."""
        scales = []
        for offset, radius in zip(self.offsets, self.radii):
            w = (points - self.centre) / radius
            b = offset / radius
            wb = w @ b
            discriminant = wb ** 2 + np.einsum("ij,ij->i", w, w) * (1.0 - b @ b)
            scales.append((np.sqrt(discriminant) - wb) / (1.0 - b @ b))
        return np.min(scales, axis=0)

    def box(self, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Bounding box of the union at ``scale``."""
        low = self.centre + scale * (self.offsets - self.radii)
        high = self.centre + scale * (self.offsets + self.radii)
        return low.min(axis=0), high.max(axis=0)

    def within(self, points: np.ndarray, scale: float) -> np.ndarray:
        """Which points are inside the union at ``scale`` (the bounding box spares most of the work)."""
        low, high = self.box(scale)
        inside = np.all((points >= low) & (points <= high), axis=1)
        candidates = np.flatnonzero(inside)
        inside[candidates] = self.entry_scale(points[candidates]) <= scale
        return inside

    def depth(self, points: np.ndarray, scale: float) -> np.ndarray:
        """Signed radial depth (mm) below the union's surface at ``scale``."""
        return np.max([
            anatomy.Ellipsoid(tuple(self.centre + scale * offset), tuple(scale * radius)).depth(*points.T)
            for offset, radius in zip(self.offsets, self.radii)
        ], axis=0)


def compartment_depth(points: np.ndarray, compartment: Compartment) -> np.ndarray:
    """Depth inside the lesion's compartment, the CSF around it included (a drawn lesion
    reaches the skull or the tentorium), in side coordinates."""
    ax, y, z = np.abs(points[:, 0]), points[:, 1], points[:, 2]
    if compartment == "cerebrum":
        return anatomy.CEREBRUM.depth(ax, y, z) + anatomy.CSF_RIM_MM
    return anatomy.cerebellum_depth(ax, y, z) + anatomy.TENTORIUM_GAP_MM


@dataclass(frozen=True, eq=False)
class Lesion:
    """The drawn regions of one patient; every predicate takes head-centred LPS points (N, 3)."""

    side: int  # +1 left, -1 right
    bilateral: bool
    compartment: Compartment
    blob: Blob
    scale: float
    margin_mm: float  # IMR and hyperperfusion stay this far inside the lesion's edges
    imr: tuple[Blob, float] | None = None
    hyperperfusion: tuple[Blob, float] | None = None

    def side_points(self, points: np.ndarray, mirrored: bool = False) -> np.ndarray:
        x = np.abs(points[:, 0]) if self.bilateral else self.side * points[:, 0]
        return np.column_stack([-x if mirrored else x, points[:, 1], points[:, 2]])

    def contains(self, side: np.ndarray, scale: float) -> np.ndarray:
        """Which side-coordinate points lie in the lesion grown to ``scale``."""
        inside = self.blob.within(side, scale) & (side[:, 0] > 0)
        candidates = np.flatnonzero(inside)
        inside[candidates] = compartment_depth(side[candidates], self.compartment) > 0
        return inside

    def depth(self, side: np.ndarray) -> np.ndarray:
        """Distance (mm) inside every edge of the lesion: its blob, compartment and hemisphere."""
        return np.minimum.reduce([self.blob.depth(side, self.scale), compartment_depth(side, self.compartment),
                                  side[:, 0]])

    def lesion(self, points: np.ndarray) -> np.ndarray:
        return self.contains(self.side_points(points), self.scale)

    def territory(self, points: np.ndarray) -> np.ndarray:
        """The wider pre-treatment deficit seen on arrival."""
        return self.contains(self.side_points(points), ARRIVAL_TERRITORY * self.scale)

    def mirror(self, points: np.ndarray) -> np.ndarray:
        """The contralateral homolog of the lesion, slightly dilated."""
        return self.contains(self.side_points(points, mirrored=True), MIRROR_DILATION * self.scale)

    def in_imr(self, points: np.ndarray) -> np.ndarray:
        return self._in_core(self.imr, self.side_points(points))

    def in_hyperperfusion(self, points: np.ndarray) -> np.ndarray:
        side = self.side_points(points)
        return self._in_core(self.hyperperfusion, side) & ~self._in_core(self.imr, side)

    def _in_core(self, region: tuple[Blob, float] | None, side: np.ndarray) -> np.ndarray:
        if region is None:
            return np.zeros(len(side), dtype=bool)
        blob, scale = region
        inside = blob.within(side, scale)
        where = np.flatnonzero(inside)
        inside[where] = self.depth(side[where]) >= self.margin_mm
        return inside

    def reach(self, growth: float = max(ARRIVAL_TERRITORY, MIRROR_DILATION)) -> tuple[np.ndarray, np.ndarray]:
        """A box in (|x|, y, z) holding the lesion grown by ``growth``; by default every
        region at every timepoint, on the lesion side and its mirror."""
        low, high = self.blob.box(growth * self.scale)
        return np.array([0.0, low[1], low[2]]), np.array([max(abs(low[0]), abs(high[0])), high[1], high[2]])


@dataclass(frozen=True)
class Volumes:
    """Physical volumes (mL) of the drawn regions, counted on the truth lattice."""

    lesion_ml: float
    imr_ml: float
    hyperperfusion_ml: float
    touches_plane: bool  # the lesion reaches x = 0


def lattice(low: np.ndarray, high: np.ndarray, step: float) -> np.ndarray:
    """Cell centres of a regular lattice filling [low, high], x from exactly low (the plane)."""
    axes = [low[a] + step * (np.arange(int(np.ceil((high[a] - low[a]) / step))) + 0.5) for a in range(3)]
    grid = np.meshgrid(*axes, indexing="ij")
    return np.column_stack([g.ravel() for g in grid])


def scale_for_volume(entry: np.ndarray, volume_ml: float, cell_ml: float, what: str) -> float:
    """The scale at which the points entered so far fill ``volume_ml``."""
    count = int(round(volume_ml / cell_ml))
    if count > len(entry):
        raise InputError(f"the phantom's {what} of {volume_ml:g} mL does not fit "
                         f"(at most {len(entry) * cell_ml:.1f} mL here)")
    return float(np.partition(entry, count - 1)[count - 1])


def grow_lesion(location: Location, side: int, lesion_ml: float, margin_mm: float,
                rng: np.random.Generator) -> Lesion:
    """The lesion of ``lesion_ml`` (both sides together when bilateral) at ``location``."""
    template = TEMPLATES[location]
    blob = Blob.random(np.asarray(template.centre), template.parts, rng)
    low, high = (np.asarray(corner) for corner in COMPARTMENT_BOX[template.compartment])
    points = lattice(low, high, SEARCH_STEP_MM)
    points = points[compartment_depth(points, template.compartment) > 0]
    halves = 2.0 if location == "bilateral" else 1.0
    scale = scale_for_volume(blob.entry_scale(points), lesion_ml / halves, SEARCH_STEP_MM ** 3 / 1000.0, "lesion")
    return Lesion(side, location == "bilateral", template.compartment, blob, scale, margin_mm)


def place_cores(lesion: Lesion, imr_ml: float, hyperperfusion_ml: float,
                rng: np.random.Generator) -> tuple[Lesion, Volumes]:
    """IMR, then hyperperfusion away from it, inside the lesion (``margin_mm`` from its
    edges); their scales are set so their perfused volume meets the targets on the
    truth lattice, where every truth volume is counted. Both shapes are drawn whatever
    the targets, so a patient without IMR is the same patient as with IMR."""
    points = lattice(*lesion.reach(1.0), TRUTH_STEP_MM)
    points = points[lesion.contains(points, lesion.scale)]
    cell_ml = TRUTH_STEP_MM ** 3 / 1000.0 * (2.0 if lesion.bilateral else 1.0)  # both halves
    depth = lesion.depth(points)
    tissue = anatomy.perfused(anatomy.tissue_labels(points))
    free = (depth >= lesion.margin_mm) & tissue
    if not free.any():
        raise InputError(f"the phantom lesion has no tissue {lesion.margin_mm:g} mm inside its edges")
    imr_blob = _seed_blob(points, depth, free, rng, None)
    hyper_blob = _seed_blob(points, depth, free, rng, imr_blob.centre)
    imr = _sized(imr_blob, points[free], imr_ml, cell_ml, "IMR")
    in_imr = _members(imr, points, depth, lesion.margin_mm)
    hyper = _sized(hyper_blob, points[free & ~in_imr], hyperperfusion_ml, cell_ml, "hyperperfusion")
    in_hyper = _members(hyper, points, depth, lesion.margin_mm) & ~in_imr
    placed = Lesion(lesion.side, lesion.bilateral, lesion.compartment, lesion.blob, lesion.scale,
                    lesion.margin_mm, imr, hyper)
    volumes = Volumes(len(points) * cell_ml, np.count_nonzero(in_imr & tissue) * cell_ml,
                      np.count_nonzero(in_hyper & tissue) * cell_ml, bool(points[:, 0].min() < TRUTH_STEP_MM))
    return placed, volumes


def _members(region: tuple[Blob, float] | None, points: np.ndarray, depth: np.ndarray,
             margin_mm: float) -> np.ndarray:
    if region is None:
        return np.zeros(len(points), dtype=bool)
    blob, scale = region
    return (blob.entry_scale(points) <= scale) & (depth >= margin_mm)


def _seed_blob(points: np.ndarray, depth: np.ndarray, free: np.ndarray, rng: np.random.Generator,
               away_from: np.ndarray | None) -> Blob:
    """A two-ellipsoid shape centred in the deeper half of the ``free`` points: at random,
    or as far as possible from ``away_from``."""
    candidates = points[free & (depth >= np.quantile(depth[free], 0.5))]
    pick = rng.integers(len(candidates))
    if away_from is not None:
        pick = int(np.argmax(np.linalg.norm(candidates - away_from, axis=1)))
    radii = rng.uniform(7.0, 13.0, (2, 3))
    direction = rng.normal(size=3)
    offset = 0.6 * radii[1] * direction / np.linalg.norm(direction)
    return Blob.random(candidates[pick], (((0.0, 0.0, 0.0), tuple(radii[0])), (tuple(offset), tuple(radii[1]))),
                       rng, jitter_mm=0.0)


def _sized(blob: Blob, free_points: np.ndarray, volume_ml: float, cell_ml: float,
           what: str) -> tuple[Blob, float] | None:
    """The blob at the scale where it holds ``volume_ml`` of the free points (None for 0 mL)."""
    if volume_ml <= 0:
        return None
    return blob, scale_for_volume(blob.entry_scale(free_points), volume_ml, cell_ml, what)
