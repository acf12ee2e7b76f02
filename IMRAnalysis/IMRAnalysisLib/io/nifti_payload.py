"""The voxel values of a NIfTI file exactly as they are stored.

SimpleITK's NIfTI reader returns NaN and infinite voxels as 0 and zero-fills a file cut
short, so a map with holes would be measured as if the holes were tissue without
perfusion. Reading the header and the data ourselves lets the readers refuse both.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

# NIfTI datatype code -> numpy type (without byte order); other codes are checked for length only.
_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}
# Header size -> (format of datatype, bitpix, dim[8], vox_offset; their byte offsets)
_LAYOUTS = {
    348: ("h", "h", "8h", "f", (70, 72, 40, 108)),  # NIfTI-1
    540: ("h", "h", "8q", "q", (12, 14, 16, 168)),  # NIfTI-2
}


def stored_values(path: Path) -> np.ndarray | None:
    """The file's voxels as one flat array of their stored type, or None when data is missing.

    None means the file (or its gzip stream) ends before the data its header announces.
    A datatype without a numpy equivalent (RGB, complex...) comes back as raw bytes.
    """
    data = _file_bytes(path)
    if data is None:
        return None
    header = _header(data)
    if header is None:
        return None
    datatype, bitpix, count, offset, order = header
    size = count * bitpix // 8
    if offset < 0 or len(data) < offset + size:
        return None
    kind = _TYPES.get(datatype)
    if kind is None:
        return np.frombuffer(data, np.uint8, size, offset)
    return np.frombuffer(data, np.dtype(order + kind), count, offset)


def _file_bytes(path: Path) -> bytes | None:
    """The (decompressed) content, or None when the gzip stream is cut or corrupt."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error):
        return None


def _header(data: bytes) -> tuple[int, int, int, int, str] | None:
    """(datatype, bitpix, voxel count, data offset, byte order) or None for a header too short to hold them."""
    for order in ("<", ">"):
        if len(data) < 4:
            return None
        layout = _LAYOUTS.get(struct.unpack(order + "i", data[:4])[0])
        if layout is None:
            continue
        datatype_format, bitpix_format, dim_format, offset_format, places = layout
        if len(data) < max(places) + 64:
            return None
        datatype, bitpix, dims, offset = (
            struct.unpack_from(order + form, data, place)
            for form, place in zip((datatype_format, bitpix_format, dim_format, offset_format), places))
        rank = max(1, min(int(dims[0]), 7))
        count = int(np.prod([max(1, int(n)) for n in dims[1:rank + 1]]))
        return int(datatype[0]), int(bitpix[0]), count, int(offset[0]), order
    return None
