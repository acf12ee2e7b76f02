"""The page: four views in the middle, the workflow in a side panel.

Widgets only name state variables and controller methods (``WorkstationApp`` fills
both), so the layout can change without touching the logic.
"""

from __future__ import annotations

from trame.ui.vuetify3 import SinglePageWithDrawerLayout
from trame.widgets import html
from trame.widgets import vuetify3 as v3
from trame_server import Server

from ..conventions import measure_registry
from .parameter_fields import DIRECTION_STATE, DIRECTIONS, NUMBER_FIELDS, PERFUSION_MAP_STATE, PERFUSION_MAPS
from .uploads import (
    TIMING_STATES,
    UPLOAD_HELP,
    UPLOAD_MESSAGE_STATE,
    UPLOAD_ROLES,
    accept_upload_js,
    missing_required_js,
    upload_state,
)
from .workstation import EDITABLE_SEGMENTS, EFFECTS

# the measures the results panel shows, titled and in units as every other front end shows them
RESULT_KEYS = ("imr_volume_ml", "lesion_volume_ml", "imr_relative_percent", "hyperperfusion_volume_ml",
               "exclusion_volume_ml")
RESULT_ROWS = tuple(measure for measure in measure_registry() if measure.key in RESULT_KEYS)
VIEWS_STYLE = "height: calc(100vh - var(--v-layout-top) - var(--v-layout-bottom)); width: 100%; overflow: hidden;"
TOOL_ICONS = {
    "none": "mdi-cursor-default",
    "paint": "mdi-brush",
    "erase": "mdi-eraser",
    "scissors": "mdi-content-cut",
    "islands": "mdi-island",
    "threshold": "mdi-chart-histogram",
}


MIDLINE_TRIGGER = "imr_move_midline"  # (shift mm, turn degrees): a name clients can call


def build_page(server: Server, initialize_views, max_upload_bytes: int) -> SinglePageWithDrawerLayout:
    """The whole page; ``initialize_views(layout)`` places trame-slicer's view grid."""
    controller = server.controller
    with SinglePageWithDrawerLayout(server, theme=("'dark'",)) as layout:
        layout.title.set_text("IMR workstation")
        layout.drawer.width = 360
        with layout.toolbar:
            v3.VSpacer()
            html.Span("{{ imr_status }}", id="imr-status", classes="text-caption mr-4")
        with layout.drawer, html.Div(classes="pa-3 d-flex flex-column ga-3"):
            _upload_panel(controller, max_upload_bytes)
            _results_panel()
            _guided_panel()
            _display_panel()
            _editor_panel(controller)
            _midline_panel(controller)
            _parameters_panel()
            v3.VBtn("Recompute", id="imr-recompute", color="primary", block=True,
                    disabled=("imr_busy || !imr_ready",), click=controller.recompute)
            _export_panel(controller)
        # a fixed height: the views keep their size (and slice positions) whatever the side panel shows
        with layout.content, html.Div(style=VIEWS_STYLE, id="imr-views"):
            initialize_views(layout)
    return layout


def _upload_panel(controller, max_upload_bytes: int) -> None:
    """One file per role, as a patient folder names them; the server reads them as the command line does.

    The map measured, and the TE/TR of DSC series, are chosen before opening.
    """
    with v3.VExpansionPanels(), v3.VExpansionPanel(title="Open a patient (upload files)", id="imr-upload-panel"):
        with v3.VExpansionPanelText():
            v3.VSelect(v_model=(PERFUSION_MAP_STATE,), items=("perfusion_maps", PERFUSION_MAPS), density="compact",
                       label="Perfusion map (when opening)", id="imr-perfusion-map", hide_details=True, classes="mb-2")
            html.Div(UPLOAD_HELP, classes="text-caption mb-1")
            for role, label in UPLOAD_ROLES.items():
                v3.VFileInput(model_value=(upload_state(role), None), label=label, density="compact",
                              update_modelValue=accept_upload_js(role, max_upload_bytes),
                              id=f"imr-upload-{role}", hide_details=True, classes="mb-1", show_size=True)
            html.Div(f"{{{{ {UPLOAD_MESSAGE_STATE} }}}}", v_if=UPLOAD_MESSAGE_STATE, id="imr-upload-message",
                     classes="text-caption text-error mb-1")
            with html.Div(classes="d-flex ga-1 mb-1"):
                for name, state in TIMING_STATES.items():
                    v3.VTextField(v_model=(state,), label=f"DSC {name.upper()} (s)", placeholder="from header",
                                  persistent_placeholder=True, density="compact", id=f"imr-dsc-{name}",
                                  hide_details=True)
            v3.VBtn("Open uploaded patient", id="imr-upload-open", block=True, click=controller.open_uploaded,
                    disabled=(missing_required_js(),))


def _results_panel() -> None:
    with v3.VCard(id="imr-results", variant="tonal"):
        v3.VCardTitle("Results")
        with v3.VCardText():
            v3.VChip(
                "{{ imr_results.verdict }}",
                id="imr-badge",
                color=("imr_results.significant ? 'red' : 'green'",),
                classes="mb-2",
            )
            with html.Table(style="width: 100%"):
                for measure in RESULT_ROWS:
                    with html.Tr():
                        html.Td(measure.title)
                        html.Td(f"{{{{ imr_results.{measure.key} }}}} {measure.unit}", id=f"imr-{measure.key}",
                                style="text-align: right")
            html.Div("Warnings: {{ imr_results.warnings }}", v_if=("imr_results.warnings",), id="imr-warnings",
                     classes="text-caption text-warning mt-2")
            html.Div("Parameters: {{ imr_results.parameters }}", id="imr-parameters", classes="text-caption mt-2")


def _guided_panel() -> None:
    """The method step by step; the server shows each step in the views when ``imr_step`` changes."""
    with v3.VCard(variant="outlined", id="imr-guided"):
        with v3.VCardTitle(classes="d-flex align-center"):
            html.Span("Guided mode")
            v3.VSpacer()
            v3.VBtn("Start", id="imr-guided-start", size="small", v_if="imr_step < 0", disabled=("!imr_ready",),
                    click="imr_step = 0")
            v3.VBtn("Stop", id="imr-guided-stop", size="small", v_else=True, click="imr_step = -1")
        with v3.VCardText(v_if="imr_step >= 0"):
            html.Div("{{ imr_step + 1 }}/{{ imr_steps.length }} {{ imr_steps[imr_step].title }}",
                     id="imr-step-title", classes="text-subtitle-1")
            html.Div("{{ imr_steps[imr_step].sentence }}", id="imr-step-sentence", classes="text-body-2 my-2")
            v3.VBtn("Previous", id="imr-step-previous", size="small", disabled=("imr_step === 0",),
                    click="imr_step = imr_step - 1")
            v3.VBtn("Next", id="imr-step-next", size="small", classes="ml-2",
                    disabled=("imr_step === imr_steps.length - 1",), click="imr_step = imr_step + 1")


def _display_panel() -> None:
    v3.VSwitch(v_model=("imr_show_asymmetry", True), label="Asymmetry map overlay", density="compact",
               hide_details=True, color="primary")


def _editor_panel(controller) -> None:
    with v3.VCard(variant="outlined"):
        v3.VCardTitle("Correct the masks")
        with v3.VCardText():
            with v3.VBtnToggle(v_model=("imr_segment", EDITABLE_SEGMENTS[0]), mandatory=True, density="compact"):
                for name in EDITABLE_SEGMENTS:
                    v3.VBtn(name, value=name, id=f"imr-segment-{name.lower()}")
            with html.Div(classes="d-flex flex-wrap ga-1 mt-2"):
                for name in EFFECTS:
                    v3.VBtn(icon=TOOL_ICONS[name], value=name, id=f"imr-tool-{name}", size="small", title=name,
                            variant=(f"imr_effect === '{name}' ? 'flat' : 'text'",),
                            click=f"imr_effect = '{name}'")
                v3.VBtn(icon="mdi-undo", id="imr-undo", size="small", title="undo", click=controller.undo,
                        disabled=("!imr_can_undo",))
                v3.VBtn(icon="mdi-redo", id="imr-redo", size="small", title="redo", click=controller.redo,
                        disabled=("!imr_can_redo",))
            v3.VBtn("Keep largest island", id="imr-islands-keep-largest", size="small", v_if="imr_effect === 'islands'",
                    click=controller.keep_largest_island, classes="mt-1")
            with html.Div(v_if="imr_effect === 'threshold'", classes="d-flex align-center ga-1 mt-1"):
                v3.VTextField(v_model=("imr_threshold_low",), label=("`${imr_map_label} from`",), type="number",
                              density="compact", id="imr-threshold-low", hide_details=True)
                v3.VTextField(v_model=("imr_threshold_high",), label="to", type="number", density="compact",
                              id="imr-threshold-high", hide_details=True)
                v3.VBtn("Apply", id="imr-threshold-apply", size="small", click=controller.apply_threshold)
            v3.VBtn("Centre views on IMR", id="imr-centre", size="small", variant="text", classes="mt-1",
                    click=controller.centre_on_imr)


MIDLINE_STEPS = (  # button id, icon, shift (mm), turn (degrees)
    ("left", "mdi-arrow-left", -1.0, 0.0),
    ("right", "mdi-arrow-right", 1.0, 0.0),
    ("anticlockwise", "mdi-rotate-left", 0.0, 1.0),
    ("clockwise", "mdi-rotate-right", 0.0, -1.0),
)


def _midline_panel(controller) -> None:
    """Nudge the mid-sagittal plane (1 mm, 1 degree about the superior axis); Recompute uses the moved plane."""
    with html.Div(classes="d-flex align-center ga-1"):
        html.Span("Midline", classes="mr-2")
        for name, icon, shift, turn in MIDLINE_STEPS:
            v3.VBtn(icon=icon, id=f"imr-midline-{name}", size="small", title=f"{name}", disabled=("!imr_ready",),
                    click=f"trigger('{MIDLINE_TRIGGER}', [{shift}, {turn}])")
        v3.VBtn("Reset", id="imr-midline-reset", size="small", variant="text", disabled=("!imr_ready",),
                click=controller.reset_midline)
        html.Span("{{ imr_midline_moved[0] }} mm, {{ imr_midline_moved[1] }}°", id="imr-midline-moved",
                  classes="text-caption")


def _parameters_panel() -> None:
    with v3.VExpansionPanels(), v3.VExpansionPanel(title="Parameters", id="imr-parameters-panel"):
        with v3.VExpansionPanelText():
            for field in NUMBER_FIELDS:
                v3.VTextField(v_model=(field.state,), label=(field.label_state,), density="compact",
                              type="text" if field.accepts_auto else "number",
                              id=f"imr-param-{field.name}", hide_details=True, classes="mb-2")
            v3.VSelect(v_model=(DIRECTION_STATE,), items=("directions", list(DIRECTIONS)), density="compact",
                       label="Impaired when the map is", id="imr-param-direction", hide_details=True)


def _export_panel(controller) -> None:
    with html.Div(classes="d-flex align-center ga-2"):
        v3.VBtn("Export", id="imr-export", disabled=("imr_busy || !imr_ready",), click=controller.export)
        html.A("Download {{ imr_export_name }}", id="imr-download", href=("imr_export_url",),
               download=("imr_export_name",), v_if="imr_export_url")
