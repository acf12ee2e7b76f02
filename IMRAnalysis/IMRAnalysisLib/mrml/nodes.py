"""Conversions between 3D Slicer's MRML nodes and the SimpleITK images of the library.

Slicer works in RAS, ITK (and this library) in LPS: a point, an origin or a direction
vector changes by negating x and y (``conventions.LPS_TO_RAS``). A volume node keeps its origin,
spacing and IJK-to-RAS direction cosines separately, so they are copied one by one and
a round trip reproduces the image's geometry bit for bit. VTK and SimpleITK lay voxels
out alike (i fastest), so arrays are indexed (k, j, i) on both sides.

Nodes are read in their own coordinates: a parent transform of a volume or a
segmentation is ignored, so registration transforms may be applied to the inputs for
display without changing what the analysis sees. The plane node is the exception: it is
read in world coordinates, where the user sees and moves it.

Only what the ``slicer-core`` wheel provides is used, and the scene is always passed
in, so the same code runs inside the Slicer application and outside it.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from ..analysis.plane import Plane
from ..conventions import LPS_TO_RAS
from ..errors import InputError

_BINARY_LABELMAP = "Binary labelmap"


# --- geometry ---------------------------------------------------------------------------


def _directions_ras(image: sitk.Image) -> vtk.vtkMatrix4x4:
    """IJK-to-RAS direction cosines (columns are the voxel axes) of an LPS image."""
    directions = LPS_TO_RAS[:, None] * np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    matrix = vtk.vtkMatrix4x4()
    for row in range(3):
        for column in range(3):
            matrix.SetElement(row, column, directions[row, column])
    return matrix


def _matrix3(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(row, column) for column in range(3)] for row in range(3)])


def _vtk_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    matrix.DeepCopy(np.asarray(array, dtype=float).ravel().tolist())
    return matrix


def _lps_image(
    voxels: np.ndarray,
    origin_ras: tuple[float, ...],
    spacing: tuple[float, ...],
    directions_ras: vtk.vtkMatrix4x4,
    first_index: tuple[int, int, int] = (0, 0, 0),
) -> sitk.Image:
    """A SimpleITK image from (k, j, i) voxels and a RAS geometry whose extent starts at ``first_index``."""
    directions = _matrix3(directions_ras)
    origin = np.asarray(origin_ras, dtype=float)
    if any(first_index):
        origin = origin + directions @ (np.asarray(spacing, dtype=float) * np.asarray(first_index, dtype=float))
    image = sitk.GetImageFromArray(voxels)
    image.SetOrigin((origin * LPS_TO_RAS).tolist())
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection((LPS_TO_RAS[:, None] * directions).ravel().tolist())
    return image


def _voxels(image_data: vtk.vtkImageData, what: str) -> np.ndarray:
    """(k, j, i) view of the scalars of a VTK image."""
    scalars = image_data.GetPointData().GetScalars() if image_data is not None else None
    if scalars is None:
        raise InputError(f"{what} holds no voxels")
    if scalars.GetNumberOfComponents() != 1:
        raise InputError(f"{what} has {scalars.GetNumberOfComponents()} values per voxel; a scalar image is expected")
    i, j, k = image_data.GetDimensions()
    return numpy_support.vtk_to_numpy(scalars).reshape(k, j, i)


def _vtk_scalars(image: sitk.Image) -> vtk.vtkDataArray:
    return numpy_support.numpy_to_vtk(sitk.GetArrayViewFromImage(image).ravel(), deep=True)


def _oriented_geometry(reference: sitk.Image) -> slicer.vtkOrientedImageData:
    """An oriented image (no voxels) with ``reference``'s grid: the target of a segment export."""
    geometry = slicer.vtkOrientedImageData()
    geometry.SetExtent(0, reference.GetSize()[0] - 1, 0, reference.GetSize()[1] - 1, 0, reference.GetSize()[2] - 1)
    geometry.SetOrigin((np.asarray(reference.GetOrigin()) * LPS_TO_RAS).tolist())
    geometry.SetSpacing(reference.GetSpacing())
    geometry.SetDirectionMatrix(_directions_ras(reference))
    return geometry


def _image_from_oriented(oriented: slicer.vtkOrientedImageData, what: str) -> sitk.Image:
    directions = vtk.vtkMatrix4x4()
    oriented.GetDirectionMatrix(directions)
    extent = oriented.GetExtent()
    voxels = _voxels(oriented, what)
    return _lps_image(voxels, oriented.GetOrigin(), oriented.GetSpacing(), directions, extent[0::2])


# --- volumes ----------------------------------------------------------------------------


def image_from_volume_node(node: slicer.vtkMRMLVolumeNode) -> sitk.Image:
    """The node's voxels with its exact geometry, in LPS."""
    directions = vtk.vtkMatrix4x4()
    node.GetIJKToRASDirectionMatrix(directions)
    image_data = node.GetImageData()
    voxels = _voxels(image_data, f"volume '{node.GetName()}'")
    return _lps_image(voxels, node.GetOrigin(), node.GetSpacing(), directions, image_data.GetExtent()[0::2])


def volume_node_from_image(
    scene: slicer.vtkMRMLScene,
    image: sitk.Image,
    name: str,
    node: slicer.vtkMRMLVolumeNode | None = None,
    node_class: str = "vtkMRMLScalarVolumeNode",
) -> slicer.vtkMRMLVolumeNode:
    """Fill ``node`` (or a new node of ``node_class`` added to ``scene``) with ``image``."""
    if node is None:
        node = scene.AddNewNodeByClass(node_class, name)
        node.CreateDefaultDisplayNodes()
    image_data = vtk.vtkImageData()
    image_data.SetDimensions(image.GetSize())
    image_data.GetPointData().SetScalars(_vtk_scalars(image))
    node.SetOrigin((np.asarray(image.GetOrigin()) * LPS_TO_RAS).tolist())
    node.SetSpacing(image.GetSpacing())
    node.SetIJKToRASDirectionMatrix(_directions_ras(image))
    node.SetAndObserveImageData(image_data)
    return node


def mask_from_labelmap_node(node: slicer.vtkMRMLVolumeNode, label: int = 1) -> sitk.Image:
    """uint8 0/1 mask of the voxels equal to ``label``, on the node's own grid."""
    image = image_from_volume_node(node)
    mask = sitk.GetImageFromArray((sitk.GetArrayViewFromImage(image) == label).astype(np.uint8))
    mask.CopyInformation(image)
    return mask


# --- segments ---------------------------------------------------------------------------


def ensure_segmentation_converters() -> None:
    """Register the segmentation converter rules unless already there.

    The Slicer application registers them at start-up (Segmentations module); on
    slicer-core alone no segment can be created until they are.
    """
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if factory.GetConverterRules():
        return
    for rule in (
        slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule,
        slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule,
        slicer.vtkClosedSurfaceToFractionalLabelmapConversionRule,
        slicer.vtkFractionalLabelmapToClosedSurfaceConversionRule,
    ):
        factory.RegisterConverterRule(rule())


def _segment(segmentation: slicer.vtkMRMLSegmentationNode, segment_id: str) -> slicer.vtkSegment:
    segment = segmentation.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        raise InputError(f"segmentation '{segmentation.GetName()}' has no segment '{segment_id}'")
    return segment


def _own_geometry(segmentation: slicer.vtkMRMLSegmentationNode, segment_id: str) -> slicer.vtkOrientedImageData:
    """The segmentation's reference grid, or else the segment's own voxels with a zero border.

    The border keeps a later linear resampling of the mask from seeing a cropped edge.
    """
    geometry = slicer.vtkOrientedImageData()
    serialized = segmentation.GetSegmentation().GetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
    )
    if serialized and slicer.vtkSegmentationConverter.DeserializeImageGeometry(serialized, geometry, False):
        return geometry
    segmentation.GetBinaryLabelmapRepresentation(segment_id, geometry)
    extent = geometry.GetExtent()
    if extent[0] > extent[1] or extent[2] > extent[3] or extent[4] > extent[5]:
        raise InputError(
            f"segment '{_segment(segmentation, segment_id).GetName()}' of '{segmentation.GetName()}' is empty "
            "and its segmentation has no reference geometry"
        )
    geometry.SetExtent([bound + (-1 if index % 2 == 0 else 1) for index, bound in enumerate(extent)])
    return geometry


def mask_from_segment(
    segmentation: slicer.vtkMRMLSegmentationNode, segment_id: str, reference: sitk.Image | None = None
) -> sitk.Image:
    """uint8 0/1 mask of one segment on ``reference``'s grid, or on the segmentation's own grid.

    Slicer's own merge into a given geometry does the work: voxel-exact when the grids
    share a lattice, nearest-neighbour otherwise.
    """
    _segment(segmentation, segment_id)
    if not segmentation.GetSegmentation().CreateRepresentation(_BINARY_LABELMAP):
        raise InputError(f"segmentation '{segmentation.GetName()}' cannot be converted to a binary labelmap")
    geometry = _oriented_geometry(reference) if reference is not None else _own_geometry(segmentation, segment_id)
    merged = slicer.vtkOrientedImageData()
    segment_ids = vtk.vtkStringArray()
    segment_ids.InsertNextValue(segment_id)
    extent_mode = slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
    if not segmentation.GenerateMergedLabelmapForAllSegments(merged, extent_mode, geometry, segment_ids):
        raise InputError(f"segment '{segment_id}' of '{segmentation.GetName()}' cannot be exported")
    labels = _image_from_oriented(merged, f"segment '{segment_id}'")
    return sitk.Cast(labels != 0, sitk.sitkUInt8)


def named_segment(segmentation: slicer.vtkMRMLSegmentationNode, name: str) -> str:
    """The ID of the segment called ``name``, added empty when there is none.

    Slicer 5.10 signals a segmentation created from a node selector twice; asking twice
    still gives one segment, so the user never paints into a second, unread one.
    """
    segments = segmentation.GetSegmentation()
    return segments.GetSegmentIdBySegmentName(name) or segments.AddEmptySegment(name, name)


def set_segment_from_mask(
    segmentation: slicer.vtkMRMLSegmentationNode,
    segment_id: str,
    mask: sitk.Image,
    name: str | None = None,
    color: tuple[float, float, float] = (0.5, 0.5, 0.5),
) -> None:
    """Replace the voxels of a segment by ``mask`` (any grid); its ID, name and colour stay.

    A missing segment is created with ``name`` (default: the ID) and ``color``. Slicer
    moves the segment to a layer of its own when it would overlap another segment of
    its shared labelmap, so no other segment loses voxels.
    """
    ensure_segmentation_converters()
    if segmentation.GetSegmentation().GetSegment(segment_id) is None:
        segmentation.GetSegmentation().AddEmptySegment(segment_id, name or segment_id, list(color))
    labelmap = _oriented_geometry(mask)
    labelmap.GetPointData().SetScalars(_vtk_scalars(sitk.Cast(mask != 0, sitk.sitkUInt8)))
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if not logic.SetBinaryLabelmapToSegment(labelmap, segmentation, segment_id, logic.MODE_REPLACE):
        raise InputError(f"segment '{segment_id}' of '{segmentation.GetName()}' cannot be set")


# --- transforms -------------------------------------------------------------------------


def _lps_matrix(transform: sitk.Transform) -> np.ndarray:
    """Homogeneous 4x4 of a linear ITK transform x -> M (x - c) + c + t (LPS)."""
    transform = transform.Downcast() if type(transform) is sitk.Transform else transform
    try:
        linear = np.asarray(transform.GetMatrix(), dtype=float).reshape(3, 3)
        centre = np.asarray(transform.GetCenter(), dtype=float)
        translation = np.asarray(transform.GetTranslation(), dtype=float)
    except AttributeError as error:
        raise TypeError(f"only linear transforms have a linear transform node, got {transform.GetName()}") from error
    matrix = np.eye(4)
    matrix[:3, :3] = linear
    matrix[:3, 3] = translation + centre - linear @ centre
    return matrix


def _flip_lps_ras(matrix: np.ndarray) -> np.ndarray:
    """The same map with points expressed in the other convention (LPS <-> RAS)."""
    flip = np.diag([*LPS_TO_RAS, 1.0])
    return flip @ matrix @ flip


def transform_node_from_sitk(
    scene: slicer.vtkMRMLScene,
    transform: sitk.Transform,
    name: str,
    node: slicer.vtkMRMLLinearTransformNode | None = None,
) -> slicer.vtkMRMLLinearTransformNode:
    """A linear transform node equivalent to an ITK resampling transform.

    ITK's transform maps points of the fixed image (post-EVT) to the moving image's
    (day 5); Slicer stores that direction as the node's "from parent" transform, in RAS,
    exactly as when it reads an ITK ``.tfm`` file. Placed as the parent of the moving
    volume, the node shows that volume aligned on the fixed one.
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    node.SetMatrixTransformFromParent(_vtk_matrix(_flip_lps_ras(_lps_matrix(transform))))
    return node


# --- plane ------------------------------------------------------------------------------


def plane_node_from_plane(
    scene: slicer.vtkMRMLScene,
    plane: Plane,
    name: str,
    node: slicer.vtkMRMLMarkupsPlaneNode | None = None,
) -> slicer.vtkMRMLMarkupsPlaneNode:
    """A point-and-normal plane markup through ``plane`` (given in LPS, stored in RAS)."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLMarkupsPlaneNode", name)
        node.CreateDefaultDisplayNodes()
    point_ras, normal_ras = plane.to_ras()
    node.SetOriginWorld(point_ras)
    node.SetNormalWorld(normal_ras)
    return node


def plane_from_plane_node(node: slicer.vtkMRMLMarkupsPlaneNode) -> Plane:
    """The plane where the user sees it (world RAS), in LPS with the normal towards the left."""
    if node.GetNumberOfControlPoints() == 0:
        raise InputError(f"plane '{node.GetName()}' has not been placed")
    origin, normal = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    node.GetOriginWorld(origin)
    node.GetNormalWorld(normal)
    return Plane.given(np.asarray(origin) * LPS_TO_RAS, np.asarray(normal) * LPS_TO_RAS)
