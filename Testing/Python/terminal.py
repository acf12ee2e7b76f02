"""Commands started the way a terminal starts them, whatever started the test run."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` of a child that Ctrl-C must reach: SIGINT at its default action.

    A test run launched in the background by a non-interactive shell (``cmd &``) inherits
    SIGINT ignored, and Python started that way never raises KeyboardInterrupt, so a
    signalled command would run on to the end: what is tested is the terminal's case.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
