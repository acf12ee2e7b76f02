"""``imr-analysis app`` in a child process on a free loopback port, for the browser tests and the benchmark.

Both need the same thing: a real server as a user starts it, reachable at the address
it prints (access token included) once it listens, and always stopped afterwards, its
memory measurable from outside.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

HOST = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"  # Debian's; never a downloaded browser
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LISTEN_TIMEOUT_S = 60.0
ADDRESS_LINE = re.compile(r"^IMR workstation: (http://\S+)$", re.MULTILINE)
# The page is ready when the analysis is shown and all four views hold a frame. The state alone
# is not enough: it reaches the browser before the page is built and the views have their size.
PAGE_READY_JS = (
    "() => window.trame?.state?.get('imr_ready') && [...document.querySelectorAll('.image-display-area')]"
    ".filter(img => img.complete && img.naturalWidth > 0).length >= 4"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _printed_address(log: Path) -> str | None:
    found = ADDRESS_LINE.search(log.read_text(errors="replace"))
    return found.group(1) if found else None


@contextmanager
def running_app(arguments: list[str], log: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start the app with ``arguments`` (``--demo`` ...); yields the address it prints, and its process."""
    port = free_port()
    command = [sys.executable, "-m", "IMRAnalysisLib.cli", "app", *arguments, "--host", HOST, "--port", str(port)]
    with ExitStack() as stack:
        log = log or Path(stack.enter_context(tempfile.TemporaryDirectory())) / "server.log"
        output = stack.enter_context(open(log, "w"))
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + LISTEN_TIMEOUT_S
            while (url := _printed_address(log)) is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"imr-analysis app did not start (exit status {process.poll()}): "
                                       f"{log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def memory_mib(process: subprocess.Popen, field: str = "VmRSS") -> float:
    """A child process's memory from /proc (Linux), in MiB: ``VmRSS`` now, ``VmHWM`` at its peak."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} for process {process.pid}")
