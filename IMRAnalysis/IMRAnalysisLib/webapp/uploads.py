"""Files uploaded from the page, written as a patient folder (``post.nii.gz``, ``post_dsc.nrrd``, ``lesion.nrrd`` ...).

A timepoint is uploaded either as its map or as its DSC series (``post_dsc``), never
both; either may be a DICOM series as one ZIP file, unpacked into a folder named after
the role (``post/``), as the patient folder reader expects (and the results then hold
``dicom/``, filed with that series). The folder is then read by
``IMRMrmlLogic.load_patient_folder``, the same readers and checks as the command line,
so an upload is refused with the command line's message.
"""

from __future__ import annotations

import io
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.patient_folder import DSC_SUFFIX, MAP_ROLES, REQUIRED_ROLES, dsc_timepoint
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
               "mask. A DICOM series is uploaded as one .zip of its files.")
RECEIVED_STATE = "imr_uploads_received"  # what received_uploads gives
UPLOAD_MESSAGE_STATE = "imr_upload_message"  # why the last file was refused, or empty
TIMING_STATES = {"te": "imr_dsc_te", "tr": "imr_dsc_tr"}  # seconds; empty: the series' header
ZIP_EXTENSION = "zip"
MAX_ZIP_FILES = 5000  # a DSC series of 60 dynamics on 80 slices has 4800 files
MAX_ZIP_BYTES = 4 * 1024**3  # unpacked: a ZIP that claims more is refused before anything is written


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
        if extension.lower() == ZIP_EXTENSION:
            written = role
            _unpack_dicom_series(bytes(upload["content"]), name, role, folder / written)
        else:
            written = f"{role}.{extension.lower()}"
            (folder / written).write_bytes(bytes(upload["content"]))
        names[written] = name
    return names


def _unpack_dicom_series(content: bytes, name: str, role: str, target: Path) -> None:
    """The files of a ZIP into one flat folder, each under a name of ours: no path in the ZIP
    (``../``, absolute, links) can reach outside ``target``, and sizes are checked as read."""
    if role not in MAP_ROLES and dsc_timepoint(role) is None:
        raise InputError(f"a ZIP upload is a DICOM series, which a {UPLOAD_ROLES[role]} cannot be", name)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = [member for member in archive.infolist() if not member.is_dir()]
    except (zipfile.BadZipFile, ValueError) as error:
        raise InputError(f"not a readable ZIP file ({error})", name) from error
    if not members:
        raise InputError("the ZIP file holds no file", name)
    if len(members) > MAX_ZIP_FILES:
        raise InputError(f"the ZIP file holds {len(members)} files; a series may have at most {MAX_ZIP_FILES}", name)
    if sum(member.file_size for member in members) > MAX_ZIP_BYTES:
        raise InputError(f"the ZIP file unpacks to more than {MAX_ZIP_BYTES / 1024**3:g} GiB", name)
    if any(member.flag_bits & 0x1 for member in members):
        raise InputError("the ZIP file is encrypted", name)
    target.mkdir()
    try:
        for number, member in enumerate(members):
            with archive.open(member) as source, open(target / f"{number:05d}.dcm", "xb") as destination:
                shutil.copyfileobj(source, destination)  # zipfile stops at the stated size and checks the CRC
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise InputError(f"the ZIP file cannot be unpacked ({error})", name) from error


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
