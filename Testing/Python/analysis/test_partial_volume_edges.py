"""Exact assertions on a synthetic region with partial-volume edges: an edge voxel counts
when more than half of it is in the region, whatever the region's depth."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.analysis.segments import half_depth_edges, segment_imr
from IMRAnalysisLib.cli.run import add_parameter_options, parameters_from
from IMRAnalysisLib.parameters import AnalysisParameters

THRESHOLD = 0.15
SHAPE = (12, 20, 20)
SPACING = (2.0, 2.0, 3.0)  # x, y, z mm
BOX = (slice(4, 8), slice(6, 12), slice(6, 12))  # 4 x 6 x 6 voxels wholly in the region
MORE_THAN_HALF = (slice(4, 8), slice(6, 12), 12)  # a face layer 60 % in the region
LESS_THAN_HALF = (slice(4, 8), slice(6, 12), 5)  # the opposite face layer, 40 % in it


def _region(depth: float, more: float = 0.6, less: float = 0.4) -> np.ndarray:
    """How far below its mirror each voxel is: the region's depth times the part of it inside."""
    beyond = np.zeros(SHAPE)
    beyond[BOX] = depth
    beyond[MORE_THAN_HALF] = more * depth
    beyond[LESS_THAN_HALF] = less * depth
    return beyond


def _expected(*parts: tuple) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    for part in parts:
        mask[part] = True
    return mask


def _counted(beyond: np.ndarray, mask: np.ndarray | None = None, within: np.ndarray | None = None) -> np.ndarray:
    mask = beyond > THRESHOLD if mask is None else mask
    within = np.ones(SHAPE, dtype=bool) if within is None else within
    return half_depth_edges(mask, beyond, THRESHOLD, within, SPACING)


def test_an_edge_voxel_less_than_half_in_a_deep_region_is_not_counted() -> None:
    beyond = _region(0.5)  # the 40 % layer is 20 % below its mirror: beyond the threshold
    assert np.array_equal(beyond > THRESHOLD, _expected(BOX, MORE_THAN_HALF, LESS_THAN_HALF))
    assert np.array_equal(_counted(beyond), _expected(BOX, MORE_THAN_HALF))


def test_an_edge_voxel_more_than_half_in_a_shallow_region_is_counted() -> None:
    beyond = _region(0.2)  # the 60 % layer is 12 % below its mirror: within the threshold
    assert np.array_equal(beyond > THRESHOLD, _expected(BOX))
    assert np.array_equal(_counted(beyond), _expected(BOX, MORE_THAN_HALF))


def test_a_region_twice_the_threshold_deep_is_counted_by_the_threshold_alone() -> None:
    beyond = _region(0.3, more=0.55, less=0.45)
    assert np.array_equal(_counted(beyond), beyond > THRESHOLD)
    assert np.array_equal(_counted(beyond), _expected(BOX, MORE_THAN_HALF))


def test_edges_are_counted_from_the_depth_of_their_own_region() -> None:
    beyond = _region(0.5)
    beyond[4:8, 14:18, 6:12] = 0.2  # a shallow region beside it, with a 60 % layer at 12 %
    beyond[4:8, 14:18, 12] = 0.12
    assert np.array_equal(_counted(beyond), _expected(BOX, MORE_THAN_HALF, (slice(4, 8), slice(14, 18), slice(6, 13))))


def test_an_edge_wholly_in_a_shallow_region_beside_a_deeper_core_is_counted() -> None:
    beyond = np.zeros(SHAPE)
    beyond[BOX] = 0.3
    beyond[4:8, 6:12, 9:12] = 0.7  # half the region: haemorrhage left in the lesion, say
    assert np.array_equal(_counted(beyond), beyond > THRESHOLD)


def test_a_region_without_an_interior_to_read_its_depth_is_kept_as_it_is() -> None:
    beyond = np.zeros(SHAPE)
    beyond[4:8, 6:12, 6] = 0.5  # one voxel thick
    beyond[4:8, 6:12, 7] = 0.2  # 40 % of a voxel
    assert np.array_equal(_counted(beyond), beyond > THRESHOLD)


def test_a_region_whose_interior_is_within_the_threshold_is_kept_as_it_is() -> None:
    beyond = _region(0.1)  # found on a smoother map, say; its own interior is 10 % below
    mask = _expected(BOX)
    assert np.array_equal(_counted(beyond, mask), mask)


def test_edge_voxels_are_added_only_within_the_region_allowed() -> None:
    within = np.ones(SHAPE, dtype=bool)
    within[MORE_THAN_HALF] = False  # outside the lesion, say
    assert np.array_equal(_counted(_region(0.2), within=within), _expected(BOX))


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(np.float32))
    image.SetSpacing(SPACING)
    return image


@pytest.mark.parametrize(("preset", "counted"), [("robust", 4 * 6 * 7), ("published", 4 * 6 * 8)])
def test_the_published_definition_counts_every_voxel_beyond_the_threshold(preset: str, counted: int) -> None:
    ratio = -_region(0.5)
    lesion = _image(np.ones(SHAPE))
    segments = segment_imr(_image(ratio), lesion, None, AnalysisParameters.preset(preset))
    assert np.count_nonzero(sitk.GetArrayViewFromImage(segments.imr)) == counted


def test_the_command_line_can_turn_the_edge_rule_off() -> None:
    parser = argparse.ArgumentParser()
    add_parameter_options(parser)
    assert parameters_from(parser.parse_args([])).partial_volume_edges
    assert not parameters_from(parser.parse_args(["--no-partial-volume-edges"])).partial_volume_edges
    assert not parameters_from(parser.parse_args(["--preset", "published"])).partial_volume_edges
