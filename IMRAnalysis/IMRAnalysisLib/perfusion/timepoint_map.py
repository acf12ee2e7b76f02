"""A timepoint's perfusion map computed from its DSC series, as ``imr-analysis perfusion`` computes it.

Light to import: the DSC modules (pydicom, scipy.integrate) load only when a series is given.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

DSC_MAPS = {"rcbv": "rcbv", "rcbf": "cbf", "tmax": "tmax"}  # the analysed map -> perfusion map name


def map_from_dsc(path: str, te: float | None, tr: float | None, name: str, series: str | None = None) -> sitk.Image:
    """One map of a DSC series made as ``perfusion`` makes it (automatic AIF and reference).

    rCBF is the absolute CBF map: its mirror ratio is the same whatever the scale.
    Negative values, deconvolution noise where there is no perfusion (CSF), become 0.
    """
    from .maps import perfusion_maps
    from .series import read_dsc

    image = perfusion_maps(read_dsc(path, te, tr, series)).image(DSC_MAPS[name])
    return sitk.Threshold(image, lower=0.0, upper=float(np.finfo(np.float32).max), outsideValue=0.0)
