"""The simulated cohort: a manifest the cohort command reads, and a truth that matches the files."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.cohort.manifest import FLAG_COLUMNS, read_cohort
from IMRAnalysisLib.cohort.simulation import (IMR_RANGE_ML, MANIFEST_COLUMNS, TICI_GRADES, TRUE_MODEL,
                                              SimulatedCohort, _imr_targets, simulate_cohort)
from IMRAnalysisLib.errors import InputError

PATIENTS = 4
EXCLUDED = 3
SEED = 7


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> SimulatedCohort:
    return simulate_cohort(tmp_path_factory.mktemp("simulated") / "cohort", PATIENTS, SEED, excluded=EXCLUDED)


def manifest_rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def mask_volume_ml(path: Path) -> float:
    image = sitk.ReadImage(str(path))
    return float(np.count_nonzero(sitk.GetArrayViewFromImage(image))) * float(np.prod(image.GetSpacing())) / 1000.0


def test_manifest_has_the_cohort_columns_with_relative_paths(cohort: SimulatedCohort) -> None:
    rows = manifest_rows(cohort.manifest)
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    assert [row["patient_id"] for row in rows] == [patient.patient_id for patient in cohort.patients]
    for row in rows:
        for role in ("arrival", "post", "day5", "lesion"):
            assert not Path(row[role]).is_absolute()
            assert (cohort.folder / row[role]).is_file()
        assert row["mtici"] in TICI_GRADES
        assert 0 <= int(row["nihss_24h"]) <= 42 and 0 <= int(row["mrs_90"]) <= 6


def test_the_cohort_reader_accepts_the_manifest(cohort: SimulatedCohort) -> None:
    patients = read_cohort(cohort.manifest)
    assert [patient.patient_id for patient in patients] == [patient.patient_id for patient in cohort.patients]
    for read, simulated in zip(patients, cohort.patients):
        assert asdict(read.flags) == {name: simulated.clinical[name] for name in FLAG_COLUMNS}
        assert read.clinical == {name: simulated.clinical[name] for name in read.clinical}
        assert read.sources["post"] == cohort.folder / simulated.patient_id / "post.nii.gz"


def test_excluded_patients_carry_one_flag_each_and_the_haemorrhage_is_drawn(cohort: SimulatedCohort) -> None:
    flagged = [patient for patient in cohort.patients if not patient.assessable]
    assert len(flagged) == EXCLUDED
    set_flags = [name for patient in flagged for name in FLAG_COLUMNS if patient.clinical[name]]
    assert sorted(set_flags) == sorted(FLAG_COLUMNS)
    for patient in cohort.patients:
        has_haemorrhage = bool(patient.clinical["hemorrhagic_transformation"])
        assert (cohort.folder / patient.patient_id / "exclusion.nii.gz").is_file() == has_haemorrhage
        assert (patient.exclusion_volume_ml > 0) == has_haemorrhage


def test_truth_matches_the_written_masks_and_the_phantom_truth(cohort: SimulatedCohort) -> None:
    for patient in cohort.patients:
        folder = cohort.folder / patient.patient_id
        assert patient.lesion_volume_ml == pytest.approx(mask_volume_ml(folder / "lesion.nii.gz"), rel=1e-12)
        if patient.exclusion_volume_ml:
            assert patient.exclusion_volume_ml == pytest.approx(mask_volume_ml(folder / "exclusion.nii.gz"), rel=1e-12)
        phantom_truth = json.loads((folder / "truth.json").read_text())
        assert patient.imr_volume_ml == phantom_truth["imr_volume_ml"]
        assert 0.0 <= patient.imr_volume_ml < patient.lesion_volume_ml


def test_truth_file_records_the_patients_and_the_true_model(cohort: SimulatedCohort) -> None:
    truth = json.loads(cohort.truth_file.read_text())
    assert truth == json.loads(json.dumps(cohort.to_dict()))
    assert truth["model"]["nihss_24h"]["effects"]["imr_per_ml"] == TRUE_MODEL.nihss_24h.effects.imr_per_ml
    assert truth["model"]["nihss_24h"]["noise_sd"] == TRUE_MODEL.nihss_24h.noise_sd
    assert [row["imr_volume_ml"] for row in truth["patients"]] == [p.imr_volume_ml for p in cohort.patients]


def test_imr_targets_populate_both_sides_of_the_cut_off() -> None:
    targets = _imr_targets(np.random.default_rng(0), 30)
    assert targets.min() >= IMR_RANGE_ML[0] and targets.max() <= IMR_RANGE_ML[1]
    assert np.count_nonzero(targets < 5.0) >= 9 and np.count_nonzero(targets > 5.0) >= 18


def test_same_seed_same_cohort_other_seed_other_cohort(cohort: SimulatedCohort, tmp_path: Path) -> None:
    again = simulate_cohort(tmp_path / "again", PATIENTS, SEED, excluded=EXCLUDED)
    assert again.manifest.read_text() == cohort.manifest.read_text()
    assert again.truth_file.read_text() == cohort.truth_file.read_text()
    first = cohort.folder / cohort.patients[0].patient_id / "post.nii.gz"
    second = again.folder / again.patients[0].patient_id / "post.nii.gz"
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(first))),
                          sitk.GetArrayFromImage(sitk.ReadImage(str(second))))
    other = simulate_cohort(tmp_path / "other", 1, SEED + 1, excluded=0)
    assert other.patients[0].imr_volume_ml != cohort.patients[0].imr_volume_ml
    assert other.patients[0].phantom != cohort.patients[0].phantom


def test_command_line_writes_a_cohort_and_refuses_to_overwrite(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["simulate-cohort", "--out", str(out), "--patients", "1", "--seed", "3"]) == 0
    assert f"imr-analysis cohort {out / 'manifest.csv'}" in capsys.readouterr().out
    assert len(manifest_rows(out / "manifest.csv")) == 1
    assert main(["simulate-cohort", "--out", str(out), "--patients", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(InputError, match="at least one patient"):
        simulate_cohort(tmp_path / "empty", 0)
