"""DSC perfusion maps: time and memory on a 128 x 128 x 25 x 60 series, and the OSIPI table.

    python benchmarks/bench_dsc.py [--threads 2] [--naive-voxels 1500]
    python benchmarks/bench_dsc.py --osipi      # Markdown table of the OSIPI reference curves

The series is the DSC phantom (``IMRAnalysisLib.phantom.dsc``) on a 128 x 128 x 25 grid,
written as NRRD. A freshly spawned process (BLAS limited to ``--threads``) reads it and
computes and writes every map, reporting wall time and its peak RSS. The same process
then runs a straightforward per-voxel oSVD (one SVD and one threshold search per voxel,
as a direct reading of the method would) on ``--naive-voxels`` brain voxels and
extrapolates its time to all brain voxels: that ratio is an estimate, not a full run.
Not a test: timings belong in a report.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OSIPI_CSV = ROOT / "Testing" / "Data" / "osipi-dsc" / "dsc_data.csv"
GRID = (128, 128, 25)
TARGET_SECONDS = 5.0
TARGET_RSS_MIB = 2048.0


def _make_series(path: str) -> None:
    """Phantom on the benchmark grid: spacing chosen so the template spans 128 x 128 x 25."""
    import SimpleITK as sitk

    from IMRAnalysisLib.phantom.template_anatomy import DATA_DIR, TEMPLATE_FILES
    from IMRAnalysisLib.phantom.dsc import DscPhantomConfig, make_dsc_phantom

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(DATA_DIR / TEMPLATE_FILES["gm"]))
    reader.ReadImageInformation()
    extent = [n * s for n, s in zip(reader.GetSize(), reader.GetSpacing())]
    spacing = tuple(e / n * (1 + 1e-6) for e, n in zip(extent, GRID))
    phantom = make_dsc_phantom(DscPhantomConfig(spacing_mm=spacing))
    phantom.write(path)


def _measure(path: str, out: str, naive_voxels: int) -> dict:
    import numpy as np

    from IMRAnalysisLib.perfusion.series import read_dsc
    from IMRAnalysisLib.perfusion.maps import perfusion_maps

    start = time.perf_counter()
    series = read_dsc(path)
    read = time.perf_counter()
    maps = perfusion_maps(series)
    computed = time.perf_counter()
    maps.write(Path(out))
    written = time.perf_counter()
    concentration = maps.concentration
    window = concentration.first_pass
    curves = concentration.curves[:, window]
    rng = np.random.default_rng(0)
    subset = curves[rng.choice(len(curves), size=min(naive_voxels, len(curves)), replace=False)]
    naive_start = time.perf_counter()
    naive = [_naive_osvd(curve, maps.aif.curve[window], series.tr) for curve in subset]
    naive_seconds = (time.perf_counter() - naive_start) * len(curves) / len(subset)
    return {
        "shape": series.signal.shape, "brain_voxels": len(curves), "read": read - start,
        "maps": computed - read, "write": written - computed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "naive_seconds_extrapolated": naive_seconds, "naive_voxels": len(subset),
        "naive_cbf_median": float(np.median(naive)),
    }


def _naive_osvd(tissue, aif, dt: float, oscillation: float = 0.095) -> float:
    """CBF of one voxel the direct way: its own circulant SVD, threshold raised until smooth."""
    import numpy as np

    n = len(aif)
    padded = np.concatenate([aif, np.zeros(n)])
    lag = np.arange(2 * n)[:, None] - np.arange(2 * n)[None, :]
    matrix = dt * padded[lag % (2 * n)]
    u, s, vt = np.linalg.svd(matrix)
    target = np.concatenate([tissue, np.zeros(n)])
    for threshold in np.arange(0.0, 1.0, 0.01):
        inverse_s = np.where(s > threshold * s[0], 1.0 / s, 0.0)
        residue = vt.T @ (inverse_s * (u.T @ target))
        peak = residue.max()
        if peak > 0 and np.abs(np.diff(residue, 2)).sum() / (2 * n * peak) <= oscillation:
            break
    return 6000.0 * peak


def _run_child(conn, threads: int, path: str, out: str, naive_voxels: int) -> None:
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    conn.send(_measure(path, out, naive_voxels))


def _spawned(target, *args):
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=target, args=(child, *args) if target is _run_child else args)
    process.start()
    result = parent.recv() if target is _run_child else None
    process.join()
    return result


def benchmark(threads: int, naive_voxels: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "dsc.nrrd")
        _spawned(_make_series, path)
        out = Path(folder) / "maps"
        out.mkdir()
        report = _spawned(_run_child, threads, path, str(out), naive_voxels)
    total = report["read"] + report["maps"] + report["write"]
    print(f"series {report['shape']} (time, z, y, x), {report['brain_voxels']} brain voxels, BLAS threads {threads}")
    print(f"read {report['read']:.2f} s, maps {report['maps']:.2f} s, write {report['write']:.2f} s, "
          f"total {total:.2f} s (target <= {TARGET_SECONDS:g} s: {'met' if total <= TARGET_SECONDS else 'MISSED'})")
    print(f"peak RSS {report['peak_rss_mib']:.0f} MiB (target <= {TARGET_RSS_MIB:.0f} MiB: "
          f"{'met' if report['peak_rss_mib'] <= TARGET_RSS_MIB else 'MISSED'})")
    naive = report["naive_seconds_extrapolated"]
    print(f"straightforward per-voxel oSVD: {naive:.1f} s for all brain voxels (extrapolated from "
          f"{report['naive_voxels']} voxels), {naive / report['maps']:.0f} x the vectorised maps")


def osipi_table() -> None:
    """Per method: curves within OSIPI's tolerances and median absolute CBF error."""
    import csv

    import numpy as np

    from IMRAnalysisLib.perfusion.deconvolution import METHODS
    from IMRAnalysisLib.perfusion.maps import perfusion_values

    with OSIPI_CSV.open() as stream:
        rows = list(csv.DictReader(stream))
    tissue = np.array([np.array(row["C_tis"].split(), dtype=float) for row in rows])
    aif = np.array(rows[0]["C_aif"].split(), dtype=float)
    cbv, cbf = (np.array([float(row[key]) for row in rows]) for key in ("cbv", "cbf"))
    print("| method | CBV within tolerance | CBF within tolerance | both | median abs. CBF error (mL/100mL/min) |")
    print("|---|---|---|---|---|")
    for method in METHODS:
        values = perfusion_values(tissue, aif, float(rows[0]["tr"]), method)
        cbv_ok = np.abs(values.cbv - cbv) <= 1 + 0.1 * np.abs(cbv)
        cbf_ok = np.abs(values.cbf - cbf) <= 15 + 0.1 * np.abs(cbf)
        error = np.median(np.abs(values.cbf - cbf))
        print(f"| {method} | {cbv_ok.sum()}/14 | {cbf_ok.sum()}/14 | {(cbv_ok & cbf_ok).sum()}/14 | {error:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--naive-voxels", type=int, default=1500)
    parser.add_argument("--osipi", action="store_true", help="print the OSIPI table instead")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "IMRAnalysis"))
    if args.osipi:
        osipi_table()
    else:
        benchmark(args.threads, args.naive_voxels)


if __name__ == "__main__":
    main()
