"""Files uploaded from the page, written as a patient folder (``post.nii.gz``, ``lesion.nrrd`` ...).

The folder is then read by ``IMRMrmlLogic.load_patient_folder``, the same readers and
checks as the command line, so an upload is refused with the command line's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError

UPLOAD_ROLES = {
    "post": "post-EVT rCBV map (required)",
    "day5": "day-5 perfusion map (required)",
    "lesion": "day-5 lesion mask (required)",
    "arrival": "arrival rCBV map",
    "exclusion": "exclusion mask (haemorrhage)",
}
REQUIRED_UPLOADS = ("post", "day5", "lesion")


def upload_state(role: str) -> str:
    return f"imr_upload_{role}"


def write_patient_folder(state: Any, folder: Path) -> Path:
    """The uploaded files, renamed after their role with their own extension, into a new ``folder``."""
    folder.mkdir(parents=True)
    for role in UPLOAD_ROLES:
        upload = _single(state[upload_state(role)])
        if upload is None:
            if role in REQUIRED_UPLOADS:
                raise InputError(f"no {UPLOAD_ROLES[role]} uploaded")
            continue
        name = Path(upload["name"]).name
        _, dot, extension = name.partition(".")
        if not dot:
            raise InputError(f"uploaded file {name!r} has no extension: its format is unknown")
        (folder / f"{role}.{extension.lower()}").write_bytes(bytes(upload["content"]))
    return folder


def _single(value: Any) -> dict | None:
    """File inputs give a file, a list of files or nothing."""
    if isinstance(value, list):
        return value[0] if value else None
    return value or None
