"""Command-line value types that refuse nonsense while the options are parsed, before any work.

argparse reports a refusal as ``argument --floor: 'nan' is not a finite number``, so the
user learns which option is wrong; the library checks the same values again for the
front ends that do not go through the command line.
"""

from __future__ import annotations

import argparse
import math

from ..errors import InputError
from ..parameters import AUTO, MAX_SEED


def finite_float(text: str) -> float:
    """A float that is neither NaN nor infinite: no option of this program means those."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from error
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def smoothing(text: str) -> float | str:
    """``auto`` or a finite sigma in mm, for --smoothing-mm."""
    return AUTO if text == AUTO else finite_float(text)


def seed(text: str) -> int:
    """A registration seed ITK can take."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from error
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is out of range (0 to {MAX_SEED})")
    return value


def role_and_uid(text: str) -> tuple[str, str]:
    """``ROLE=UID`` of ``--series``: which DICOM series of a folder input to read."""
    role, separator, uid = text.partition("=")
    if not separator or not role or not uid:
        raise argparse.ArgumentTypeError(f"{text!r} is not ROLE=UID (e.g. post=1.2.840.113619.2.55.3)")
    return role, uid


def series_by_role(pairs: list[tuple[str, str]] | None, roles: tuple[str, ...]) -> dict[str, str]:
    """The ``--series`` choices as {role: UID}, each role known to the command and chosen once."""
    chosen: dict[str, str] = {}
    for role, uid in pairs or []:
        if role not in roles:
            raise InputError(f"--series {role}={uid}: unknown role {role!r}; one of {', '.join(roles)}")
        if role in chosen:
            raise InputError(f"--series {role}= is given twice")
        chosen[role] = uid
    return chosen
