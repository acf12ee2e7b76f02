"""``python -m IMRAnalysisLib.cli``: the same as the ``imr-analysis`` command."""

import sys

from .main import main

sys.exit(main())
