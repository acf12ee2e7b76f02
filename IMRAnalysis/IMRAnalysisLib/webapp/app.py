"""``imr-analysis app``: the workstation served as a trame application.

State variables prefixed ``imr_`` are the page's contract: the tests wait on them
(``imr_ready``, ``imr_results``) rather than on time. The server admits only the
holder of its access token, one session at a time (``access``), and bounds what a
client may send (``message_limits``, ``max_upload_bytes``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from trame.app import TrameApp
from trame_slicer import module as trame_slicer_module
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories

from ..conventions import verdict
from ..errors import InputError
from ..io.result_views import method_summary
from ..mrml.logic import IMR
from ..parameters import AnalysisParameters
from .access import AccessGuard, access_token, address
from .message_limits import bound_messages, message_bound
from .parameter_fields import PERFUSION_MAP_STATE, page_number, page_values, parameters_from_page
from .teaching import STEPS, WORKSTATION_VIEW, step_texts
from .ui import MIDLINE_TRIGGER, RESULT_KEYS, build_page
from .uploads import (
    RECEIVED_STATE,
    TIMING_STATES,
    UPLOAD_MESSAGE_STATE,
    UPLOAD_ROLES,
    dsc_timing,
    received_uploads,
    upload_limit_text,
    upload_state,
    uploads_over_limit,
    write_patient_folder,
)
from .workstation import Workstation

LAYOUT = "Quad View"
DOWNLOAD_ROUTE = "imr_download"
DEFAULT_MAX_UPLOAD_MB = 1000.0  # a few 4D DSC series
_LOG = logging.getLogger(__name__)


class WorkstationApp(TrameApp):
    """The page, its state and the ``Workstation`` behind it."""

    def __init__(
        self,
        server=None,
        patient: str | Path | None = None,
        demo: bool = False,
        perfusion_map: str = "rcbv",
        te: float | None = None,
        tr: float | None = None,
        token: str | None = None,
        max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1e6),
    ) -> None:
        """``perfusion_map``, ``te`` and ``tr`` (seconds) start the page's choices for opening patients.

        ``token`` (default: ``access_token()``) is asked of every request; ``max_upload_bytes``
        bounds the uploads held and, with their envelope, any websocket message.
        """
        super().__init__(server)
        self.access = AccessGuard(token or access_token())
        self.max_upload_bytes = max_upload_bytes
        self._input_names: dict[str, str] = {}  # file name in the patient folder -> the name the user gave it
        self._work = tempfile.TemporaryDirectory(prefix="imr-webapp-")
        self._downloads = Path(self._work.name) / "downloads"
        self._downloads.mkdir()
        self.server.enable_module(trame_slicer_module)
        self.server.enable_module({"serve": {DOWNLOAD_ROUTE: str(self._downloads)}})
        self.slicer_app = SlicerApp()
        register_rca_factories(self.slicer_app.view_manager, self.server)
        self.layout_manager = LayoutManager(self.slicer_app.scene, self.slicer_app.view_manager, self.server)
        self.layout_manager.register_layout_dict(LayoutManager.default_grid_configuration())
        self.layout_manager.set_layout(LAYOUT)
        self.workstation = Workstation(self.slicer_app)
        self._patient = Path(patient) if patient else None
        self._demo = demo
        self._init_state()
        self.state.update({PERFUSION_MAP_STATE: perfusion_map, TIMING_STATES["te"]: "" if te is None else str(te),
                           TIMING_STATES["tr"]: "" if tr is None else str(tr)})
        for name in ("recompute", "undo", "redo", "export", "centre_on_imr", "open_uploaded", "keep_largest_island",
                     "apply_threshold", "reset_midline"):
            setattr(self.ctrl, name, getattr(self, name))
        self.server.trigger(MIDLINE_TRIGGER)(self.move_midline)
        self.ui = build_page(self.server, self.layout_manager.initialize_layout_grid, max_upload_bytes)
        self.workstation.undo_stack.index_changed.connect(self._on_undo_changed)
        self.ctrl.on_server_bind.add(self._guard)
        self.ctrl.on_server_ready.add(self._schedule_initial_patient)

    def _guard(self, web_server) -> None:
        """Before the server starts: the token as wslink's secret and for every request, messages bounded."""
        self.server.protocol.updateSecret(self.access.token)
        self.access.install(web_server)
        bound_messages(web_server, message_bound(self.max_upload_bytes))

    def _init_state(self) -> None:
        self.state.update({
            "trame__title": "IMR workstation",
            "imr_ready": False,
            "imr_busy": False,
            "imr_status": "starting",
            "imr_results": {},
            "imr_segment": "Lesion",
            "imr_effect": "none",
            "imr_show_asymmetry": True,
            "imr_run_count": 0,  # analyses shown so far: what a client waits on after Recompute
            "imr_undo_index": 0,
            "imr_centre_count": 0,  # "Centre views on IMR" done so many times
            "imr_can_undo": False,
            "imr_can_redo": False,
            "imr_export_url": "",
            "imr_export_name": "",
            "imr_map_label": self.workstation.parameters.asymmetry_scale.map_label,  # the map measured
            "imr_threshold_low": 0.0,  # threshold tool's range, in the post-EVT map's units
            "imr_threshold_high": 0.0,
            "imr_midline_moved": [0.0, 0.0],  # mm along the normal, degrees about the superior axis
            "imr_step": -1,  # guided mode: index into imr_steps, -1 when off
            "imr_steps": step_texts(self.workstation.parameters),
            RECEIVED_STATE: {},
            UPLOAD_MESSAGE_STATE: "",
            **page_values(self.workstation.parameters),
        })
        for name, handler in (
            ("imr_segment", self.workstation.select_segment),
            ("imr_effect", self.workstation.select_effect),
            ("imr_show_asymmetry", self.workstation.set_overlay_visible),
            ("imr_step", self.show_step),
        ):
            self.state.change(name)(self._guarded(name, handler))
        self.state.change(*(upload_state(role) for role in UPLOAD_ROLES))(self._on_upload)

    def _on_upload(self, **_) -> None:
        """Note what the server holds; drop a file that takes the uploads above the limit (the page checks first)."""
        received = received_uploads(self.state)
        refused = uploads_over_limit(received, self.state[RECEIVED_STATE], self.max_upload_bytes)
        with self.state:
            for role in refused:
                self.state[upload_state(role)] = None  # calls back with what remains
            if refused:
                names = ", ".join(received[role][0] for role in refused)
                self.state[UPLOAD_MESSAGE_STATE] = f"{names}: {upload_limit_text(self.max_upload_bytes)}"
            else:
                self.state[RECEIVED_STATE] = received

    def show_step(self, index: int) -> None:
        """A step of the guided mode (-1: the workstation's view); the tour starts on the IMR's centre."""
        if index == 0:
            self.workstation.centre_on(IMR)
        self.workstation.show_step(STEPS[index] if index >= 0 else WORKSTATION_VIEW)

    def _guarded(self, name: str, handler: Callable[[Any], None]) -> Callable[..., None]:
        """A state callback that passes the new value on, once a patient is open (nothing to show before)."""

        def call(**changed: Any) -> None:
            if self.state.imr_ready:
                handler(changed[name])

        return call

    # --- patient ----------------------------------------------------------------------

    def _schedule_initial_patient(self, **_) -> None:
        """Open the first patient on the loop's next turn: the server's other ready callbacks (its address) first."""
        asyncio.get_running_loop().call_soon(self._open_initial_patient)

    def _open_initial_patient(self) -> None:
        if self._demo:
            self.open_demo()
        elif self._patient:
            self.open_patient(self._patient)
        else:
            self.state.imr_status = "no patient: start with --demo or --patient DIR"

    def open_demo(self) -> None:
        """The command line's demo patient (phantom preset ``default``), written then read back as files."""
        from ..phantom.template import make_phantom

        self._set_status("making the phantom patient")
        folder = Path(self._work.name) / "phantom"
        make_phantom("default").write(folder)
        self.open_patient(folder)

    def open_patient(self, folder: Path, input_names: dict[str, str] | None = None) -> None:
        """Open with the page's map and TE/TR; ``input_names`` as ``write_patient_folder`` gives them.

        A failed load leaves an empty scene: the page is not ready until a patient opens.
        """
        self._input_names = input_names or {}
        try:
            timing = dsc_timing(self.state)
        except InputError as error:
            self._show_error(error)
            return
        perfusion_map = self.state[PERFUSION_MAP_STATE]
        self.state.imr_ready = False
        self.state.imr_midline_moved = [0.0, 0.0]
        self.state.imr_threshold_low = self.state.imr_threshold_high = 0.0  # the new map's range, once open
        self._run(lambda: self.workstation.open_patient(folder, perfusion_map, **timing), f"analysing {folder.name}")

    def open_uploaded(self) -> None:
        """The files uploaded from the page, as a fresh patient folder."""
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self._work.name))
        try:
            names = write_patient_folder(self.state, folder / "patient")
        except InputError as error:
            self._show_error(error)
            return
        self.open_patient(folder / "patient", names)

    # --- actions ----------------------------------------------------------------------

    def recompute(self) -> None:
        """Measure again with the edited masks and the page's parameters."""
        self._run(lambda: self.workstation.recompute(parameters_from_page(self.state, self.workstation.parameters)),
                  "recomputing")

    def keep_largest_island(self) -> None:
        self.workstation.keep_largest_island()

    def apply_threshold(self) -> None:
        label = self.state.imr_map_label
        try:
            low = page_number(self.state.imr_threshold_low, f"threshold tool: {label} from")
            high = page_number(self.state.imr_threshold_high, f"threshold tool: {label} to")
        except InputError as error:
            self._set_status(f"error: {error}")
            return
        self.workstation.apply_threshold(low, high)

    def undo(self) -> None:
        self.workstation.undo()

    def redo(self) -> None:
        self.workstation.redo()

    def move_midline(self, shift_mm: Any, yaw_deg: Any) -> None:
        """The page's nudge, or any client's: refused with a message unless the workstation allows it."""
        if not self.state.imr_ready:
            return
        try:
            shift_mm = page_number(shift_mm, "midline shift (mm)")
            yaw_deg = page_number(yaw_deg, "midline turn (degrees)")
            self.workstation.move_midline(shift_mm, yaw_deg)
        except InputError as error:
            self._show_error(error)
            return
        shift, yaw = self.state.imr_midline_moved
        self.state.imr_midline_moved = [shift + shift_mm, yaw + yaw_deg]

    def reset_midline(self) -> None:
        self.workstation.reset_midline()
        self.state.imr_midline_moved = [0.0, 0.0]

    def centre_on_imr(self) -> None:
        self.workstation.centre_on(IMR)
        self.state.imr_centre_count += 1

    def export(self) -> None:
        archive = self.workstation.export_zip(self._downloads, self._input_names)
        with self.state:
            self.state.imr_export_name = archive.name
            self.state.imr_export_url = f"{DOWNLOAD_ROUTE}/{archive.name}?t={time.time_ns()}"

    # --- state ------------------------------------------------------------------------

    def _run(self, action, what: str) -> None:
        """Run an analysis step, then show its measures; a user error is shown, not raised, and
        any other failure ends the step too (logged), so the page never stays busy."""
        self._set_status(what, busy=True)
        try:
            measures = action()
        except InputError as error:
            self._show_error(error)
            return
        except Exception as error:  # noqa: BLE001 - the page must leave "busy" whatever went wrong
            _LOG.exception("%s failed", what)
            self._set_status(f"error: {what} failed unexpectedly ({type(error).__name__}: {error}); "
                             "the server's log has the details")
            return
        parameters = self.workstation.parameters
        with self.state:
            self.state.imr_results = results_of(measures)
            self.state.update(page_values(parameters))  # in the units of the map now measured
            self.state.imr_map_label = parameters.asymmetry_scale.map_label
            self.state.imr_steps = step_texts(parameters)
            self.state.imr_busy = False
            self.state.imr_ready = True
            self.state.imr_run_count += 1
            self.state.imr_status = "ready"
            self.state.imr_segment = "Lesion"
            self.state.imr_step = -1
            if self.state.imr_threshold_low == self.state.imr_threshold_high:
                self.state.imr_threshold_low, self.state.imr_threshold_high = self.workstation.post_range()

    def _show_error(self, error: InputError) -> None:
        """The error with its file as the user named it, never the server's folder."""
        if error.path is None:
            self._set_status(f"error: {error}")
        else:
            self._set_status(f"error: {self._input_names.get(error.path.name, error.path.name)}: {error.problem}")

    def _set_status(self, text: str, busy: bool = False) -> None:
        with self.state:
            self.state.imr_status = text
            self.state.imr_busy = busy

    def _on_undo_changed(self, index: int) -> None:
        with self.state:
            self.state.imr_undo_index = index
            self.state.imr_can_undo = self.workstation.undo_stack.can_undo()
            self.state.imr_can_redo = self.workstation.undo_stack.can_redo()


def results_of(measures: dict[str, Any]) -> dict[str, Any]:
    """What the results panel shows: the measures rounded as metrics.json readers see them."""
    def value(key: str) -> str:
        number = measures.get(key)
        return "n/a" if number is None else f"{number:.2f}"

    parameters = measures["parameters"]
    scale = AnalysisParameters.from_dict(parameters).asymmetry_scale
    shown = verdict(measures)
    return {
        **{key: value(key) for key in RESULT_KEYS},
        "significant": shown.kind == "significant",
        "verdict": shown.sentence,
        "warnings": measures.get("warnings") or "",
        "parameters": (
            f"{scale.map_label}, threshold {scale.shown(scale.threshold)}, {parameters['direction']}, "
            f"{method_summary(measures)}, floor {parameters['floor_fraction']:g}, "
            f"min cluster {parameters['min_cluster_ml']:g} mL"
        ),
    }


def serve(patient: str | None, demo: bool, host: str, port: int, perfusion_map: str = "rcbv",
          te: float | None = None, tr: float | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> None:
    """Start serving and print the address to open, token included.

    Without a display, VTK renders off-screen through EGL (Mesa does without a GPU).
    """
    if not (math.isfinite(max_upload_mb) and max_upload_mb > 0):
        raise InputError(f"--max-upload-mb must be a positive number, not {max_upload_mb:g}")
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    app = WorkstationApp(patient=patient, demo=demo, perfusion_map=perfusion_map, te=te, tr=tr,
                         token=access_token(), max_upload_bytes=int(max_upload_mb * 1e6))
    app.ctrl.on_server_ready.add(
        lambda **_: print(f"IMR workstation: {address(host, app.server.port, app.access.token)}", flush=True))
    app.server.start(host=host, port=port, open_browser=False, show_connection_info=False)
