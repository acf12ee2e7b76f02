"""Phantom patients from either generator on either grid, for the registration and plane tests.

``mni``: ``phantom.py``'s MNI152 anatomy; ``analytic``: the analytic head, with little
texture inside. ``clinical`` is each generator's own clinical grid, ``isotropic`` 2 mm.
"""

from __future__ import annotations

import dataclasses

from IMRAnalysisLib.phantom.analytic import AnalyticPhantomConfig, make_analytic_phantom, on_grid
from IMRAnalysisLib.phantom.template import PhantomConfig, make_phantom

GENERATORS = ("mni", "analytic")
GRIDS = ("clinical", "isotropic")


def phantom_patient(generator: str, grid: str, **fields):
    """A patient of ``generator`` on ``grid``, with the config ``fields`` (poses, seed, volumes) given."""
    if generator == "mni":
        config = PhantomConfig(**fields)
        if grid == "isotropic":
            config = dataclasses.replace(config, size=(112, 112, 80), spacing=(2.0, 2.0, 2.0))
        return make_phantom(config)
    config = AnalyticPhantomConfig(**fields)
    if grid == "isotropic":
        config = dataclasses.replace(config, **on_grid((2.0, 2.0, 2.0)))
    return make_analytic_phantom(config)
