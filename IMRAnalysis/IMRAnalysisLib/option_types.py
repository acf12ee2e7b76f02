"""Command-line value types that refuse nonsense while the options are parsed, before any work.

argparse reports a refusal as ``argument --floor: 'nan' is not a finite number``, so the
user learns which option is wrong; the library checks the same values again for the
front ends that do not go through the command line.
"""

from __future__ import annotations

import argparse
import math

from .parameters import MAX_SEED


def finite_float(text: str) -> float:
    """A float that is neither NaN nor infinite: no option of this program means those."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from error
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seed(text: str) -> int:
    """A registration seed ITK can take."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from error
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is out of range (0 to {MAX_SEED})")
    return value
