"""Wall time and peak memory of ``imr-analysis run`` on a phantom patient, stage by stage.

    python benchmarks/bench_pipeline.py [--repeats N] [--preset default] [--json PATH]

Each measured run happens in its own freshly spawned process, one patient per process
as the command line is used, so its peak RSS (``ru_maxrss``) belongs to that run alone;
a process that only imports the library gives the memory baseline. The same runs
without registration are the time baseline: the full / no-registration ratio shows the
cost of registration in a figure that carries over between machines better than seconds.
Not a test: timings belong in a report, never in a pass/fail unit test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from IMRAnalysisLib.patient_run import PatientRequest
    from IMRAnalysisLib.analysis.pipeline import AnalysisInputs

TARGET_SECONDS = 10.0
TARGET_RSS_MIB = 1536.0
MEASURE_REPEATS = 5  # per preset, in each stage child
INPUT_ROLES = ("arrival", "post", "day5", "lesion", "exclusion")

READ = "read + check inputs"
BRAIN = "brain mask"
REGISTRATION = "registration + midline (side by side)"
MASKS = "masks onto post"
MEASURE = "asymmetry + IMR + measures"
ALIGNED = "maps onto post (for export)"
EXPORT = "export (folder, seg.nrrd, PNG)"
STAGES = (READ, BRAIN, REGISTRATION, MASKS, MEASURE, ALIGNED, EXPORT)

# Configuration -> (child job, extra command-line arguments), in the order they run.
CONFIGURATIONS: dict[str, tuple[str, list[str]]] = {
    "import only": ("import", []),
    "stages, no registration": ("stages", ["--no-registration"]),
    "stages, full": ("stages", []),
    "CLI end to end": ("cli", []),
    # the paper's plain ratio: what the default definition's asymmetry stage costs on top
    "CLI end to end, published preset": ("cli", ["--preset", "published"]),
}

Figures = dict[str, Any]
T = TypeVar("T")


# --- inside a child process ---------------------------------------------------------------
# The library is imported only here: a spawned child starts with the ru_maxrss of the
# parent at fork time (Linux keeps it across exec), so the parent must stay small.


def _phantom_job(argv: list[str]) -> Figures:
    """The phantom's inputs as NRRD files, written once, and its grid for the header."""
    import SimpleITK as sitk

    from IMRAnalysisLib.phantom.template import make_phantom, resolve_config

    preset, folder = argv
    config = resolve_config(preset)
    paths = make_phantom(config).write(Path(folder) / "phantom", fmt="nrrd")
    return {
        "run_args": ["run", "--quiet"] + [f"--{role}={path}" for role, path in paths.items() if role in INPUT_ROLES],
        "size": list(config.size),
        "spacing_mm": list(config.spacing),
        "itk_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
    }


def _import_job(argv: list[str]) -> Figures:
    """The memory baseline: everything a run imports (the CLI pulls in the whole pipeline)."""
    import IMRAnalysisLib.cli  # noqa: F401

    return {}


def _timed(times: dict[str, float], stage: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    value = work()
    times[stage] = time.perf_counter() - start
    return value


def _read_inputs(request: PatientRequest) -> AnalysisInputs:
    """What ``run_patient`` does before the analysis: output check, then read and check."""
    from IMRAnalysisLib.patient_run import load_inputs, settle_series
    from IMRAnalysisLib.io.safe_output import check_output_folder

    check_output_folder(request.out, request.overwrite, request.input_paths())
    return load_inputs(settle_series(request), lambda message: None)


def _stage_job(argv: list[str]) -> Figures:
    """The CLI's run split into the library stages ``run_analysis`` calls, in its order."""
    from IMRAnalysisLib.analysis.brain_mask import automatic_brain_mask
    from IMRAnalysisLib.cli import build_parser
    from IMRAnalysisLib.cli.run import request_from
    from IMRAnalysisLib.io.result_folder import export_results
    from IMRAnalysisLib.parameters import PatientFlags
    from IMRAnalysisLib.analysis.pipeline import (AnalysisResult, aligned_maps, masks_on_post, measure,
                                                  register_and_find_midline)

    request = request_from(build_parser().parse_args(argv))
    parameters = request.parameters
    flags = PatientFlags()
    times: dict[str, float] = {}
    inputs = _timed(times, READ, lambda: _read_inputs(request))
    brain = _timed(times, BRAIN, lambda: automatic_brain_mask(inputs.post))
    registrations, midline = _timed(times, REGISTRATION, lambda: register_and_find_midline(inputs, brain, parameters))
    lesion, exclusion = _timed(times, MASKS, lambda: masks_on_post(inputs, brain, parameters, registrations))
    asymmetry, segments, measures = _timed(
        times, MEASURE,
        lambda: measure(inputs.post, lesion, exclusion, brain, midline, registrations, parameters, flags),
    )
    aligned = _timed(times, ALIGNED, lambda: aligned_maps(inputs, registrations))
    result = AnalysisResult(
        inputs.post, parameters, flags, brain, registrations, aligned, midline, asymmetry, segments, measures
    )
    _timed(times, EXPORT, lambda: export_results(request.out, result, request.overwrite, {"inputs": inputs.sources}))
    return {"stages_s": times, "total_s": sum(times.values()),
            "measure_by_preset_s": _measure_by_preset(inputs.post, lesion, exclusion, brain, midline, registrations)}


def _measure_by_preset(*stage_inputs: Any) -> dict[str, list[float]]:
    """The measure stage again under each preset, alternated in one process on the same inputs.

    What the default definition costs over the paper's lies in this stage alone; timed here,
    side by side, it is not lost in the run-to-run spread of whole runs that take ten times longer.
    """
    from IMRAnalysisLib.parameters import AnalysisParameters, PatientFlags
    from IMRAnalysisLib.analysis.pipeline import measure

    presets = {name: AnalysisParameters.preset(name) for name in ("robust", "published")}
    times: dict[str, list[float]] = {name: [] for name in presets}
    for _ in range(MEASURE_REPEATS):
        for name, parameters in presets.items():
            start = time.perf_counter()
            measure(*stage_inputs, parameters, PatientFlags())
            times[name].append(time.perf_counter() - start)
    return times


def _cli_job(argv: list[str]) -> Figures:
    """``imr-analysis run`` through ``cli.main``; its summary lines are kept off the report."""
    import contextlib
    import io

    from IMRAnalysisLib import cli

    output, errors = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(errors):
        status = cli.main(argv)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"imr-analysis run failed with status {status}: {errors.getvalue().strip()}")
    return {"total_s": elapsed}


JOBS: dict[str, Callable[[list[str]], Figures]] = {
    "phantom": _phantom_job,
    "import": _import_job,
    "stages": _stage_job,
    "cli": _cli_job,
}


def _child(job: str, argv: list[str], connection: Connection) -> None:
    """Entry point of a spawned process: one run, then the peak RSS of this process."""
    try:
        figures = JOBS[job](argv)
        figures["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    except Exception:  # any failure goes to the parent, which reports it and stops
        figures = {"error": traceback.format_exc()}
    connection.send(figures)
    connection.close()


# --- in the parent ------------------------------------------------------------------------


class ChildFailed(Exception):
    """A benchmark child raised or died; the message carries its traceback or exit code."""


def spawn_run(job: str, argv: list[str]) -> Figures:
    """One job in a fresh process; ``process_s`` adds interpreter start-up and imports."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    start = time.perf_counter()
    process = context.Process(target=_child, args=(job, argv, sender))
    process.start()
    sender.close()
    try:
        figures = receiver.recv()
    except EOFError:  # died without a word: killed, out of memory, crashed in native code
        figures = {"error": None}
    finally:
        process.join()
        receiver.close()
    if "error" in figures:
        reason = figures["error"] or f"died with exit code {process.exitcode}"
        raise ChildFailed(f"benchmark child '{job}' failed:\n{reason}")
    figures["process_s"] = time.perf_counter() - start
    return figures


def run_all(run_args: list[str], folder: Path, repeats: int) -> dict[str, list[Figures]]:
    """Every configuration once per repeat, interleaved so drift in machine load hits all alike."""
    runs: dict[str, list[Figures]] = {name: [] for name in CONFIGURATIONS}
    for repeat in range(repeats):
        for index, (name, (job, extra)) in enumerate(CONFIGURATIONS.items()):
            out = folder / f"results-{repeat}-{index}"
            runs[name].append(spawn_run(job, run_args + extra + ["--out", str(out)]))
            print(f"  repeat {repeat + 1}/{repeats}: {name} done", file=sys.stderr, flush=True)
    return runs


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _stage_summary(full: list[Figures], bare: list[Figures]) -> dict[str, dict[str, float]]:
    """Per stage: full-run median and min, share of the total, and full / no-registration."""
    total = statistics.median(run["total_s"] for run in full)
    summary = {}
    for stage in STAGES:
        times = _spread([run["stages_s"][stage] for run in full])
        bare_median = statistics.median(run["stages_s"][stage] for run in bare)
        summary[stage] = {**times, "share": times["median"] / total, "no_registration_median": bare_median,
                          "ratio": times["median"] / bare_median}
    return summary


def _definition_cost(full: list[Figures]) -> dict[str, float]:
    """Median measure-stage time per preset over all stage children, and what the default
    adds as a share of the whole published run (the sum of stages less that difference)."""
    median = {name: statistics.median(t for run in full for t in run["measure_by_preset_s"][name])
              for name in ("robust", "published")}
    extra = median["robust"] - median["published"]
    published_run = statistics.median(run["total_s"] for run in full) - extra
    return {**median, "extra_s": extra, "growth": extra / published_run}


def _memory_summary(runs: dict[str, list[Figures]]) -> dict[str, dict[str, float]]:
    """Peak RSS per configuration in MiB, and its excess over the import-only baseline."""
    baseline = statistics.median(run["peak_rss_kib"] for run in runs["import only"]) / 1024.0
    memory = {}
    for name, figures in runs.items():
        spread = _spread([run["peak_rss_kib"] / 1024.0 for run in figures])
        memory[name] = {**spread, "above_import": spread["median"] - baseline}
    return memory


def summarise(runs: dict[str, list[Figures]]) -> Figures:
    """Medians, minima and ratios of the raw runs: what the report and the JSON show."""
    timed = ("stages, full", "stages, no registration", "CLI end to end", "CLI end to end, published preset")
    totals = {name: _spread([run["total_s"] for run in runs[name]]) for name in timed}
    summary = {
        "stages_s": _stage_summary(runs["stages, full"], runs["stages, no registration"]),
        "total_s": totals,
        "registration_ratio": totals["stages, full"]["median"] / totals["stages, no registration"]["median"],
        "robust_over_published": (totals["CLI end to end"]["median"]
                                  / totals["CLI end to end, published preset"]["median"]),
        "definition_cost": _definition_cost(runs["stages, full"]),
        "process_s": {name: _spread([run["process_s"] for run in figures]) for name, figures in runs.items()},
        "peak_rss_mib": _memory_summary(runs),
    }
    summary["verdict"] = verdict(summary)
    return summary


def verdict(summary: Figures) -> Figures:
    """The whole CLI run against the targets: median time, worst peak RSS."""
    seconds = summary["total_s"]["CLI end to end"]["median"]
    rss = summary["peak_rss_mib"]["CLI end to end"]["max"]
    return {"seconds": seconds, "seconds_ok": seconds <= TARGET_SECONDS, "peak_rss_mib": rss,
            "peak_rss_ok": rss <= TARGET_RSS_MIB}


def verdict_line(result: Figures) -> str:
    def ok(passed: bool) -> str:
        return "OK" if passed else "OVER"

    return (
        f"whole run: median {result['seconds']:.1f} s (target <= {TARGET_SECONDS:g} s): {ok(result['seconds_ok'])}; "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB (target <= {TARGET_RSS_MIB:g} MiB): {ok(result['peak_rss_ok'])}"
    )


def _stage_table(summary: Figures) -> list[str]:
    lines = [f"{'stage (full run)':<34}{'median':>8}{'min':>8}{'share':>8}{'no-reg':>8}{'full/no-reg':>13}"]
    for stage, row in summary["stages_s"].items():
        lines.append(f"{stage:<34}{row['median']:>7.2f}s{row['min']:>7.2f}s{100 * row['share']:>7.1f}%"
                     f"{row['no_registration_median']:>7.2f}s{row['ratio']:>12.1f}x")
    full, bare = summary["total_s"]["stages, full"], summary["total_s"]["stages, no registration"]
    lines.append(f"{'sum of stages':<34}{full['median']:>7.2f}s{full['min']:>7.2f}s{100.0:>7.1f}%"
                 f"{bare['median']:>7.2f}s{summary['registration_ratio']:>12.1f}x")
    cli_run, process = summary["total_s"]["CLI end to end"], summary["process_s"]["CLI end to end"]
    start_up = summary["process_s"]["import only"]
    lines.append(f"{'CLI end to end (cli.main)':<34}{cli_run['median']:>7.2f}s{cli_run['min']:>7.2f}s")
    published = summary["total_s"]["CLI end to end, published preset"]
    lines.append(f"{'  the same, --preset published':<34}{published['median']:>7.2f}s{published['min']:>7.2f}s"
                 f"{'':>16}{'default/published':>21} {summary['robust_over_published']:.3f}x")
    cost = summary["definition_cost"]
    lines.append(f"{'measure stage, default | published':<34}{cost['robust']:>7.2f}s{cost['published']:>7.2f}s"
                 f"   ({MEASURE_REPEATS} alternated per child) default run +{100 * cost['growth']:.1f} %")
    lines.append(f"{'CLI process incl. start-up+import':<34}{process['median']:>7.2f}s{process['min']:>7.2f}s")
    lines.append(f"{'start-up + import only':<34}{start_up['median']:>7.2f}s{start_up['min']:>7.2f}s")
    return lines


def _memory_table(summary: Figures, parent_mib: float) -> list[str]:
    lines = [f"{'peak RSS (fresh process per run)':<34}{'median':>8}{'min':>8}{'max':>8}{'above import':>14}"]
    for name, row in summary["peak_rss_mib"].items():
        lines.append(f"{name:<34}{row['median']:>4.0f} MiB{row['min']:>4.0f} MiB{row['max']:>4.0f} MiB"
                     f"{row['above_import']:>10.0f} MiB")
    lines.append(f"(parent peak RSS {parent_mib:.0f} MiB: the floor every child's ru_maxrss inherits at fork)")
    return lines


def report(summary: Figures, header: str, parent_mib: float) -> str:
    return "\n".join([header, "", *_stage_table(summary), "", *_memory_table(summary, parent_mib), "",
                      verdict_line(summary["verdict"])])


def _header(preset: str, phantom: Figures, repeats: int, seconds: float, load: float) -> str:
    """What the figures depend on; the load average tells whether other work shared the CPUs."""
    grid = " x ".join(str(n) for n in phantom["size"])
    spacing = " x ".join(f"{s:g}" for s in phantom["spacing_mm"])
    return (f"imr-analysis run on phantom '{preset}' ({grid} voxels, {spacing} mm, NRRD inputs)\n"
            f"{repeats} repeat{'s' * (repeats != 1)}, one fresh process per run; {os.cpu_count()} CPUs, "
            f"{phantom['itk_threads']} ITK threads, load average {load:.2f} before start; "
            f"benchmark took {seconds:.0f} s (phantom {phantom['process_s']:.1f} s)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=_positive, default=3, help="runs per configuration (default %(default)s)")
    parser.add_argument("--preset", default="default", help="phantom preset (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the raw runs and the summary here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="imr-bench-") as temporary:
            phantom = spawn_run("phantom", [args.preset, temporary])
            runs = run_all(phantom["run_args"], Path(temporary), args.repeats)
    except ChildFailed as error:
        print(f"bench_pipeline: {error}", file=sys.stderr)
        return 1
    summary = summarise(runs)
    parent_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    header = _header(args.preset, phantom, args.repeats, time.perf_counter() - start, load)
    print(report(summary, header, parent_mib))
    if args.json:
        record = {"preset": args.preset, "phantom": phantom, "repeats": args.repeats, "cpus": os.cpu_count(),
                  "load_average": load, "parent_peak_rss_mib": parent_mib, "runs": runs, "summary": summary}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
