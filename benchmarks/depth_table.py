"""IMR volume against how deep the IMR is, on both phantom families: a Markdown table.

An edge voxel holds a region in part. Counted by the threshold alone, deep IMR is counted
from a small part of each edge voxel and grows with the blur; shallow IMR from a large
part and shrinks. The same patient is made with IMR of several depths and analysed with
the defaults, with the defaults but ``--no-partial-volume-edges``, and with
``--preset published``.

Run: python benchmarks/depth_table.py [--jobs N]   (about 4 minutes on one core)
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from IMRAnalysisLib.analysis.pipeline import AnalysisInputs, remeasure, run_analysis
from IMRAnalysisLib.parameters import AnalysisParameters
from IMRAnalysisLib.phantom.analytic import ROBUSTNESS_CONDITIONS, make_analytic_phantom
from IMRAnalysisLib.phantom.template import PRESETS, make_phantom

DEPTHS = (0.2, 0.25, 0.3, 0.35, 0.5, 0.7)
PATIENTS = {  # name -> (family, condition or preset, noise)
    "analytic, tilt 7 deg, noise 5 %": ("analytic", "clean, tilt 7 deg", 0.05),
    "analytic, 8 mm slices, roll 7 deg, noise 5 %": ("analytic", "8 mm slices, roll 7 deg", 0.05),
    "MNI-based, default patient, noise 4 %": ("template", "default", 0.04),
}
COLUMNS = ("default", "default, --no-partial-volume-edges", "--preset published")


def measure(job: tuple[str, float]) -> tuple[str, float, float, list[float]]:
    """True IMR and the three figures for one patient at one depth."""
    name, depth = job
    family, which, noise = PATIENTS[name]
    if family == "analytic":
        patient = make_analytic_phantom(replace(ROBUSTNESS_CONDITIONS[which][1], imr_depth=depth, noise=noise))
        exclusion = None
    else:
        patient = make_phantom(replace(PRESETS[which], imr_depth=depth, noise=noise))
        exclusion = patient.exclusion
    inputs = AnalysisInputs(patient.post, patient.day5, patient.lesion, patient.arrival, exclusion)
    result = run_analysis(inputs, AnalysisParameters())
    by_threshold = remeasure(result, parameters=AnalysisParameters(partial_volume_edges=False))
    published = remeasure(result, parameters=AnalysisParameters.preset("published"))
    return name, depth, patient.truth.imr_volume_ml, [
        analysis.measures["imr_volume_ml"] for analysis in (result, by_threshold, published)]


def cell(volume: float, truth: float) -> str:
    error = 100.0 * (volume / truth - 1.0)
    mark = " **beyond 15 %**" if abs(error) > 15.0 else ""
    return f"{volume:.2f} ({error:+.0f} %){mark}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    jobs = [(name, depth) for name in PATIENTS for depth in DEPTHS]
    print("| patient | IMR depth | true IMR mL | " + " | ".join(COLUMNS) + " |")
    print("|---|---|---|" + "---|" * len(COLUMNS))
    with ProcessPoolExecutor(max_workers=arguments.jobs) as pool:
        for done, (name, depth, truth, volumes) in enumerate(pool.map(measure, jobs), start=1):
            print(f"| {name} | {100 * depth:.0f} % | {truth:.2f} | "
                  + " | ".join(cell(volume, truth) for volume in volumes) + " |", flush=True)
            print(f"[{done}/{len(jobs)}] ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    print(f"\nwall time {time.perf_counter() - started:.1f} s with {arguments.jobs} job(s); the registration and"
          " plane are shared by the three columns (the last two remeasure the first analysis)")


if __name__ == "__main__":
    main()
