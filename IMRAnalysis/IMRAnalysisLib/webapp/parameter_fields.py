"""The analysis parameters as the page edits them: one state variable per field, in the page's units.

Values are checked by ``AnalysisParameters`` itself, so the page refuses exactly what
the command line refuses, with the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..parameters import AnalysisParameters

DIRECTIONS = ("decrease", "increase")


@dataclass(frozen=True)
class ParameterField:
    name: str  # the AnalysisParameters field
    label: str
    scale: float = 1.0  # page value = parameter value x scale

    @property
    def state(self) -> str:
        return f"imr_param_{self.name}"


NUMBER_FIELDS = (
    ParameterField("threshold", "Asymmetry threshold (%)", 100.0),
    ParameterField("significance_ml", "Significant IMR above (mL)"),
    ParameterField("smoothing_mm", "Smoothing sigma (mm)"),
    ParameterField("floor_fraction", "Mirror floor (fraction of normal rCBV)"),
    ParameterField("min_cluster_ml", "Minimum cluster (mL)"),
)
DIRECTION_STATE = "imr_param_direction"


def page_values(parameters: AnalysisParameters) -> dict[str, Any]:
    """State variables showing ``parameters``."""
    values = {field.state: round(getattr(parameters, field.name) * field.scale, 6) for field in NUMBER_FIELDS}
    return {**values, DIRECTION_STATE: parameters.direction}


def parameters_from_page(state: Any, base: AnalysisParameters) -> AnalysisParameters:
    """``base`` with the page's values; the fields the page does not show stay as they were."""
    changes: dict[str, Any] = {"direction": state[DIRECTION_STATE]}
    for field in NUMBER_FIELDS:
        try:
            changes[field.name] = float(state[field.state]) / field.scale
        except (TypeError, ValueError) as error:
            raise InputError(f"{field.label}: not a number ({state[field.state]!r})") from error
    return base.with_changes(**changes)
