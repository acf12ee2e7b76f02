"""Processing a cohort: every patient through ``imr-analysis run``, in parallel, resumable.

Each patient is one task that runs the very code of ``imr-analysis run`` in a worker process
(local processes or a Dask cluster; the result does not depend on which) and leaves three
things in the cohort folder: ``patients/<id>/`` (the result folder), ``logs/<id>.log`` and
``state/<id>.json``. The state file is written last and holds the patient's fingerprint
(content hashes of its inputs, its flags, the analysis options and the software version), so
a rerun, even after the process was killed, skips exactly the patients already done with
the same fingerprint. Failed patients are retried on the next run: a failure may be passing
(memory, a network share). The table is rebuilt from these files after every run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from types import ModuleType
from typing import TextIO

import pandas as pd

from .. import __version__
from ..errors import InputError
from ..results_folder import METRICS_JSON, write_text_atomic
from .manifest import COHORT_MARKER, CohortPatient
from .table import PatientResult, build_cohort_table

FAILED = "failed"


@dataclass(frozen=True)
class CohortFolder:
    """The cohort output layout; created only where it cannot overwrite unrelated data."""

    root: Path

    def patient(self, patient_id: str) -> Path:
        return self.root / "patients" / patient_id

    def log(self, patient_id: str) -> Path:
        return self.root / "logs" / f"{patient_id}.log"

    def state(self, patient_id: str) -> Path:
        return self.root / "state" / f"{patient_id}.json"

    @property
    def table(self) -> Path:
        return self.root / "cohort.csv"

    def prepare(self) -> None:
        """Accept a new or empty folder, or one an earlier cohort run made (it has the marker file)."""
        if self.root.exists() and not self.root.is_dir():
            raise InputError("output path exists and is a file, not a cohort folder", self.root)
        if self.root.is_dir() and any(self.root.iterdir()) and not (self.root / COHORT_MARKER).is_file():
            raise InputError(f"folder is not empty and not a cohort folder (no {COHORT_MARKER}); choose a new folder",
                             self.root)
        for name in ("patients", "logs", "state"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        if not (self.root / COHORT_MARKER).is_file():
            marker = {"imr_analysis_cohort": 1, "created_by": __version__}
            write_text_atomic(self.root / COHORT_MARKER, json.dumps(marker) + "\n")


@dataclass(frozen=True)
class PatientTask:
    """Everything a worker needs for one patient; plain data so it travels to any worker."""

    patient_id: str
    run_argv: tuple[str, ...]
    fingerprint: dict
    result_folder: str
    log: str
    state: str


@dataclass(frozen=True)
class PatientOutcome:
    patient_id: str
    status: str
    error: str
    seconds: float


@dataclass(frozen=True)
class CohortProgress:
    """Counts so far; ``seconds_left`` is None until a patient has finished."""

    total: int
    done: int
    failed: int
    skipped: int
    seconds_left: float | None

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped


Progress = Callable[[CohortProgress], None]


def run_cohort(patients: list[CohortPatient], out: Path, run_options: list[str], jobs: int = 1,
               scheduler: str | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """Process the patients not yet done with these inputs and options; the cohort table (also in cohort.csv).

    ``run_options`` are ``imr-analysis run`` options shared by every patient (analysis parameters,
    ``--te``/``--tr``); ``scheduler`` is a Dask scheduler address, else ``jobs`` local processes.
    """
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    distributed = _dask() if scheduler else None  # before any folder is made
    folder = CohortFolder(Path(out).absolute())  # workers may start elsewhere
    folder.prepare()
    tasks = [_task(patient, folder, run_options) for patient in patients]
    pending = [task for task in tasks if not _is_current(task)]
    counter = _Counter(len(tasks), len(tasks) - len(pending), progress)
    counter.report()
    if pending:
        outcomes = _on_dask(pending, distributed, scheduler) if scheduler else _on_processes(pending, jobs)
        for outcome in outcomes:
            counter.add(outcome)
    return build_cohort_table(patients, {patient.patient_id: _result(folder, patient.patient_id)
                                         for patient in patients}, folder.table)


def _result(folder: CohortFolder, patient_id: str) -> PatientResult:
    """What the cohort folder holds for a patient: its state file and, unless failed, its metrics.json."""
    state = read_state(folder.state(patient_id))
    if state is None:
        return PatientResult(FAILED, "not processed (no state file)")
    if state["status"] == FAILED:
        return PatientResult(FAILED, state["error"])
    metrics = json.loads((folder.patient(patient_id) / METRICS_JSON).read_text(encoding="utf-8"))
    return PatientResult(state["status"], metrics=metrics)


def _task(patient: CohortPatient, folder: CohortFolder, run_options: list[str]) -> PatientTask:
    flags = asdict(patient.flags)
    argv = ["run", "--out", str(folder.patient(patient.patient_id)), "--overwrite"]
    argv += [f"--{role.replace('_', '-')}={path.absolute()}" for role, path in patient.sources.items()]
    argv += [f"--{name.replace('_', '-')}" for name, present in flags.items() if present]
    argv += run_options
    fingerprint = {
        "software_version": __version__,
        "run_options": list(run_options),
        "flags": flags,
        "inputs": {role: content_hash(path) for role, path in sorted(patient.sources.items())},
    }
    return PatientTask(patient.patient_id, tuple(argv), fingerprint, str(folder.patient(patient.patient_id)),
                       str(folder.log(patient.patient_id)), str(folder.state(patient.patient_id)))


def content_hash(path: Path) -> str | None:
    """SHA-256 of a file, or of a DICOM folder's files and their relative names; None if missing."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(item for item in path.rglob("*") if item.is_file())
    else:
        return None
    digest = hashlib.sha256()
    for item in files:
        digest.update(str(item.relative_to(path) if item != path else "").encode() + b"\0")
        with open(item, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_current(task: PatientTask) -> bool:
    state = read_state(Path(task.state))
    return (state is not None and state.get("status") != FAILED and state.get("fingerprint") == task.fingerprint
            and (Path(task.result_folder) / METRICS_JSON).is_file())


def process_patient(task: PatientTask) -> PatientOutcome:
    """Run one patient exactly as ``imr-analysis run`` would; never raises, records its state last."""
    from .. import cli  # imported when used: cli imports the cohort command, which imports this module

    Path(task.state).unlink(missing_ok=True)
    start = time.perf_counter()
    status, error = FAILED, ""
    with open(task.log, "w", encoding="utf-8") as log:
        print(f"imr-analysis {' '.join(task.run_argv)}", file=log, flush=True)
        try:
            measures = cli.run_patient(cli.build_parser().parse_args(task.run_argv), cli.Reporter(False, log))
            status = measures["status"]
        except Exception as problem:  # noqa: BLE001 - one patient's failure must not stop the cohort
            error = _one_line(problem)
            if not isinstance(problem, InputError):
                traceback.print_exc(file=log)
            print(f"error: {error}", file=log)
            shutil.rmtree(task.result_folder, ignore_errors=True)  # results of other inputs would mislead
    return _record(task, PatientOutcome(task.patient_id, status, error, round(time.perf_counter() - start, 1)))


def _record(task: PatientTask, outcome: PatientOutcome) -> PatientOutcome:
    """The state file, written last: a patient counts as done only once everything else is in place."""
    state = {**asdict(outcome), "fingerprint": task.fingerprint, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text_atomic(task.state, json.dumps(state, indent=2) + "\n")
    return outcome


def _one_line(problem: Exception) -> str:
    text = " ".join(str(problem).split())
    return text if isinstance(problem, InputError) else f"{type(problem).__name__}: {text}"


def _on_processes(tasks: list[PatientTask], jobs: int) -> Iterator[PatientOutcome]:
    """Fresh (spawned) processes: no state inherited from the caller, as on a cluster."""
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(process_patient, task): task for task in tasks}
        for future in as_completed(futures):
            yield _outcome(future, futures[future])


def _dask() -> ModuleType:
    """Dask's ``distributed``, an optional extra."""
    try:
        import distributed
    except ImportError as error:
        raise InputError("--scheduler needs Dask: pip install 'imr-analysis[cluster]'") from error
    return distributed


def _on_dask(tasks: list[PatientTask], distributed: ModuleType, scheduler: str) -> Iterator[PatientOutcome]:
    """The same tasks on a Dask cluster; the workers must see the inputs and cohort folder at the same paths.

    How many patients run at once is the cluster's choice (its workers' threads), not ``--jobs``.
    """
    try:
        client = distributed.Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as error:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error
    with client:
        futures = client.map(process_patient, tasks,
                             key=[f"imr-patient-{task.patient_id}" for task in tasks], pure=False)
        by_key = {future.key: task for future, task in zip(futures, tasks)}
        for future in distributed.as_completed(futures):
            yield _outcome(future, by_key[future.key])


def _outcome(future, task: PatientTask) -> PatientOutcome:
    """A worker that died (killed, out of memory) fails its patient; the state file tells the next run."""
    try:
        return future.result()
    except Exception as problem:  # noqa: BLE001 - the worker is gone, the cohort goes on
        return _record(task, PatientOutcome(task.patient_id, FAILED, f"worker lost: {_one_line(problem)}", 0.0))


class _Counter:
    """Counts outcomes and estimates the time left from the pace of the patients run so far."""

    def __init__(self, total: int, skipped: int, progress: Progress | None) -> None:
        self.total, self.skipped, self.progress = total, skipped, progress
        self.done = self.failed = 0
        self.start = time.perf_counter()

    def add(self, outcome: PatientOutcome) -> None:
        if outcome.status == FAILED:
            self.failed += 1
        else:
            self.done += 1
        self.report()

    def report(self) -> None:
        if self.progress is None:
            return
        processed = self.done + self.failed
        left = self.total - self.skipped - processed
        seconds_left = (time.perf_counter() - self.start) / processed * left if processed else None
        self.progress(CohortProgress(self.total, self.done, self.failed, self.skipped, seconds_left))


class ProgressDisplay:
    """Progress on a stream: one line rewritten in place on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.last: CohortProgress | None = None

    def __call__(self, progress: CohortProgress) -> None:
        self.last = progress
        left = "--" if progress.seconds_left is None else _duration(progress.seconds_left)
        line = (f"patients {progress.finished}/{progress.total}: {progress.done} done, {progress.failed} failed, "
                f"{progress.skipped} skipped; about {left} left")
        if self.stream.isatty():
            end = "\n" if progress.finished == progress.total else ""
            self.stream.write(f"\r\x1b[K{line}{end}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"
