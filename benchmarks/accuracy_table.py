"""Measured against true volumes on every phantom preset: the README's accuracy table.

Run: python benchmarks/accuracy_table.py  (about a minute; prints a Markdown table)
"""

from __future__ import annotations

from IMRAnalysisLib.analysis.pipeline import AnalysisInputs, run_analysis
from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.phantom.template import PRESETS, make_phantom


def _row(name: str) -> str:
    patient = make_phantom(name)
    inputs = AnalysisInputs(patient.post, patient.day5, patient.lesion, patient.arrival, patient.exclusion)
    result = run_analysis(inputs, AnalysisParameters())
    measures, truth = result.measures, patient.truth
    error = measures["imr_volume_ml"] - truth.imr_volume_ml
    within = abs(error) <= max(0.15 * truth.imr_volume_ml, 0.5)
    return (
        f"| {name} | {truth.imr_volume_ml:.2f} | {measures['imr_volume_ml']:.2f} | {error:+.2f} "
        f"| {'yes' if within else 'NO'} | {truth.lesion_volume_ml:.2f} | {measures['lesion_volume_ml']:.2f} "
        f"| {truth.hyperperfusion_volume_ml:.2f} | {measures['hyperperfusion_volume_ml']:.2f} "
        f"| {result.midline.plane.angle_to(truth.midline):.2f} "
        f"| {abs(result.midline.plane.signed_distance(truth.midline.point_array)):.2f} |"
    )


def main() -> None:
    print("| preset | true IMR mL | IMR mL | error mL | within 15 % / 0.5 mL | true lesion mL | lesion mL "
          "| true hyperperfusion mL | hyperperfusion mL | midline error deg | midline offset mm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in PRESETS:
        print(_row(name), flush=True)


if __name__ == "__main__":
    main()
