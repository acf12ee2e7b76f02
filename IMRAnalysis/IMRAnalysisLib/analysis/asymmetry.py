"""Mirrored asymmetry map: each voxel against its homolog across the midline.

The ratio (value - mirror) / mirror is free of the map's arbitrary scale, which is why
the method works on any vendor's relative CBV. Where the mirror value is close to zero
(CSF, outside the head) the ratio means nothing, so it is left undefined (NaN) below a
floor set as a fraction of normal-tissue rCBV. Maps in absolute units whose normal
value is near zero (Tmax) use the plain difference value - mirror instead.

On maps like real ones three things other than perfusion make a voxel differ from its
mirror, and the default parameters deal with each (the ``published`` preset does not):

- the mirror value is interpolated between voxels, so it is blurred and the voxel is
  not: at tissue edges that alone reads as asymmetry. Each voxel is blurred with the
  kernel interpolation applied to its mirror (``match_resolution``);
- voxel noise in a voxel-to-voxel ratio: both sides are smoothed, by the smallest sigma
  that brings the asymmetry noise measured in normal tissue under a third of the
  threshold (``smoothing_mm="auto"``);
- a smooth left-right intensity gradient (coil shading) is fitted robustly on normal
  tissue and divided out (``shading_correction``).

A fourth cannot be taken out, only kept from deciding whether there is IMR: on a
multi-slice grid of a tilted head, a structure thinner than a slice (a CSF sheet) lies
wholly in one slice on one side while its mirror point falls between two slices, so one
side shows it at full depth and the interpolated mirror at part depth. Its sum over
slices is the same on both sides, so a second detection map (``across_slices``) is also
filtered across slices, by the 3-tap kernel [v, 1 - 2v, v] with v the interpolation
variance of the mirror across slices (up to [1, 2, 1] / 4 at half a slice, nothing where
the mirror falls on a slice); a region counts only where that map confirms it
(``imr.segment_imr``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..parameters import AnalysisParameters
from .midline import mirror
from .plane import Plane

_OUTSIDE = -1.0  # mirror sample beyond the field of view (rCBV is never negative)
SMOOTHING_LADDER_MM = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0)
NOISE_TARGET = 0.4  # detection map: tail SD of normal-tissue asymmetry at most this x threshold (2.5 SD)
FINE_NOISE_TARGET = 0.5  # fine map: bulk SD at most this x threshold; it only places edges near detections
SHADING_REPORT_MM = 50.0  # the gradient is reported as the asymmetry it makes this far from the plane
_SHADING_FIT_SMOOTHING_MM = 2.0  # the gradient is smooth: fit it on a smoothed pair, robust to noise
_SHADING_FIT_LATTICE = 80000  # grid points the fit samples; about a quarter are normal tissue, plenty for 3 numbers
_NORMAL_TISSUE_MARGIN_MM = 10.0  # around the lesion and its mirror, left out of "normal tissue"
_MIN_NORMAL_VOXELS = 200
_ROBUST_SD = 1.4826  # MAD -> SD of a normal distribution
_Z_99 = 2.3263  # the 99th percentile of a standard normal distribution
SLICE_AXIS_RATIO = 1.25  # a grid axis this much coarser than both others holds slices
_MAX_MATCHING_WEIGHT = 1.0 / 3.0  # a 3-tap kernel [w, 1 - 2w, w] stays a blur up to here


@dataclass(frozen=True)
class AsymmetryMaps:
    ratio: sitk.Image  # float32, (value - mirror) / mirror or value - mirror, NaN where undefined
    mirrored: sitk.Image  # float32, the homolog's (smoothed, shading-corrected) value at every voxel
    normal_reference: float  # median map value of normal-appearing brain, the floor's unit
    smoothing_mm: float = 0.0  # Gaussian sigma applied to both sides for ``ratio``
    noise: float | None = None  # robust SD of normal-tissue asymmetry on ``ratio`` (stored units); None: too little tissue
    shading_percent: float | None = None  # fitted left-right gradient at SHADING_REPORT_MM; None: not corrected
    detection: sitk.Image | None = None  # the asymmetry at ``detection_smoothing_mm``; None: ``ratio`` itself
    detection_smoothing_mm: float = 0.0
    tail_noise: float | None = None  # SD read from the tails of normal-tissue asymmetry on the detection map
    across_slices: sitk.Image | None = None  # the detection map filtered across slices; None: no slices


@dataclass(frozen=True)
class _Pair:
    """A voxel's own values and its homolog's, on the image's (z, y, x) grid."""

    own: np.ndarray
    mirror: np.ndarray
    outside: np.ndarray  # homolog beyond the field of view
    spacing: tuple[float, ...]
    slice_variance: np.ndarray | None  # the mirror's interpolation variance across slices; None: no slices


def normal_tissue_reference(image: sitk.Image, brain: np.ndarray) -> float:
    """Median map value in the brain: the scale of 'normal'.

    A lesion is a few percent of the brain and barely moves the median, and leaving it
    out would tie the floor to the lesion mask, which the user keeps editing.
    """
    values = sitk.GetArrayViewFromImage(image)[brain]
    values = values[values > 0]
    return float(np.median(values)) if values.size else 0.0


def interpolation_variance(image: sitk.Image, plane: Plane) -> np.ndarray:
    """Per voxel and per grid axis (i, j, k), the blur (voxel units squared) of its mirror sample.

    Linear interpolation at fractional offset f averages two neighbours with variance
    f (1 - f) along each axis of the grid at the mirror point; the reflection carries that
    blur back onto the voxel's own axes (Q = D^-1 R D relates the two frames).
    """
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    origin = np.asarray(image.GetOrigin(), dtype=float)
    reflection, offset = plane.reflection_matrix()
    to_index = np.linalg.inv(direction * spacing)  # physical -> continuous index
    matrix = to_index @ reflection @ (direction * spacing)
    translation = to_index @ (reflection @ origin + offset - origin)
    size_x, size_y, size_z = image.GetSize()
    i, j, k = np.arange(size_x)[None, None, :], np.arange(size_y)[None, :, None], np.arange(size_z)[:, None, None]
    axis_variance = []
    for row in range(3):
        index = matrix[row, 0] * i + matrix[row, 1] * j + matrix[row, 2] * k + translation[row]
        fraction = index - np.floor(index)
        axis_variance.append(fraction * (1.0 - fraction) * spacing[row] ** 2)  # mm^2 along the mirror's axis
    carried = np.linalg.inv(direction) @ reflection @ direction  # mirror-axis unit steps on own axes
    return np.stack([
        sum(carried[own, along] ** 2 * axis_variance[along] for along in range(3)) / spacing[own] ** 2
        for own in range(3)
    ])


def match_interpolation_blur(values: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """``values`` blurred along each axis by a 3-tap kernel of the given per-voxel variance."""
    result = values.astype(np.float64)
    for axis_ijk in range(3):
        result = _three_tap(result, 0.5 * variance[axis_ijk], 2 - axis_ijk)  # numpy arrays are (z, y, x)
    return result


def _three_tap(values: np.ndarray, weight: np.ndarray, axis: int) -> np.ndarray:
    """``values`` filtered along array ``axis`` by [w, 1 - 2w, w] (w per voxel, at most a third),
    edges repeating themselves."""
    if values.shape[axis] < 2:
        return values
    weight = np.clip(weight, 0.0, _MAX_MATCHING_WEIGHT)
    moved = np.moveaxis(values, axis, 0)  # views: the neighbours are slices
    neighbours = np.empty_like(moved)
    neighbours[1:-1] = moved[:-2] + moved[2:]
    neighbours[0] = moved[0] + moved[1]
    neighbours[-1] = moved[-2] + moved[-1]
    return (1.0 - 2.0 * weight) * values + weight * np.moveaxis(neighbours, 0, axis)


def slice_axis(spacing: tuple[float, ...]) -> int | None:
    """The (i, j, k) axis of a multi-slice grid's slices: clearly coarser than both others.
    None for a near-isotropic grid (3D acquisitions are Fourier-encoded along every axis)."""
    coarsest = int(np.argmax(spacing))
    others = [s for axis, s in enumerate(spacing) if axis != coarsest]
    return coarsest if spacing[coarsest] > SLICE_AXIS_RATIO * max(others) else None


def _smoothed(values: np.ndarray, sigma_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """Gaussian smoothing in float32: the maps are float32, and the passes run faster."""
    if sigma_mm <= 0:
        return values
    sigma_voxels = [sigma_mm / s for s in reversed(spacing)]
    return ndimage.gaussian_filter(values, sigma_voxels, mode="nearest", truncate=3.0, output=np.float32)


def _homolog_pair(image: sitk.Image, plane: Plane, match_resolution: bool, across_slices: bool) -> _Pair:
    """Both sides on the grid; ``across_slices`` keeps the mirror's blur across slices for the detection map."""
    source = sitk.Cast(image, sitk.sitkFloat32)
    own = sitk.GetArrayViewFromImage(source).astype(np.float64)
    mirrored = sitk.GetArrayFromImage(mirror(source, plane, default_value=_OUTSIDE)).astype(np.float64)
    outside = mirrored == _OUTSIDE
    axis = slice_axis(image.GetSpacing()) if across_slices else None
    variance = interpolation_variance(image, plane) if match_resolution or axis is not None else None
    if match_resolution:
        own = match_interpolation_blur(own, variance)
    mirrored[outside] = own[outside]  # keeps smoothing from spreading the sentinel; masked below
    return _Pair(own, mirrored, outside, image.GetSpacing(), None if axis is None else variance[axis])


def _grid_projection(image: sitk.Image, point: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """(x - point) . vector at every voxel centre x, as a (z, y, x) array, without listing points."""
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    steps = (direction * spacing).T @ vector  # gained per index step along i, j, k
    start = float((np.asarray(image.GetOrigin()) - point) @ vector)
    size_x, size_y, size_z = image.GetSize()
    return (start + steps[0] * np.arange(size_x)[None, None, :] + steps[1] * np.arange(size_y)[None, :, None]
            + steps[2] * np.arange(size_z)[:, None, None])


def signed_distance(image: sitk.Image, plane: Plane) -> np.ndarray:
    """Distance (mm) of every voxel centre from the plane, positive on the left, (z, y, x)."""
    return _grid_projection(image, plane.point_array, plane.normal_array)


def _along_plane(image: sitk.Image, plane: Plane, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two coordinates along the plane (A-P like, then S-I like; per 100 mm from ``centre``)."""
    normal = plane.normal_array
    along_ap = np.array([0.0, 1.0, 0.0]) - normal[1] * normal
    along_ap /= np.linalg.norm(along_ap)
    along_si = np.cross(normal, along_ap)
    return (_grid_projection(image, centre, along_ap) / 100.0, _grid_projection(image, centre, along_si) / 100.0)


def _huber_fit(design: np.ndarray, target: np.ndarray, iterations: int = 12) -> np.ndarray:
    """Least squares with Huber weights: tissue that really differs (IMR, old infarcts) barely pulls."""
    weights = np.ones_like(target)
    coefficients = np.zeros(design.shape[1])
    for _ in range(iterations):
        weighted = design * weights[:, None]
        coefficients = np.linalg.lstsq(weighted.T @ design, weighted.T @ target, rcond=None)[0]
        residual = target - design @ coefficients
        scale = _ROBUST_SD * np.median(np.abs(residual - np.median(residual))) + 1e-9
        weights = np.minimum(1.0, 1.345 * scale / np.maximum(np.abs(residual), 1e-12))
    return coefficients


def _shading_field(smoothed: tuple[np.ndarray, np.ndarray], image: sitk.Image, plane: Plane, normal: np.ndarray,
                   distance: np.ndarray) -> tuple[np.ndarray, float]:
    """Fitted log(value / mirror) due to a smooth gradient, on the grid, and its size in %.

    A multiplicative field g makes log(value / mirror) = log g(x) - log g(mirror of x),
    odd in the distance d to the plane: d (c0 + c1 u + c2 v) to first order, u and v
    running along the plane. The fit uses normal tissue only, with robust weights, on both
    sides smoothed by ``_SHADING_FIT_SMOOTHING_MM`` (``smoothed``).
    """
    own, other = smoothed
    usable = normal & (own > 0) & (other > 0)
    count = int(np.count_nonzero(usable))
    if count < _MIN_NORMAL_VOXELS:
        return np.zeros_like(distance), 0.0
    from .geometry import voxel_points

    # a fixed lattice of the grid: editing the lesion adds or drops only the samples near
    # the edit, and the fit stays put (every n-th voxel of the list would shift them all)
    stride = max(1, usable.size // _SHADING_FIT_LATTICE)
    sample = np.flatnonzero(usable.ravel()[::stride]) * stride
    flat_usable = np.zeros(usable.size, dtype=bool)
    flat_usable[sample] = True
    centre = voxel_points(image, flat_usable.reshape(usable.shape)).mean(axis=0)
    u, v = _along_plane(image, plane, centre)
    d = distance.ravel()[sample]
    design = np.stack([d, d * u.ravel()[sample], d * v.ravel()[sample]], axis=1)
    c0, c1, c2 = _huber_fit(design, np.log(own.ravel()[sample] / other.ravel()[sample]))
    return distance * (c0 + c1 * u + c2 * v), float(100.0 * (np.exp(c0 * SHADING_REPORT_MM) - 1.0))


def _dilated(mask: np.ndarray, margin_mm: float, spacing: tuple[float, ...]) -> np.ndarray:
    """``mask`` grown by ``margin_mm`` (a box of that half-width, per axis in voxels)."""
    radius = [max(0, int(round(margin_mm / s))) for s in reversed(spacing)]
    return ndimage.maximum_filter(mask, size=[2 * r + 1 for r in radius]) if mask.any() else mask


def normal_tissue(image: sitk.Image, plane: Plane, brain: np.ndarray, lesion: np.ndarray | None,
                  pair: _Pair, floor: float) -> np.ndarray:
    """Brain voxels where the asymmetry should be zero: away from the lesion, its mirror and the plane."""
    spacing = image.GetSpacing()
    normal = brain & ~pair.outside & (pair.own >= floor) & (pair.mirror >= floor)
    normal &= np.abs(signed_distance(image, plane)) > 2.0 * max(spacing[:2])
    if lesion is not None and lesion.any():
        lesion_image = sitk.GetImageFromArray(lesion.astype(np.float32))
        lesion_image.CopyInformation(image)
        mirrored = sitk.GetArrayFromImage(mirror(lesion_image, plane)) >= 0.5
        normal &= ~_dilated(lesion | mirrored, _NORMAL_TISSUE_MARGIN_MM, spacing)
    return normal


def robust_sd(values: np.ndarray) -> float:
    """SD of the bulk (median absolute deviation): what the voxel noise of a ratio is."""
    return float(_ROBUST_SD * np.median(np.abs(values - np.median(values))))


def tail_sd(values: np.ndarray) -> float:
    """SD read from the 1st and 99th percentiles: equal to the SD for Gaussian noise, larger
    when partial volume at tissue edges (thick slices, tilted heads) gives heavy tails, which
    are what cross a threshold."""
    low, high = np.percentile(values, [1.0, 99.0])
    return float((high - low) / (2.0 * _Z_99))


@dataclass(frozen=True)
class _Smoothings:
    """Both sides smoothed at each sigma asked for, computed once each (the shading fit, the
    searches and the maps ask for the same sigmas again)."""

    pair: _Pair
    _cache: dict = dataclass_field(default_factory=dict, compare=False, repr=False)

    def at(self, sigma_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """The two sides are smoothed in two threads (the filter releases the GIL)."""
        if sigma_mm not in self._cache:
            with ThreadPoolExecutor(max_workers=1) as pool:
                own = pool.submit(_smoothed, self.pair.own, sigma_mm, self.pair.spacing)
                other = _smoothed(self.pair.mirror, sigma_mm, self.pair.spacing)
                self._cache[sigma_mm] = (own.result(), other)
        return self._cache[sigma_mm]


@dataclass(frozen=True)
class _Ladder:
    """Normal-tissue asymmetry at each smoothing of the ladder."""

    smoothings: _Smoothings
    field: np.ndarray | None
    normal: np.ndarray  # flat indices of normal tissue
    difference: bool

    def values(self, sigma_mm: float) -> np.ndarray:
        own, other = (side.ravel()[self.normal] for side in self.smoothings.at(sigma_mm))
        return _asymmetry(own, other, None if self.field is None else self.field.ravel()[self.normal], self.difference)

    def least(self, spread, target: float, at_least: float = 0.0) -> float:
        """Smallest ladder sigma, not below ``at_least``, whose ``spread`` of normal-tissue
        asymmetry is within ``target`` (the largest if none): a bisection, since smoothing
        only lowers the spread."""
        low, high = SMOOTHING_LADDER_MM.index(at_least), len(SMOOTHING_LADDER_MM) - 1
        while low < high:
            middle = (low + high) // 2
            if spread(self.values(SMOOTHING_LADDER_MM[middle])) <= target:
                high = middle
            else:
                low = middle + 1
        return SMOOTHING_LADDER_MM[low]


def _asymmetry(own: np.ndarray, other: np.ndarray, field: np.ndarray | None, difference: bool) -> np.ndarray:
    """value - mirror, or value / (mirror x gradient) - 1; float64, NaN-free where mirror > 0."""
    if difference:
        return own - other
    expected = other if field is None else other * np.exp(field)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (own - expected) / expected


def compute_asymmetry(
    image: sitk.Image,
    plane: Plane,
    parameters: AnalysisParameters,
    brain_mask: sitk.Image,
    lesion: sitk.Image | None = None,
) -> AsymmetryMaps:
    """Asymmetry of ``image`` through ``plane`` on ``image``'s own grid, at two scales.

    Automatic smoothing gives two: ``ratio``, the least smoothing that brings the bulk noise
    of normal tissue (robust SD) within target, sharp enough to place IMR's edges; and
    ``detection``, the least that brings the tails (1st/99th percentiles) within target,
    so that normal tissue does not cross the threshold. IMR is counted on the first near
    regions the second finds (``imr.segment_imr``). A fixed smoothing gives one scale.
    ``lesion`` (post grid) only keeps the lesion and its mirror out of the normal tissue.
    """
    brain = sitk.GetArrayViewFromImage(brain_mask).astype(bool)
    difference = parameters.asymmetry == "difference"
    pair = _homolog_pair(image, plane, parameters.match_resolution, parameters.automatic_smoothing)
    reference = normal_tissue_reference(image, brain)
    floor = _OUTSIDE if difference else max(parameters.floor_fraction * reference, np.finfo(np.float32).tiny)
    lesion_array = None if lesion is None else sitk.GetArrayViewFromImage(lesion).astype(bool)
    normal = normal_tissue(image, plane, brain, lesion_array, pair, 0.0 if difference else floor)
    measurable = np.count_nonzero(normal) >= _MIN_NORMAL_VOXELS
    smoothings = _Smoothings(pair)
    field, shading = None, None
    if parameters.shading_correction and not difference and measurable:
        field, shading = _shading_field(smoothings.at(_SHADING_FIT_SMOOTHING_MM), image, plane, normal,
                                        signed_distance(image, plane))
    ladder = _Ladder(smoothings, field, np.flatnonzero(normal), difference)
    target = NOISE_TARGET * parameters.threshold
    if parameters.automatic_smoothing and measurable:
        fine = ladder.least(robust_sd, FINE_NOISE_TARGET * parameters.threshold)
        detection = ladder.least(tail_sd, target, at_least=fine)
    else:
        fine = detection = 0.0 if parameters.automatic_smoothing else float(parameters.smoothing_mm)
    noise = robust_sd(ladder.values(fine)) if measurable else None
    tail_noise = tail_sd(ladder.values(detection)) if measurable else None
    within = brain if parameters.brain_mask else None
    ratio, mirrored = _maps(pair, smoothings.at(fine), field, floor, within, difference)
    detected = None if detection == fine else _like(
        _maps(pair, smoothings.at(detection), field, floor, within, difference)[0], image)
    across = None if pair.slice_variance is None or lesion_array is None or not lesion_array.any() else _like(
        _across_slices(pair, smoothings.at(detection), field, floor, within, difference, lesion_array), image)
    return AsymmetryMaps(_like(ratio, image), _like(mirrored, image), reference, fine, noise, shading,
                         detected, detection, tail_noise, across)


def _across_slices(pair: _Pair, smoothed: tuple[np.ndarray, np.ndarray], field: np.ndarray | None, floor: float,
                   brain: np.ndarray | None, difference: bool, lesion: np.ndarray) -> np.ndarray:
    """The asymmetry of ``smoothed`` filtered across slices by the mirror's interpolation blur
    there, in the lesion's slices only (NaN elsewhere): it is read nowhere else."""
    axis = 2 - slice_axis(pair.spacing)
    slices = np.flatnonzero(np.moveaxis(lesion, axis, 0).any(axis=(1, 2)))
    box = [slice(None)] * 3
    box[axis] = slice(max(0, slices[0] - 1), slices[-1] + 2)  # a neighbour slice each side: exact inside
    box = tuple(box)
    weight = pair.slice_variance[box]
    filtered = tuple(_three_tap(side[box].astype(np.float64), weight, axis).astype(np.float32) for side in smoothed)
    part = _Pair(pair.own[box], pair.mirror[box], pair.outside[box], pair.spacing, None)
    ratio = np.full(lesion.shape, np.nan, dtype=np.float32)
    ratio[box] = _maps(part, filtered, None if field is None else field[box], floor,
                       None if brain is None else brain[box], difference)[0]
    return ratio


def _maps(pair: _Pair, smoothed: tuple[np.ndarray, np.ndarray], field: np.ndarray | None, floor: float,
          brain: np.ndarray | None, difference: bool) -> tuple[np.ndarray, np.ndarray]:
    """The asymmetry (NaN where undefined) and the homolog's expected value, float32, from one
    smoothing of both sides."""
    own, other = smoothed
    if field is not None:
        other = other * np.exp(field)
    defined = ~pair.outside & ((other > floor) if difference else (other >= floor))
    if brain is not None:
        defined &= brain
    ratio = np.full(own.shape, np.nan, dtype=np.float32)
    ratio[defined] = _asymmetry(own[defined], other[defined], None, difference)
    return ratio, np.where(pair.outside, np.nan, other).astype(np.float32)


def _like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image
