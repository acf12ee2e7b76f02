"""``imr-analysis app`` in a child process on a free loopback port, for the browser tests and the benchmark.

Both need the same thing: a real server as a user starts it, reachable when it
listens, and always stopped afterwards, its memory measurable from outside.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

HOST = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"  # Debian's; never a downloaded browser
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LISTEN_TIMEOUT_S = 60.0
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


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) == 0


@contextmanager
def running_app(arguments: list[str], log: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start the app with ``arguments`` (``--demo`` ...); yields its URL and process once it listens."""
    port = free_port()
    command = [sys.executable, "-m", "IMRAnalysisLib.cli", "app", *arguments, "--host", HOST, "--port", str(port)]
    output = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"imr-analysis app did not start (exit status {process.poll()}); see {log}")
            time.sleep(0.1)
        yield f"http://{HOST}:{port}/", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            output.close()


def memory_mib(process: subprocess.Popen, field: str = "VmRSS") -> float:
    """A child process's memory from /proc (Linux), in MiB: ``VmRSS`` now, ``VmHWM`` at its peak."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} for process {process.pid}")
