"""Errors that reach the user as one clear line instead of a traceback."""

from __future__ import annotations

from pathlib import Path

# settings an InputError may point to; every front end says how its users change each
SETTINGS = ("mask label", "DICOM series", "overwrite", "lesion grid", "echo time", "time between dynamics",
            "AIF mask", "jobs", "patient time limit", "scheduler")


class InputError(Exception):
    """A problem with something the user supplied: a file, a mask, a folder, an option.

    The command line prints ``str(error)`` and exits with status 2, so the message must
    name the offending file (when there is one) and say what is wrong with it. When a
    setting resolves it, ``setting`` names that setting in words of no front end (one of
    ``SETTINGS``); each front end adds how its users change it (the command line: its option).
    """

    def __init__(self, problem: str, path: str | Path | None = None, *, setting: str | None = None) -> None:
        if setting is not None and setting not in SETTINGS:
            raise ValueError(f"unknown setting {setting!r}")
        self.problem = problem
        self.path = None if path is None else Path(path)
        self.setting = setting
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class NoAnalysisYet(InputError):
    """A step that builds on an analysis (recompute, export, moving the midline) asked before any:
    one type for every front end, each with its own words for what to do."""

    def __init__(self, problem: str = "there is no analysis yet: run the analysis first") -> None:
        super().__init__(problem)


class AnalysisCancelled(Exception):
    """Raised inside a long stage when the caller's cancel check returns True."""
