"""``imr-analysis demo``: a phantom patient made, analysed and written, its truth beside the answer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..io.safe_output import check_output_folder, staged_output_folder
from ..patient_run import MapSource, MaskSource, PatientRequest, analyse, say_warnings
from ..progress_lines import ProgressLines
from .run import print_summary


def configure(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--out", default="imr-demo", help="folder for the phantom and its results (default %(default)s)")
    demo.add_argument("--preset", default="default", help="phantom configuration (default %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    demo.add_argument("--quiet", action="store_true", help="no progress lines")


def command_demo(args: argparse.Namespace) -> int:
    """Phantom inputs into OUT/phantom, results into OUT/results, truth beside the answer."""
    from ..io.result_folder import export_results
    from ..phantom.template import PRESETS, make_phantom

    if args.preset not in PRESETS:
        raise InputError(f"unknown phantom preset {args.preset!r}; choose from {', '.join(sorted(PRESETS))}")
    out = Path(args.out)
    check_output_folder(out, args.overwrite)
    say = ProgressLines(args.quiet)
    say(f"making phantom patient '{args.preset}'")
    patient = make_phantom(args.preset)
    with staged_output_folder(out, args.overwrite) as staging:
        paths = {role: str(path) for role, path in patient.write(staging / "phantom").items()}
        request = PatientRequest(
            post=MapSource(paths["post"]), day5=MapSource(paths["day5"]), lesion=MaskSource(paths["lesion"]),
            arrival=MapSource(paths["arrival"]) if "arrival" in paths else None,
            exclusion=MaskSource(paths["exclusion"]) if "exclusion" in paths else None,
            out=staging / "results")
        result = analyse(request, say).result
        say_warnings(result.measures, say)
        say("writing the result folder")
        final_inputs = {role: str(out / "phantom" / Path(path).name) for role, path in paths.items()}
        export_results(staging / "results", result, extra={"inputs": final_inputs})
    print_summary(result.measures, out / "results")
    truth = patient.truth
    print(
        f"phantom truth: IMR {truth.imr_volume_ml:.2f} mL, lesion {truth.lesion_volume_ml:.2f} mL, "
        f"hyperperfusion {truth.hyperperfusion_volume_ml:.2f} mL; look at {out / 'results' / 'overview.png'}",
        file=sys.stderr,
    )
    return 0
