"""The ``imr-analysis`` command line: the only place options are parsed.

One module per subcommand (``run``, ``demo``, ``perfusion``, ``cohort``, ``app``), each
turning its options into calls of the library; ``main`` assembles them.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
