"""How every output and front end shows the segments, so a lesion is one colour everywhere.

The segmentation file, the DICOM SEG, the Slicer and web scenes and the overview picture
all take their colours from here.
"""

from __future__ import annotations

SEGMENT_COLORS: dict[str, tuple[float, float, float]] = {
    "Lesion": (0.95, 0.85, 0.25),
    "IMR": (0.90, 0.10, 0.10),
    "Hyperperfusion": (0.15, 0.45, 0.95),
    "Exclusion": (0.55, 0.25, 0.75),
}
