"""Files uploaded from the page, written as a patient folder (``post.nii.gz``, ``post_dsc.nrrd``, ``lesion.nrrd`` ...).

A timepoint is uploaded either as its map or as its DSC series (``post_dsc``), never
both. The folder is then read by ``IMRMrmlLogic.load_patient_folder``, the same readers
and checks as the command line, so an upload is refused with the command line's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..patient_folder import DSC_SUFFIX, MAP_ROLES, REQUIRED_ROLES
from .parameter_fields import page_number

UPLOAD_ROLES = {  # upload -> what it is, in messages and labels; a ``_dsc`` upload is a 4D series
    "post": "post-EVT map",
    "post_dsc": "post-EVT DSC series",
    "day5": "day-5 perfusion map",
    "day5_dsc": "day-5 DSC series",
    "lesion": "day-5 lesion mask",
    "arrival": "arrival map",
    "arrival_dsc": "arrival DSC series",
    "exclusion": "exclusion mask (haemorrhage)",
}
UPLOAD_HELP = ("Required: the post-EVT and day-5 timepoints, each as its map or its 4D DSC series, and the lesion "
               "mask.")
RECEIVED_STATE = "imr_uploads_received"  # what received_uploads gives
TIMING_STATES = {"te": "imr_dsc_te", "tr": "imr_dsc_tr"}  # seconds; empty: the series' header


def upload_state(role: str) -> str:
    return f"imr_upload_{role}"


def alternatives(role: str) -> tuple[str, ...]:
    """The uploads that give a role: a timepoint's map or its DSC series; a mask only itself."""
    return (role, f"{role}{DSC_SUFFIX}") if role in MAP_ROLES else (role,)


def missing_required_js() -> str:
    """A page expression, true while the server holds none of a required role's uploads."""
    return " || ".join(
        "!(" + " || ".join(f"{RECEIVED_STATE}.{upload}" for upload in alternatives(role)) + ")"
        for role in REQUIRED_ROLES
    )


def received_uploads(state: Any) -> dict[str, list]:
    """Upload -> [file name, size in bytes] of the files the server holds.

    A large file reaches the server well after the page shows it: the page offers to open
    a patient only once its files are here.
    """
    uploads = {role: _single(state[upload_state(role)]) for role in UPLOAD_ROLES}
    return {role: [Path(upload["name"]).name, len(upload["content"])] for role, upload in uploads.items() if upload}


def write_patient_folder(state: Any, folder: Path) -> Path:
    """The uploaded files, renamed after their role with their own extension, into a new ``folder``."""
    uploads = {role: _single(state[upload_state(role)]) for role in UPLOAD_ROLES}
    for role in dict.fromkeys((*MAP_ROLES, *REQUIRED_ROLES)):  # each timepoint and mask once
        given = [upload for upload in alternatives(role) if uploads[upload] is not None]
        if len(given) > 1:
            raise InputError(f"both a {UPLOAD_ROLES[given[0]]} and a {UPLOAD_ROLES[given[1]]} were uploaded: "
                             "remove one")
        if not given and role in REQUIRED_ROLES:
            raise InputError(f"no {' or '.join(UPLOAD_ROLES[upload] for upload in alternatives(role))} uploaded")
    folder.mkdir(parents=True)
    for role, upload in uploads.items():
        if upload is None:
            continue
        name = Path(upload["name"]).name
        _, dot, extension = name.partition(".")
        if not dot:
            raise InputError(f"uploaded file {name!r} has no extension: its format is unknown")
        (folder / f"{role}.{extension.lower()}").write_bytes(bytes(upload["content"]))
    return folder


def dsc_timing(state: Any) -> dict[str, float | None]:
    """TE and TR typed on the page, in seconds; an empty field leaves the series' header value."""
    timing: dict[str, float | None] = {}
    for name, key in TIMING_STATES.items():
        text = str(state[key] or "").strip()
        timing[name] = page_number(text, f"{name.upper()} of the DSC series") if text else None
    return timing


def _single(value: Any) -> dict | None:
    """File inputs give a file, a list of files or nothing."""
    if isinstance(value, list):
        return value[0] if value else None
    return value or None
