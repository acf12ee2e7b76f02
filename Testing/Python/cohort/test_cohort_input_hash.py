"""The fingerprint's content hashes: what a DICOM folder contributes, and inputs refused before reading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from IMRAnalysisLib.cohort.input_hash import MAX_SERIES_BYTES, content_hash
from IMRAnalysisLib.errors import InputError


def test_a_folder_hash_covers_exactly_the_files_directly_in_it(tmp_path: Path) -> None:
    """What the DICOM readers read: the folder's own files, not its subfolders, not a FIFO among them."""
    series = tmp_path / "series"
    (series / "scouts").mkdir(parents=True)
    (series / "1.dcm").write_bytes(b"slice one")
    (series / "scouts" / "s.dcm").write_bytes(b"scout")
    os.mkfifo(series / "pipe.dcm")
    before = content_hash(series)
    (series / "scouts" / "s.dcm").write_bytes(b"another scout")
    assert content_hash(series) == before
    (series / "1.dcm").write_bytes(b"slice 1")
    assert content_hash(series) != before
    assert content_hash(tmp_path / "missing.nii.gz") is None


def test_a_folder_too_large_for_a_series_is_refused_before_reading(tmp_path: Path) -> None:
    folder = tmp_path / "everything"
    folder.mkdir()
    (folder / "1.dcm").write_bytes(b"slice")
    with open(folder / "disk.img", "wb") as sparse:  # takes no space, would take minutes to read
        sparse.truncate(MAX_SERIES_BYTES)
    with pytest.raises(InputError, match=r"holds 2 files, 20.0 GB: too much for one DICOM series") as refused:
        content_hash(folder)
    assert refused.value.path == folder


def test_a_device_is_refused() -> None:
    with pytest.raises(InputError, match=r"^/dev/zero: not a regular file or folder \(a FIFO, device or socket\)"):
        content_hash(Path("/dev/zero"))
