"""A run in a worker thread: progress, a prompt Cancel, errors handed back to the GUI thread.

The Slicer panel polls a ``BackgroundRun`` from a timer; these tests poll it the same
way, on the real pipeline, so that the figures (stage count, Cancel latency) are the
ones the panel shows.
"""

from __future__ import annotations

import threading
import time

import pytest

from IMRAnalysisLib.analysis.pipeline import RUN_STAGES, AnalysisInputs, run_analysis
from IMRAnalysisLib.background import BackgroundRun
from IMRAnalysisLib.errors import AnalysisCancelled, InputError
from IMRAnalysisLib.phantom.template import PhantomPatient

CANCEL_LATENCY_S = 1.0


def phantom_inputs(phantom: PhantomPatient) -> AnalysisInputs:
    return AnalysisInputs(phantom.post, phantom.day5, phantom.lesion)


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_whole_run_reports_each_stage_and_ends_at_full_progress(default_phantom: PhantomPatient) -> None:
    inputs = phantom_inputs(default_phantom)
    messages: list[str] = []
    direct = run_analysis(inputs, progress=messages.append)
    assert len(messages) == RUN_STAGES, messages

    run = BackgroundRun(lambda progress, cancel: run_analysis(inputs, progress=progress, cancel=cancel),
                        RUN_STAGES).start()
    fractions = []
    while not run.status().done:
        fractions.append(run.status().fraction)
        time.sleep(0.01)
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] < 1.0
    assert run.status().message == messages[-1]
    assert run.outcome().measures["imr_volume_ml"] == pytest.approx(direct.measures["imr_volume_ml"], abs=1e-9)


def test_cancel_during_registration_ends_the_run_within_a_second(default_phantom: PhantomPatient) -> None:
    inputs = phantom_inputs(default_phantom)
    run = BackgroundRun(lambda progress, cancel: run_analysis(inputs, progress=progress, cancel=cancel),
                        RUN_STAGES).start()
    wait_until(lambda: run.status().message.startswith("registering") or run.status().done)
    time.sleep(0.2)  # well inside the registration's iterations
    assert not run.status().done, "the run ended before it could be cancelled"
    clicked = time.monotonic()
    run.cancel()
    assert run.wait(timeout=10.0)
    assert time.monotonic() - clicked < CANCEL_LATENCY_S
    with pytest.raises(AnalysisCancelled):
        run.outcome()


def test_a_cancel_after_the_work_finished_still_discards_it() -> None:
    """The GUI applies results only when no Cancel came, so a late Cancel leaves the scene alone."""
    run = BackgroundRun(lambda progress, cancel: "result", 1).start()
    run.wait()
    run.cancel()
    with pytest.raises(AnalysisCancelled):
        run.outcome()


def test_an_error_in_the_worker_reaches_the_caller_unchanged() -> None:
    error = InputError("the lesion mask is empty", "lesion.nrrd")

    def fail(progress, cancel):
        progress("reading")
        raise error

    run = BackgroundRun(fail, 2).start()
    run.wait()
    assert run.status().done and run.status().message == "reading"
    with pytest.raises(InputError) as raised:
        run.outcome()
    assert raised.value is error


def test_the_outcome_is_refused_while_the_run_is_going_on() -> None:
    release = threading.Event()
    run = BackgroundRun(lambda progress, cancel: release.wait(10.0), 1).start()
    with pytest.raises(RuntimeError, match="not finished"):
        run.outcome()
    release.set()
    run.wait()
    assert run.outcome() is True


def test_progress_counts_finished_stages_and_never_passes_one() -> None:
    steps = threading.Event()
    seen = []

    def work(progress, cancel):
        for stage in ("a", "b", "c", "d"):
            progress(stage)
        steps.wait(10.0)

    run = BackgroundRun(work, 2).start()
    wait_until(lambda: run.status().message == "d")
    seen.append(run.status().fraction)
    steps.set()
    run.wait()
    assert seen == [1.0]
    assert BackgroundRun(work, 0).status().fraction == 0.0  # not started, and no division by zero
