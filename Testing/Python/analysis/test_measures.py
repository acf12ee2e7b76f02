"""Volumes exactly as voxel counts times voxel volume, whatever the grid (Segment Statistics' way)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.measures import volume_ml


@pytest.mark.parametrize(("spacing", "direction"), [
    ((1.0, 1.0, 1.0), np.eye(3)),
    ((1.5, 2.0, 4.0), np.eye(3)),
    ((1.875, 1.875, 6.5), np.diag([-1.0, -1.0, 1.0])),
    ((0.9, 1.1, 3.0), np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])),
])
def test_a_box_of_voxels_has_count_times_voxel_volume(spacing: tuple[float, float, float],
                                                      direction: np.ndarray) -> None:
    array = np.zeros((12, 20, 30), np.uint8)
    array[2:5, 3:8, 4:14] = 1  # 3 x 5 x 10 = 150 voxels
    array[10, 15, 25] = 7  # any non-zero value counts
    mask = sitk.GetImageFromArray(array)
    mask.SetSpacing(spacing)
    mask.SetDirection(direction.ravel().tolist())
    mask.SetOrigin((-40.0, 12.5, 3.0))
    assert volume_ml(mask) == round(151 * float(np.prod(spacing)) / 1000.0, 4)


def test_an_empty_mask_has_no_volume() -> None:
    assert volume_ml(sitk.Image(8, 8, 8, sitk.sitkUInt8)) == 0.0
