"""The workstation without its web page: a trame-slicer scene driven by ``IMRMrmlLogic``.

Nothing about IMR is computed here: runs, recomputes and exports are the MRML logic's,
so the page shows exactly what the Slicer module and the command line report. This
layer only adds what a browser session needs around it: which segment and editor tool
are active, the overlays shown, undo/redo, and the export as one zip file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import SimpleITK as sitk
from trame_slicer.core import SlicerApp
from trame_slicer.segmentation import (
    SegmentationEffectErase,
    SegmentationEffectIslands,
    SegmentationEffectNoTool,
    SegmentationEffectPaint,
    SegmentationEffectScissors,
    SegmentationEffectThreshold,
    SegmentationOverwriteMode,
)
from trame_slicer.segmentation.paint_effect_parameters import BrushDiameterMode
from undo_stack import UndoStack

from ..analysis.geometry import voxel_points
from ..analysis.plane import Plane
from ..conventions import lps_to_ras
from ..errors import InputError
from ..io.metrics_files import METRICS_JSON, write_metrics
from ..mrml.logic import EXCLUSION, HYPERPERFUSION, IMR, LESION, PLANE_NAME, IMRMrmlLogic, MrmlOutputs, SegmentRef
from ..mrml.nodes import mask_from_segment, plane_from_plane_node, plane_node_from_plane
from ..parameters import AnalysisParameters
from .teaching import ASYMMETRY, DAY5, MIRRORED, POST, WORKSTATION_VIEW, TeachingStep

EDITABLE_SEGMENTS = (LESION, EXCLUSION)
EFFECTS = {
    "none": SegmentationEffectNoTool,
    "paint": SegmentationEffectPaint,
    "erase": SegmentationEffectErase,
    "scissors": SegmentationEffectScissors,
    "islands": SegmentationEffectIslands,
    "threshold": SegmentationEffectThreshold,
}
BRUSH_DIAMETER_MM = 15.0  # 8 voxels across on the clinical 1.875 mm grid: a stroke changes about 1 mL
ASYMMETRY_OPACITY = 0.5
ASYMMETRY_RANGE = 1000.0  # any defined asymmetry, in % or s
UNDO_LIMIT = 20
MIDLINE_STEP_MM = 20.0  # one nudge at most (the page's buttons move 1 mm, 1 degree)
MIDLINE_STEP_DEG = 20.0
MIN_BRAIN_SIDE = 0.25  # of the brain's voxels on each side of a moved midline; a true midline halves the brain
EXPORT_NAME = "IMR-results"


class Workstation:
    """One patient in one scene, with the MRML logic's outputs shown in trame-slicer's views."""

    def __init__(self, slicer_app: SlicerApp) -> None:
        self.slicer_app = slicer_app
        self.logic = IMRMrmlLogic(slicer_app.scene)
        self.parameters = AnalysisParameters()
        self.post = None
        self.nodes: dict[str, Any] = {}
        self.run_midline: Plane | None = None
        self.undo_stack = UndoStack(undo_limit=UNDO_LIMIT)
        slicer_app.segmentation_editor.set_undo_stack(self.undo_stack)

    @property
    def editor(self):
        return self.slicer_app.segmentation_editor

    @property
    def outputs(self) -> MrmlOutputs | None:
        return self.logic.outputs

    # --- patient ----------------------------------------------------------------------

    def open_patient(
        self, folder: str | Path, perfusion_map: str = "rcbv", te: float | None = None, tr: float | None = None
    ) -> dict[str, Any]:
        """Load a patient folder into a fresh scene and run the whole analysis on it.

        ``perfusion_map`` is the map measured (computed so from ``*_dsc`` series, with
        ``te``/``tr`` in seconds overriding their headers); another map than the last
        one's starts from that map's defaults (``AnalysisParameters.for_map``). The scene
        is cleared first, as trame-slicer's own loader does, so the effect pipelines
        attach to the views that already exist.
        """
        parameters = self.parameters
        if parameters.perfusion_map != perfusion_map:
            parameters = AnalysisParameters.for_map(perfusion_map)
        self.slicer_app.scene.Clear()
        self.logic = IMRMrmlLogic(self.slicer_app.scene)
        nodes = self.logic.load_patient_folder(folder, te=te, tr=tr, perfusion_map=perfusion_map)
        exclusion = nodes.get("exclusion")
        outputs = self.logic.run(
            nodes["post"],
            nodes["day5"],
            SegmentRef(nodes["lesion"]),
            SegmentRef(exclusion) if exclusion is not None else None,
            nodes.get("arrival"),
            parameters,
        )
        self.parameters, self.post, self.nodes = parameters, nodes["post"], nodes
        self.run_midline = self.logic.result.midline.plane
        for role, node in nodes.items():
            if role != "post" and node.GetDisplayNode() is not None:
                node.GetDisplayNode().SetVisibility(False)
        self._show(outputs)
        return outputs.measures

    def _show(self, outputs: MrmlOutputs) -> None:
        """Post-EVT map under the asymmetry, IMR filled, masks outlined, the midline drawn; slices, segments in 3D."""
        for view in self.slicer_app.view_manager.get_slice_views():
            view.set_visible_in_3d(True)
        asymmetry = outputs.asymmetry.GetDisplayNode()
        asymmetry.SetApplyThreshold(True)  # undefined ratios (NaN) fall outside: transparent
        asymmetry.SetLowerThreshold(-ASYMMETRY_RANGE)
        asymmetry.SetUpperThreshold(ASYMMETRY_RANGE)
        segments = outputs.segmentation.GetDisplayNode()
        for name in (IMR, HYPERPERFUSION):
            segments.SetSegmentVisibility2DOutline(name, False)
        for name in EDITABLE_SEGMENTS:
            segments.SetSegmentVisibility2DFill(name, False)
        outputs.segmentation.CreateClosedSurfaceRepresentation()
        plane = outputs.plane.GetDisplayNode()
        plane.SetFillVisibility(False)
        plane.SetPropertiesLabelVisibility(False)
        plane.SetHandlesInteractive(False)
        outputs.plane.SetLocked(True)
        day5_to_post = outputs.transforms.get("day5")  # none when registration is off
        self.nodes["day5"].SetAndObserveTransformNodeID(day5_to_post.GetID() if day5_to_post else None)
        self.editor.set_active_segmentation(outputs.segmentation, self.post)
        # an exclusion painted over the lesion keeps the lesion under it
        self.editor.set_overwrite_mode(SegmentationOverwriteMode.ALLOW_OVERLAP)
        self.select_segment(LESION)
        self.show_step(WORKSTATION_VIEW)
        self.slicer_app.display_manager.reset_views()

    def show_step(self, step: TeachingStep) -> None:
        """Put a step of the method (or the workstation's own view) on screen."""
        outputs, _result = self.logic.require_run()
        volumes = {
            POST: self.post, DAY5: self.nodes["day5"], MIRRORED: outputs.mirrored, ASYMMETRY: outputs.asymmetry,
        }
        display = self.slicer_app.display_manager
        display.show_volume_in_slice_background(volumes[step.background])
        display.show_volume_in_slice_foreground(volumes[step.foreground] if step.foreground else None)
        self.set_overlay_visible(step.foreground is not None)
        segments = outputs.segmentation.GetDisplayNode()
        for name in (LESION, IMR, HYPERPERFUSION, EXCLUSION):
            segments.SetSegmentVisibility(name, name in step.segments)
        outputs.plane.GetDisplayNode().SetVisibility(step.midline)

    def set_overlay_visible(self, visible: bool) -> None:
        """The foreground (asymmetry map, or day 5 in the guided mode) over the background, or the background alone."""
        for view in self.slicer_app.view_manager.get_slice_views():
            view.set_foreground_opacity(ASYMMETRY_OPACITY if visible else 0.0)

    # --- editing ----------------------------------------------------------------------

    def select_segment(self, name: str) -> None:
        if name not in EDITABLE_SEGMENTS:
            raise ValueError(f"only {' and '.join(EDITABLE_SEGMENTS)} are edited, not {name!r}")
        self.editor.set_active_segment_id(name)

    def select_effect(self, name: str) -> None:
        effect = self.editor.set_active_effect_type(EFFECTS[name])
        if name in ("paint", "erase"):
            effect.set_brush_diameter(BRUSH_DIAMETER_MM, BrushDiameterMode.Absolute)

    def keep_largest_island(self) -> None:
        """Islands tool: drop every piece of the active segment but the largest."""
        self.editor.get_effect(SegmentationEffectIslands).keep_largest_island()

    def apply_threshold(self, low: float, high: float) -> None:
        """Threshold tool: the active segment becomes the post-EVT voxels whose map value is in [low, high]."""
        effect = self.editor.get_effect(SegmentationEffectThreshold)
        effect.set_threshold_min_max_values((low, high))
        effect.apply()

    def post_range(self) -> tuple[float, float]:
        low, high = self.post.GetImageData().GetScalarRange()
        return float(low), float(high)

    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    def centre_on(self, segment: str) -> None:
        """Slices through the segment's centre, which is then the centre of every slice view."""
        outputs, result = self.logic.require_run()
        mask = mask_from_segment(outputs.segmentation, segment, result.post)
        voxels = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)
        if voxels.size == 0:
            return
        k, j, i = voxels.mean(axis=0)
        lps = mask.TransformContinuousIndexToPhysicalPoint((float(i), float(j), float(k)))
        ras = lps_to_ras(lps)
        for slice_node in _nodes(self.slicer_app.scene, "vtkMRMLSliceNode"):
            slice_node.JumpSliceByCentering(*ras)

    # --- midline ----------------------------------------------------------------------

    def move_midline(self, shift_mm: float = 0.0, yaw_deg: float = 0.0) -> None:
        """Shift the plane along its normal and turn it about the superior axis; Recompute then uses it.

        A nudge corrects an estimate: one step moves at most ``MIDLINE_STEP_MM`` and
        ``MIDLINE_STEP_DEG``, and the plane stays in the brain (``MIN_BRAIN_SIDE`` of the
        brain mask's voxels on each side), so no request puts it outside the head.
        """
        outputs, result = self.logic.require_run()
        if abs(shift_mm) > MIDLINE_STEP_MM or abs(yaw_deg) > MIDLINE_STEP_DEG:
            raise InputError(f"the midline moves at most {MIDLINE_STEP_MM:g} mm and {MIDLINE_STEP_DEG:g} degrees "
                             f"a step, not {shift_mm:g} mm and {yaw_deg:g} degrees")
        plane = plane_from_plane_node(outputs.plane)
        angle = np.radians(yaw_deg)
        about_superior = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0],
                                   [0.0, 0.0, 1.0]])
        normal = about_superior @ np.asarray(plane.normal)
        moved = Plane.from_vectors(plane.point_array + shift_mm * np.asarray(plane.normal), normal)
        brain = result.brain_mask
        sides = moved.signed_distance(voxel_points(brain, sitk.GetArrayViewFromImage(brain) > 0)) > 0
        if min(sides.mean(), 1.0 - sides.mean()) < MIN_BRAIN_SIDE:
            raise InputError(f"that would take the midline out of the brain: less than {MIN_BRAIN_SIDE:.0%} of the "
                             "brain on one side")
        plane_node_from_plane(self.slicer_app.scene, moved, PLANE_NAME, outputs.plane)

    def reset_midline(self) -> None:
        """Back to the plane of the last full run (estimated, or given)."""
        outputs, _result = self.logic.require_run()
        plane_node_from_plane(self.slicer_app.scene, self.run_midline, PLANE_NAME, outputs.plane)

    # --- analysis ---------------------------------------------------------------------

    def recompute(self, parameters: AnalysisParameters | None = None) -> dict[str, Any]:
        self.parameters = parameters or self.parameters
        return self.logic.recompute(self.parameters).measures

    def export_zip(self, folder: str | Path, input_names: Mapping[str, str]) -> Path:
        """The command line's result folder, zipped into ``folder``; returns the zip's path.

        The metrics name each input by ``input_names[file name]`` (an upload's own name)
        or its file name: the server's folders are no business of whoever downloads it.
        """
        folder = Path(folder)
        with tempfile.TemporaryDirectory() as staging:
            results = self.logic.export(Path(staging) / EXPORT_NAME)
            metrics = json.loads((results / METRICS_JSON).read_text(encoding="utf-8"))
            names = {role: Path(path).name for role, path in metrics["inputs"].items()}
            write_metrics(results, {**metrics, "inputs": {role: input_names.get(name, name)
                                                          for role, name in names.items()}})
            archive = shutil.make_archive(str(folder / EXPORT_NAME), "zip", results)
        return Path(archive)


def _nodes(scene, class_name: str) -> list:
    collection = scene.GetNodesByClass(class_name)
    return [collection.GetItemAsObject(index) for index in range(collection.GetNumberOfItems())]
