"""Registration determinism and cancellation (accuracy is in test_accuracy.py)."""

from __future__ import annotations

import pytest
import SimpleITK as sitk

from IMRAnalysisLib.errors import AnalysisCancelled
from IMRAnalysisLib.phantom import PhantomPatient
from IMRAnalysisLib.registration import register_rigid


@pytest.mark.parametrize("moving", ["day5", "arrival"])
def test_same_inputs_same_seed_same_transform_whatever_the_thread_count(default_phantom: PhantomPatient,
                                                                        moving: str) -> None:
    """Bit-identical reruns: a cohort worker, a rerun and another machine give the same figures."""
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    results = []
    try:
        for count in (1, 2, 4, 2):
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(count)
            transform, metric = register_rigid(default_phantom.post, getattr(default_phantom, moving), seed=7)
            results.append((transform.GetParameters(), metric))
            assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == count  # restored after the run
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    assert all(result == results[0] for result in results), results


def test_cancel_stops_a_running_registration(default_phantom: PhantomPatient) -> None:
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(AnalysisCancelled):
        register_rigid(default_phantom.post, default_phantom.day5, cancel=cancel)
    assert len(calls) < 10  # stopped within an iteration of the request, not at convergence
