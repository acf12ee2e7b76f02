"""Registration and mid-sagittal plane against ANTs' rigid registration, side by side.

    pip install -e ".[bench]"        # antspyx: a benchmark dependency, never a runtime one
    python benchmarks/bench_registration_vs_ants.py [--threads 1] [--json PATH]

The cases are those of ``Testing/Python/analysis/test_registration.py`` and ``test_midline.py``:
phantom heads from two generators (MNI152 anatomy; the analytic head with little texture
inside), on a clinical and an isotropic grid, with a 40 or a 120 mL one-sided lesion, day 5
and arrival turned by about 30 degrees and 30 mm from post-EVT. For each case both tools,
each in its own fresh child process with the same ITK thread count and in alternating
order, register day 5 and arrival onto post-EVT and find the plane (ANTs: ``Rigid`` onto
the image's left-right flip, whose symmetry map gives the plane as ours does). Errors are
measured against the known poses over the brain. A second part times the whole
``imr-analysis run`` of the README's phantom against ANTs' one rigid registration plus one
flip registration of it. Not a test: timings belong in a report.
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

import numpy as np

LIBRARY = Path(__file__).resolve().parents[1] / "IMRAnalysis"
sys.path.insert(0, str(LIBRARY))

TIMEPOINTS = ("day5", "arrival")


# --- inside a child process ---------------------------------------------------------------


def _affine_of(transform_point) -> list[list[float]]:
    """A 3 x 4 affine [A | b] of a point map, read off the origin and the unit vectors."""
    origin = np.asarray(transform_point([0.0, 0.0, 0.0]))
    columns = [np.asarray(transform_point(list(unit))) - origin for unit in np.eye(3)]
    return np.column_stack([*columns, origin]).tolist()


def _ours(folder: Path) -> dict[str, Any]:
    import SimpleITK as sitk

    from IMRAnalysisLib.analysis.brain_mask import automatic_brain_mask
    from IMRAnalysisLib.analysis.midline import estimate_midline
    from IMRAnalysisLib.analysis.registration import align_to_post

    post = sitk.ReadImage(str(folder / "post.nii.gz"), sitk.sitkFloat32)
    moving = {name: sitk.ReadImage(str(folder / f"{name}.nii.gz"), sitk.sitkFloat32) for name in TIMEPOINTS}
    start = time.perf_counter()
    brain = automatic_brain_mask(post)
    found = {name: align_to_post(post, image, brain).transform for name, image in moving.items()}
    registered = time.perf_counter()
    plane = estimate_midline(post, brain).plane
    done = time.perf_counter()
    return {"transforms": {name: _affine_of(t.TransformPoint) for name, t in found.items()},
            "plane": {"point": list(plane.point), "normal": list(plane.normal)},
            "registration_s": registered - start, "plane_s": done - registered}


def _ants_flip(image):
    """``image`` flipped along its first grid axis, and that flip as a map of physical points."""
    import ants

    flipped = ants.from_numpy(image.numpy()[::-1].copy(), origin=image.origin, spacing=image.spacing,
                              direction=image.direction)
    axis = np.asarray(image.direction)[:, 0]
    centre = np.asarray(image.origin) + np.asarray(image.direction) @ (
        np.asarray(image.spacing) * (np.asarray(image.shape) - 1) / 2.0)
    return flipped, lambda point: np.asarray(point) - 2.0 * ((np.asarray(point) - centre) @ axis) * axis


def _ants_rigid(fixed, moving):
    import ants

    result = ants.registration(fixed=fixed, moving=moving, type_of_transform="Rigid")
    transform = ants.read_transform(result["fwdtransforms"][0])
    return lambda point: np.asarray(ants.apply_ants_transform_to_point(transform, list(point)))


def _ants(folder: Path) -> dict[str, Any]:
    import ants

    post = ants.image_read(str(folder / "post.nii.gz"))
    moving = {name: ants.image_read(str(folder / f"{name}.nii.gz")) for name in TIMEPOINTS}
    start = time.perf_counter()
    found = {name: _ants_rigid(post, image) for name, image in moving.items()}
    registered = time.perf_counter()
    flipped, flip = _ants_flip(post)
    to_flipped = _ants_rigid(post, flipped)
    done = time.perf_counter()
    return {"transforms": {name: _affine_of(point_map) for name, point_map in found.items()},
            "symmetry_map": _affine_of(lambda point: flip(to_flipped(point))),
            "registration_s": registered - start, "plane_s": done - registered}


def _ants_whole(folder: Path) -> dict[str, Any]:
    """What the README's comparison counts for ANTs: one rigid registration and one flip registration."""
    import ants

    post, day5 = ants.image_read(str(folder / "post.nii.gz")), ants.image_read(str(folder / "day5.nii.gz"))
    start = time.perf_counter()
    _ants_rigid(post, day5)
    _ants_rigid(post, _ants_flip(post)[0])
    return {"total_s": time.perf_counter() - start}


def _ours_whole(folder: Path) -> dict[str, Any]:
    """``imr-analysis run`` on the phantom's files, as a user types it, in this process."""
    import contextlib
    import io

    from IMRAnalysisLib import cli

    argv = ["run", "--quiet", "--overwrite", "--out", str(folder / "run")]
    argv += [f"--{role}={folder / f'{role}.nii.gz'}" for role in ("arrival", "post", "day5", "lesion")]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(argv)
    return {"total_s": time.perf_counter() - start, "status": status}


CHILD_JOBS = {"ours": _ours, "ants": _ants, "ours-whole": _ours_whole, "ants-whole": _ants_whole}


# --- in the parent --------------------------------------------------------------------------


def _child(job: str, folder: Path, threads: int | None) -> dict[str, Any]:
    env = dict(os.environ)
    if threads is not None:
        env["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    completed = subprocess.run([sys.executable, __file__, "--child", job, str(folder)], env=env,
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _cases():
    """The turned patients of the registration tests, built by the same function."""
    tests = LIBRARY.parent / "Testing" / "Python"
    sys.path[:0] = [str(tests), str(tests / "analysis")]
    from phantom_cases import GENERATORS, GRIDS
    from test_registration import _turned_patient

    for generator in GENERATORS:
        for grid in GRIDS:
            for large in (False, True):
                yield f"{generator}, {grid}, {'120' if large else '40'} mL", _turned_patient(generator, grid, large)


def _write(patient, folder: Path) -> None:
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    for role in ("arrival", "post", "day5", "lesion"):
        sitk.WriteImage(getattr(patient, role), str(folder / f"{role}.nii.gz"))


def _errors(patient, found: dict[str, Any]) -> dict[str, float]:
    """Registration errors (mm, over the brain) and the plane's angle (deg) and offset (mm)."""
    import SimpleITK as sitk

    from IMRAnalysisLib.analysis.brain_mask import automatic_brain_mask
    from IMRAnalysisLib.analysis.geometry import voxel_points
    from IMRAnalysisLib.analysis.midline import plane_from_symmetry_map
    from IMRAnalysisLib.analysis.plane import Plane

    points = voxel_points(patient.post, sitk.GetArrayViewFromImage(automatic_brain_mask(patient.post)).astype(bool))
    errors: dict[str, float] = {}
    for name in TIMEPOINTS:
        affine = np.asarray(found["transforms"][name])
        truth = getattr(patient.truth, f"post_to_{name}")
        true_points = np.array([truth.TransformPoint(point) for point in points.tolist()])
        distance = np.linalg.norm(points @ affine[:, :3].T + affine[:, 3] - true_points, axis=1)
        errors[f"{name}_mean_mm"], errors[f"{name}_max_mm"] = float(distance.mean()), float(distance.max())
    if "plane" in found:
        plane = Plane.from_vectors(np.asarray(found["plane"]["point"]), np.asarray(found["plane"]["normal"]))
    else:
        affine = np.asarray(found["symmetry_map"])
        plane = plane_from_symmetry_map(affine[:, :3], affine[:, 3], points)
    truth_plane = patient.truth.midline
    errors["plane_deg"] = plane.angle_to(truth_plane)
    errors["plane_mm"] = abs(plane.signed_distance(truth_plane.point_array))
    return errors


def _summary(rows: list[dict[str, float]], key: str) -> str:
    values = [row[key] for row in rows]
    return f"{statistics.median(values):.3f} / {max(values):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="ITK threads of both tools (default 1)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job, folder = args.child
        print(json.dumps(CHILD_JOBS[job](Path(folder))))
        return 0

    rows: dict[str, list[dict[str, float]]] = {"ours": [], "ants": []}
    times: dict[str, list[float]] = {"ours": [], "ants": []}
    with tempfile.TemporaryDirectory() as scratch:
        for index, (name, patient) in enumerate(_cases()):
            folder = Path(scratch) / f"case{index}"
            _write(patient, folder)
            order = ("ours", "ants") if index % 2 == 0 else ("ants", "ours")
            for tool in order:
                found = _child(tool, folder, args.threads)
                errors = _errors(patient, found)
                rows[tool].append(errors)
                times[tool].append(found["registration_s"] + found["plane_s"])
                print(f"  {name}: {tool} {found['registration_s']:.1f} s + plane {found['plane_s']:.1f} s, "
                      f"day5 max {errors['day5_max_mm']:.2f} mm, plane {errors['plane_deg']:.3f} deg", flush=True)
        from IMRAnalysisLib.phantom.template import make_phantom

        whole = Path(scratch) / "readme-phantom"
        _write(make_phantom("default"), whole)
        runs: dict[str, list[float]] = {"ours-whole": [], "ants-whole": [], "ants-whole, 1 thread": []}
        for repeat in range(3):
            for job, threads in (("ours-whole", None), ("ants-whole", None), ("ants-whole", 1)):
                label = job if threads is None else f"{job}, 1 thread"
                runs[label].append(_child(job, whole, threads)["total_s"])

    print(f"\n{len(rows['ours'])} cases, day 5 and arrival turned by ~30 deg and ~30 mm; ITK threads {args.threads}; "
          f"median / worst")
    print("| | ours | ANTs Rigid |\n|---|---|---|")
    for key, label in (("plane_deg", "plane angle error, deg"), ("plane_mm", "plane offset at its point, mm"),
                       ("day5_mean_mm", "day 5, mean error over the brain, mm"),
                       ("day5_max_mm", "day 5, max error over the brain, mm"),
                       ("arrival_mean_mm", "arrival, mean error over the brain, mm"),
                       ("arrival_max_mm", "arrival, max error over the brain, mm")):
        print(f"| {label} | {_summary(rows['ours'], key)} | {_summary(rows['ants'], key)} |")
    ratios = [ours / ants for ours, ants in zip(times["ours"], times["ants"])]
    print(f"| time, two registrations + plane, s | {statistics.median(times['ours']):.2f} | "
          f"{statistics.median(times['ants']):.2f} |")
    print(f"time ours / ANTs per case: median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}")
    medians = {label: statistics.median(values) for label, values in runs.items()}
    print(f"\nREADME phantom: whole `imr-analysis run` {medians['ours-whole']:.2f} s (its default threads); "
          f"ANTs rigid + flip registration {medians['ants-whole']:.2f} s (default threads), "
          f"{medians['ants-whole, 1 thread']:.2f} s (1 thread); median of 3")
    print(f"ratio run / ANTs: {medians['ours-whole'] / medians['ants-whole']:.2f} (default threads), "
          f"{medians['ours-whole'] / medians['ants-whole, 1 thread']:.2f} (ANTs on 1 thread)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "times": times, "whole": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
