"""Every tunable of the analysis, in one typed place, with two named presets.

The definition is Valls Carbo et al., Front. Neurol. 2025 (doi
10.3389/fneur.2025.1478240): IMR is post-EVT rCBV more than 15 % below its mirror
homolog inside the day-5 lesion, significant above 5 mL. The ``published`` preset
applies it literally (a plain voxel-to-voxel ratio). The default, ``robust``, keeps the
same threshold and cut-off but compares each voxel with its mirror at the same
resolution, smooths as much as the measured noise needs, divides out a left-right
intensity gradient, and reports as not assessable the patients whose mirror cannot be
trusted: on maps with the noise, tilt and shading of real ones the literal ratio counts
noise as IMR. The command line, the Slicer parameter node and the web front end all map
onto this one object.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Union

from .errors import InputError

Direction = Literal["decrease", "increase"]
Asymmetry = Literal["ratio", "difference"]
MaskSpace = Literal["day5", "post"]
PerfusionMap = Literal["rcbv", "rcbf", "tmax"]
Smoothing = Union[float, Literal["auto"]]
AUTO = "auto"

MAP_LABELS: dict[str, str] = {"rcbv": "rCBV", "rcbf": "rCBF", "tmax": "Tmax"}
# What a map's own values are measured in, for a difference asymmetry (ratios are in %)
_DIFFERENCE_UNITS: dict[str, tuple[str, str]] = {  # map -> (unit shown, suffix of names)
    "rcbv": ("", "difference"), "rcbf": ("", "difference"), "tmax": ("s", "seconds"),
}
MAX_SMOOTHING_MM = 10.0  # beyond this the map is no longer compared voxel by voxel
TMAX_THRESHOLD_S = 2.0  # Tmax longer than the mirror's by this much counts as delayed
MAX_SEED = 2**32 - 1  # ITK's sampling seed is an unsigned 32-bit integer


@dataclass(frozen=True)
class AsymmetryScale:
    """How asymmetry values are shown and named, so Tmax seconds are never labelled as %.

    A ratio is shown in percent; a difference in the map's own unit (s for Tmax). The
    ``suffix`` ends the names of the asymmetry file and measure (``asymmetry_percent``,
    ``asymmetry_seconds``) so a column never holds two units.
    """

    map_label: str  # "rCBV", "Tmax": what the asymmetry compares
    unit: str  # "%", "s", or "" for a difference of relative values
    suffix: str  # "percent", "seconds" or "difference"
    factor: float  # shown value = stored asymmetry x factor
    threshold: float  # the parameter's threshold in shown units
    impaired_below: bool  # IMR is the side below the mirror (rCBV) rather than above (Tmax)

    @property
    def display_limit(self) -> float:
        """Half-range of a diverging colour scale: room for twice the threshold (50 % at least)."""
        if self.unit == "%":
            return float(max(50.0, math.ceil(2.0 * self.threshold / 10.0) * 10.0))
        return float(math.ceil(2.5 * self.threshold))

    @property
    def sides(self) -> tuple[str, str]:
        """Where IMR and where hyperperfusion lie against the mirror, in words: below, above for rCBV."""
        return ("below", "above") if self.impaired_below else ("above", "below")

    def shown(self, value: float) -> str:
        """A value with its unit, for legends and titles."""
        return f"{value:g} {self.unit}".rstrip()

    def stored(self, shown: float) -> float:
        """A value given in shown units (a threshold typed as 15 %) as the analysis keeps it (0.15)."""
        return shown / self.factor


@dataclass(frozen=True)
class AnalysisParameters:
    """Parameters of one IMR analysis.

    Attributes:
        threshold: asymmetry magnitude beyond which a voxel differs from its mirror
            homolog: a fraction (0.15 = 15 %) for a ratio, the map's unit (s for Tmax)
            for a difference.
        direction: which sign of asymmetry counts as impaired reperfusion. ``"decrease"``
            (value below the mirror, as for rCBV and rCBF) is the paper's; the opposite
            sign is reported as the ``Hyperperfusion`` segment. ``"increase"`` suits maps
            where impairment raises the value (Tmax).
        asymmetry: ``"ratio"`` (value - mirror) / mirror, free of the scale of relative
            maps (rCBV, rCBF); ``"difference"`` value - mirror, for maps in absolute
            units where a ratio means nothing (Tmax in seconds, near zero when normal).
        significance_ml: IMR volume above which IMR is called significant (mL).
        smoothing_mm: Gaussian sigma (mm) applied to the voxel and its mirror before the
            ratio; 0 = none; ``"auto"`` = the smallest sigma that brings the asymmetry noise
            of normal tissue under a third of the threshold (``asymmetry`` module).
        match_resolution: blur each voxel as the interpolation of its mirror value is
            blurred, so edges of grey matter, white matter and CSF do not read as asymmetry.
        shading_correction: divide out a smooth left-right intensity gradient (coil
            shading) fitted robustly on normal tissue; ratio asymmetry only.
        assessability_checks: report the patient as not assessable when the mirror cannot
            measure the lesion (abnormal mirror region, lesion on or across the plane, noise
            too high), and leave lesion voxels without a usable homolog out of IMR.
        floor_fraction: the ratio is left undefined where the mirror value is below this
            fraction of normal-tissue median rCBV (ventricles, sulci, outside the brain).
        brain_mask: restrict the asymmetry map to an automatic brain mask.
        min_cluster_ml: IMR and hyperperfusion clusters smaller than this are dropped (mL);
            0 keeps every voxel.
        registration: co-register arrival and day-5 to post-EVT; off when the inputs are
            already aligned.
        registration_seed: seed of the registration's metric sampling (determinism).
        lesion_space: timepoint whose grid the lesion mask was drawn on.
        exclusion_space: timepoint whose grid the exclusion mask was drawn on.
        perfusion_map: which map the asymmetry is measured on (rCBV in the paper); it
            names outputs and units. ``for_map`` gives each map's own defaults.
    """

    threshold: float = 0.15
    direction: Direction = "decrease"
    asymmetry: Asymmetry = "ratio"
    significance_ml: float = 5.0
    smoothing_mm: Smoothing = AUTO
    match_resolution: bool = True
    shading_correction: bool = True
    assessability_checks: bool = True
    floor_fraction: float = 0.25
    brain_mask: bool = True
    min_cluster_ml: float = 0.0
    registration: bool = True
    registration_seed: int = 20250214
    lesion_space: MaskSpace = "day5"
    exclusion_space: MaskSpace = "day5"
    perfusion_map: PerfusionMap = "rcbv"

    def __post_init__(self) -> None:
        for name in ("threshold", "significance_ml", "smoothing_mm", "floor_fraction", "min_cluster_ml"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not math.isfinite(value):
                raise InputError(f"{name} must be a finite number, got {getattr(self, name)}")
        if not 0 <= self.registration_seed <= MAX_SEED:
            raise InputError(f"registration seed must be in 0 to {MAX_SEED}, got {self.registration_seed}")
        if self.asymmetry not in ("ratio", "difference"):
            raise InputError(f"asymmetry must be 'ratio' or 'difference', got {self.asymmetry!r}")
        if self.asymmetry == "ratio" and not 0.0 < self.threshold < 1.0:
            raise InputError(f"threshold must be between 0 and 1 (fraction), got {self.threshold}")
        if self.threshold <= 0:
            raise InputError(f"threshold must be positive, got {self.threshold}")
        if self.direction not in ("decrease", "increase"):
            raise InputError(f"direction must be 'decrease' or 'increase', got {self.direction!r}")
        if self.significance_ml < 0:
            raise InputError(f"significance volume must be >= 0 mL, got {self.significance_ml}")
        if self.smoothing_mm != AUTO and not (isinstance(self.smoothing_mm, (int, float))
                                              and 0 <= self.smoothing_mm <= MAX_SMOOTHING_MM):
            raise InputError(f"smoothing must be 'auto' or between 0 and {MAX_SMOOTHING_MM:g} mm,"
                             f" got {self.smoothing_mm}")
        if not 0.0 <= self.floor_fraction < 1.0:
            raise InputError(f"floor fraction must be in [0, 1), got {self.floor_fraction}")
        if self.min_cluster_ml < 0:
            raise InputError(f"minimum cluster volume must be >= 0 mL, got {self.min_cluster_ml}")
        if self.perfusion_map not in MAP_LABELS:
            raise InputError(f"perfusion map must be one of {', '.join(MAP_LABELS)}, got {self.perfusion_map!r}")
        for name in ("lesion_space", "exclusion_space"):
            if getattr(self, name) not in ("day5", "post"):
                raise InputError(f"{name} must be 'day5' or 'post', got {getattr(self, name)!r}")

    @classmethod
    def preset(cls, name: str, **changes: Any) -> "AnalysisParameters":
        """A named definition (``robust``, the default, or ``published``) with changes on top."""
        if name not in PRESETS:
            raise InputError(f"unknown analysis preset {name!r}; choose from {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **changes})

    @property
    def automatic_smoothing(self) -> bool:
        return self.smoothing_mm == AUTO

    @classmethod
    def for_map(cls, perfusion_map: str, **changes: Any) -> "AnalysisParameters":
        """The defaults suited to a map: Tmax is compared in seconds and impaired when longer."""
        if perfusion_map == "tmax":
            defaults = {"threshold": TMAX_THRESHOLD_S, "direction": "increase", "asymmetry": "difference"}
        else:
            defaults = {}
        return cls(**{**defaults, "perfusion_map": perfusion_map, **changes})

    @classmethod
    def threshold_for_map(cls, perfusion_map: str, shown: float) -> float:
        """A threshold as users give it for ``perfusion_map`` (% of the mirror, or s for Tmax), as stored."""
        return cls.for_map(perfusion_map).asymmetry_scale.stored(shown)

    @property
    def asymmetry_scale(self) -> AsymmetryScale:
        if self.asymmetry == "ratio":
            unit, suffix, factor = "%", "percent", 100.0
        else:
            (unit, suffix), factor = _DIFFERENCE_UNITS[self.perfusion_map], 1.0
        return AsymmetryScale(MAP_LABELS[self.perfusion_map], unit, suffix, factor,
                              self.threshold * factor, self.direction == "decrease")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "AnalysisParameters":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown parameter(s): {', '.join(unknown)}")
        return cls(**values)

    def with_changes(self, **changes: Any) -> "AnalysisParameters":
        return replace(self, **changes)


PRESETS: dict[str, dict[str, Any]] = {
    "robust": {},
    # Valls Carbo et al. 2025 as written: unsmoothed voxel-to-voxel ratio, no correction,
    # no assessability checks beyond the patient flags
    "published": {"smoothing_mm": 0.0, "match_resolution": False, "shading_correction": False,
                  "assessability_checks": False},
}


@dataclass(frozen=True)
class PatientFlags:
    """Clinical findings that make IMR not assessable, as in the paper."""

    ica_occlusion: bool = False
    hemorrhagic_transformation: bool = False
    reocclusion: bool = False

    def not_assessable_reasons(self) -> list[str]:
        reasons = {
            "internal carotid artery occlusion": self.ica_occlusion,
            "haemorrhagic transformation": self.hemorrhagic_transformation,
            "arterial re-occlusion": self.reocclusion,
        }
        return [reason for reason, present in reasons.items() if present]
