"""Rigid co-registration of one timepoint onto the post-EVT study.

rCBV maps of one patient share anatomy but not contrast (a deficit moves between
timepoints and the scale is arbitrary), so the metric is Mattes mutual information on
the post-EVT brain (dilated a little, so its edge counts). Patients are repositioned
between scans by up to 30 degrees, beyond a gradient descent's reach from no rotation:
the coarsest level starts from the centroids and also from the matched inertia axes,
and keeps the better. Both maps are clipped at a high percentile first: a handful of
vessel voxels (tens of times brain CBV in maps computed from DSC) would otherwise
squeeze all tissue into one or two histogram bins and pull the centroid, and the metric
would see no anatomy. Sampling is seeded and the optimisation runs on one thread, so a
rerun gives the same transform to the last bit, whatever the machine's core count.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import SimpleITK as sitk

from ..errors import AnalysisCancelled
from .alignment_check import better_pose_gain
from .geometry import voxel_points

Cancel = Callable[[], bool]


# A map registered onto post-EVT should correlate with it about as well as the post-EVT
# map does with its own mirror: two looks at one anatomy, each with its own noise and
# resolution, which scales the figure for noisy maps (Tmax, maps from DSC). Correct
# registrations of the phantoms give 0.76-1.04 of it; 5 mm off, 0.3-0.6; a head left
# turned or reversed, 0.06-0.53.
MIN_RELATIVE_CORRELATION = 0.65
_MIN_REFERENCE = 0.1  # a map that hardly correlates with its own mirror cannot grade anything


@dataclass(frozen=True)
class RegistrationResult:
    """Transform mapping post-EVT (fixed) physical points to the moving study's."""

    transform: sitk.Transform
    correlation: float
    metric: float | None
    registered: bool
    # mutual information a pose one voxel or one degree away adds (alignment_check); above 0 the
    # maps are off by more than a voxel although they may correlate well
    nearby_gain: float | None = None

    def better_pose_nearby(self) -> bool:
        return self.nearby_gain is not None and self.nearby_gain > 0.0

    def relative_correlation(self, reference: float) -> float | None:
        """The correlation over ``reference``, the post-EVT map's with its own mirror (None
        when that is too weak to judge by)."""
        return self.correlation / reference if reference >= _MIN_REFERENCE else None

    def correlates_too_little(self, reference: float) -> bool:
        relative = self.relative_correlation(reference)
        return relative is not None and relative < MIN_RELATIVE_CORRELATION

    def failed(self, reference: float) -> bool:
        """The maps do not line up: the registration failed, or, when it is off, the inputs
        were not aligned."""
        return self.correlates_too_little(reference) or self.better_pose_nearby()

    def quality(self, reference: float) -> dict[str, float | bool | None]:
        """The figures a reader checks: correlation of the aligned maps in the brain, also
        relative to ``reference``."""
        relative = self.relative_correlation(reference)
        return {
            "registered": self.registered,
            "correlation": round(self.correlation, 4),
            "relative_correlation": None if relative is None else round(relative, 4),
            "mutual_information": None if self.metric is None else round(-self.metric, 4),
            "better_pose_nearby_gain": None if self.nearby_gain is None else round(self.nearby_gain, 4),
        }


def resample_onto(
    image: sitk.Image,
    reference: sitk.Image,
    transform: sitk.Transform | None = None,
    interpolator: int = sitk.sitkLinear,
    default_value: float = 0.0,
) -> sitk.Image:
    """``image`` sampled on ``reference``'s grid; ``transform`` maps reference -> image space."""
    return sitk.Resample(
        image,
        reference,
        transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity),
        interpolator,
        default_value,
        image.GetPixelID(),
    )


def correlation_in_mask(fixed: sitk.Image, aligned: sitk.Image, mask: np.ndarray) -> float:
    """Pearson correlation of two maps on one grid inside ``mask`` (the quality figure)."""
    a = sitk.GetArrayViewFromImage(fixed)[mask].astype(float)
    b = sitk.GetArrayViewFromImage(aligned)[mask].astype(float)
    if a.size < 10 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def without_vessel_outliers(image: sitk.Image, percentile: float = 99.5) -> sitk.Image:
    """Float copy with values above the ``percentile`` of the positive voxels set to it."""
    image = sitk.Cast(image, sitk.sitkFloat32)
    values = sitk.GetArrayViewFromImage(image)
    positive = values[values > 0]
    if positive.size == 0:
        return image
    return sitk.Clamp(image, sitk.sitkFloat32, lowerBound=float(values.min()),
                      upperBound=float(np.percentile(positive, percentile)))


@dataclass(frozen=True)
class Level:
    """One level of the pyramid: the voxel size it works at and how its optimiser moves."""

    voxel_mm: float  # each axis binned to about this size (0: the image's own grid)
    iterations: int
    sampling: float  # fraction of the masked fixed voxels the metric samples (1: all)
    first_step: float  # the optimiser's first step, in this level's largest voxel size
    min_step_mm: float


# Many cheap iterations where voxels are 8 and 4 mm wide (heads turn by up to 30 degrees
# between timepoints, and a coarse grid sees only the head's shape), then a short polish
# on a random tenth of the full-resolution brain with small steps.
LEVELS = (Level(8.0, 100, 1.0, 1.0, 0.01), Level(4.0, 60, 0.25, 0.5, 0.01), Level(0.0, 20, 0.1, 0.15, 1e-3))
_MASK_MARGIN_MM = 4.0
_MAX_START_ROTATION_DEG = 45.0  # principal-axis starts beyond this are axis swaps, not head turns


def binned(image: sitk.Image, voxel_mm: float) -> sitk.Image:
    """``image`` averaged into bins about ``voxel_mm`` wide (axes already that coarse stay as they are)."""
    factors = [max(1, int(round(voxel_mm / step))) for step in image.GetSpacing()] if voxel_mm > 0 else [1, 1, 1]
    return image if max(factors) == 1 else sitk.BinShrink(image, factors)  # a bin's mean: its own anti-aliasing


def principal_axes(image: sitk.Image, mask: sitk.Image | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Intensity centroid (LPS) and inertia axes (columns) of ``image``, within ``mask`` if given."""
    weights = np.clip(sitk.GetArrayViewFromImage(image).astype(float), 0.0, None)
    if mask is not None:
        weights = weights * sitk.GetArrayViewFromImage(mask)
    if not np.any(weights > 0):
        weights = np.ones_like(weights)
    values = weights[weights > 0]
    points = voxel_points(image, weights > 0)
    centre = np.average(points, axis=0, weights=values)
    offsets = points - centre
    _, axes = np.linalg.eigh((offsets * values[:, None]).T @ offsets / values.sum())
    return centre, axes


def start_transforms(fixed: sitk.Image, moving: sitk.Image, fixed_mask: sitk.Image | None) -> list[sitk.Euler3DTransform]:
    """Candidate starts: centroids matched with no rotation, and with the inertia axes matched.

    Matching the axes finds a head turned by 30 degrees that a gradient descent from no
    rotation misses; the unrotated start covers heads whose axes are ambiguous (two
    nearly equal moments). The axes' signs are chosen so the rotation stays a head turn.
    """
    fixed_centre, fixed_axes = principal_axes(fixed, fixed_mask)
    moving_centre, moving_axes = principal_axes(moving)
    rotations = [np.eye(3)]
    for signs in itertools.product((1.0, -1.0), repeat=3):
        rotation = moving_axes @ np.diag(signs) @ fixed_axes.T
        angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)))
        if np.linalg.det(rotation) > 0 and angle < _MAX_START_ROTATION_DEG:
            rotations.append(rotation)
    starts = []
    for rotation in rotations:
        start = sitk.Euler3DTransform()
        start.SetCenter(fixed_centre.tolist())
        start.SetMatrix(rotation.ravel().tolist())
        start.SetTranslation((moving_centre - fixed_centre).tolist())
        starts.append(start)
    return starts


def metric_mask(brain_mask: sitk.Image, margin_mm: float = _MASK_MARGIN_MM) -> sitk.Image:
    """The brain grown by ``margin_mm``: the metric sees the brain's edge against the skull."""
    radius = [max(1, int(round(margin_mm / step))) for step in brain_mask.GetSpacing()]
    return sitk.BinaryDilate(sitk.Cast(brain_mask > 0, sitk.sitkUInt8), radius)


def _mask_like(mask: sitk.Image | None, image: sitk.Image) -> sitk.Image | None:
    if mask is None:
        return None
    return sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def _register_level(
    fixed: sitk.Image, moving: sitk.Image, mask: sitk.Image | None, start: sitk.Transform, level: Level,
    metric: Literal["mattes", "correlation"], seed: int, cancel: Cancel | None,
) -> tuple[sitk.Euler3DTransform, float]:
    method = sitk.ImageRegistrationMethod()
    if metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    else:
        method.SetMetricAsCorrelation()
    if level.sampling < 1.0:
        # random, not regular, samples: a regular lattice beats with the grid and biases the metric
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(level.sampling, seed)
    if mask is not None:
        method.SetMetricFixedMask(mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=level.first_step * max(fixed.GetSpacing()), minStep=level.min_step_mm,
        numberOfIterations=level.iterations, relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetInitialTransform(sitk.Euler3DTransform(start), inPlace=False)
    if cancel is not None:
        method.AddCommand(sitk.sitkIterationEvent, lambda: cancel() and method.StopRegistration())
    result = _single_rigid(method.Execute(fixed, moving))
    if cancel is not None and cancel():
        raise AnalysisCancelled("registration cancelled")
    return result, method.GetMetricValue()


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_mask: sitk.Image | None = None,
    seed: int = 20250214,
    initial: sitk.Transform | None = None,
    metric: Literal["mattes", "correlation"] = "mattes",
    cancel: Cancel | None = None,
    levels: tuple[Level, ...] = LEVELS,
) -> tuple[sitk.Euler3DTransform, float]:
    """Rigid transform (fixed physical -> moving physical) and its final metric value.

    Without ``initial``, every start of ``start_transforms`` is tried on the first of
    ``levels`` and the best (lowest metric) goes on to the finer ones.
    """
    fixed, moving = without_vessel_outliers(fixed), without_vessel_outliers(moving)
    with single_threaded_itk():
        pyramid = [(binned(fixed, level.voxel_mm), binned(moving, level.voxel_mm)) for level in levels]
        coarse_fixed, coarse_moving = pyramid[0]
        coarse_mask = _mask_like(fixed_mask, coarse_fixed)
        starts = [initial] if initial is not None else start_transforms(coarse_fixed, coarse_moving, coarse_mask)
        transform, value = min(
            (_register_level(coarse_fixed, coarse_moving, coarse_mask, start, levels[0], metric, seed, cancel)
             for start in starts),
            key=lambda candidate: candidate[1],
        )
        for (level_fixed, level_moving), level in zip(pyramid[1:], levels[1:]):
            transform, value = _register_level(level_fixed, level_moving, _mask_like(fixed_mask, level_fixed),
                                               transform, level, metric, seed, cancel)
    return transform, value


@contextmanager
def single_threaded_itk() -> Iterator[None]:
    """ITK on one thread while the block runs, then as before.

    ITK's metric threads add their partial sums in whatever order they finish, which moved
    the metric by 1e-5 and the plane by 1e-4 mm between identical runs; on one thread a
    rerun, a cohort worker and ``imr-analysis run`` give the same figures to the last digit.
    SimpleITK releases the GIL while it registers, so independent registrations can still
    run side by side in Python threads; hold this around all of them, since the setting
    is global.
    """
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _single_rigid(transform: sitk.Transform) -> sitk.Euler3DTransform:
    """The rigid transform inside the composite that registration returns."""
    composite = sitk.CompositeTransform(transform)
    return sitk.Euler3DTransform(composite.GetNthTransform(composite.GetNumberOfTransforms() - 1))


def align_to_post(
    post: sitk.Image,
    moving: sitk.Image,
    brain_mask: sitk.Image,
    enabled: bool = True,
    seed: int = 20250214,
    cancel: Cancel | None = None,
) -> RegistrationResult:
    """Register ``moving`` onto ``post`` (or take identity when disabled) and grade it."""
    fit_mask = metric_mask(brain_mask)
    if enabled:
        transform, metric = register_rigid(post, moving, fit_mask, seed=seed, cancel=cancel)
    else:
        transform, metric = sitk.Euler3DTransform(), None
    aligned = resample_onto(sitk.Cast(moving, sitk.sitkFloat32), post, transform)
    mask = sitk.GetArrayViewFromImage(brain_mask).astype(bool)
    return RegistrationResult(transform, correlation_in_mask(post, aligned, mask), metric, enabled,
                              better_pose_gain(post, moving, fit_mask, transform))
