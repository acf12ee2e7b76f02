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
UPLOAD_MESSAGE_STATE = "imr_upload_message"  # why the last file was refused, or empty
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


def write_patient_folder(state: Any, folder: Path) -> dict[str, str]:
    """The uploaded files, renamed after their role with their own extension, into a new ``folder``.

    Returns each written file's name -> the upload's own name, how results name the inputs.
    """
    uploads = {role: _single(state[upload_state(role)]) for role in UPLOAD_ROLES}
    for role in dict.fromkeys((*MAP_ROLES, *REQUIRED_ROLES)):  # each timepoint and mask once
        given = [upload for upload in alternatives(role) if uploads[upload] is not None]
        if len(given) > 1:
            raise InputError(f"both a {UPLOAD_ROLES[given[0]]} and a {UPLOAD_ROLES[given[1]]} were uploaded: "
                             "remove one")
        if not given and role in REQUIRED_ROLES:
            raise InputError(f"no {' or '.join(UPLOAD_ROLES[upload] for upload in alternatives(role))} uploaded")
    folder.mkdir(parents=True)
    names = {}
    for role, upload in uploads.items():
        if upload is None:
            continue
        name = Path(upload["name"]).name
        _, dot, extension = name.partition(".")
        if not dot:
            raise InputError(f"uploaded file {name!r} has no extension: its format is unknown")
        written = f"{role}.{extension.lower()}"
        (folder / written).write_bytes(bytes(upload["content"]))
        names[written] = name
    return names


def upload_limit_text(limit_bytes: int) -> str:
    return f"the uploads may total at most {limit_bytes / 1e6:g} MB (imr-analysis app --max-upload-mb)"


def uploads_over_limit(received: dict[str, list], previous: dict[str, list], limit_bytes: int) -> list[str]:
    """The uploads just received (``received_uploads`` now and before) when they take the total above the limit."""
    if sum(size for _, size in received.values()) <= limit_bytes:
        return []
    return [role for role, held in received.items() if previous.get(role) != held]


def accept_upload_js(role: str, limit_bytes: int) -> str:
    """A file input's handler on the page: a file that would take the uploads above the limit is never sent.

    The server holds the other uploads (``RECEIVED_STATE``); the refused file's name and
    the limit are shown in ``UPLOAD_MESSAGE_STATE`` until a file is accepted. A function
    expression: Vue calls it with the input's new value.
    """
    state = upload_state(role)
    return (
        "(files) => {"
        " const size = [].concat(files || []).reduce((sum, file) => sum + file.size, 0);"
        f" const others = Object.entries({RECEIVED_STATE} || {{}}).filter(([held]) => held !== '{role}')"
        ".reduce((sum, [, file]) => sum + file[1], 0);"
        f" if (size + others <= {limit_bytes}) {{ {state} = files; if (size) {UPLOAD_MESSAGE_STATE} = ''; }}"
        f" else {{ {UPLOAD_MESSAGE_STATE} = [].concat(files)[0].name + ': ' + '{upload_limit_text(limit_bytes)}';"
        f" {state} = null; }} }}"
    )


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
