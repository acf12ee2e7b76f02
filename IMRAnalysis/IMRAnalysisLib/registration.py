"""Rigid co-registration of one timepoint onto the post-EVT study.

rCBV maps of one patient share anatomy but not contrast (a deficit moves between
timepoints and the scale is arbitrary), so the metric is Mattes mutual information,
optimised over a coarse-to-fine pyramid from a centre-of-mass start. Both maps are
clipped at a high percentile first: a handful of vessel voxels (tens of times brain CBV
in maps computed from DSC) would otherwise squeeze all tissue into one or two histogram
bins and pull the centre of mass, and the metric would see no anatomy. Sampling is
seeded and the optimisation runs on one thread, so a rerun gives the same transform to
the last bit, whatever the machine's core count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import SimpleITK as sitk

from .errors import AnalysisCancelled

Cancel = Callable[[], bool]


@dataclass(frozen=True)
class RegistrationResult:
    """Transform mapping post-EVT (fixed) physical points to the moving study's."""

    transform: sitk.Transform
    correlation: float
    metric: float | None
    registered: bool

    def quality(self) -> dict[str, float | bool | None]:
        """The figures a reader checks: correlation of the aligned maps in the brain."""
        return {
            "registered": self.registered,
            "correlation": round(self.correlation, 4),
            "mutual_information": None if self.metric is None else round(-self.metric, 4),
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


def _initial_transform(fixed: sitk.Image, moving: sitk.Image) -> sitk.Euler3DTransform:
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    return sitk.Euler3DTransform(initial)


def _pyramid_levels(image: sitk.Image) -> tuple[list[int], list[float]]:
    """Shrink factors that never leave fewer than ~12 samples along the thinnest axis."""
    smallest = min(image.GetSize())
    shrinks = [factor for factor in (4, 2, 1) if smallest // factor >= 12 or factor == 1]
    sigmas = [0.5 * factor * min(image.GetSpacing()) if factor > 1 else 0.0 for factor in shrinks]
    return shrinks, sigmas


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_mask: sitk.Image | None = None,
    seed: int = 20250214,
    initial: sitk.Transform | None = None,
    metric: Literal["mattes", "correlation"] = "mattes",
    cancel: Cancel | None = None,
) -> tuple[sitk.Euler3DTransform, float]:
    """Rigid transform (fixed physical -> moving physical) and its final metric value."""
    fixed, moving = without_vessel_outliers(fixed), without_vessel_outliers(moving)
    method = sitk.ImageRegistrationMethod()
    if metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    else:
        method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.3, seed)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=200, relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-6,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    shrinks, sigmas = _pyramid_levels(fixed)
    method.SetShrinkFactorsPerLevel(shrinks)
    method.SetSmoothingSigmasPerLevel(sigmas)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    start = sitk.Euler3DTransform(initial) if initial is not None else _initial_transform(fixed, moving)
    method.SetInitialTransform(start, inPlace=False)
    if cancel is not None:
        method.AddCommand(sitk.sitkIterationEvent, lambda: cancel() and method.StopRegistration())
    with single_threaded_itk():
        result = _single_rigid(method.Execute(fixed, moving))
    if cancel is not None and cancel():
        raise AnalysisCancelled("registration cancelled")
    return result, method.GetMetricValue()


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
    if enabled:
        transform, metric = register_rigid(post, moving, seed=seed, cancel=cancel)
    else:
        transform, metric = sitk.Euler3DTransform(), None
    aligned = resample_onto(sitk.Cast(moving, sitk.sitkFloat32), post, transform)
    mask = sitk.GetArrayViewFromImage(brain_mask).astype(bool)
    return RegistrationResult(transform, correlation_in_mask(post, aligned, mask), metric, enabled)
