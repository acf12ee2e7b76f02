"""Everything a result folder holds, written all-or-nothing.

The folder is assembled in a staging sibling and moved into place only when every file
is written, so an interrupted run never leaves half a result nor damages an old one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import SimpleITK as sitk

from ..analysis.pipeline import AnalysisResult
from ..conventions import verdict
from .images import write_image
from .metrics_files import write_metrics
from .overview import Overview, overview_picture, save_overview
from .result_views import method_summary, segments_of, shown_asymmetry
from .safe_output import staged_output_folder
from .segmentation_file import write_segmentation

if TYPE_CHECKING:
    from .dicom.reference import DicomReference


def write_folder_contents(folder: Path, result: AnalysisResult, measures: dict,
                          reference: DicomReference | None = None) -> None:
    """All result files into an existing (staging) folder; with ``reference``, the ``dicom/`` folder too.

    The overview is drawn while another thread writes the images: drawing holds the GIL,
    compressing and writing images mostly does not, so on two cores the two overlap.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        files = pool.submit(_write_data_files, folder, result, measures)
        save_overview(folder / "overview.png", _overview(result, measures))
        files.result()
    if reference is not None:
        from .dicom.export import write_dicom_folder  # highdicom only when DICOM is written (see dicom/)

        write_dicom_folder(folder, result, measures, reference)


def _write_data_files(folder: Path, result: AnalysisResult, measures: dict) -> None:
    """Metrics, segmentation, maps, transforms and the plane."""
    write_metrics(folder, measures)
    write_segmentation(folder / "Segmentation.seg.nrrd", segments_of(result), result.post)
    scale = result.parameters.asymmetry_scale
    write_image(shown_asymmetry(result), folder / f"asymmetry_{scale.suffix}.nrrd")
    write_image(result.asymmetry.mirrored, folder / f"mirrored_post_{result.parameters.perfusion_map}.nrrd")
    write_image(result.segments.lesion, folder / "lesion_on_post.nrrd")
    write_image(result.segments.exclusion, folder / "exclusion_on_post.nrrd")
    write_image(result.brain_mask, folder / "brain_mask.nrrd")
    for name, image in result.aligned.items():
        write_image(image, folder / f"{name}_on_post.nrrd")
    for name, registration in result.registrations.items():
        sitk.WriteTransform(registration.transform, str(folder / f"{name}_to_post.tfm"))
    (folder / "midline.json").write_text(json.dumps(result.midline.plane.to_dict(), indent=2) + "\n")


def _overview(result: AnalysisResult, measures: dict) -> Overview:
    return overview_picture(
        result.post,
        result.asymmetry.ratio,
        result.segments.lesion,
        result.segments.imr,
        result.segments.hyperperfusion,
        result.segments.exclusion,
        result.midline.plane,
        verdict(measures).sentence,
        result.parameters.asymmetry_scale,
        method_summary(measures),
    )


def export_results(out: Path, result: AnalysisResult, overwrite: bool = False, extra: dict | None = None,
                   inputs: Iterable[str | Path] = (), reference: DicomReference | None = None) -> Path:
    """Write the result folder atomically; ``extra`` is merged into the metrics (inputs...).

    ``inputs`` are the files the analysis read, which the result folder may not hold;
    ``reference`` is the post-EVT DICOM series the ``dicom/`` folder refers to, if any.
    """
    measures = {**result.measures, **(extra or {})}
    with staged_output_folder(Path(out), overwrite, inputs) as staging:
        write_folder_contents(staging, result, measures, reference)
    return Path(out)
