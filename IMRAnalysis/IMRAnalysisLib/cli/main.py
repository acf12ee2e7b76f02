"""``imr-analysis``: the command line other tools rely on.

Exit status 0 on success, 2 with one line naming the file and the problem for every
user error, 130 (Ctrl-C) or 143 (SIGTERM) when interrupted, 1 only for a genuine bug
(with its traceback, so it can be reported). Stderr holds only this program's lines.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator, NoReturn, Sequence, TextIO

import SimpleITK as sitk

from .. import __version__
from ..errors import AnalysisCancelled, InputError
from . import app, cohort, demo, perfusion, run, simulate

# subcommand: its help line, the module that adds its options (configure) and the function that runs it
SUBCOMMANDS = {
    "run": ("measure IMR for one patient", run.configure, run.command_run),
    "demo": ("make a phantom patient and run the whole analysis on it", demo.configure, demo.command_demo),
    "perfusion": ("CBV, CBF, MTT, Tmax, TTP and rCBV maps from a DSC-MRI series", perfusion.configure,
                  perfusion.command_perfusion),
    "cohort": ("measure IMR for every patient of a cohort; table, statistics, report", cohort.configure,
               cohort.command_cohort),
    "simulate-cohort": ("phantom patients with known IMR and their manifest, for trying 'cohort'",
                        simulate.configure, simulate.command_simulate),
    "app": ("serve the IMR workstation in a web browser (needs the 'web' extra)", app.configure, app.command_app),
}

# the option that changes each setting a library error may point to (errors.SETTINGS)
OPTIONS = {
    "mask label": "--lesion-label / --exclusion-label",
    "DICOM series": "--series ROLE=UID",
    "overwrite": "--overwrite",
    "lesion grid": "--lesion-space",
    "echo time": "--te",
    "time between dynamics": "--tr",
    "AIF mask": "--aif-mask",
    "jobs": "--jobs",
    "patient time limit": "--patient-timeout-s",
    "scheduler": "--scheduler",
}


class _Parser(argparse.ArgumentParser):
    """An option mistake is one line, like every other user error (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that half-written outputs are cleaned up as on Ctrl-C."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="imr-analysis",
        description="Impaired microvascular reperfusion (IMR) after thrombectomy from perfusion MRI.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (summary, configure, execute) in SUBCOMMANDS.items():
        subcommand = commands.add_parser(name, help=summary)
        configure(subcommand)
        subcommand.set_defaults(execute=execute)
    return parser


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
            return args.execute(args)
    except InputError as error:
        hint = f" ({OPTIONS[error.setting]})" if error.setting else ""
        print(f"imr-analysis: error: {error}{hint}", file=sys.stderr)
        return 2
    except AnalysisCancelled as error:
        print(f"imr-analysis: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt as interruption:
        print("imr-analysis: interrupted", file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(interruption, _Terminated) else 130
