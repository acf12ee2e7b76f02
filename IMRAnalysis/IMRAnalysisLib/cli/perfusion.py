"""``imr-analysis perfusion``: perfusion maps and the AIF from a DSC-MRI series."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..io.dicom_folders import dicom_series
from ..io.images import read_mask
from ..io.safe_output import check_output_folder, staged_output_folder
from ..perfusion.deconvolution import METHODS
from ..progress_lines import ProgressLines
from .option_types import finite_float, role_and_uid, series_by_role

if TYPE_CHECKING:
    from ..perfusion.series import DscSeries


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """``--te`` / ``--tr``: every command that reads DSC series lets the user correct its header."""
    parser.add_argument("--te", type=finite_float, help="echo time of the DSC series in seconds (overrides the header)")
    parser.add_argument("--tr", type=finite_float, help="time between DSC dynamics in seconds (overrides the header)")


def configure(perfusion: argparse.ArgumentParser) -> None:
    perfusion.add_argument("--dsc", required=True,
                           help="4D DSC series: NIfTI, NRRD, a DICOM folder (one file per slice and time point) "
                                "or enhanced multi-frame DICOM")
    perfusion.add_argument("--series", action="append", type=role_and_uid, metavar="dsc=UID",
                           help="read series UID from a --dsc folder holding several series")
    add_timing_options(perfusion)
    perfusion.add_argument("--aif-mask", help="0/1 mask of arterial voxels on the series grid (default: automatic)")
    perfusion.add_argument("--reference-mask",
                           help="0/1 mask of normal white matter for rCBV (default: automatic, better-perfused side)")
    perfusion.add_argument("--method", choices=METHODS, default="osvd",
                           help="deconvolution (default %(default)s: oscillation-index circulant SVD)")
    perfusion.add_argument("--leakage-correction", action="store_true", help="Boxerman-Weisskoff leakage correction")
    perfusion.add_argument("--out", required=True, help="result folder (must not exist unless --overwrite)")
    perfusion.add_argument("--overwrite", action="store_true", help="replace an existing result folder")
    perfusion.add_argument("--quiet", action="store_true", help="no progress lines")


def _series_mask(path: str, role: str, series: DscSeries) -> np.ndarray:
    """A 0/1 mask that must lie on the series' own grid (no resampling of masks)."""
    mask = read_mask(path, role)
    if mask.GetSize() != series.reference.GetSize() or not np.allclose(
        mask.GetOrigin(), series.reference.GetOrigin(), atol=1e-3
    ) or not np.allclose(mask.GetSpacing(), series.reference.GetSpacing(), atol=1e-4):
        raise InputError(f"the {role} is not on the grid of the DSC series "
                         f"({' x '.join(map(str, mask.GetSize()))} vs "
                         f"{' x '.join(map(str, series.reference.GetSize()))} voxels, or another origin/spacing)", path)
    return sitk.GetArrayFromImage(mask).astype(bool)


def command_perfusion(args: argparse.Namespace) -> int:
    from ..io.dicom_frames import ROLE  # the DSC modules load pydicom and scipy.integrate: only for this command
    from ..perfusion.maps import UNITS, perfusion_maps
    from ..perfusion.series import read_dsc

    say = ProgressLines(args.quiet)
    out = Path(args.out)
    inputs = [path for path in (args.dsc, args.aif_mask, args.reference_mask) if path]
    check_output_folder(out, args.overwrite, inputs)
    chosen = series_by_role(args.series, ("dsc",)).get("dsc")
    uid = dicom_series(args.dsc, ROLE, chosen).uid if Path(args.dsc).is_dir() else None
    if chosen is not None and uid is None:
        raise InputError(f"--series dsc={chosen}: the DSC series is a file, not a DICOM folder", args.dsc)
    say("reading and checking the DSC series")
    series = read_dsc(args.dsc, args.te, args.tr, uid)
    aif_mask = (_series_mask(args.aif_mask, "AIF mask", series), args.aif_mask) if args.aif_mask else None
    reference = _series_mask(args.reference_mask, "rCBV reference mask", series) if args.reference_mask else None
    say(f"computing perfusion maps ({args.method}, {series.signal.shape[0]} dynamics, TE {series.te:g} s, "
        f"TR {series.tr:g} s)")
    maps = perfusion_maps(series, aif_mask, reference, args.method, args.leakage_correction)
    with staged_output_folder(out, args.overwrite, inputs) as staging:
        maps.write(staging)
        summary = {
            "dsc": str(args.dsc), **({"dsc_series_uid": uid} if uid else {}),
            "te_s": series.te, "tr_s": series.tr, "method": args.method,
            "leakage_correction": args.leakage_correction, "aif": maps.aif.how,
            "aif_voxels_zyx": maps.aif.voxels.tolist(), "units": UNITS,
            "baseline_dynamics": [maps.concentration.baseline.start, maps.concentration.baseline.stop],
            "first_pass_dynamics": [maps.concentration.first_pass.start, maps.concentration.first_pass.stop],
        }
        (staging / "perfusion.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({"maps": sorted(maps.values), "aif_voxels": len(maps.aif.voxels)}))
    print(f"results written to {out}", file=sys.stderr)
    return 0
