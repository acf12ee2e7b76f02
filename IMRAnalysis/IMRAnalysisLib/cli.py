"""``imr-analysis``: the command line other tools rely on.

Exit status 0 on success, 2 with one line naming the file and the problem for every
user error, 130 (Ctrl-C) or 143 (SIGTERM) when interrupted, 1 only for a genuine bug
(with its traceback, so it can be reported). Stderr holds only this program's lines.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NoReturn, Sequence, TextIO

import SimpleITK as sitk

from . import __version__
from .cohort.command import add_cohort_parser, command_cohort
from .dsc_cli import DSC_MAPS, add_perfusion_parser, add_timing_options, command_perfusion, map_from_dsc
from .errors import AnalysisCancelled, InputError
from .image_io import (check_map, dicom_series, read_map, read_mask, require_distinct, require_inside,
                       require_overlap)
from .measures import HEADLINE_MEASURES
from .option_types import finite_float, role_and_uid, seed, series_by_role, smoothing
from .parameters import PRESETS, TMAX_THRESHOLD_S, AnalysisParameters, PatientFlags
from .patient_folder import map_role
from .pipeline import AnalysisInputs, AnalysisResult, run_analysis
from .plane import Plane
from .results_folder import check_output_folder, staged_output_folder

if TYPE_CHECKING:
    from .dicom.reference import DicomReference

_INPUT_ROLES = ("arrival", "post", "day5", "lesion", "exclusion")
_INPUT_OPTIONS = (*_INPUT_ROLES, "arrival_dsc", "post_dsc", "day5_dsc", "dicom_reference")
_SERIES_ROLES = (*_INPUT_ROLES, "reference")  # ROLE of --series ROLE=UID; reference: the --dicom-reference folder


class _Parser(argparse.ArgumentParser):
    """An option mistake is one line, like every other user error (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that half-written outputs are cleaned up as on Ctrl-C."""


class Reporter:
    """Progress lines with the time each stage took, on stderr unless another stream is given."""

    def __init__(self, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:6.1f} s] {message}", file=self.stream or sys.stderr, flush=True)


def _add_parameter_options(parser: argparse.ArgumentParser) -> None:
    defaults = AnalysisParameters()
    group = parser.add_argument_group("analysis parameters (definition: Valls Carbo et al. 2025)")
    group.add_argument("--preset", choices=tuple(PRESETS), default="robust",
                       help="robust (default): resolution-matched, noise-adapted smoothing, shading "
                            "correction and assessability checks; published: the paper's plain voxel ratio")
    group.add_argument("--map", choices=tuple(DSC_MAPS), default="rcbv",
                       help="map the asymmetry is measured on (default %(default)s, as in the paper); "
                            "tmax uses the difference in seconds with --direction increase")
    group.add_argument("--threshold-percent", type=finite_float,
                       help=f"asymmetry beyond which a voxel counts, in %% of the mirror value "
                            f"(rcbv, rcbf; default {defaults.threshold * 100:g})")
    group.add_argument("--threshold-seconds", type=finite_float,
                       help=f"Tmax difference to the mirror beyond which a voxel counts (tmax; "
                            f"default {TMAX_THRESHOLD_S:g})")
    group.add_argument("--direction", choices=("decrease", "increase"),
                       help="sign of asymmetry that counts as impaired reperfusion (default decrease, "
                            "increase for tmax; the opposite sign is the Hyperperfusion segment)")
    group.add_argument("--significance-ml", type=finite_float, default=defaults.significance_ml,
                       help="IMR volume above which IMR is significant, mL (default %(default)g)")
    group.add_argument("--smoothing-mm", type=smoothing,
                       help="Gaussian sigma applied to the voxel and its mirror, mm, or 'auto': the least "
                            "that brings the asymmetry noise of normal tissue under 0.4 x the "
                            "threshold (default: auto; 0 with --preset published)")
    group.add_argument("--no-resolution-matching", action="store_true",
                       help="compare each voxel unblurred with its interpolated mirror value")
    group.add_argument("--no-shading-correction", action="store_true",
                       help="keep a left-right intensity gradient in the asymmetry")
    group.add_argument("--no-assessability-checks", action="store_true",
                       help="report IMR even where the mirror cannot measure it (abnormal mirror region, "
                            "lesion on the plane, noise too high)")
    group.add_argument("--floor", type=finite_float, default=defaults.floor_fraction,
                       help="ratio undefined where the mirror value is below this fraction of "
                            "normal-tissue rCBV (default %(default)g)")
    group.add_argument("--min-cluster-ml", type=finite_float, default=defaults.min_cluster_ml,
                       help="drop IMR/hyperperfusion clusters smaller than this, mL (default %(default)g)")
    group.add_argument("--no-brain-mask", action="store_true", help="do not restrict the map to a brain mask")
    group.add_argument("--no-registration", action="store_true",
                       help="the timepoints are already aligned on one grid in physical space")
    group.add_argument("--seed", type=seed, default=defaults.registration_seed,
                       help="seed of the registration sampling (default %(default)s)")


def _threshold_from(args: argparse.Namespace) -> float:
    """Seconds for Tmax (a difference), a fraction for the relative maps (a ratio)."""
    tmax = args.map == "tmax"
    if (args.threshold_percent if tmax else args.threshold_seconds) is not None:
        unit = "--threshold-seconds" if tmax else "--threshold-percent"
        raise InputError(f"--map {args.map} takes its threshold as {unit}")
    if tmax:
        return TMAX_THRESHOLD_S if args.threshold_seconds is None else args.threshold_seconds
    percent = AnalysisParameters().threshold * 100 if args.threshold_percent is None else args.threshold_percent
    return percent / 100.0


def _parameters_from(args: argparse.Namespace) -> AnalysisParameters:
    """The preset and the map's defaults (``AnalysisParameters.for_map``) with the options given."""
    changes = dict(PRESETS[args.preset])
    if args.direction:
        changes["direction"] = args.direction
    if args.smoothing_mm is not None:
        changes["smoothing_mm"] = args.smoothing_mm
    for option, name in (("no_resolution_matching", "match_resolution"), ("no_shading_correction", "shading_correction"),
                         ("no_assessability_checks", "assessability_checks")):
        if getattr(args, option):
            changes[name] = False
    return AnalysisParameters.for_map(
        args.map,
        **changes,
        threshold=_threshold_from(args),
        significance_ml=args.significance_ml,
        floor_fraction=args.floor,
        brain_mask=not args.no_brain_mask,
        min_cluster_ml=args.min_cluster_ml,
        registration=not args.no_registration,
        registration_seed=args.seed,
        lesion_space=args.lesion_space,
        exclusion_space=args.exclusion_space or args.lesion_space,
    )


def _midline_from(values: list[str] | None) -> Plane | None:
    """``--midline FILE`` (JSON as written in midline.json) or six numbers (LPS mm)."""
    if values is None:
        return None
    if len(values) == 1:
        return Plane.read(values[0])
    if len(values) != 6:
        raise InputError("--midline takes a JSON file or six numbers: PX PY PZ NX NY NZ (LPS, mm)")
    try:
        numbers = [float(value) for value in values]
    except ValueError as error:
        raise InputError(f"--midline numbers are not all numbers: {' '.join(values)}") from error
    return Plane.from_dict({"point_mm": numbers[:3], "normal": numbers[3:]})


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="imr-analysis",
        description="Impaired microvascular reperfusion (IMR) after thrombectomy from perfusion MRI.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="measure IMR for one patient")
    run.add_argument("--arrival", help="arrival rCBV map (optional; registered and shown for context)")
    run.add_argument("--post", help="post-EVT rCBV map (the map IMR is measured on)")
    run.add_argument("--day5", help="day-5 perfusion map (registration target of the lesion)")
    for name in ("arrival", "post", "day5"):
        run.add_argument(f"--{name}-dsc", metavar="SERIES",
                         help=f"DSC-MRI series giving the {name} map instead of --{name} (see 'perfusion')")
    add_timing_options(run)
    run.add_argument("--lesion", required=True, help="follow-up ischemic lesion mask (0/1)")
    run.add_argument("--exclusion", help="exclusion mask, e.g. haemorrhage (0/1)")
    run.add_argument("--lesion-space", choices=("day5", "post"), default="day5",
                     help="grid the lesion was drawn on (default %(default)s)")
    run.add_argument("--exclusion-space", choices=("day5", "post"),
                     help="grid the exclusion was drawn on (default: same as --lesion-space)")
    run.add_argument("--series", action="append", type=role_and_uid, metavar="ROLE=UID",
                     help="read series UID from the DICOM folder given for ROLE (arrival, post, day5, lesion, "
                          "exclusion, reference for --dicom-reference); needed when that folder holds several "
                          "series; repeat for each folder")
    run.add_argument("--dicom-reference", metavar="DIR",
                     help="the post-EVT DICOM series (folder) a NIfTI/NRRD post-EVT map was made from: the result "
                          "folder then holds dicom/ (segmentation, report, overview) referring to it; a DICOM "
                          "post-EVT map is its own reference")
    run.add_argument("--lesion-label", type=int, help="use this label of a multi-label lesion image")
    run.add_argument("--exclusion-label", type=int, help="use this label of a multi-label exclusion image")
    run.add_argument("--midline", nargs="+", metavar="VALUE",
                     help="use this mid-sagittal plane instead of estimating it: a midline.json file, "
                          "or six numbers PX PY PZ NX NY NZ (point and normal, LPS mm)")
    run.add_argument("--ica-occlusion", action="store_true", help="patient flag: internal carotid occlusion")
    run.add_argument("--hemorrhagic-transformation", action="store_true",
                     help="patient flag: haemorrhagic transformation")
    run.add_argument("--reocclusion", action="store_true", help="patient flag: arterial re-occlusion")
    run.add_argument("--out", required=True, help="result folder (must not exist unless --overwrite)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing result folder")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_parameter_options(run)

    demo = commands.add_parser("demo", help="make a phantom patient and run the whole analysis on it")
    demo.add_argument("--out", default="imr-demo", help="folder for the phantom and its results (default %(default)s)")
    demo.add_argument("--preset", default="default", help="phantom configuration (default %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    demo.add_argument("--quiet", action="store_true", help="no progress lines")
    add_perfusion_parser(commands)
    add_cohort_parser(commands)

    app = commands.add_parser("app", help="serve the IMR workstation in a web browser (needs the 'web' extra)")
    patient = app.add_mutually_exclusive_group()
    patient.add_argument("--demo", action="store_true", help="open on the phantom patient of 'imr-analysis demo'")
    patient.add_argument("--patient", help="patient folder (post.*, day5.*, lesion.*, optional arrival.*, "
                                           "exclusion.*; post_dsc.* ... for DSC series)")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    app.add_argument("--port", type=int, default=8080, help="port to listen on (default %(default)s)")
    app.add_argument("--map", choices=tuple(DSC_MAPS), default="rcbv",
                     help="map measured, also on the page before opening (default %(default)s)")
    add_timing_options(app)
    app.add_argument("--max-upload-mb", type=float, default=1000.0,
                     help="largest total of the files uploaded from the page, in MB; it also bounds every websocket "
                          "message (default %(default)g)")
    return parser


def _timepoint_source(args: argparse.Namespace, name: str) -> tuple[str | None, bool]:
    """The file of a timepoint and whether it is a DSC series; exactly one of ``--NAME``, ``--NAME-dsc``."""
    path, dsc = getattr(args, name), getattr(args, f"{name}_dsc")
    if path and dsc:
        raise InputError(f"give --{name} or --{name}-dsc, not both")
    if not (path or dsc) and name != "arrival":
        raise InputError(f"the {_role(args, name)} is missing: give --{name} MAP or --{name}-dsc SERIES")
    return path or dsc, bool(dsc)


def _role(args: argparse.Namespace, name: str) -> str:
    return map_role(name, args.map)


def _read_timepoint(args: argparse.Namespace, name: str, source: tuple[str | None, bool],
                    say: Callable[[str], None], series: str | None) -> sitk.Image | None:
    """The map of a checked source: read as it is, or computed from the DSC series."""
    path, is_dsc = source
    if path is None:
        return None
    if not is_dsc:
        return read_map(path, _role(args, name), series)
    say(f"computing the {_role(args, name)} from the DSC series {path}")
    return check_map(map_from_dsc(path, args.te, args.tr, args.map, series), path, _role(args, name))


def _series_uids(args: argparse.Namespace) -> dict[str, str]:
    """The SeriesInstanceUID read from each DICOM folder input, settled before any work.

    A folder with several series needs ``--series ROLE=UID``; a choice for an input that
    is not a folder is a mistake too.
    """
    chosen = series_by_role(args.series, _SERIES_ROLES)
    folders = {}
    for name in _SERIES_ROLES:
        path = _folder_option(args, name)
        if path and Path(path).is_dir():
            folders[name] = path
        elif name in chosen:
            raise InputError(f"--series {name}={chosen[name]}: the {name} input is not a DICOM folder")
    roles = {name: _series_role(args, name) for name in folders}
    return {name: dicom_series(path, roles[name], chosen.get(name)).uid for name, path in folders.items()}


def _folder_option(args: argparse.Namespace, name: str) -> str | None:
    """What was given for a ``--series`` role: its map, mask or DSC series, or ``--dicom-reference``."""
    if name == "reference":
        return args.dicom_reference
    return getattr(args, name) or getattr(args, f"{name}_dsc", None)


def _series_role(args: argparse.Namespace, name: str) -> str:
    """A ``--series`` role as messages name it."""
    if name in ("post", "day5", "arrival"):
        return _role(args, name)
    return "--dicom-reference" if name == "reference" else f"{name} mask"


def _load_inputs(args: argparse.Namespace, say: Callable[[str], None], series: dict[str, str]) -> AnalysisInputs:
    sources = {name: _timepoint_source(args, name) for name in ("post", "day5", "arrival")}
    say("reading and checking the inputs")
    post, day5, arrival = (_read_timepoint(args, name, source, say, series.get(name))
                           for name, source in sources.items())
    paths = {name: path for name, (path, _) in sources.items() if path}
    for name, image in (("day5", day5), ("arrival", arrival)):
        if image is not None:
            require_distinct(post, paths["post"], _role(args, "post"), image, paths[name], _role(args, name))
            require_overlap(post, paths["post"], image, paths[name])
    lesion = read_mask(args.lesion, "lesion mask", args.lesion_label, series=series.get("lesion"))
    grids = {"day5": (day5, paths["day5"]), "post": (post, paths["post"])}
    require_inside(lesion, args.lesion, *grids[args.lesion_space], "lesion mask")
    exclusion = None
    if args.exclusion:
        exclusion = read_mask(args.exclusion, "exclusion mask", args.exclusion_label, allow_empty=True,
                              series=series.get("exclusion"))
        require_inside(exclusion, args.exclusion, *grids[args.exclusion_space or args.lesion_space], "exclusion mask")
    paths.update({name: getattr(args, name) for name in ("lesion", "exclusion") if getattr(args, name)})
    return AnalysisInputs(post, day5, lesion, arrival, exclusion, paths)


def _dicom_reference(args: argparse.Namespace, post: sitk.Image, series: dict[str, str],
                     say: Callable[[str], None]) -> DicomReference | None:
    """The series ``dicom/`` refers to: ``--dicom-reference`` (refused unless it matches the map), or the
    post-EVT map's own DICOM folder (when it cannot be one, the analysis goes on without ``dicom/``)."""
    if not args.dicom_reference and not (args.post and Path(args.post).is_dir()):
        return None
    from .dicom.reference import read_reference  # pydicom: only when DICOM is involved
    if args.dicom_reference:
        return read_reference(args.dicom_reference, post, "--dicom-reference", series.get("reference"))
    try:
        return read_reference(args.post, post, _role(args, "post"), series.get("post"))
    except InputError as error:
        say(f"warning: no DICOM results: {error}")
        return None


def _print_summary(measures: dict, out: Path) -> None:
    summary = {key: measures[key] for key in HEADLINE_MEASURES}
    print(json.dumps(summary))
    print(f"results written to {out}", file=sys.stderr)


def _analyse(args: argparse.Namespace, say: Callable[[str], None],
             series: dict[str, str]) -> tuple[AnalysisResult, AnalysisInputs, DicomReference | None]:
    """The analysis of parsed ``run`` arguments; ``series`` gives the UID of each DICOM folder input.

    Also the post-EVT DICOM series the results refer to, settled before the analysis.
    """
    parameters = _parameters_from(args)
    flags = PatientFlags(args.ica_occlusion, args.hemorrhagic_transformation, args.reocclusion)
    midline = _midline_from(args.midline)
    inputs = _load_inputs(args, say, series)
    reference = _dicom_reference(args, inputs.post, series, say)
    result = run_analysis(inputs, parameters, flags, midline, progress=say)
    for warning in filter(None, result.measures["warnings"].split("; ")):
        say(f"warning: {warning}")
    say("writing the result folder")
    return result, inputs, reference


def _input_paths(args: argparse.Namespace) -> list[str]:
    """Every file or folder ``run`` reads: the result folder may hold none of them."""
    paths = [getattr(args, name) for name in _INPUT_OPTIONS if getattr(args, name)]
    return paths + (args.midline if args.midline and len(args.midline) == 1 else [])


def run_patient(args: argparse.Namespace, say: Callable[[str], None]) -> dict:
    """Parsed ``run`` arguments -> the patient's result folder; the measures (the one path cohorts share)."""
    out = Path(args.out)
    check_output_folder(out, args.overwrite, _input_paths(args))
    series = _series_uids(args)
    result, inputs, reference = _analyse(args, say, series)
    recorded = {**inputs.sources, **{f"{name}_series_uid": uid for name, uid in series.items()}}
    if args.dicom_reference:
        recorded["dicom_reference"] = args.dicom_reference
    from .export import export_results  # the writers (Pillow, pynrrd): loaded only when a result is written

    export_results(out, result, args.overwrite, {"inputs": recorded}, _input_paths(args), reference)
    return result.measures


def command_run(args: argparse.Namespace) -> int:
    _print_summary(run_patient(args, Reporter(args.quiet)), Path(args.out))
    return 0


def command_demo(args: argparse.Namespace) -> int:
    """Phantom inputs into OUT/phantom, results into OUT/results, truth beside the answer."""
    from .export import export_results
    from .phantom import PRESETS, make_phantom

    if args.preset not in PRESETS:
        raise InputError(f"unknown phantom preset {args.preset!r}; choose from {', '.join(sorted(PRESETS))}")
    out = Path(args.out)
    check_output_folder(out, args.overwrite)
    say = Reporter(args.quiet)
    say(f"making phantom patient '{args.preset}'")
    patient = make_phantom(args.preset)
    with staged_output_folder(out, args.overwrite) as staging:
        paths = patient.write(staging / "phantom")
        run_args = build_parser().parse_args(
            ["run", "--out", str(staging / "results")]
            + [f"--{role}={path}" for role, path in paths.items() if role in _INPUT_ROLES]
        )
        result, _, _ = _analyse(run_args, say, {})
        final_inputs = {role: str(out / "phantom" / Path(path).name) for role, path in paths.items()}
        export_results(staging / "results", result, extra={"inputs": final_inputs})
    _print_summary(result.measures, out / "results")
    truth = patient.truth
    print(
        f"phantom truth: IMR {truth.imr_volume_ml:.2f} mL, lesion {truth.lesion_volume_ml:.2f} mL, "
        f"hyperperfusion {truth.hyperperfusion_volume_ml:.2f} mL; look at {out / 'results' / 'overview.png'}",
        file=sys.stderr,
    )
    return 0


def command_app(args: argparse.Namespace) -> int:
    """The web workstation; imported here so that the other commands never need trame."""
    try:
        from .webapp.app import serve
    except ImportError as error:
        needed = "the web workstation needs the 'web' extra: pip install 'imr-analysis[web]'"
        raise InputError(f"{needed} ({error})") from error
    serve(args.patient, args.demo, args.host, args.port, args.map, args.te, args.tr, args.max_upload_mb)
    return 0


_COMMANDS = {"run": command_run, "demo": command_demo, "perfusion": command_perfusion, "cohort": command_cohort,
             "app": command_app}


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated()


@contextmanager
def _sigterm_cancels() -> Iterator[None]:
    """SIGTERM ends the command like Ctrl-C; only the main thread may install a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    print(f"imr-analysis: warning: {message}", file=sys.stderr)


@contextmanager
def _own_messages_only() -> Iterator[None]:
    """Keep ITK/GDCM warnings and dependencies' Python warnings off stderr; ours become one line."""
    itk_warnings = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.filterwarnings("default", category=UserWarning, module=r"IMRAnalysisLib\.")
            warnings.showwarning = _show_warning
            yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(itk_warnings)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version or an option mistake (already reported)
        return int(stop.code or 0)
    try:
        with _sigterm_cancels(), _own_messages_only():
            return _COMMANDS[args.command](args)
    except InputError as error:
        print(f"imr-analysis: error: {error}", file=sys.stderr)
        return 2
    except AnalysisCancelled as error:
        print(f"imr-analysis: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt as interruption:
        print("imr-analysis: interrupted", file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(interruption, _Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
