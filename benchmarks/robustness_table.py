"""Robustness of the IMR measure on the analytic phantom family: a Markdown table.

Each condition of ``phantom.analytic.ROBUSTNESS_CONDITIONS`` is one patient without IMR
and the same patient with IMR. Both are analysed end to end (registration, midline,
asymmetry) with each named parameter set; a verdict is right when the significance call
(IMR > the set's significance volume) agrees with the truth. Conditions the mirror method
cannot measure (bilateral lesion, abnormal mirror region) are marked in the first column:
there a wrong verdict shows the method's limit, not a bug.

Run: python benchmarks/robustness_table.py [--conditions NAME ...] [--jobs N]
(about a minute per condition and parameter set on one core)
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from IMRAnalysisLib.analysis.geometry import voxel_points
from IMRAnalysisLib.analysis.pipeline import AnalysisInputs, run_analysis
from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.phantom.analytic import ROBUSTNESS_CONDITIONS, AnalyticPhantom, make_analytic_phantom

REGISTRATION_STRIDE = 7  # every 7th brain voxel is enough to find the largest registration error


def parameter_sets() -> dict[str, AnalysisParameters]:
    """The parameter sets compared, by name."""
    return {"default": AnalysisParameters(), "published": AnalysisParameters.preset("published")}


@dataclass(frozen=True)
class Outcome:
    """What the analysis reported for one patient with one parameter set."""

    imr_ml: float | None
    status: str
    significant: bool | None
    reason: str
    midline_deg: float  # angle between the estimated and the true mid-sagittal plane
    midline_mm: float  # distance from the true plane's point to the estimated plane
    day5_registration_mm: float  # largest error of the day-5 registration in the brain


@dataclass(frozen=True)
class ConditionResult:
    name: str
    truth_ml: dict[str, float]  # "without" / "with" -> true IMR volume
    expected_reason: str
    outcomes: dict[tuple[str, str], Outcome]  # (patient, parameter set) -> outcome
    generate_s: float
    analyse_s: float


def analyse(patient: AnalyticPhantom, parameters: AnalysisParameters) -> Outcome:
    inputs = AnalysisInputs(post=patient.post, day5=patient.day5, lesion=patient.lesion, arrival=patient.arrival)
    result = run_analysis(inputs, parameters)
    measures, truth, plane = result.measures, patient.truth, result.midline.plane
    brain = voxel_points(result.post, sitk.GetArrayViewFromImage(result.brain_mask).astype(bool))[::REGISTRATION_STRIDE]
    estimated, true = (np.array([transform.TransformPoint(point) for point in brain.tolist()])
                       for transform in (result.registrations["day5"].transform, truth.post_to_day5))
    return Outcome(measures["imr_volume_ml"], measures["status"], measures["significant_imr"],
                   measures["not_assessable_reason"], plane.angle_to(truth.midline),
                   abs(float(plane.signed_distance(truth.midline.point_array))),
                   float(np.linalg.norm(estimated - true, axis=1).max()))


def run_condition(name: str) -> ConditionResult:
    """Generate the condition's two patients and analyse each once per distinct parameter set."""
    sets = parameter_sets()
    started = time.perf_counter()
    patients = dict(zip(("without", "with"), (make_analytic_phantom(config) for config in ROBUSTNESS_CONDITIONS[name])))
    generated = time.perf_counter()
    distinct: dict[tuple[str, AnalysisParameters], Outcome] = {}
    outcomes = {}
    for label, patient in patients.items():
        for set_name, parameters in sets.items():
            key = (label, parameters)
            if key not in distinct:
                distinct[key] = analyse(patient, parameters)
            outcomes[(label, set_name)] = distinct[key]
    return ConditionResult(
        name,
        {label: patient.truth.imr_volume_ml for label, patient in patients.items()},
        patients["with"].truth.expected_reason,
        outcomes,
        generated - started,
        time.perf_counter() - generated,
    )


def verdict(outcome: Outcome, truth_ml: float, significance_ml: float) -> str:
    if outcome.significant is None:
        return "no call"
    return "right" if outcome.significant == (truth_ml > significance_ml) else "WRONG"


def cells(result: ConditionResult, set_name: str, significance_ml: float) -> list[str]:
    without, with_imr = result.outcomes[("without", set_name)], result.outcomes[("with", set_name)]
    return [
        f"{_volume(without)} ({_status(without)}, {verdict(without, result.truth_ml['without'], significance_ml)})",
        f"{result.truth_ml['with']:.2f} -> {_volume(with_imr)} ({_status(with_imr)}, "
        f"{verdict(with_imr, result.truth_ml['with'], significance_ml)})",
    ]


def _volume(outcome: Outcome) -> str:
    return "n/a" if outcome.imr_ml is None else f"{outcome.imr_ml:.2f}"


def _status(outcome: Outcome) -> str:
    return f"not assessable: {outcome.reason}" if outcome.reason else outcome.status


def table(results: list[ConditionResult]) -> str:
    sets = parameter_sets()
    header = ["condition"]
    for set_name in sets:
        header += [f"{set_name}: without IMR, false IMR mL (status, verdict)",
                   f"{set_name}: with IMR, truth mL -> reported mL (status, verdict)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        name = result.name + (f" [mirror method cannot measure: {result.expected_reason}]"
                              if result.expected_reason else "")
        row = [name]
        for set_name, parameters in sets.items():
            row += cells(result, set_name, parameters.significance_ml)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", nargs="+", metavar="NAME", choices=list(ROBUSTNESS_CONDITIONS),
                        default=list(ROBUSTNESS_CONDITIONS), help="conditions to run (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=arguments.jobs) as pool:
        for result in pool.map(run_condition, arguments.conditions):
            results.append(result)
            print(f"[{len(results)}/{len(arguments.conditions)}] {result.name} "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    print(table(results))
    print()
    first = next(iter(parameter_sets()))
    print(f"Diagnostics of the patients with IMR ({first} parameters) and times:\n")
    for result in results:
        outcome = result.outcomes[("with", first)]
        print(f"- {result.name}: midline error {outcome.midline_deg:.2f} deg, {outcome.midline_mm:.2f} mm; "
              f"day-5 registration error up to {outcome.day5_registration_mm:.2f} mm; "
              f"generation {result.generate_s:.1f} s, analyses {result.analyse_s:.1f} s")
    print(f"\nwall time {time.perf_counter() - started:.1f} s with {arguments.jobs} job(s)")


if __name__ == "__main__":
    main()
