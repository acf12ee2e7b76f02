"""Progress as timed lines, the form a terminal and a cohort patient's log both take."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLines:
    """Progress lines with the time since the start, on stderr unless another stream is given."""

    def __init__(self, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:6.1f} s] {message}", file=self.stream or sys.stderr, flush=True)
