"""Reading DSC series: header TE/TR, overrides, and one-line refusals of unusable series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from IMRAnalysisLib.dsc_io import read_dsc, series_image
from IMRAnalysisLib.errors import InputError


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
