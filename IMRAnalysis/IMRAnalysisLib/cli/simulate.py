"""``imr-analysis simulate-cohort``: phantom patients with known IMR, ready for ``imr-analysis cohort``."""

from __future__ import annotations

import argparse

from ..cohort.simulation import DEFAULT_SEED, simulate_cohort
from ..parameters import AnalysisParameters


def configure(simulate: argparse.ArgumentParser) -> None:
    simulate.add_argument("--out", required=True, help="folder for the patients, manifest.csv and truth.json")
    simulate.add_argument("--patients", type=int, default=30, help="number of patients (default %(default)s)")
    simulate.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    simulate.add_argument("--overwrite", action="store_true", help="replace an existing folder")


def command_simulate(args: argparse.Namespace) -> int:
    cohort = simulate_cohort(args.out, args.patients, args.seed, overwrite=args.overwrite)
    cut_off = AnalysisParameters().significance_ml
    significant = sum(patient.imr_volume_ml > cut_off for patient in cohort.patients)
    print(f"{len(cohort.patients)} patients ({significant} with a true IMR above {cut_off:g} mL) in {cohort.folder}; "
          f"truth in {cohort.truth_file}\nnext: imr-analysis cohort {cohort.manifest} --out COHORT_RESULTS")
    return 0
