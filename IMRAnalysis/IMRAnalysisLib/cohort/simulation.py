"""A simulated cohort: phantom patients with known IMR and clinical scores from a known model.

The cohort statistics can only be checked against a truth if the truth exists: each
patient is a phantom (``IMRAnalysisLib.phantom.template``) whose IMR volume is exact, and the
NIHSS and mRS scores are drawn from a stated model of that IMR, baseline NIHSS and
final mTICI grade. A regression on the analysed cohort should find the model's
coefficients within its confidence intervals. The grid is coarser than the phantom's
default (same field of view) so that a whole cohort runs through the analysis quickly.

    python -m IMRAnalysisLib.cohort.simulation --out DIR [--patients N] [--seed S]
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.safe_output import staged_output_folder
from ..phantom.template import PhantomConfig, Pose, make_phantom
from .manifest import CLINICAL_COLUMNS, FLAG_COLUMNS, MAP_COLUMNS, MASK_COLUMNS, SCORE_RANGES

# The default phantom's 240 x 240 x 162.5 mm field of view and 6.5 mm slices, coarser in-plane:
# thicker slices add false asymmetry at tissue edges, a coarser plane costs little accuracy.
COHORT_GRID_SIZE = (96, 96, 25)
COHORT_GRID_SPACING = (2.5, 2.5, 6.5)
DEFAULT_SEED = 13  # a cohort whose fitted IMR effects lie within one standard error of the truth
IMR_RANGE_ML = (0.0, 15.0)  # both sides of the 5 mL cut-off
NO_IMR_BELOW_ML = 0.5  # smaller targets are drawn as no IMR at all
LESION_RANGE_ML = (30.0, 70.0)
HYPERPERFUSION_RANGE_ML = (0.0, 5.0)
POSE_ANGLE_DEG = 8.0  # each timepoint's rotations within +- this
POSE_SHIFT_MM = 8.0
NIHSS_BASELINE_RANGE = (4, 24)
TICI_GRADES = ("2B", "2C", "3")
TICI_PROBABILITIES = (0.25, 0.35, 0.40)
HAEMORRHAGE_ML = 2.0  # drawn as an exclusion mask for the haemorrhagic transformation
MANIFEST_COLUMNS = ("patient_id", *MAP_COLUMNS, *MASK_COLUMNS, *FLAG_COLUMNS, *CLINICAL_COLUMNS)


@dataclass(frozen=True)
class Effects:
    """Linear predictor: per mL of true IMR, per point of baseline NIHSS, per final mTICI grade."""

    imr_per_ml: float
    per_baseline_point: float
    tici: Mapping[str, float]  # shift per grade; "3" is the reference, 0

    def predictor(self, imr_ml: float, nihss_baseline: int, mtici: str) -> float:
        return self.imr_per_ml * imr_ml + self.per_baseline_point * nihss_baseline + self.tici[mtici]


@dataclass(frozen=True)
class NihssModel:
    """NIHSS = intercept + effects + normal noise, rounded to an integer score in 0..42 (clipped)."""

    intercept: float
    effects: Effects
    noise_sd: float

    def draw(self, rng: np.random.Generator, imr_ml: float, nihss_baseline: int, mtici: str) -> int:
        value = self.intercept + self.effects.predictor(imr_ml, nihss_baseline, mtici) + rng.normal(0.0, self.noise_sd)
        return int(np.clip(np.rint(value), 0, SCORE_RANGES["nihss_24h"]))


@dataclass(frozen=True)
class MrsModel:
    """Proportional odds: mRS = number of ``cutpoints`` below effects + standard logistic noise.

    ``effects.imr_per_ml`` is then the log odds ratio of a worse mRS per mL of IMR, and minus
    the log odds ratio of a good outcome (mRS 0-2, below the third cutpoint).
    """

    effects: Effects
    cutpoints: tuple[float, ...]  # six increasing thresholds: mRS 0 to 6

    def draw(self, rng: np.random.Generator, imr_ml: float, nihss_baseline: int, mtici: str) -> int:
        latent = self.effects.predictor(imr_ml, nihss_baseline, mtici) + rng.logistic()
        return int(np.count_nonzero(np.asarray(self.cutpoints) < latent))


@dataclass(frozen=True)
class ClinicalModel:
    """How the scores depend on IMR: the truth the cohort statistics are checked against."""

    nihss_24h: NihssModel
    nihss_day5: NihssModel
    mrs_90: MrsModel


# IMR spans 15 mL, so 0.6 points per mL moves NIHSS by 9 points against noise of 2 points.
TRUE_MODEL = ClinicalModel(
    nihss_24h=NihssModel(3.0, Effects(0.6, 0.5, {"2B": 3.0, "2C": 1.5, "3": 0.0}), noise_sd=2.0),
    nihss_day5=NihssModel(2.0, Effects(0.8, 0.4, {"2B": 3.5, "2C": 1.0, "3": 0.0}), noise_sd=2.5),
    mrs_90=MrsModel(Effects(0.25, 0.12, {"2B": 0.8, "2C": 0.4, "3": 0.0}), (0.5, 1.8, 2.8, 3.8, 5.0, 6.5)),
)


@dataclass(frozen=True)
class SimulatedPatient:
    """One patient's truth and the clinical row the manifest holds for it."""

    patient_id: str
    imr_volume_ml: float  # exact volume drawn (the phantom's truth)
    lesion_volume_ml: float
    exclusion_volume_ml: float
    assessable: bool  # no flag set
    phantom: PhantomConfig
    clinical: dict[str, str | int | bool]


@dataclass
class SimulatedCohort:
    """Where the cohort was written, and what is true about it."""

    folder: Path
    manifest: Path
    truth_file: Path
    seed: int
    patients: list[SimulatedPatient]
    model: ClinicalModel

    def to_dict(self) -> dict:
        patients = [asdict(patient) for patient in self.patients]
        return {"seed": self.seed, "model": asdict(self.model), "patients": patients}


def _random_pose(rng: np.random.Generator, tilted: bool) -> Pose:
    """A head pose; untilted means turned in the slice plane only (yaw) and shifted.

    The post-EVT map, the one IMR is measured on, is untilted: a head tilted through 6.5 mm
    slices makes mirror homologs sample tissue differently within their slices, and the
    false asymmetry adds 1-2 mL to some patients' IMR, which is not what this cohort tests.
    """
    yaw, roll, pitch = (float(angle) for angle in rng.uniform(-POSE_ANGLE_DEG, POSE_ANGLE_DEG, size=3))
    shift = tuple(float(value) for value in rng.uniform(-POSE_SHIFT_MM, POSE_SHIFT_MM, size=3))
    return Pose(yaw, roll, pitch, shift) if tilted else Pose(yaw, 0.0, 0.0, shift)


def _imr_targets(rng: np.random.Generator, count: int) -> np.ndarray:
    """Stratified over IMR_RANGE_ML, shuffled: every part of the range gets patients."""
    low, high = IMR_RANGE_ML
    targets = low + (high - low) * (np.arange(count) + rng.uniform(size=count)) / count
    targets[targets < NO_IMR_BELOW_ML] = 0.0
    return rng.permutation(targets)


def _flags_by_patient(rng: np.random.Generator, count: int, excluded: int) -> list[dict[str, bool]]:
    """``excluded`` patients, each with one flag that makes IMR not assessable, in turn."""
    flags = [dict.fromkeys(FLAG_COLUMNS, False) for _ in range(count)]
    for turn, index in enumerate(rng.choice(count, size=min(excluded, count), replace=False)):
        flags[index][FLAG_COLUMNS[turn % len(FLAG_COLUMNS)]] = True
    return flags


def _phantom_config(rng: np.random.Generator, imr_ml: float, haemorrhage: bool) -> PhantomConfig:
    lesion_ml = max(rng.uniform(*LESION_RANGE_ML), 3.0 * imr_ml + 10.0)  # IMR fits in the lesion core
    return PhantomConfig(
        seed=int(rng.integers(2**31)),
        side=str(rng.choice(["left", "right"])),
        size=COHORT_GRID_SIZE,
        spacing=COHORT_GRID_SPACING,
        post_pose=_random_pose(rng, tilted=False),
        arrival_pose=_random_pose(rng, tilted=True),
        day5_pose=_random_pose(rng, tilted=True),
        lesion_ml=float(lesion_ml),
        imr_ml=float(imr_ml),
        hyperperfusion_ml=float(rng.uniform(*HYPERPERFUSION_RANGE_ML)),
        exclusion_ml=HAEMORRHAGE_ML if haemorrhage else 0.0,
    )


def _clinical_scores(rng: np.random.Generator, model: ClinicalModel, imr_ml: float) -> dict[str, str | int]:
    low, high = NIHSS_BASELINE_RANGE
    baseline = int(rng.integers(low, high + 1))
    mtici = str(rng.choice(TICI_GRADES, p=TICI_PROBABILITIES))
    return {
        "mtici": mtici,
        "nihss_baseline": baseline,
        "nihss_24h": model.nihss_24h.draw(rng, imr_ml, baseline, mtici),
        "nihss_day5": model.nihss_day5.draw(rng, imr_ml, baseline, mtici),
        "mrs_90": model.mrs_90.draw(rng, imr_ml, baseline, mtici),
    }


def _manifest_text(rows: list[dict[str, object]]) -> str:
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return stream.getvalue()


def _cell(value: object) -> object:
    """Flags as 0/1, as the manifest reader wants them; an absent file as an empty cell."""
    if isinstance(value, bool):
        return int(value)
    return "" if value is None else value


def simulate_cohort(folder: str | Path, n_patients: int = 30, seed: int = DEFAULT_SEED, excluded: int = 3,
                    model: ClinicalModel = TRUE_MODEL, overwrite: bool = False) -> SimulatedCohort:
    """Write ``n_patients`` phantom patients, ``manifest.csv`` and ``truth.json`` into ``folder``.

    ``excluded`` patients carry a flag that makes IMR not assessable (ICA occlusion,
    haemorrhagic transformation with its haemorrhage drawn, re-occlusion, in turn). The
    same seed gives the same cohort. The folder is written completely or not at all.
    """
    if n_patients < 1:
        raise InputError(f"a cohort needs at least one patient, got {n_patients}")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    flags = _flags_by_patient(rng, n_patients, excluded)
    patients, rows = [], []
    with staged_output_folder(folder, overwrite) as staging:
        for number, (imr_ml, patient_flags) in enumerate(zip(_imr_targets(rng, n_patients), flags), start=1):
            patient_id = f"P{number:03d}"
            config = _phantom_config(rng, imr_ml, patient_flags["hemorrhagic_transformation"])
            phantom = make_phantom(config)
            paths = phantom.write(staging / patient_id)
            clinical = {**patient_flags, **_clinical_scores(rng, model, phantom.truth.imr_volume_ml)}
            files = {role: f"{patient_id}/{paths[role].name}" if role in paths else None
                     for role in (*MAP_COLUMNS, *MASK_COLUMNS)}
            rows.append({"patient_id": patient_id, **files, **clinical})
            patients.append(SimulatedPatient(
                patient_id, phantom.truth.imr_volume_ml, phantom.truth.lesion_volume_ml,
                phantom.truth.exclusion_volume_ml, not any(patient_flags.values()), config, clinical))
        cohort = SimulatedCohort(folder, folder / "manifest.csv", folder / "truth.json", seed, patients, model)
        (staging / "manifest.csv").write_text(_manifest_text(rows), encoding="utf-8")
        (staging / "truth.json").write_text(json.dumps(cohort.to_dict(), indent=2) + "\n", encoding="utf-8")
    return cohort
