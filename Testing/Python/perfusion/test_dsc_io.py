"""Reading DSC series: header TE/TR, overrides, and one-line refusals of unusable series."""

from __future__ import annotations

import gzip
import importlib.metadata
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from dicom_series import part10_dataset

from IMRAnalysisLib.cli import main
from IMRAnalysisLib.errors import InputError
from IMRAnalysisLib.io.dicom_frames import read_multiframe
from IMRAnalysisLib.perfusion.maps import perfusion_maps
from IMRAnalysisLib.perfusion.series import DscSeries, read_dsc, series_image
from IMRAnalysisLib.phantom.dsc import DscPhantomConfig, make_dsc_phantom


def _signal(dynamics: int = 30, drop: float = 0.4) -> np.ndarray:
    """(time, z, y, x): a bright head block whose signal dips at dynamic 10."""
    rng = np.random.default_rng(0)
    head = np.zeros((6, 10, 10), dtype=np.float32)
    head[1:5, 2:8, 2:8] = 800.0
    dip = 1.0 - drop * np.exp(-0.5 * ((np.arange(dynamics) - 12) / 2.0) ** 2)
    return (head[None] * dip[:, None, None, None] + rng.normal(0, 2, (dynamics,) + head.shape)).astype(np.float32)


def _write(path: Path, signal: np.ndarray, tr: float = 1.5, fields: dict[str, str] | None = None) -> Path:
    reference = sitk.Image([10, 10, 6], sitk.sitkFloat32)
    reference.SetSpacing((2.0, 2.0, 4.0))
    image = series_image(signal, reference, tr)
    for key, value in (fields or {}).items():
        image.SetMetaData(key, value)
    sitk.WriteImage(image, str(path))
    return path


def test_nrrd_fields_give_te_and_tr_in_ms(tmp_path: Path) -> None:
    path = _write(tmp_path / "dsc.nrrd", _signal(), fields={"EchoTime": "30", "RepetitionTime": "1500"})
    series = read_dsc(path)
    assert series.te == pytest.approx(0.03)
    assert series.tr == pytest.approx(1.5)
    assert series.signal.shape == (30, 6, 10, 10)
    assert series.reference.GetSpacing() == (2.0, 2.0, 4.0)


def test_nifti_time_spacing_gives_tr_and_options_override(tmp_path: Path) -> None:
    path = _write(tmp_path / "dsc.nii.gz", _signal(), tr=1.2)
    assert read_dsc(path, te=0.025).tr == pytest.approx(1.2)
    series = read_dsc(path, te=0.04, tr=1.0)
    assert (series.te, series.tr) == (0.04, 1.0)


def test_slicer_multivolume_style_vector_nrrd_is_time(tmp_path: Path) -> None:
    image = sitk.GetImageFromArray(np.moveaxis(_signal(), 0, -1), isVector=True)
    image.SetMetaData("MultiVolume.DICOM.EchoTime", "35")
    image.SetMetaData("MultiVolume.DICOM.RepetitionTime", "1400")
    sitk.WriteImage(image, str(tmp_path / "mv.nrrd"))
    series = read_dsc(tmp_path / "mv.nrrd")
    assert series.signal.shape == (30, 6, 10, 10)
    assert (series.te, series.tr) == pytest.approx((0.035, 1.4))


def test_dicom_folder_one_file_per_slice_and_time(tmp_path: Path) -> None:
    signal = _signal(dynamics=12)
    for t, volume in enumerate(signal):
        for z, plane in enumerate(volume):
            image = sitk.GetImageFromArray(plane[None].astype(np.int16))
            image.SetOrigin((0.0, 0.0, 4.0 * z))
            image.SetSpacing((2.0, 2.0, 4.0))
            for tag, value in {"0020|000d": "1.2.3", "0020|000e": "1.2.3.4", "0008|0018": f"1.2.3.4.{t}.{z}",
                               "0020|0100": str(t + 1), "0018|0081": "30", "0018|0080": "1500",
                               "0020|0032": f"0\\0\\{4.0 * z}", "0020|0037": "1\\0\\0\\0\\1\\0",
                               "0008|0060": "MR"}.items():
                image.SetMetaData(tag, value)
            writer = sitk.ImageFileWriter()
            writer.KeepOriginalImageUIDOn()
            writer.SetFileName(str(tmp_path / f"t{t:02d}_z{z:02d}.dcm"))
            writer.Execute(image)
    series = read_dsc(tmp_path)
    assert series.signal.shape == (12, 6, 10, 10)
    assert (series.te, series.tr) == pytest.approx((0.03, 1.5))
    np.testing.assert_allclose(series.signal[:, 3, 5, 5], np.round(signal[:, 3, 5, 5]), atol=1)


@pytest.mark.parametrize(
    ("signal", "options", "message"),
    [
        (_signal()[0], {"te": 0.03, "tr": 1.5}, "single 3D volume"),
        (_signal(dynamics=8), {"te": 0.03}, "only 8 time points"),
        (_signal(drop=0.0), {"te": 0.03}, "no contrast bolus"),
        (_signal(), {}, "does not record its echo time"),
        (_signal(), {"te": 0.0}, "echo time (TE) of 0 s is not plausible"),
        (_signal(), {"te": 30.0}, "echo time (TE) of 30 s is not plausible"),
        (_signal(), {"te": 0.03, "tr": 0.0}, "(TR) of 0 s is not plausible"),
        (np.minimum(_signal(), 700.0), {"te": 0.03}, "saturated"),
    ],
    ids=["3d", "few-dynamics", "no-bolus", "no-te", "te-zero", "te-absurd", "tr-zero", "saturated"],
)
def test_unusable_series_is_one_line_input_error(tmp_path: Path, signal: np.ndarray, options: dict,
                                                 message: str) -> None:
    path = tmp_path / "dsc.nii.gz"
    if signal.ndim == 3:
        sitk.WriteImage(sitk.GetImageFromArray(signal), str(path))
    else:
        _write(path, signal)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        read_dsc(path, **options)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)


def test_missing_series_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_dsc(tmp_path / "absent.nii.gz")



# --- enhanced multi-frame DICOM ---------------------------------------------------------

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


@pytest.fixture(scope="module")
def oblique_series() -> DscSeries:
    """A small phantom series on an oblique grid with a non-zero origin."""
    series = make_dsc_phantom(DscPhantomConfig(spacing_mm=(8.0, 8.0, 10.0), dynamics=40)).series
    reference = sitk.Image(series.reference.GetSize(), sitk.sitkFloat32)
    reference.SetSpacing(series.reference.GetSpacing())
    reference.SetOrigin((-87.5, 23.25, -41.0))
    reference.SetDirection(sitk.VersorTransform((1.0, 2.0, 3.0), np.radians(20.0)).GetMatrix())
    return DscSeries(series.signal, reference, series.te, series.tr, series.source)


def _ds(values: Iterable[float]) -> list[str]:
    """Decimal strings short enough for DICOM's DS."""
    return [f"{value:.10g}" for value in values]


def _frame_groups(series: DscSeries, t: int, z: int, slope: float, intercept: float) -> Dataset:
    """Per-frame groups; frame times step by TR, each slice a little later than the one before."""
    content, position, rescale, groups = Dataset(), Dataset(), Dataset(), Dataset()
    content.TemporalPositionIndex = t + 1
    moment = datetime(2026, 3, 4, 10) + timedelta(seconds=(t + z / series.signal.shape[1]) * series.tr)
    content.FrameAcquisitionDateTime = moment.strftime("%Y%m%d%H%M%S.%f")
    position.ImagePositionPatient = _ds(series.reference.TransformIndexToPhysicalPoint((0, 0, z)))
    rescale.RescaleSlope, rescale.RescaleIntercept, rescale.RescaleType = f"{slope:g}", f"{intercept:g}", "US"
    groups.FrameContentSequence, groups.PlanePositionSequence = [content], [position]
    groups.PixelValueTransformationSequence = [rescale]
    return groups


def _shared_groups(series: DscSeries, echo_ms: float | None) -> Dataset:
    """Orientation, pixel measures, an excitation TR that is not the time between dynamics, and TE."""
    direction = np.reshape(series.reference.GetDirection(), (3, 3))
    orientation, measures, timing, shared = Dataset(), Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = _ds(np.concatenate([direction[:, 0], direction[:, 1]]))
    measures.PixelSpacing = _ds(series.reference.GetSpacing()[1::-1])
    measures.SliceThickness = _ds(series.reference.GetSpacing()[2:])[0]
    timing.RepetitionTime = "1400"
    shared.PlaneOrientationSequence, shared.PixelMeasuresSequence = [orientation], [measures]
    shared.MRTimingAndRelatedParametersSequence = [timing]
    if echo_ms is not None:
        echo = Dataset()
        echo.EffectiveEchoTime = echo_ms
        shared.MREchoSequence = [echo]
    return shared


def _write_enhanced(folder: Path, series: DscSeries, echo_ms: float | None = 30.0, skip_frames: int = 0,
                    file_per_time_point: bool = False) -> np.ndarray:
    """Enhanced MR file(s) of the series' frames in shuffled order; returns the signal the stored values mean.

    Each time point has its own rescale slope and intercept. ``skip_frames`` leaves the
    last frames of the shuffled order out.
    """
    times, slices, rows, columns = series.signal.shape
    slope = (0.04 + 0.01 * (np.arange(times) % 3))[:, None, None, None]
    intercept = (-10.0 + np.arange(times) % 2)[:, None, None, None]
    stored = np.round((series.signal - intercept) / slope).astype(np.uint16)
    order = np.random.default_rng(3).permutation(times * slices)[: times * slices - skip_frames]
    files = {folder / f"t{t:02d}.dcm": order[order // slices == t] for t in range(times)} if file_per_time_point \
        else {folder / "dsc.dcm": order}
    study, series_uid = generate_uid(), generate_uid()
    for path, frames in files.items():
        dataset = part10_dataset(ENHANCED_MR)
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.Modality = study, series_uid, "MR"
        dataset.Rows, dataset.Columns, dataset.NumberOfFrames = rows, columns, len(frames)
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 0
        dataset.SharedFunctionalGroupsSequence = [_shared_groups(series, echo_ms)]
        dataset.PerFrameFunctionalGroupsSequence = [
            _frame_groups(series, t, z, slope[t, 0, 0, 0], intercept[t, 0, 0, 0])
            for t, z in (divmod(int(number), slices) for number in frames)]
        dataset.PixelData = stored.reshape(times * slices, rows, columns)[frames].tobytes()
        dataset.save_as(path, enforce_file_format=True)
    return (stored * slope + intercept).astype(np.float32)


@pytest.mark.parametrize("file_per_time_point", [False, True], ids=["one-file", "file-per-time-point"])
def test_enhanced_multiframe_dicom_reads_signal_geometry_and_times(tmp_path: Path, oblique_series: DscSeries,
                                                                   file_per_time_point: bool) -> None:
    meant = _write_enhanced(tmp_path, oblique_series, file_per_time_point=file_per_time_point)
    assert pydicom.dcmread(next(tmp_path.iterdir())).SOPClassUID == ENHANCED_MR
    sources = [tmp_path] if file_per_time_point else [tmp_path, tmp_path / "dsc.dcm"]
    for source in sources:
        series = read_dsc(source)
        np.testing.assert_array_equal(series.signal, meant)
        np.testing.assert_allclose(series.signal, oblique_series.signal, atol=0.03)
        for name in ("GetOrigin", "GetSpacing", "GetDirection"):
            np.testing.assert_allclose(getattr(series.reference, name)(), getattr(oblique_series.reference, name)(),
                                       atol=1e-4, err_msg=name)
        assert (series.te, series.tr) == pytest.approx((0.03, oblique_series.tr), abs=1e-6)
    overridden = read_dsc(tmp_path, te=0.04, tr=1.2)
    assert (overridden.te, overridden.tr) == (0.04, 1.2)


def test_enhanced_multiframe_gives_the_perfusion_maps_of_the_nifti(tmp_path: Path, oblique_series: DscSeries) -> None:
    meant = _write_enhanced(tmp_path, oblique_series)
    nifti = tmp_path / "dsc.nii.gz"
    sitk.WriteImage(series_image(meant, oblique_series.reference, oblique_series.tr), str(nifti))
    from_dicom = perfusion_maps(read_dsc(tmp_path / "dsc.dcm"))
    from_nifti = perfusion_maps(read_dsc(nifti, te=0.03))
    assert sorted(from_dicom.values) == sorted(from_nifti.values)
    assert np.nanmax(from_nifti.values["cbv"]) > 1.0
    for name, values in from_nifti.values.items():
        np.testing.assert_allclose(from_dicom.values[name], values, rtol=1e-5, atol=1e-6, err_msg=name)


def _without_position(dataset: Dataset) -> None:
    del dataset.PerFrameFunctionalGroupsSequence[4].PlanePositionSequence


def _tilted_frame(dataset: Dataset) -> None:
    orientation = Dataset()
    orientation.ImageOrientationPatient = ["1", "0", "0", "0", "0.8", "0.6"]
    dataset.PerFrameFunctionalGroupsSequence[4].PlaneOrientationSequence = [orientation]


def _second_echo_frame(dataset: Dataset) -> None:
    echo = Dataset()
    echo.EffectiveEchoTime = 60.0
    dataset.PerFrameFunctionalGroupsSequence[4].MREchoSequence = [echo]


def _uneven_top_slice(dataset: Dataset) -> None:
    """The last slice of every time point moved 1 mm further along the normal."""
    orientation = np.array(dataset.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                           .ImageOrientationPatient, float)
    normal = np.cross(orientation[:3], orientation[3:])
    positions = [groups.PlanePositionSequence[0] for groups in dataset.PerFrameFunctionalGroupsSequence]
    top = max(np.array(item.ImagePositionPatient, float) @ normal for item in positions)
    for item in positions:
        point = np.array(item.ImagePositionPatient, float)
        if point @ normal > top - 0.1:
            item.ImagePositionPatient = _ds(point + normal)


@pytest.mark.parametrize(
    ("options", "change", "message"),
    [({"skip_frames": 1}, None, "the DSC series time points have different numbers of slices (16 to 17)"),
     ({"echo_ms": None}, None, "the DSC series does not record its echo time (TE); give it in seconds (--te)"),
     ({}, _without_position, "the DSC series frame 5 has no position in its functional groups"),
     ({}, _tilted_frame, "the DSC series frames have mixed image orientations"),
     ({}, _second_echo_frame, "the DSC series frames have mixed echo times"),
     ({}, _uneven_top_slice, "the DSC series slices are not evenly spaced (gaps from 10.000 to 11.000 mm)")],
    ids=["missing-frame", "no-te", "no-position", "mixed-orientation", "two-echoes", "uneven-slices"],
)
def test_bad_enhanced_multiframe_is_one_line_error(tmp_path: Path, oblique_series: DscSeries,
                                                   capsys: pytest.CaptureFixture, options: dict,
                                                   change: Callable[[Dataset], None] | None, message: str) -> None:
    folder = tmp_path / "dicom"
    folder.mkdir()
    _write_enhanced(folder, oblique_series, **options)
    if change is not None:
        dataset = pydicom.dcmread(folder / "dsc.dcm")
        change(dataset)
        dataset.save_as(folder / "dsc.dcm")
    status = main(["perfusion", "--quiet", "--dsc", str(folder), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured.err
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    named = folder if "echo time (TE)" in message else folder / "dsc.dcm"
    assert lines[0].startswith(f"imr-analysis: error: {named}: {message}"), lines[0]
    assert not (tmp_path / "out").exists()


def _shipped_enhanced_mr() -> Path | None:
    """A scanner-written Enhanced MR file (a Philips 3D T1, one time point) that nibabel ships with its tests."""
    try:
        package = importlib.metadata.distribution("nibabel")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(package.locate_file("nibabel/nicom/tests/data/philips_mprage.dcm.gz"))
    return path if path.is_file() else None


@pytest.mark.skipif(_shipped_enhanced_mr() is None, reason="nibabel's Enhanced MR test file is not installed")
def test_scanner_enhanced_mr_geometry_matches_gdcm(tmp_path: Path) -> None:
    path = tmp_path / "mprage.dcm"
    path.write_bytes(gzip.decompress(_shipped_enhanced_mr().read_bytes()))
    signal, reference, header = read_multiframe([path], path)
    assert signal.shape == (1, 176, 256, 256)
    by_gdcm = sitk.ReadImage(str(path))
    for name in ("GetSize", "GetOrigin", "GetSpacing", "GetDirection"):
        np.testing.assert_allclose(getattr(reference, name)(), getattr(by_gdcm, name)(), atol=1e-4, err_msg=name)
    assert header == pytest.approx({"te": 3.513e-3, "tr": 7.5693e-3}, abs=1e-7)
    with pytest.raises(InputError, match="single 3D volume"):
        read_dsc(path, te=0.03, tr=1.5)


def _with_nan(signal: np.ndarray) -> np.ndarray:
    signal = signal.copy()
    signal[5:9, 2, 4, 4] = np.nan
    return signal


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_series_with_nan_is_refused_saying_nan(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"dsc{suffix}"
    if suffix == ".nrrd":
        _write(path, _with_nan(_signal()))
    else:  # nibabel keeps the NaN in the file; SimpleITK alone would read them as 0
        nibabel = pytest.importorskip("nibabel")
        image = nibabel.Nifti1Image(np.transpose(_with_nan(_signal()), (3, 2, 1, 0)), np.eye(4))
        image.header.set_xyzt_units("mm", "sec")
        image.header["pixdim"][4] = 1.5
        nibabel.save(image, str(path))
    with pytest.raises(InputError, match="4 NaN") as error:
        read_dsc(path, te=0.03)
    assert str(path) in str(error.value)


def test_mean_subtracted_series_is_refused(tmp_path: Path) -> None:
    signal = _signal()
    path = _write(tmp_path / "centred.nrrd", signal - signal.mean(axis=0))
    with pytest.raises(InputError, match="strongly negative values") as error:
        read_dsc(path, te=0.03)
    assert str(path) in str(error.value)


def test_truncated_4d_nifti_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "cut.nii", _signal())
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 7 // 10])
    with pytest.raises(InputError, match="truncated") as error:
        read_dsc(path, te=0.03)
    assert str(path) in str(error.value)
