"""Analytic head for the second phantom family: tissue labels and rCBV at any point.

Coordinates are head-centred LPS millimetres (x towards the left, origin at the head
centre). Every shape is evaluated on ``|x|``, so the head is mirror-symmetric about
x = 0 by construction, down to the last bit: no template, no resampling, no rounding.

Shapes are described by a *signed radial depth*: positive inside, the distance to the
surface along the ray from the shape's centre. Unions are maxima of depths, and a
ribbon "within d mm of a surface" is ``0 < depth < d``, which is how the cortex, the
cerebrospinal fluid (CSF) rim, the skull and the scalp are laid around the brain.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

CORTEX_MM = 3.0  # cortical ribbon thickness (radial)
CSF_RIM_MM = 2.0  # subarachnoid CSF between brain and skull
SKULL_MM = 4.0
SCALP_MM = 4.0
TENTORIUM_GAP_MM = 2.0  # CSF between the occipital lobes and the cerebellum
BRAINSTEM_TOP_MM = -8.0  # above it, the midbrain blends into the diencephalon
HEAD_SHELL_MM = CSF_RIM_MM + SKULL_MM + SCALP_MM  # from the brain's surface to the air


class Tissue(IntEnum):
    AIR = 0
    SCALP = 1
    SKULL = 2
    CSF = 3
    WHITE = 4
    CORTEX = 5
    DEEP_GREY = 6
    CEREBELLAR_CORTEX = 7
    CEREBELLAR_CORE = 8
    BRAINSTEM = 9


# rCBV in white-matter units: grey ~2.5x white, deep grey ~2x, CSF ~0.05x (section 1 of
# the project's notes); the cerebellar core mixes white matter with dense folia.
RCBV = np.array([0.0, 0.25, 0.02, 0.05, 1.0, 2.5, 2.0, 2.5, 1.3, 1.1])
NOT_PERFUSED = (Tissue.AIR, Tissue.SKULL, Tissue.CSF)


@dataclass(frozen=True)
class Ellipsoid:
    """A (super)ellipsoid: |x/a|^p + |y/b|^p + |z/c|^p <= 1 about ``centre``."""

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    power: float = 2.0

    def depth(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Signed radial depth (mm): |v| (1/F - 1) for the level F(v) of v = p - centre."""
        v = [coordinate - c for coordinate, c in zip((x, y, z), self.centre)]
        level = _level([np.abs(component / r) for component, r in zip(v, self.radii)], self.power)
        radius = np.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
        at_centre = level < 1e-9
        depth = radius / np.where(at_centre, 1.0, level) - radius
        return np.where(at_centre, min(self.radii), depth)


def _level(scaled: list[np.ndarray], power: float) -> np.ndarray:
    """(sum of scaled^power)^(1/power), with fast paths for the powers used (2 and 2.5)."""
    if power == 2.0:
        return np.sqrt(scaled[0] ** 2 + scaled[1] ** 2 + scaled[2] ** 2)
    if power == 2.5:
        return (scaled[0] ** 2 * np.sqrt(scaled[0]) + scaled[1] ** 2 * np.sqrt(scaled[1])
                + scaled[2] ** 2 * np.sqrt(scaled[2])) ** 0.4
    return (scaled[0] ** power + scaled[1] ** power + scaled[2] ** power) ** (1.0 / power)


@dataclass(frozen=True)
class Sulcus:
    """A CSF sheet ``half_width`` mm either side of a wavy plane (in |x|, y, z), lined by cortex.

    The plane undulates by ``wave`` = (amplitude mm, wavelength mm, axis it runs along).
    The sheet reaches ``depth_mm`` below the pial surface, only inside the box
    ``low..high`` and outside ``spared`` (if any).
    """

    point: tuple[float, float, float]
    normal: tuple[float, float, float]
    half_width: float
    depth_mm: float
    wave: tuple[float, float, int] = (0.0, 1.0, 0)
    low: tuple[float, float, float] = (-np.inf, -np.inf, -np.inf)
    high: tuple[float, float, float] = (np.inf, np.inf, np.inf)
    spared: Ellipsoid | None = None

    def distance(self, ax: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        n = np.asarray(self.normal) / np.linalg.norm(self.normal)
        amplitude, wavelength, axis = self.wave
        offset = (ax - self.point[0]) * n[0] + (y - self.point[1]) * n[1] + (z - self.point[2]) * n[2]
        if amplitude:
            offset = offset + amplitude * np.sin(2 * np.pi * (ax, y, z)[axis] / wavelength)
        return np.abs(offset)

    def in_reach(self, ax: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        inside = _inside_box(ax, y, z, self.low, self.high)
        if self.spared is not None:
            inside &= self.spared.depth(ax, y, z) <= 0
        return inside


CEREBRUM = Ellipsoid((0.0, -3.0, 10.0), (70.0, 82.0, 50.0), power=2.5)  # 140 x 164 x 100 mm
CEREBELLAR_HEMISPHERE = Ellipsoid((24.0, 52.0, -38.0), (27.0, 26.0, 20.0))  # and its mirror
VERMIS = Ellipsoid((0.0, 50.0, -36.0), (9.0, 24.0, 18.0))
BRAINSTEM = Ellipsoid((0.0, 20.0, -30.0), (13.0, 13.0, 32.0))

DEEP_GREY = (
    Ellipsoid((15.0, -15.0, 18.0), (5.0, 14.0, 8.0)),  # caudate head and body
    Ellipsoid((26.0, -3.0, 4.0), (6.0, 17.0, 11.0)),  # putamen
    Ellipsoid((10.0, 12.0, 5.0), (8.0, 15.0, 9.0)),  # thalamus
)
VENTRICLES = (
    Ellipsoid((9.0, 2.0, 21.0), (5.0, 28.0, 6.0)),  # lateral ventricle body
    Ellipsoid((10.0, -24.0, 17.0), (5.0, 9.0, 8.0)),  # frontal horn
    Ellipsoid((18.0, 29.0, 12.0), (6.0, 12.0, 9.0)),  # atrium and occipital horn
    Ellipsoid((0.0, 8.0, 3.0), (1.6, 13.0, 8.0)),  # third ventricle
)
DEEP_BOX = ((0.0, -45.0, -10.0), (36.0, 45.0, 32.0))  # encloses DEEP_GREY and VENTRICLES

# interhemispheric fissure, a CSF slab at x = 0, except around the corpus callosum and
# the diencephalon below it
FISSURE = Sulcus((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), 1.5, 200.0,
                 spared=Ellipsoid((0.0, 2.0, 2.0), (40.0, 40.0, 26.0)))
SULCI = (
    # Sylvian fissure, rising backwards, down to the insula
    Sulcus((40.0, 0.0, 2.0), (0.0, -0.25, 1.0), 1.5, 32.0, (2.0, 40.0, 1), low=(34.0, -32.0, -20.0), high=(np.inf, 38.0, 25.0)),
    # central sulcus, leaning backwards
    Sulcus((0.0, 5.0, 40.0), (0.0, 1.0, 0.35), 1.0, 20.0, (4.0, 30.0, 0), low=(6.0, -20.0, 12.0)),
    # superior frontal and intraparietal sulci, roughly sagittal
    Sulcus((24.0, -40.0, 40.0), (1.0, 0.1, 0.0), 1.0, 16.0, (3.0, 28.0, 1), low=(10.0, -80.0, 25.0), high=(45.0, -8.0, np.inf)),
    Sulcus((30.0, 40.0, 35.0), (1.0, -0.15, 0.0), 1.0, 16.0, (3.0, 25.0, 1), low=(12.0, 18.0, 15.0), high=(50.0, 65.0, np.inf)),
    # superior temporal sulcus
    Sulcus((50.0, 5.0, -14.0), (0.0, -0.2, 1.0), 1.0, 14.0, (2.0, 33.0, 1), low=(40.0, -30.0, -40.0), high=(np.inf, 45.0, 0.0)),
)

# Smooth symmetric texture, terms (amplitude, wavelengths along |x|, y, z in mm, phase):
# cosines of |x| are even in x, so the texture keeps the head's mirror symmetry.
_WHITE_TEXTURE = ((0.05, 31.0, 47.0, np.inf, 0.6), (0.04, 23.0, np.inf, 37.0, 1.1))
_GREY_TEXTURE = ((0.04, np.inf, 53.0, 29.0, 0.3),)


def cerebellum_depth(ax: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.maximum(CEREBELLAR_HEMISPHERE.depth(ax, y, z), VERMIS.depth(ax, y, z))


def brain_depth(ax: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Signed radial depth below the brain's outer surface (cerebrum, cerebellum, brainstem)."""
    return np.maximum.reduce([CEREBRUM.depth(ax, y, z), cerebellum_depth(ax, y, z), BRAINSTEM.depth(ax, y, z)])


def _inside_box(ax: np.ndarray, y: np.ndarray, z: np.ndarray,
                low: tuple[float, ...], high: tuple[float, ...]) -> np.ndarray:
    inside = np.ones(ax.shape, dtype=bool)
    for coordinate, lo, hi in zip((ax, y, z), low, high):
        if np.isfinite(lo):
            inside &= coordinate >= lo
        if np.isfinite(hi):
            inside &= coordinate <= hi
    return inside


def tissue_labels(points: np.ndarray) -> np.ndarray:
    """``Tissue`` label (uint8) of each head-centred LPS point (N, 3).

    Costly shapes are evaluated only on the points that can meet them (index subsets),
    which keeps a clinical map's few million sub-voxel samples to about a second.
    """
    points = np.asarray(points, dtype=np.float32)
    ax, y, z = np.abs(points[:, 0]), points[:, 1], points[:, 2]
    cerebrum = CEREBRUM.depth(ax, y, z)
    labels = np.zeros(len(points), dtype=np.uint8)
    lower = np.flatnonzero((z < 0.0) & (y > -10.0))
    cerebellum = np.full(len(points), -np.inf, dtype=np.float32)
    cerebellum[lower] = cerebellum_depth(ax[lower], y[lower], z[lower])
    stem = np.full(len(points), -np.inf, dtype=np.float32)
    stem[lower] = BRAINSTEM.depth(ax[lower], y[lower], z[lower])
    envelope = np.maximum(np.maximum(cerebrum, cerebellum), stem)
    labels[envelope > -HEAD_SHELL_MM] = Tissue.SCALP
    labels[envelope > -HEAD_SHELL_MM + SCALP_MM] = Tissue.SKULL
    labels[envelope > -CSF_RIM_MM] = Tissue.CSF

    cerebral = (cerebrum > 0) & (cerebellum < -TENTORIUM_GAP_MM)
    cortical_depth = np.minimum(cerebrum, -TENTORIUM_GAP_MM - cerebellum)
    labels[cerebral] = np.where(cortical_depth[cerebral] < CORTEX_MM, Tissue.CORTEX, Tissue.WHITE)
    _carve(labels, np.flatnonzero(cerebral & (ax < FISSURE.half_width + CORTEX_MM)), FISSURE, ax, y, z, cerebrum)
    shallow = np.flatnonzero(cerebral & (cerebrum < max(s.depth_mm for s in SULCI) + CORTEX_MM))
    for sulcus in SULCI:
        _carve(labels, shallow, sulcus, ax, y, z, cerebrum)

    in_cerebellum = cerebellum > 0
    labels[in_cerebellum] = np.where(cerebellum[in_cerebellum] < CORTEX_MM, Tissue.CEREBELLAR_CORTEX,
                                     Tissue.CEREBELLAR_CORE)
    labels[(stem > 0) & (z < BRAINSTEM_TOP_MM)] = Tissue.BRAINSTEM

    deep = np.flatnonzero(_inside_box(ax, y, z, *DEEP_BOX))
    for shapes, label in ((DEEP_GREY, Tissue.DEEP_GREY), (VENTRICLES, Tissue.CSF)):
        for shape in shapes:
            labels[deep[shape.depth(ax[deep], y[deep], z[deep]) > 0]] = label
    return labels


def _carve(labels: np.ndarray, candidates: np.ndarray, sulcus: Sulcus,
           ax: np.ndarray, y: np.ndarray, z: np.ndarray, cerebrum: np.ndarray) -> None:
    """A sulcus on the candidate points: its cortical lining, then its CSF."""
    a, b, c, depth = ax[candidates], y[candidates], z[candidates], cerebrum[candidates]
    distance = sulcus.distance(a, b, c)
    reach = sulcus.in_reach(a, b, c) & (distance < sulcus.half_width + CORTEX_MM)
    labels[candidates[reach & (depth < sulcus.depth_mm + CORTEX_MM)]] = Tissue.CORTEX
    labels[candidates[reach & (depth < sulcus.depth_mm) & (distance < sulcus.half_width)]] = Tissue.CSF


def _texture(ax: np.ndarray, y: np.ndarray, z: np.ndarray, terms: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """1 + sum of a cos(2 pi |x| / wx) cos(2 pi y / wy + phase) cos(2 pi z / wz)."""
    value = np.ones(ax.shape)
    for amplitude, wave_x, wave_y, wave_z, phase in terms:
        term = np.full(ax.shape, amplitude * np.cos(phase) if np.isinf(wave_y) else amplitude)
        for coordinate, wave, shift in ((ax, wave_x, 0.0), (y, wave_y, phase), (z, wave_z, 0.0)):
            if np.isfinite(wave):
                term *= np.cos(2 * np.pi * coordinate / wave + shift)
        value += term
    return value


def rcbv(points: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Continuous rCBV (white matter = 1) at head-centred LPS points (N, 3)."""
    labels = tissue_labels(points) if labels is None else labels
    values = RCBV[labels]
    for label, terms in ((Tissue.WHITE, _WHITE_TEXTURE), (Tissue.CORTEX, _GREY_TEXTURE)):
        where = np.flatnonzero(labels == label)
        picked = points[where]
        values[where] *= _texture(np.abs(picked[:, 0]), picked[:, 1], picked[:, 2], terms)
    return values


def perfused(labels: np.ndarray) -> np.ndarray:
    """Tissue with blood volume: what an IMR volume counts (not CSF, skull or air)."""
    return ~np.isin(labels, NOT_PERFUSED)
