"""Processing a cohort: every patient through ``imr-analysis run``, in parallel, resumable.

Each patient is one task that runs the very code of ``imr-analysis run`` in a worker process
(local processes or a Dask cluster; the result does not depend on which) and leaves three
things in the cohort folder: ``patients/<id>/`` (the result folder), ``logs/<id>.log`` and
``state/<id>.json``. The state file is written last and holds the patient's fingerprint
(content hashes of its inputs, its flags, the analysis options and the software version), so
a rerun, even after the process was killed, skips exactly the patients already done with
the same fingerprint. Failed patients are retried on the next run: a failure may be passing
(memory, a network share). The table is rebuilt from these files after every run.

A lock file keeps a second cohort out of the folder while one runs. On local processes a
patient that hangs longer than the time limit, or whose worker dies, fails alone; Ctrl-C
kills the running patients (they have no state file, so the next run does them again).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TextIO

import pandas as pd

from .. import __version__
from ..errors import InputError
from ..io.metrics_files import METRICS_JSON
from ..io.safe_output import write_text_atomic
from ..parameters import AnalysisParameters
from ..patient_run import MapSource, MaskSource, PatientRequest, ReferenceSource, run_patient
from ..progress_lines import ProgressLines
from .input_hash import content_hash
from .lock import cohort_lock
from .manifest import COHORT_MARKER, CohortPatient
from .table import PatientResult, build_cohort_table
from .workers import DEFAULT_TIME_LIMIT_S, WorkerLost, run_on_workers

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
class CohortRun:
    """How every patient of a cohort is analysed, and the ``run`` options that said so.

    ``options`` are those options as the command line spelled them (left at their default:
    not written); they are part of each patient's fingerprint, so a cohort folder made by an
    earlier run stays current as long as the same options are given.
    """

    parameters: AnalysisParameters = AnalysisParameters()
    te: float | None = None
    tr: float | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class PatientTask:
    """Everything a worker needs for one patient; plain data so it travels to any worker."""

    patient_id: str
    request: PatientRequest | None  # None: the inputs could not even be hashed
    command: str  # the equivalent ``imr-analysis run`` command, the first line of the patient's log
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


def run_cohort(patients: list[CohortPatient], out: Path, shared: CohortRun = CohortRun(), jobs: int = 1,
               scheduler: str | None = None, progress: Progress | None = None,
               patient_timeout_s: float | None = None) -> pd.DataFrame:
    """Process the patients not yet done with these inputs and options; the cohort table (also in cohort.csv).

    ``shared`` is what every patient is analysed with (parameters, DSC timing); ``scheduler`` is
    a Dask scheduler address, else ``jobs`` local processes,
    each patient failed when it takes longer than ``patient_timeout_s`` (default ``DEFAULT_TIME_LIMIT_S``).
    """
    if jobs < 1:
        raise InputError(f"the patients processed at once must be at least 1, got {jobs}", setting="jobs")
    if patient_timeout_s is not None and not patient_timeout_s > 0:
        raise InputError(f"a patient's time limit must be a positive number of seconds, got {patient_timeout_s}",
                         setting="patient time limit")
    if scheduler and patient_timeout_s is not None:
        raise InputError("a patient's time limit applies to local processes; on a Dask cluster use the cluster's "
                         "limits", setting="patient time limit")
    distributed = _dask() if scheduler else None  # before any folder is made
    folder = CohortFolder(Path(out).absolute())  # workers may start elsewhere
    folder.prepare()
    with cohort_lock(folder.root):
        tasks, unreadable = _tasks(patients, folder, shared)
        pending = [task for task in tasks if not _is_current(task)]
        counter = _Counter(len(patients), len(tasks) - len(pending), progress)
        counter.report()
        for outcome in unreadable:
            counter.add(outcome)
        if pending:
            outcomes = (_on_dask(pending, distributed, scheduler) if scheduler else
                        _on_processes(pending, jobs, patient_timeout_s or DEFAULT_TIME_LIMIT_S))
            with closing(outcomes):  # on Ctrl-C the workers stop now, not when the generator is collected
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


def _tasks(patients: list[CohortPatient], folder: CohortFolder,
           shared: CohortRun) -> tuple[list[PatientTask], list[PatientOutcome]]:
    """The patients' tasks, and the failures of those whose inputs cannot even be hashed."""
    tasks, unreadable = [], []
    for patient in patients:
        try:
            tasks.append(patient_task(patient, folder, shared))
        except InputError as problem:
            task = PatientTask(patient.patient_id, None, "", {}, str(folder.patient(patient.patient_id)),
                               str(folder.log(patient.patient_id)), str(folder.state(patient.patient_id)))
            unreadable.append(_fail(task, str(problem)))
    return tasks, unreadable


def patient_task(patient: CohortPatient, folder: CohortFolder, shared: CohortRun) -> PatientTask:
    """A patient's task: its request, its log's first line and its fingerprint (see ``CohortRun``)."""
    flags = asdict(patient.flags)
    out = folder.patient(patient.patient_id)
    argv = ["run", "--out", str(out), "--overwrite"]
    argv += [f"--{role.replace('_', '-')}={path.absolute()}" for role, path in patient.sources.items()]
    argv += [f"--{name.replace('_', '-')}" for name, present in flags.items() if present]
    argv += shared.options
    fingerprint = {
        "software_version": __version__,
        "run_options": list(shared.options),
        "flags": flags,
        "inputs": {role: content_hash(path) for role, path in sorted(patient.sources.items())},
    }
    return PatientTask(patient.patient_id, _request(patient, out, shared), f"imr-analysis {' '.join(argv)}",
                       fingerprint, str(out), str(folder.log(patient.patient_id)),
                       str(folder.state(patient.patient_id)))


def _request(patient: CohortPatient, out: Path, shared: CohortRun) -> PatientRequest:
    """The patient's run: its files by role (a map or its DSC series), its flags, the cohort's analysis."""
    sources = {role: str(path.absolute()) for role, path in patient.sources.items()}

    def timepoint(name: str) -> MapSource | None:
        if name in sources:
            return MapSource(sources[name])
        return MapSource(sources[f"{name}_dsc"], dsc=True) if f"{name}_dsc" in sources else None

    return PatientRequest(
        post=timepoint("post"), day5=timepoint("day5"), arrival=timepoint("arrival"),
        lesion=MaskSource(sources["lesion"]),
        exclusion=MaskSource(sources["exclusion"]) if "exclusion" in sources else None,
        out=out, parameters=shared.parameters, flags=patient.flags, te=shared.te, tr=shared.tr,
        dicom_reference=ReferenceSource(sources["dicom_reference"]) if "dicom_reference" in sources else None,
        overwrite=True)


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
    Path(task.state).unlink(missing_ok=True)
    start = time.perf_counter()
    status, error = FAILED, ""
    with open(task.log, "w", encoding="utf-8") as log:
        print(task.command, file=log, flush=True)
        try:
            measures = run_patient(task.request, ProgressLines(False, log))
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


def _fail(task: PatientTask, error: str) -> PatientOutcome:
    """A patient that failed outside ``process_patient``: no results of other inputs left to mislead, a log line."""
    shutil.rmtree(task.result_folder, ignore_errors=True)
    with open(task.log, "a", encoding="utf-8") as log:
        print(f"error: {error}", file=log)
    return _record(task, PatientOutcome(task.patient_id, FAILED, error, 0.0))


def _one_line(problem: Exception) -> str:
    text = " ".join(str(problem).split())
    return text if isinstance(problem, InputError) else f"{type(problem).__name__}: {text}"


def _on_processes(tasks: list[PatientTask], jobs: int, patient_timeout_s: float) -> Iterator[PatientOutcome]:
    """Fresh (spawned) processes, as on a cluster; a dead or timed-out worker fails only its patient."""
    with closing(run_on_workers(tasks, process_patient, jobs, patient_timeout_s)) as results:
        for task, result in results:
            yield _fail(task, result.reason) if isinstance(result, WorkerLost) else result


def _dask() -> ModuleType:
    """Dask's ``distributed``, an optional extra."""
    try:
        import distributed
    except ImportError as error:
        raise InputError("a Dask scheduler needs Dask: pip install 'imr-analysis[cluster]'",
                         setting="scheduler") from error
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
        return _fail(task, f"worker lost: {_one_line(problem)}")


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
