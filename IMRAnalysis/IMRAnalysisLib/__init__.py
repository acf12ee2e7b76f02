"""IMRAnalysis library: impaired microvascular reperfusion from perfusion MRI.

Parts, each depending only on those before it: shared types (errors, parameters,
conventions, background, progress_lines), ``analysis``, ``io``, ``perfusion``,
``patient_run``, ``phantom``, ``cohort``, ``mrml``, ``webapp``, ``cli``. Everything
before ``mrml`` runs without Slicer, so the same code serves 3D Slicer, the command line
and the tests.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("imr-analysis")
except PackageNotFoundError:  # running from a source tree (inside 3D Slicer)
    __version__ = "0.1.0"
