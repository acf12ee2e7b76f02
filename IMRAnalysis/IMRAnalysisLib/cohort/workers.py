"""Tasks on local worker processes that the cohort can stop one at a time.

A process pool from ``concurrent.futures`` cannot do what a cohort needs: one dead worker
breaks every pending task, a running task cannot be stopped, and leaving the pool waits for
every queued task. Here each worker is a spawned process (fresh, as on a cluster) that runs
tasks one after the other, so its imports are paid once. A worker that dies fails only its
task and is replaced; a task over the time limit has its worker killed; when the caller stops
(Ctrl-C, an error) every worker is killed and no further task starts.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

DEFAULT_TIME_LIMIT_S = 1800.0  # generous: a patient takes minutes; this is for a read that never ends
_REAP_S = 5.0
READY = None  # a worker's first message: started and imported; its task's time limit starts


@dataclass(frozen=True)
class WorkerLost:
    """Why a task has no result: its worker died or was killed at the time limit."""

    reason: str


@dataclass
class _Worker:
    """A worker always holds a task: it gets its first at start, its next when it returns a result."""

    process: BaseProcess
    connection: Connection
    task: Any
    deadline: float = math.inf  # until the worker is ready, start-up is not timed


def run_on_workers(tasks: list[Any], work: Callable[[Any], Any], jobs: int,
                   time_limit_s: float) -> Iterator[tuple[Any, Any]]:
    """(task, result or WorkerLost) as tasks finish, at most ``jobs`` at once.

    ``work`` must be a module-level function (it travels to the worker by name) that does not raise.
    """
    pending = deque(tasks)
    workers: list[_Worker] = []
    try:
        while pending or workers:
            while pending and len(workers) < jobs:
                workers.append(_start(work, pending.popleft()))
            ready = set(wait([worker.connection for worker in workers] + [worker.process.sentinel
                                                                         for worker in workers],
                             timeout=_seconds_to(min(worker.deadline for worker in workers))))
            for worker in list(workers):
                finished = _event(worker, ready, pending, time_limit_s)
                if finished is not None:
                    yield finished
                if worker.connection.closed:
                    workers.remove(worker)
    finally:
        for worker in workers:
            _stop(worker)


def _event(worker: _Worker, ready: set, pending: deque, time_limit_s: float) -> tuple[Any, Any] | None:
    """What happened to one worker: ready, a result (then its next task), its death, its time running out."""
    if worker.connection in ready:
        try:
            message = worker.connection.recv()
        except (EOFError, OSError):
            return _lost(worker, f"the worker process died ({_exit_reason(worker)})")
        if message is READY:
            worker.deadline = time.monotonic() + time_limit_s
            return None
        finished = (worker.task, message)
        if pending:
            worker.task, worker.deadline = pending.popleft(), time.monotonic() + time_limit_s
            try:
                worker.connection.send(worker.task)
            except OSError:  # died right after its result: the task never reached it, another worker takes it
                pending.appendleft(worker.task)
                _stop(worker)
        else:
            _stop(worker)
        return finished
    if worker.process.sentinel in ready:
        return _lost(worker, f"the worker process died ({_exit_reason(worker)})")
    if time.monotonic() >= worker.deadline:
        return _lost(worker, f"timed out after {time_limit_s:g} s")
    return None


def _lost(worker: _Worker, reason: str) -> tuple[Any, Any]:
    _stop(worker)
    return worker.task, WorkerLost(reason)


def _seconds_to(deadline: float) -> float | None:
    return None if math.isinf(deadline) else max(0.0, deadline - time.monotonic())


def _exit_reason(worker: _Worker) -> str:
    worker.process.join(_REAP_S)
    code = worker.process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _start(work: Callable[[Any], Any], task: Any) -> _Worker:
    context = get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs, work), daemon=True, name="imr-cohort-worker")
    with _sigint_ignored():
        process.start()
    theirs.close()
    ours.send(task)  # waits in the pipe while the worker starts
    return _Worker(process, ours, task)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Started while SIGINT is ignored, a worker inherits that: Ctrl-C in a terminal reaches every
    process of the group, and stopping the workers (without a traceback from each) is the cohort's job."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _serve(connection: Connection, work: Callable[[Any], Any]) -> None:
    """The worker: say it is ready (imports done), then run tasks until the cohort closes the pipe."""
    connection.send(READY)
    while True:
        try:
            task = connection.recv()
        except EOFError:
            return
        connection.send(work(task))


def _stop(worker: _Worker) -> None:
    """Kill (a hung patient may answer nothing milder) and reap the worker; closing the pipe marks it gone.

    The wait is bounded: a process stuck in the kernel on a dead network share dies only when
    the share answers, and the cohort does not wait for that.
    """
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join(_REAP_S)
    worker.connection.close()
