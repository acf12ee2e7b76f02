"""One patient, from the files a user names to the result folder: the use case every front end shares.

A ``PatientRequest`` says what to read (each timepoint a map or the DSC series it is
computed from, the masks, a DICOM series the results refer to), how to analyse it and
where the results go; ``analyse`` executes it and ``run_patient`` writes its result
folder too. The command line's ``run`` and ``demo``, the cohort's workers and the Slicer
MRML logic (and through it the web workstation) build requests and go through here, so a
patient is checked and measured the same way whichever front end it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import SimpleITK as sitk

from .analysis.pipeline import AnalysisInputs, AnalysisResult, run_analysis
from .analysis.plane import Plane
from .analysis.registration import Cancel
from .errors import InputError
from .io.dicom_folders import dicom_series
from .io.images import check_map, read_map, read_mask, require_distinct, require_inside, require_overlap
from .io.patient_folder import map_role
from .io.safe_output import check_output_folder
from .parameters import AnalysisParameters, PatientFlags
from .perfusion.timepoint_map import map_from_dsc

if TYPE_CHECKING:
    from .io.dicom.reference import DicomReference

Say = Callable[[str], None]
TIMEPOINTS = ("post", "day5", "arrival")


@dataclass(frozen=True)
class MapSource:
    """A timepoint's map: a map file or DICOM folder, the DSC series the map is computed from, or
    an image already in memory (a Slicer node's voxels), which ``path`` then only names."""

    path: str
    dsc: bool = False
    series_uid: str | None = None  # the series of a DICOM folder holding several
    image: sitk.Image | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MaskSource:
    """A mask file or DICOM folder (``label`` picks one label of a multi-label image), or a 0/1 mask
    already in memory, which ``path`` then only names."""

    path: str
    label: int | None = None
    series_uid: str | None = None
    image: sitk.Image | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ReferenceSource:
    """The post-EVT DICOM series a NIfTI/NRRD map was made from; ``named`` is how messages name it."""

    path: str
    series_uid: str | None = None
    named: str = "DICOM reference series"


@dataclass(frozen=True)
class PatientRequest:
    """Everything one patient's analysis reads and writes; the masks' grids are in ``parameters``."""

    post: MapSource
    day5: MapSource
    lesion: MaskSource
    out: Path | None = None  # the result folder ``run_patient`` writes
    arrival: MapSource | None = None
    exclusion: MaskSource | None = None
    parameters: AnalysisParameters = field(default_factory=AnalysisParameters)
    flags: PatientFlags = field(default_factory=PatientFlags)
    midline: Plane | None = None
    midline_file: str | None = None  # the file ``midline`` was read from, which the results must not replace
    te: float | None = None  # seconds, overriding the DSC series' header
    tr: float | None = None
    dicom_reference: ReferenceSource | None = None
    overwrite: bool = False

    def timepoint(self, name: str) -> MapSource | None:
        return {"post": self.post, "day5": self.day5, "arrival": self.arrival}[name]

    def role(self, name: str) -> str:
        """How messages name a timepoint's map (``post-EVT rCBV map``)."""
        return map_role(name, self.parameters.perfusion_map)

    def input_paths(self) -> list[str]:
        """Every file or folder the request reads: the result folder may hold none of them."""
        sources = (self.post, self.day5, self.arrival, self.lesion, self.exclusion, self.dicom_reference)
        return [source.path for source in sources if _on_disk(source)] + (
            [self.midline_file] if self.midline_file else [])


@dataclass(frozen=True)
class PatientAnalysis:
    """A request's analysis: the request with every DICOM folder's series settled, what was read, the result."""

    request: PatientRequest
    inputs: AnalysisInputs
    result: AnalysisResult
    reference: DicomReference | None  # the post-EVT DICOM series the results refer to

    def recorded_inputs(self) -> dict[str, str]:
        """What metrics.json records under ``inputs``: each file read, each DICOM series chosen."""
        recorded = {**self.inputs.sources, **series_uids(self.request)}
        if self.request.dicom_reference is not None:
            recorded["dicom_reference"] = self.request.dicom_reference.path
        return recorded


def run_patient(request: PatientRequest, say: Say) -> dict:
    """The patient's result folder, written atomically; its measures."""
    if request.out is None:
        raise ValueError("run_patient writes a result folder: the request needs one (out)")
    check_output_folder(request.out, request.overwrite, request.input_paths())
    analysis = analyse(request, say)
    say_warnings(analysis.result.measures, say)
    say("writing the result folder")
    from .io.result_folder import export_results  # the writers (Pillow, pynrrd): loaded only when a result is written

    export_results(request.out, analysis.result, request.overwrite, {"inputs": analysis.recorded_inputs()},
                   request.input_paths(), analysis.reference)
    return analysis.result.measures


def analyse(request: PatientRequest, say: Say, cancel: Cancel | None = None,
            inputs: AnalysisInputs | None = None) -> PatientAnalysis:
    """The analysis of a request; the DICOM series its results refer to is settled before the analysis.

    ``inputs`` are the request's images already read and checked by ``load_inputs`` (a front end
    that checks on one thread and analyses on another, as the Slicer panel does).
    """
    request = settle_series(request)
    inputs = load_inputs(request, say) if inputs is None else inputs
    reference = dicom_reference(request, inputs.post, say)
    result = run_analysis(inputs, request.parameters, request.flags, request.midline, progress=say, cancel=cancel)
    return PatientAnalysis(request, inputs, result, reference)


def say_warnings(measures: dict, say: Say) -> None:
    """Each of the analysis's warnings as a line of its own."""
    for warning in filter(None, measures["warnings"].split("; ")):
        say(f"warning: {warning}")


def settle_series(request: PatientRequest) -> PatientRequest:
    """The request with the series of each DICOM folder it names, read before any work.

    A folder holding several series needs the source's ``series_uid``; a folder with one
    series is that series.
    """
    changes = {}
    for name, source in _sources(request).items():
        if _on_disk(source) and Path(source.path).is_dir():
            changes[name] = replace(source, series_uid=dicom_series(source.path, _named(request, name, source),
                                                                    source.series_uid).uid)
    return replace(request, **changes)


def _sources(request: PatientRequest) -> dict[str, MapSource | MaskSource | ReferenceSource | None]:
    """Every input by the field that holds it, in the order metrics.json lists their series."""
    return {"arrival": request.arrival, "post": request.post, "day5": request.day5, "lesion": request.lesion,
            "exclusion": request.exclusion, "dicom_reference": request.dicom_reference}


def _named(request: PatientRequest, name: str, source: MapSource | MaskSource | ReferenceSource) -> str:
    """How messages name an input: its map, its mask, or the reference as the front end named it."""
    if isinstance(source, ReferenceSource):
        return source.named
    return request.role(name) if name in TIMEPOINTS else f"{name} mask"


def series_uids(request: PatientRequest) -> dict[str, str]:
    """``<role>_series_uid`` of each input read from a DICOM series (``reference_series_uid`` for the reference)."""
    return {f"{'reference' if name == 'dicom_reference' else name}_series_uid": source.series_uid
            for name, source in _sources(request).items() if source is not None and source.series_uid}


def _on_disk(source: MapSource | MaskSource | ReferenceSource | None) -> bool:
    return source is not None and getattr(source, "image", None) is None


def load_inputs(request: PatientRequest, say: Say) -> AnalysisInputs:
    """The request's images, read and checked against each other: the checks every front end shares."""
    say("reading and checking the inputs")
    post, day5, arrival = (_read_timepoint(request, name, say) for name in TIMEPOINTS)
    paths = {name: source.path for name in TIMEPOINTS if (source := request.timepoint(name)) is not None}
    for name, image in (("day5", day5), ("arrival", arrival)):
        if image is not None:
            require_distinct(post, paths["post"], request.role("post"), image, paths[name], request.role(name))
            require_overlap(post, paths["post"], image, paths[name])
    grids = {"day5": (day5, paths["day5"]), "post": (post, paths["post"])}
    parameters = request.parameters
    lesion = _mask(request.lesion, "lesion mask", allow_empty=False)
    require_inside(lesion, request.lesion.path, *grids[parameters.lesion_space], "lesion mask")
    exclusion = None
    if request.exclusion is not None:
        exclusion = _mask(request.exclusion, "exclusion mask", allow_empty=True)
        require_inside(exclusion, request.exclusion.path, *grids[parameters.exclusion_space], "exclusion mask")
    paths["lesion"] = request.lesion.path
    if request.exclusion is not None:
        paths["exclusion"] = request.exclusion.path
    return AnalysisInputs(post, day5, lesion, arrival, exclusion, paths)


def _read_timepoint(request: PatientRequest, name: str, say: Say) -> sitk.Image | None:
    """A timepoint's map: read as it is, or computed from its DSC series."""
    source = request.timepoint(name)
    if source is None:
        return None
    if source.image is not None:
        return check_map(source.image, source.path, request.role(name))
    if not source.dsc:
        return read_map(source.path, request.role(name), source.series_uid)
    say(f"computing the {request.role(name)} from the DSC series {source.path}")
    image = map_from_dsc(source.path, request.te, request.tr, request.parameters.perfusion_map, source.series_uid)
    return check_map(image, source.path, request.role(name))


def _mask(source: MaskSource, role: str, allow_empty: bool) -> sitk.Image:
    if source.image is not None:
        return source.image
    return read_mask(source.path, role, source.label, allow_empty=allow_empty, series=source.series_uid)


def dicom_reference(request: PatientRequest, post: sitk.Image, say: Say) -> DicomReference | None:
    """The series ``dicom/`` refers to: the request's reference (refused unless it matches the map), or
    the post-EVT map's own DICOM folder (when it cannot be one, the analysis goes on without ``dicom/``)."""
    given = request.dicom_reference
    own_folder = _on_disk(request.post) and not request.post.dsc and Path(request.post.path).is_dir()
    if given is None and not own_folder:
        return None
    from .io.dicom.reference import read_reference  # pydicom: only when DICOM is involved

    if given is not None:
        return read_reference(given.path, post, given.named, given.series_uid)
    try:
        return read_reference(request.post.path, post, request.role("post"), request.post.series_uid)
    except InputError as error:
        say(f"warning: no DICOM results: {error}")
        return None
