"""The IMR analysis on MRML nodes: what the Slicer module and the web front end call.

A run is the patient use case's (``patient_run``: the nodes' images make a
``PatientRequest``, checked by ``load_inputs`` and analysed by ``analyse`` as on the command
line); edits go to the pipeline's ``remeasure`` and exports to ``write_folder_contents``.
This layer only turns nodes into images and results into nodes. The output segmentation
is where the user corrects the lesion and the exclusion, and the plane node is where the
user moves the midline: ``recompute`` reads both back and redoes only what the edit
invalidates, never the registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import SimpleITK as sitk
import slicer
import vtk

from ..analysis.geometry import physical_bounds
from ..analysis.pipeline import AnalysisInputs, AnalysisResult, Progress, remeasure
from ..analysis.plane import Plane
from ..analysis.registration import Cancel
from ..analysis.segments import empty_like
from ..conventions import measure_registry
from ..errors import InputError, NoAnalysisYet
from ..io.dicom import writer_available
from ..io.dicom.reference import DicomReference, read_reference, reference_from_files
from ..io.images import check_map, read_map, read_mask
from ..io.patient_folder import (
    MAP_ROLES,
    MASK_ROLES,
    dsc_map_name,
    dsc_timepoint,
    is_segmentation,
    map_role,
    patient_files,
)
from ..io.result_folder import write_folder_contents
from ..io.result_views import segments_of, shown_asymmetry
from ..io.safe_output import staged_output_folder
from ..io.segmentation_file import read_segmentation
from ..parameters import MAP_LABELS, AnalysisParameters, AsymmetryScale, PatientFlags
from ..patient_run import MapSource, MaskSource, PatientRequest, analyse, load_inputs
from ..perfusion.timepoint_map import map_from_dsc
from .nodes import (
    ensure_segmentation_converters,
    image_from_volume_node,
    mask_from_labelmap_node,
    mask_from_segment,
    plane_from_plane_node,
    plane_node_from_plane,
    set_segment_from_mask,
    transform_node_from_sitk,
    volume_node_from_image,
)

LESION, IMR, HYPERPERFUSION, EXCLUSION = "Lesion", "IMR", "Hyperperfusion", "Exclusion"
SEGMENTATION_NAME = "IMR segments"
ASYMMETRY_NAME = "IMR asymmetry ({unit})"  # % for rCBV and rCBF, s for Tmax
MIRRORED_NAME = "Mirrored post-EVT {map}"
TABLE_NAME = "IMR results"
PLANE_NAME = "Mid-sagittal plane"
TABLE_FILE = "results_table"
_ASYMMETRY_COLORS_TAG = "IMRAnalysisAsymmetry"
_ASYMMETRY_UNIT_ATTRIBUTE = "IMRAnalysis.AsymmetryUnit"
_COLOR_STEPS = 256
# red on the impaired side (below the mirror for rCBV, above for Tmax), blue on the other:
# the colours of the IMR and Hyperperfusion segments and of the overview PNG, so one
# reading serves every view
_IMPAIRED_COLOR = np.array([0.71, 0.02, 0.15])
_OTHER_COLOR = np.array([0.23, 0.30, 0.75])


@dataclass(frozen=True)
class SegmentRef:
    """A mask input: a segment of a segmentation node, or a labelmap volume node."""

    node: slicer.vtkMRMLNode  # vtkMRMLSegmentationNode or vtkMRMLLabelMapVolumeNode
    segment_id: str | None = None  # None: the segment named after the mask (Lesion, Exclusion), else the
    # first one (segmentation), or label 1 (labelmap)


@dataclass(frozen=True)
class RunJob:
    """A run's request with its images read and checked: ``compute`` touches no MRML node, so it may
    run in a worker thread; it is the patient use case's ``analyse``, as for the command line."""

    request: PatientRequest
    inputs: AnalysisInputs
    post: slicer.vtkMRMLScalarVolumeNode  # where the results go back, by ``IMRMrmlLogic.apply``

    def compute(self, progress: Progress | None = None, cancel: Cancel | None = None) -> AnalysisResult:
        return analyse(self.request, progress or _quiet, cancel, self.inputs).result


@dataclass
class MrmlOutputs:
    segmentation: slicer.vtkMRMLSegmentationNode  # Lesion, IMR, Hyperperfusion, Exclusion on the post-EVT grid
    asymmetry: slicer.vtkMRMLScalarVolumeNode  # % (ratio) or the map unit (Tmax s), diverging colours centred on 0
    mirrored: slicer.vtkMRMLScalarVolumeNode
    table: slicer.vtkMRMLTableNode  # one row of results, units in the column names
    transforms: dict[str, slicer.vtkMRMLLinearTransformNode]  # "day5", "arrival"
    plane: slicer.vtkMRMLMarkupsPlaneNode  # the mid-sagittal plane, movable by the user
    measures: dict[str, Any]  # the same dict as metrics.json
    post: slicer.vtkMRMLScalarVolumeNode  # the input map the outputs lie on


class IMRMrmlLogic:
    """Runs the analysis on nodes of ``scene`` and keeps its outputs there, up to date."""

    def __init__(self, scene: slicer.vtkMRMLScene) -> None:
        self.scene = scene
        self.registration_count = 0  # registrations run so far (recompute never adds any)
        self.result: AnalysisResult | None = None
        self.outputs: MrmlOutputs | None = None
        self._sources: dict[str, str] = {}
        self._files: dict[str, str] = {}  # node ID -> the file (or DSC series) the node was read from
        self._dsc_nodes: set[str] = set()  # IDs of the nodes holding a map computed from a DSC series
        ensure_segmentation_converters()

    # --- analysis ---------------------------------------------------------------------

    def run(self, *inputs: Any, progress: Progress | None = None, cancel: Cancel | None = None,
            **named: Any) -> MrmlOutputs:
        """The whole pipeline on ``prepare``'s inputs, in this thread; output nodes of an earlier
        run are updated, missing ones created."""
        job = self.prepare(*inputs, **named)
        return self.apply(job, job.compute(progress, cancel))

    def prepare(
        self,
        post: slicer.vtkMRMLScalarVolumeNode,
        day5: slicer.vtkMRMLScalarVolumeNode,
        lesion: SegmentRef,
        exclusion: SegmentRef | None = None,
        arrival: slicer.vtkMRMLScalarVolumeNode | None = None,
        parameters: AnalysisParameters = AnalysisParameters(),
        flags: PatientFlags = PatientFlags(),
    ) -> RunJob:
        """Read and check the inputs from the scene (on the thread that owns it); bad input fails here."""
        request = self._request(post, day5, lesion, exclusion, arrival, parameters, flags)
        return RunJob(request, load_inputs(request, _quiet), post)

    def apply(self, job: RunJob, result: AnalysisResult) -> MrmlOutputs:
        """Put a computed run into the scene (on the thread that owns it)."""
        if not self.scene.IsNodePresent(job.post):
            raise InputError("the post-EVT map was removed from the scene during the analysis")
        self.registration_count += sum(registration.registered for registration in result.registrations.values())
        self.result, self._sources = result, job.inputs.sources
        self.outputs = self._outputs_of_run(result, job.post)
        return self.outputs

    def recompute(
        self, parameters: AnalysisParameters | None = None, flags: PatientFlags | None = None
    ) -> MrmlOutputs:
        """Measure again after the user edited Lesion/Exclusion, moved the plane or changed a parameter.

        Only the IMR and Hyperperfusion segments, the maps (when the plane or a map
        parameter changed), the table and the measures are replaced.
        """
        outputs, previous = self.require_run()
        plane = plane_from_plane_node(outputs.plane)
        self.result = remeasure(
            previous,
            lesion=mask_from_segment(outputs.segmentation, LESION, previous.post),
            exclusion=self._current_exclusion(outputs.segmentation, previous.post),
            midline=None if _same_plane(plane, previous.midline.plane) else plane,
            parameters=parameters,
            flags=flags,
        )
        self._set_segments(outputs.segmentation, self.result, (IMR, HYPERPERFUSION))
        if self.result.asymmetry is not previous.asymmetry:
            outputs.asymmetry = self._asymmetry_volume(self.result, self._present(outputs.asymmetry))
            outputs.mirrored = self._mirrored_volume(self.result, self._present(outputs.mirrored))
        outputs.table = self._results_table(self.result.measures, self._present(outputs.table))
        outputs.measures = self._measures()
        return outputs

    def export(
        self, folder: str | Path, overwrite: bool = False, also: Callable[[Path], None] | None = None
    ) -> Path:
        """The command line's result folder, plus the results table as CSV and TSV; all or nothing.

        ``also`` writes a front end's own files (Slicer's scene bundle) into the staging
        folder, so they are part of the result folder and its marker; ``dicom/`` is added when
        the post-EVT map came from a DICOM series (see ``dicom_reference``).
        """
        outputs, result = self.require_run()
        folder = Path(folder)
        table = self._fill_table(slicer.vtkMRMLTableNode(), result.measures)
        reference = self.dicom_reference(outputs.post, result.post)
        with staged_output_folder(folder, overwrite) as staging:
            write_folder_contents(staging, result, self._measures(), reference)
            for suffix in (".csv", ".tsv"):
                _write_table(table, staging / f"{TABLE_FILE}{suffix}")
            if also is not None:
                also(staging)
        return folder

    def dicom_reference(self, post: slicer.vtkMRMLVolumeNode | None, grid: sitk.Image) -> DicomReference | None:
        """The DICOM series the post-EVT node was loaded from, which ``dicom/`` refers to, or None.

        None when the node was not read from DICOM (``dicom_source``), when the series does
        not lie on ``grid``, or when highdicom (which needs pydicom 3, newer than Slicer
        5.10's) is not installed: the export then holds what it always held.
        """
        source = self.dicom_source(post)
        if source is None or not writer_available():
            return None
        try:
            if isinstance(source, list):
                return reference_from_files(source, grid, "post-EVT map", Path(source[0]).parent)
            return read_reference(source, grid, "post-EVT map")
        except InputError:
            return None

    def dicom_source(self, node: slicer.vtkMRMLVolumeNode | None) -> list[str] | str | None:
        """The DICOM files a volume was loaded from by Slicer's DICOM module (its ``DICOM.instanceUIDs``,
        found in ``slicer.dicomDatabase``), or the DICOM series folder of a patient folder (``post/``)
        it was read from; None for any other volume, a map computed from a DSC series included."""
        if node is None:
            return None
        uids = (node.GetAttribute("DICOM.instanceUIDs") or "").split()
        database = getattr(slicer, "dicomDatabase", None)
        if uids and database is not None:
            return [database.fileForInstance(uid) for uid in uids]
        folder = self._files.get(node.GetID())
        if folder and Path(folder).is_dir() and node.GetID() not in self._dsc_nodes:
            return folder
        return None

    # --- loading ----------------------------------------------------------------------

    def load_patient_folder(
        self, folder: str | Path, te: float | None = None, tr: float | None = None, perfusion_map: str = "rcbv"
    ) -> dict[str, slicer.vtkMRMLNode]:
        """Load ``post.*``, ``day5.*``, ``lesion.*`` and optional ``arrival.*``, ``exclusion.*``.

        Any extension the command line reads is accepted, or a DICOM series folder named
        after the role (``post/``); a mask may also be a Slicer segmentation
        (``lesion.seg.nrrd``). A timepoint may be its DSC series (``post_dsc.nii.gz``,
        ``post_dsc/``): its ``perfusion_map`` is computed as by ``volume_from_dsc`` (``te``,
        ``tr`` in seconds override the header) and returned under the plain role
        (``post``). Images are read and checked by the command line's own readers, so the
        nodes hold exactly what ``imr-analysis run`` analyses and a bad file gets the same
        message; a segmentation is read by Slicer's segmentation storage node, which keeps
        its segment names, colours and layers. Maps become scalar volume nodes, masks
        label map or segmentation nodes, each named after its role. Every file is checked
        (and every map computed) before the first node is added.
        """
        files = patient_files(Path(folder))
        images = {role: _read_checked(role, path, te, tr, perfusion_map) for role, path in files.items()}
        nodes = {}
        for role, path in files.items():
            timepoint, image = dsc_timepoint(role), images[role]
            if timepoint:
                nodes[timepoint] = self._dsc_node(timepoint, image, path, perfusion_map)
            else:
                nodes[role] = self._read_segmentation(role, path) if image is None else self._volume_node(role, image)
                self._files[nodes[role].GetID()] = str(path)
        return nodes

    def volume_from_dsc(
        self, path: str | Path, role: str, te: float | None = None, tr: float | None = None,
        perfusion_map: str = "rcbv",
    ) -> slicer.vtkMRMLScalarVolumeNode:
        """The ``perfusion_map`` of the ``role`` timepoint (post, day5, arrival) computed from its DSC series.

        The same function, checks and messages as ``imr-analysis run --post-dsc``; ``te``
        and ``tr`` (seconds) override the header. The node is named after the timepoint
        and the map, and the series is its source, so ``metrics.json`` names the series as
        the command line does.
        """
        return self._dsc_node(role, _dsc_map(path, role, te, tr, perfusion_map), path, perfusion_map)

    def _dsc_node(self, role: str, image: sitk.Image, path: str | Path, perfusion_map: str
                  ) -> slicer.vtkMRMLScalarVolumeNode:
        node = volume_node_from_image(self.scene, image, dsc_map_name(role, perfusion_map))
        self._files[node.GetID()] = str(path)
        self._dsc_nodes.add(node.GetID())
        return node

    def _volume_node(self, role: str, image: sitk.Image) -> slicer.vtkMRMLVolumeNode:
        node_class = "vtkMRMLLabelMapVolumeNode" if role in MASK_ROLES else "vtkMRMLScalarVolumeNode"
        return volume_node_from_image(self.scene, image, role, node_class=node_class)

    def _read_segmentation(self, role: str, path: Path) -> slicer.vtkMRMLSegmentationNode:
        node = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", role)
        storage = self.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
        storage.SetFileName(str(path))
        node.SetAndObserveStorageNodeID(storage.GetID())
        if not storage.ReadData(node):
            self.scene.RemoveNode(node)
            self.scene.RemoveNode(storage)
            raise InputError(f"the {role} segmentation cannot be read by Slicer", path)
        node.CreateDefaultDisplayNodes()
        return node

    # --- nodes -> images --------------------------------------------------------------

    def _request(
        self,
        post: slicer.vtkMRMLVolumeNode,
        day5: slicer.vtkMRMLVolumeNode,
        lesion: SegmentRef,
        exclusion: SegmentRef | None,
        arrival: slicer.vtkMRMLVolumeNode | None,
        parameters: AnalysisParameters,
        flags: PatientFlags,
    ) -> PatientRequest:
        """The nodes' images as a patient request, named by the files the nodes came from."""
        maps = {role: MapSource(self._source(node), image=image_from_volume_node(node))
                for role, node in {"post": post, "day5": day5, "arrival": arrival}.items() if node}
        masks = {}
        for role, name, reference in (("lesion", "Lesion", lesion), ("exclusion", "Exclusion", exclusion)):
            if reference is not None:
                source = self._source(reference.node)
                masks[role] = MaskSource(source, image=_mask(reference, name, source, allow_empty=role == "exclusion"))
        return PatientRequest(**maps, **masks, parameters=parameters, flags=flags)

    def _source(self, node: slicer.vtkMRMLNode) -> str:
        """The file a node was loaded from, or its name: how messages and metrics.json refer to it."""
        storage = node.GetStorageNode() if hasattr(node, "GetStorageNode") else None
        return self._files.get(node.GetID()) or (storage and storage.GetFileName()) or node.GetName()

    @staticmethod
    def _current_exclusion(segmentation: slicer.vtkMRMLSegmentationNode, post: sitk.Image) -> sitk.Image:
        """The Exclusion segment on the post-EVT grid; a deleted segment excludes nothing."""
        if segmentation.GetSegmentation().GetSegment(EXCLUSION) is None:
            return empty_like(post)
        return mask_from_segment(segmentation, EXCLUSION, post)

    # --- results -> nodes -------------------------------------------------------------

    def _outputs_of_run(self, result: AnalysisResult, post_node: slicer.vtkMRMLVolumeNode) -> MrmlOutputs:
        old = self.outputs
        segmentation = self._present(old and old.segmentation)
        if segmentation is None:
            segmentation = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", SEGMENTATION_NAME)
            segmentation.CreateDefaultDisplayNodes()
        segmentation.SetReferenceImageGeometryParameterFromVolumeNode(post_node)
        self._set_segments(segmentation, result, (LESION, IMR, HYPERPERFUSION, EXCLUSION))
        old_transforms = old.transforms if old else {}
        for name in set(old_transforms) - set(result.registrations):
            if self._present(old_transforms[name]):
                self.scene.RemoveNode(old_transforms[name])
        return MrmlOutputs(
            segmentation=segmentation,
            asymmetry=self._asymmetry_volume(result, self._present(old and old.asymmetry)),
            mirrored=self._mirrored_volume(result, self._present(old and old.mirrored)),
            table=self._results_table(result.measures, self._present(old and old.table)),
            transforms={
                name: transform_node_from_sitk(
                    self.scene, registration.transform, f"{name}_to_post", self._present(old_transforms.get(name))
                )
                for name, registration in result.registrations.items()
            },
            plane=self._plane(result, self._present(old and old.plane)),
            measures=self._measures(),
            post=post_node,
        )

    def _present(self, node: slicer.vtkMRMLNode | None) -> slicer.vtkMRMLNode | None:
        """``node`` if it is still in the scene (the user may have deleted it)."""
        return node if node is not None and self.scene.IsNodePresent(node) else None

    @staticmethod
    def _set_segments(
        segmentation: slicer.vtkMRMLSegmentationNode, result: AnalysisResult, names: tuple[str, ...]
    ) -> None:
        for segment in segments_of(result):
            if segment.name in names:
                set_segment_from_mask(segmentation, segment.name, segment.mask, segment.name, segment.color)

    def _asymmetry_volume(
        self, result: AnalysisResult, node: slicer.vtkMRMLScalarVolumeNode | None
    ) -> slicer.vtkMRMLScalarVolumeNode:
        scale = result.parameters.asymmetry_scale
        node = volume_node_from_image(self.scene, shown_asymmetry(result), ASYMMETRY_NAME, node)
        node.SetName(ASYMMETRY_NAME.format(unit=scale.unit or scale.suffix))
        if node.GetAttribute(_ASYMMETRY_UNIT_ATTRIBUTE) != scale.suffix:  # else keep the user's window/level
            node.SetAttribute(_ASYMMETRY_UNIT_ATTRIBUTE, scale.suffix)
            display = node.GetDisplayNode()
            display.SetAndObserveColorNodeID(self._asymmetry_colors(scale).GetID())
            display.AutoWindowLevelOff()
            display.SetWindowLevelMinMax(-scale.display_limit, scale.display_limit)
        return node

    def _mirrored_volume(
        self, result: AnalysisResult, node: slicer.vtkMRMLScalarVolumeNode | None
    ) -> slicer.vtkMRMLScalarVolumeNode:
        name = MIRRORED_NAME.format(map=result.parameters.asymmetry_scale.map_label)
        node = volume_node_from_image(self.scene, result.asymmetry.mirrored, name, node)
        node.SetName(name)
        return node

    def _asymmetry_colors(self, scale: AsymmetryScale) -> slicer.vtkMRMLColorTableNode:
        """White (symmetric) to red on the impaired side and blue on the other; one node per unit and side."""
        tag = f"{_ASYMMETRY_COLORS_TAG}-{scale.suffix}-{'below' if scale.impaired_below else 'above'}"
        existing = self.scene.GetSingletonNode(tag, "vtkMRMLColorTableNode")
        if existing is not None:
            return existing
        colors = slicer.vtkMRMLColorTableNode()
        colors.SetSingletonTag(tag)
        impaired, other = ("lower", "higher") if scale.impaired_below else ("higher", "lower")
        colors.SetName(f"IMR asymmetry {scale.map_label} (red {impaired}, blue {other})")
        colors.SetTypeToUser()
        colors.SetNumberOfColors(_COLOR_STEPS)
        for index, position in enumerate(np.linspace(-1.0, 1.0, _COLOR_STEPS)):
            end = _IMPAIRED_COLOR if (position < 0) == scale.impaired_below else _OTHER_COLOR
            rgb = (1.0 - abs(position)) * np.ones(3) + abs(position) * end
            colors.SetColor(index, scale.shown(round(position * scale.display_limit, 1)), *rgb, 1.0)
        self.scene.AddNode(colors)
        return colors

    def _plane(
        self, result: AnalysisResult, node: slicer.vtkMRMLMarkupsPlaneNode | None
    ) -> slicer.vtkMRMLMarkupsPlaneNode:
        created = node is None
        node = plane_node_from_plane(self.scene, result.midline.plane, PLANE_NAME, node)
        if created:  # a square as large as the post-EVT field of view
            low, high = physical_bounds(result.post)
            side = float(np.max(high - low))
            node.SetSizeMode(node.SizeModeAbsolute)
            node.SetSize(side, side)
        return node

    def _results_table(
        self, measures: dict[str, Any], node: slicer.vtkMRMLTableNode | None
    ) -> slicer.vtkMRMLTableNode:
        if node is None:
            node = self.scene.AddNewNodeByClass("vtkMRMLTableNode", TABLE_NAME)
        return self._fill_table(node, measures)

    @staticmethod
    def _fill_table(node: slicer.vtkMRMLTableNode, measures: dict[str, Any]) -> slicer.vtkMRMLTableNode:
        """One row: this analysis's measures under titled columns."""
        table = vtk.vtkTable()
        for measure in measure_registry(AnalysisParameters.from_dict(measures["parameters"])):
            value = measure.value(measures)
            array = vtk.vtkDoubleArray() if measure.numeric else vtk.vtkStringArray()
            array.SetName(measure.heading)
            if measure.numeric:
                array.InsertNextValue(np.nan if value is None else float(value))
            else:
                array.InsertNextValue(_text(value))
            table.AddColumn(array)
        node.SetAndObserveTable(table)
        return node

    def _measures(self) -> dict[str, Any]:
        """The current measures with the inputs they came from, as in metrics.json."""
        return {**self.result.measures, "inputs": dict(self._sources)}

    def require_run(self) -> tuple[MrmlOutputs, AnalysisResult]:
        """The last run's outputs and result, still in the scene; ``NoAnalysisYet`` before any run."""
        if self.outputs is None or self.result is None:
            raise NoAnalysisYet()
        for node, what in ((self.outputs.segmentation, "segmentation"), (self.outputs.plane, "mid-sagittal plane")):
            if self._present(node) is None:
                raise InputError(f"the output {what} was deleted; run the analysis again")
        return self.outputs, self.result


# --- helpers ----------------------------------------------------------------------------


def _quiet(message: str) -> None:
    """Progress nobody reads: the panel shows its own stages."""


def _mask(reference: SegmentRef, name: str, source: str, allow_empty: bool) -> sitk.Image:
    """A 0/1 mask on the input's own grid, as the command line reads a mask file.

    Without a segment ID, a segmentation gives its segment called ``name`` (as the panel
    creates it), else its first: another segment added before it is never read instead.
    """
    node, role = reference.node, f"{name.lower()} mask"
    if node.IsA("vtkMRMLSegmentationNode"):
        segmentation = node.GetSegmentation()
        if segmentation.GetNumberOfSegments() == 0:
            raise InputError(f"the {role} segmentation has no segment", source)
        segment_id = (reference.segment_id or segmentation.GetSegmentIdBySegmentName(name)
                      or segmentation.GetNthSegmentID(0))
        mask = mask_from_segment(node, segment_id)
    elif node.IsA("vtkMRMLVolumeNode"):
        try:
            label = int(reference.segment_id) if reference.segment_id else 1
        except ValueError as error:
            problem = f"a label map's segment must be a label number, got {reference.segment_id!r}"
            raise InputError(problem, source) from error
        mask = mask_from_labelmap_node(node, label)
    else:
        raise InputError(f"the {role} must be a segmentation or a label map, got a {node.GetClassName()}", source)
    if not allow_empty and not sitk.GetArrayViewFromImage(mask).any():
        raise InputError(f"mask is empty: no voxel of the {role} is set", source)
    return mask


def _text(value: Any) -> str:
    """A text cell as metrics.csv writes it: empty for none, lower-case booleans."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _same_plane(a: Plane, b: Plane) -> bool:
    """Equal up to the rounding of a trip through a plane node."""
    return np.allclose(a.normal, b.normal, rtol=0.0, atol=1e-9) and abs(float(a.signed_distance(b.point_array))) < 1e-6


def _write_table(table: slicer.vtkMRMLTableNode, path: Path) -> None:
    """Slicer's table writer: the delimiter follows the extension, a schema file keeps the column types."""
    storage = slicer.vtkMRMLTableStorageNode()
    storage.SetFileName(str(path))
    if not storage.WriteData(table):
        raise InputError("cannot write the results table", path)


def _read_checked(
    role: str, path: Path, te: float | None, tr: float | None, perfusion_map: str
) -> sitk.Image | None:
    """An image read (a DSC series' map computed) and checked as the command line does; a segmentation only checked.

    Slicer's segmentation storage node aborts the whole process on a malformed NRRD
    header (it catches only ITK's ImageFileReaderException), so the library's reader
    vets a ``.seg.nrrd`` before Slicer sees it.
    """
    if dsc_timepoint(role):
        return _dsc_map(path, dsc_timepoint(role), te, tr, perfusion_map)
    if is_segmentation(path):
        read_segmentation(path)
        return None
    if role in MASK_ROLES:
        return read_mask(path, f"{role} mask", allow_empty=role == "exclusion")
    return read_map(path, map_role(role, perfusion_map))


def _dsc_map(path: str | Path, role: str, te: float | None, tr: float | None, perfusion_map: str) -> sitk.Image:
    """A timepoint's map computed and checked exactly as ``imr-analysis run --ROLE-dsc`` does."""
    if role not in MAP_ROLES:
        raise ValueError(f"a DSC series gives the post, day5 or arrival map, not {role!r}")
    if perfusion_map not in MAP_LABELS:
        raise InputError(f"perfusion map must be one of {', '.join(MAP_LABELS)}, got {perfusion_map!r}")
    return check_map(map_from_dsc(str(path), te, tr, perfusion_map), str(path), map_role(role, perfusion_map))
