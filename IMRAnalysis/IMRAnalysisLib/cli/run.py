"""``imr-analysis run``: one patient's options into a ``PatientRequest``, executed by ``patient_run``.

The options' own mistakes (both ``--post`` and ``--post-dsc``, a threshold in the wrong unit,
a ``--series`` choice for a file) are found here, before any file is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..analysis.measures import HEADLINE_MEASURES
from ..analysis.plane import Plane
from ..errors import InputError
from ..io.patient_folder import map_role
from ..parameters import PRESETS, TMAX_THRESHOLD_S, AnalysisParameters, PatientFlags
from ..patient_run import MapSource, MaskSource, PatientRequest, ReferenceSource, run_patient
from ..perfusion.timepoint_map import DSC_MAPS
from ..progress_lines import ProgressLines
from .option_types import finite_float, role_and_uid, seed, series_by_role, smoothing
from .perfusion import add_timing_options

_TIMEPOINTS = ("post", "day5", "arrival")
_SERIES_ROLES = ("arrival", "post", "day5", "lesion", "exclusion", "reference")  # reference: --dicom-reference


def configure(run: argparse.ArgumentParser) -> None:
    """The ``run`` subcommand's options."""
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
    add_parameter_options(run)


def add_parameter_options(parser: argparse.ArgumentParser) -> None:
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
    given = args.threshold_seconds if tmax else args.threshold_percent
    return AnalysisParameters.for_map(args.map).threshold if given is None else (
        AnalysisParameters.threshold_for_map(args.map, given))


def parameters_from(args: argparse.Namespace, lesion_space: str = "day5",
                    exclusion_space: str | None = None) -> AnalysisParameters:
    """The preset and the map's defaults (``AnalysisParameters.for_map``) with the analysis options
    given; the masks' grids are ``run``'s own options (a cohort's masks are drawn on day 5)."""
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
        lesion_space=lesion_space,
        exclusion_space=exclusion_space or lesion_space,
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


def request_from(args: argparse.Namespace) -> PatientRequest:
    """Parsed ``run`` options as the request they make; the options' own mistakes are refused here."""
    parameters = parameters_from(args, args.lesion_space, args.exclusion_space)
    sources = {name: _timepoint_source(args, name) for name in _TIMEPOINTS}
    series = _chosen_series(args)
    timepoints = {name: None if path is None else MapSource(path, dsc, series.get(name))
                  for name, (path, dsc) in sources.items()}
    reference = (ReferenceSource(args.dicom_reference, series.get("reference"), "--dicom-reference")
                 if args.dicom_reference else None)
    exclusion = MaskSource(args.exclusion, args.exclusion_label, series.get("exclusion")) if args.exclusion else None
    return PatientRequest(
        post=timepoints["post"],
        day5=timepoints["day5"],
        arrival=timepoints["arrival"],
        lesion=MaskSource(args.lesion, args.lesion_label, series.get("lesion")),
        exclusion=exclusion,
        out=Path(args.out),
        parameters=parameters,
        flags=PatientFlags(args.ica_occlusion, args.hemorrhagic_transformation, args.reocclusion),
        midline=_midline_from(args.midline),
        midline_file=args.midline[0] if args.midline and len(args.midline) == 1 else None,
        te=args.te,
        tr=args.tr,
        dicom_reference=reference,
        overwrite=args.overwrite,
    )


def _timepoint_source(args: argparse.Namespace, name: str) -> tuple[str | None, bool]:
    """The file of a timepoint and whether it is a DSC series; exactly one of ``--NAME``, ``--NAME-dsc``."""
    path, dsc = getattr(args, name), getattr(args, f"{name}_dsc")
    if path and dsc:
        raise InputError(f"give --{name} or --{name}-dsc, not both")
    if not (path or dsc) and name != "arrival":
        raise InputError(f"the {map_role(name, args.map)} is missing: give --{name} MAP or --{name}-dsc SERIES")
    return path or dsc, bool(dsc)


def _chosen_series(args: argparse.Namespace) -> dict[str, str]:
    """``--series ROLE=UID`` by role; a choice for an input that is not a DICOM folder is a mistake."""
    chosen = series_by_role(args.series, _SERIES_ROLES)
    for name, uid in chosen.items():
        path = args.dicom_reference if name == "reference" else (
            getattr(args, name) or getattr(args, f"{name}_dsc", None))
        if not (path and Path(path).is_dir()):
            raise InputError(f"--series {name}={uid}: the {name} input is not a DICOM folder")
    return chosen


def print_summary(measures: dict, out: Path) -> None:
    """The headline measures as one JSON line on stdout, where the results went on stderr."""
    summary = {key: measures[key] for key in HEADLINE_MEASURES}
    print(json.dumps(summary))
    print(f"results written to {out}", file=sys.stderr)


def command_run(args: argparse.Namespace) -> int:
    print_summary(run_patient(request_from(args), ProgressLines(args.quiet)), Path(args.out))
    return 0
