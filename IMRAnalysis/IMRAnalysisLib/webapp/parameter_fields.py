"""The analysis parameters as the page edits them: one state variable per field, in the page's units.

The threshold is shown in the asymmetry's unit (``AnalysisParameters.asymmetry_scale``):
percent of the mirror for rCBV and rCBF, seconds for Tmax; labels name the map. Values
are checked by ``AnalysisParameters`` itself, so the page refuses exactly what the
command line refuses, with the same message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..parameters import AUTO, MAP_LABELS, AnalysisParameters

DIRECTIONS = ("decrease", "increase")
PERFUSION_MAP_STATE = "imr_perfusion_map"
PERFUSION_MAPS = [{"title": label, "value": name} for name, label in MAP_LABELS.items()]


@dataclass(frozen=True)
class ParameterField:
    name: str  # the AnalysisParameters field
    label: str  # may name the map ({map}) and the asymmetry's unit ({unit})
    in_asymmetry_unit: bool = False  # page value = parameter value x the asymmetry's factor (100 for %)
    accepts_auto: bool = False  # the word "auto" lets the analysis choose (smoothing)

    @property
    def state(self) -> str:
        return f"imr_param_{self.name}"

    @property
    def label_state(self) -> str:
        return f"imr_label_{self.name}"

    def on_page(self, value: float, parameters: AnalysisParameters) -> float:
        """The parameter as the page shows it (a threshold of 0.15 as 15 %)."""
        return value * parameters.asymmetry_scale.factor if self.in_asymmetry_unit else value

    def from_page(self, value: float, parameters: AnalysisParameters) -> float:
        """A page value as the parameter keeps it: ``on_page`` undone."""
        return parameters.asymmetry_scale.stored(value) if self.in_asymmetry_unit else value

    def label_for(self, parameters: AnalysisParameters) -> str:
        scale = parameters.asymmetry_scale
        return self.label.format(map=scale.map_label, unit=scale.unit or "map units")


NUMBER_FIELDS = (
    ParameterField("threshold", "Asymmetry threshold ({unit})", in_asymmetry_unit=True),
    ParameterField("significance_ml", "Significant IMR above (mL)"),
    ParameterField("smoothing_mm", "Smoothing sigma (mm, or auto)", accepts_auto=True),
    ParameterField("floor_fraction", "Mirror floor (fraction of normal {map})"),
    ParameterField("min_cluster_ml", "Minimum cluster (mL)"),
)
DIRECTION_STATE = "imr_param_direction"


def page_values(parameters: AnalysisParameters) -> dict[str, Any]:
    """State variables showing ``parameters``: each field's value and its label."""
    values: dict[str, Any] = {DIRECTION_STATE: parameters.direction}
    for field in NUMBER_FIELDS:
        value = getattr(parameters, field.name)
        values[field.state] = AUTO if value == AUTO else round(field.on_page(value, parameters), 6)
        values[field.label_state] = field.label_for(parameters)
    return values


def parameters_from_page(state: Any, base: AnalysisParameters) -> AnalysisParameters:
    """``base`` with the page's values, read in ``base``'s units; the fields the page does not show stay."""
    changes: dict[str, Any] = {"direction": state[DIRECTION_STATE]}
    for field in NUMBER_FIELDS:
        if field.accepts_auto and str(state[field.state]).strip().lower() == AUTO:
            changes[field.name] = AUTO
        else:
            changes[field.name] = field.from_page(page_number(state[field.state], field.label_for(base)), base)
    return base.with_changes(**changes)


def page_number(value: Any, what: str) -> float:
    """A number from the page; ``nan`` and ``inf`` are refused too, as no parameter or coordinate means them."""
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise InputError(f"{what}: not a number ({value!r})") from error
    if not math.isfinite(number):
        raise InputError(f"{what}: not a finite number ({value!r})")
    return number
