"""IMRAnalysis library: impaired microvascular reperfusion from perfusion MRI.

The numeric layer (this package, except modules named ``mrml_*``) needs only numpy,
scipy and SimpleITK, so it runs in 3D Slicer, on the command line and in tests alike.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("imr-analysis")
except PackageNotFoundError:  # running from a source tree (inside 3D Slicer)
    __version__ = "0.1.0"
