"""Throughput of ``imr-analysis cohort`` (patients per minute) with 1 and 2 local worker processes.

    python benchmarks/bench_cohort.py [--patients 30] [--jobs 1 2] [--repeats 1] [--seed S] [--json PATH]

A simulated cohort (``imr-analysis simulate-cohort``) is written once; every
measured run is a fresh ``imr-analysis cohort`` process into a fresh output folder, so
nothing is skipped as already done, and its wall time covers start-up, every patient, the
table, the statistics and the report. Runs with different ``--jobs`` take turns, so drift
in machine load hits them alike. The per-patient seconds come from the runner's state
files (the time inside the worker). Not a test: timings belong in a report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from IMRAnalysisLib.cohort.simulation import COHORT_GRID_SIZE, COHORT_GRID_SPACING, DEFAULT_SEED

Figures = dict[str, Any]


class RunFailed(Exception):
    """A command of the benchmark exited with an error; the message carries its stderr."""


def run_command(argv: list[str]) -> float:
    """Wall seconds of one command in a fresh interpreter."""
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RunFailed(f"{' '.join(argv)} exited with {completed.returncode}:\n{completed.stderr.strip()}")
    return seconds


def patient_seconds(out: Path) -> list[float]:
    """Each patient's time inside its worker, as the runner recorded it."""
    return [json.loads(path.read_text())["seconds"] for path in sorted((out / "state").glob("*.json"))]


def cohort_run(manifest: Path, out: Path, jobs: int) -> Figures:
    seconds = run_command(["-m", "IMRAnalysisLib.cli", "cohort", str(manifest), "--out", str(out),
                           "--jobs", str(jobs)])
    per_patient = patient_seconds(out)
    return {"jobs": jobs, "wall_s": seconds, "patients": len(per_patient), "patient_s": per_patient}


def run_all(manifest: Path, folder: Path, jobs_list: list[int], repeats: int) -> dict[int, list[Figures]]:
    runs: dict[int, list[Figures]] = {jobs: [] for jobs in jobs_list}
    for repeat in range(repeats):
        for jobs in jobs_list:
            runs[jobs].append(cohort_run(manifest, folder / f"results-{repeat}-jobs{jobs}", jobs))
            print(f"  repeat {repeat + 1}/{repeats}: --jobs {jobs} done", file=sys.stderr, flush=True)
    return runs


def summarise(runs: dict[int, list[Figures]]) -> Figures:
    """Median wall time and throughput per --jobs, and each throughput relative to the first."""
    summary: Figures = {}
    for jobs, figures in runs.items():
        wall = statistics.median(run["wall_s"] for run in figures)
        patients = figures[0]["patients"]
        summary[jobs] = {"wall_s": wall, "min_wall_s": min(run["wall_s"] for run in figures),
                         "patients_per_minute": 60.0 * patients / wall,
                         "median_patient_s": statistics.median(s for run in figures for s in run["patient_s"])}
    first = summary[next(iter(summary))]["patients_per_minute"]
    for row in summary.values():
        row["speed_up"] = row["patients_per_minute"] / first
    return summary


def report(summary: Figures, header: str) -> str:
    lines = [header, "", f"{'--jobs':<8}{'wall median':>12}{'wall min':>10}{'patients/min':>14}"
                         f"{'per patient (in worker)':>25}{'speed-up':>10}"]
    for jobs, row in summary.items():
        lines.append(f"{jobs:<8}{row['wall_s']:>11.1f}s{row['min_wall_s']:>9.1f}s{row['patients_per_minute']:>14.1f}"
                     f"{row['median_patient_s']:>24.1f}s{row['speed_up']:>9.2f}x")
    return "\n".join(lines)


def _header(patients: int, seed: int, generation_s: float, repeats: int, load: float, seconds: float) -> str:
    """What the figures depend on; the load average tells whether other work shared the CPUs."""
    grid = " x ".join(str(n) for n in COHORT_GRID_SIZE)
    spacing = " x ".join(f"{s:g}" for s in COHORT_GRID_SPACING)
    lines = [f"imr-analysis cohort: {patients} simulated patients, seed {seed}, {grid} voxels of {spacing} mm "
             f"(generated in {generation_s:.0f} s)",
             f"runs per --jobs value: {repeats}, each a fresh process writing a fresh folder",
             f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start; the benchmark took {seconds:.0f} s"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=30, help="cohort size (default %(default)s)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2],
                        help="--jobs values to compare, the first is the reference (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per --jobs value (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="seed of the simulated cohort (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the raw runs and the summary here")
    args = parser.parse_args(argv)
    if min(args.patients, args.repeats, *args.jobs) < 1:
        parser.error("--patients, --repeats and every --jobs value must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="imr-bench-cohort-") as temporary:
            folder = Path(temporary)
            generation_s = run_command(["-m", "IMRAnalysisLib.cli", "simulate-cohort", "--out", str(folder / "cohort"),
                                        "--patients", str(args.patients), "--seed", str(args.seed)])
            runs = run_all(folder / "cohort" / "manifest.csv", folder, args.jobs, args.repeats)
    except RunFailed as error:
        print(f"bench_cohort: {error}", file=sys.stderr)
        return 1
    summary = summarise(runs)
    print(report(summary, _header(args.patients, args.seed, generation_s, args.repeats, load,
                                  time.perf_counter() - start)))
    if args.json:
        record = {"patients": args.patients, "seed": args.seed, "generation_s": generation_s, "cpus": os.cpu_count(),
                  "load_average": load, "runs": runs, "summary": summary}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
