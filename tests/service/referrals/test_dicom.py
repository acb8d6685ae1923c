"""DICOM studies read and rendered (service.referrals.dicom, .ecg) on real files nobody here wrote:
the test files that ship in pydicom's wheel (CT, MR, ultrasound, secondary capture, an ECG), in
every compression the service decodes, and damaged ones."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels.processing import apply_modality_lut, apply_windowing
from pydicom.uid import MPEG4HP41

from service.errors import InputError
from service.referrals import dicom, ecg, windowing

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def data(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, f"{name} is not in pydicom's wheel"
    return Path(str(path)).read_bytes()


def study(name: str) -> pydicom.Dataset:
    return dicom.read(data(name))


def picture(png: bytes) -> Image.Image:
    assert png.startswith(PNG_MAGIC)
    return Image.open(io.BytesIO(png))


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(picture(png))


def refused(call: object, *args: object, **kw: object) -> InputError:
    with pytest.raises(InputError) as e:
        call(*args, **kw)  # type: ignore[operator]
    return e.value


# ------------------------------------------------------------------------------ the key tags


def test_a_ct_studys_key_tags() -> None:
    s = dicom.summarise(study("CT_small.dcm"))
    assert (s.kind, s.modality, s.rows, s.columns, s.frames) == ("image", "CT", 128, 128, 1)
    assert s.study_date == "2004-01-19"
    assert s.transfer_syntax == "Explicit VR Little Endian"
    assert s.photometric == "MONOCHROME2" and not s.colour
    assert s.window is None  # the file has none: "auto" first, then every CT preset
    assert s.presets == ("auto", *windowing.CT_PRESETS)


def test_a_files_own_window_is_the_default() -> None:
    s = dicom.summarise(study("MR_small.dcm"))
    assert s.window == windowing.Window(600, 1600)
    assert s.presets == ("default", "auto")  # no CT window on an MR


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small.dcm", "examples_ybr_color.dcm", "waveform_ecg.dcm", "693_J2KI.dcm"]
)
def test_no_tag_names_or_identifies_the_patient(name: str) -> None:
    raw = pydicom.dcmread(io.BytesIO(data(name)))
    said = json.dumps(dicom.as_json(dicom.summarise(study(name))))
    assert "patient" not in said.lower()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "InstitutionName",
                    "ReferringPhysicianName", "AccessionNumber", "StudyInstanceUID"):  # fmt: skip
        value = str(raw.get(keyword, "")).strip()
        if len(value) > 2:
            assert value not in said, (name, keyword, value)


def test_a_multi_frame_ultrasound_and_its_transfer_syntax() -> None:
    s = dicom.summarise(study("examples_ybr_color.dcm"))
    assert (s.modality, s.frames, s.rows, s.columns) == ("US", 30, 240, 320)
    assert s.transfer_syntax == "JPEG Baseline (Process 1)"
    assert s.colour and s.presets == ()  # colour: no window applies


# ---------------------------------------------------------------------------------- frames


def test_a_frame_is_a_png_of_the_image() -> None:
    img = picture(dicom.render(study("CT_small.dcm"), frame=1))
    assert img.size == (128, 128) and img.mode == "L"


def test_presets_change_the_picture_and_custom_numbers_equal_a_preset() -> None:
    ds = study("CT_small.dcm")
    shown = {p: pixels(dicom.render(ds, frame=1, preset=p)) for p in ("lung", "bone", "abdomen", "auto")}
    assert len({a.tobytes() for a in shown.values()}) == 4
    # the lung window (W1500 L-600) makes soft tissue (around 40 HU) white; bone's makes it dark grey
    hu = apply_modality_lut(ds.pixel_array, ds)
    soft = (hu > 20) & (hu < 60)
    assert soft.sum() > 100
    assert shown["lung"][soft].mean() > 200 and shown["bone"][soft].mean() < 110
    custom = pixels(dicom.render(ds, frame=1, window=1500, level=-600))
    assert np.array_equal(custom, shown["lung"])


def test_the_window_is_dicoms_linear_function_as_pydicom_computes_it() -> None:
    """An independent check: pydicom's own VOI windowing, scaled to 8 bits, within one grey level."""
    ds = study("MR_small.dcm")
    ours = pixels(dicom.render(ds, frame=1, preset="default")).astype(int)
    values = apply_modality_lut(ds.pixel_array, ds)
    theirs = np.asarray(apply_windowing(values.astype(np.float64), ds))  # into the stored range
    bits = ds.BitsStored  # signed pixels: -2**(bits-1) .. 2**(bits-1) - 1; unsigned: 0 .. 2**bits - 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ds.PixelRepresentation else (0, 2**bits - 1)
    expected = np.rint((theirs - low) / (high - low) * 255).astype(int)
    assert len(np.unique(expected)) > 50  # a real picture, not a flat field
    assert np.abs(ours - expected).max() <= 1


def test_monochrome1_is_shown_inverted() -> None:
    ds = study("MR_small.dcm")
    normal = pixels(dicom.render(ds, frame=1)).astype(int)
    ds.PhotometricInterpretation = "MONOCHROME1"
    assert np.array_equal(pixels(dicom.render(ds, frame=1)).astype(int), 255 - normal)


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("MR_small_RLE.dcm", "RLE Lossless"),
        ("MR_small_jp2klossless.dcm", "JPEG 2000 Image Compression (Lossless Only)"),
        ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS Lossless Image Compression"),
        ("MR_small_expb.dcm", "Explicit VR Big Endian"),
    ],
)
def test_lossless_compression_decodes_to_the_same_picture(name: str, syntax: str) -> None:
    """RLE (pydicom or pylibjpeg-rle), JPEG 2000 (pylibjpeg-openjpeg), JPEG-LS (pylibjpeg-libjpeg)."""
    plain = dicom.render(study("MR_small.dcm"), frame=1)
    compressed = study(name)
    assert dicom.summarise(compressed).transfer_syntax == syntax
    assert np.array_equal(pixels(dicom.render(compressed, frame=1)), pixels(plain))


def test_a_lossy_jpeg_2000_ct_decodes_with_its_window() -> None:
    ds = study("693_J2KI.dcm")
    s = dicom.summarise(ds)
    assert s.transfer_syntax == "JPEG 2000 Image Compression" and s.presets[0] == "default"
    img = picture(dicom.render(ds, frame=1))
    assert img.size == (512, 512)
    assert picture(dicom.render(ds, frame=1, max_edge=256)).size == (256, 256)  # a phone's size


@pytest.mark.parametrize(
    ("name", "syntax", "size"),
    [
        ("JPGExtended.dcm", "JPEG Extended (Process 2 and 4)", (256, 1024)),  # 12-bit NM, pylibjpeg-libjpeg
        (
            "SC_rgb_jpeg_gdcm.dcm",
            "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
            (100, 100),
        ),
        ("image_dfl.dcm", "Deflated Explicit VR Little Endian", (512, 512)),  # pydicom itself
        ("GDCMJ2K_TextGBR.dcm", "JPEG 2000 Image Compression (Lossless Only)", (400, 400)),  # YBR_RCT
    ],
)
def test_each_transfer_syntax_the_docs_name_decodes(name: str, syntax: str, size: tuple[int, int]) -> None:
    ds = study(name)
    assert dicom.summarise(ds).transfer_syntax == syntax
    img = picture(dicom.render(ds, frame=1))
    assert img.size == size
    assert len(np.unique(np.asarray(img))) > 2  # a picture, not a blank


def test_jpeg_colour_is_converted_from_ybr() -> None:
    """The same picture as JPEG baseline in YBR_FULL and as RLE in RGB: the colours agree."""
    jpeg = pixels(dicom.render(study("SC_rgb_jpeg_dcmtk.dcm"), frame=1)).astype(int)
    rgb = pixels(dicom.render(study("SC_rgb_rle.dcm"), frame=1)).astype(int)
    assert jpeg.shape == rgb.shape == (100, 100, 3)
    assert np.abs(jpeg - rgb).mean() < 6  # lossy JPEG, but no colour shift (unconverted YBR is ~60 off)


def test_a_palette_colour_ultrasound_is_shown_in_colour() -> None:
    img = picture(dicom.render(study("examples_palette.dcm"), frame=1))
    assert img.mode == "RGB" and img.size == (800, 350)


def test_frames_of_a_multi_frame_study_differ_and_the_last_is_named() -> None:
    ds = study("examples_ybr_color.dcm")
    first, last = (pixels(dicom.render(ds, frame=n)) for n in (1, 30))
    assert first.shape == (240, 320, 3) and not np.array_equal(first, last)
    e = refused(dicom.render, ds, frame=31)
    assert (e.field, e.code, e.params) == ("path.frame", "less_than_equal", {"le": 30})
    assert refused(dicom.render, ds, frame=0).field == "path.frame"


def test_a_large_image_is_made_small_for_a_phone() -> None:
    img = picture(dicom.render(study("JPEG2000.dcm"), frame=1, max_edge=100))  # 1024 x 256
    assert img.size == (25, 100)


# --------------------------------------------------------------------------- asking wrongly


def test_windows_that_do_not_apply_are_refused_naming_the_field() -> None:
    mr, us = study("MR_small.dcm"), study("examples_ybr_color.dcm")
    e = refused(dicom.render, mr, frame=1, preset="lung")
    assert (e.field, e.code) == ("query.preset", "preset_not_applicable")
    assert refused(dicom.render, mr, frame=1, window=400).field == "query.level"
    assert refused(dicom.render, mr, frame=1, level=40).field == "query.window"
    e = refused(dicom.render, mr, frame=1, window=400, level=40, preset="auto")
    assert (e.field, e.code) == ("query.preset", "preset_and_window")
    e = refused(dicom.render, us, frame=1, window=400, level=40)
    assert (e.field, e.code) == ("query.window", "not_greyscale")
    assert refused(dicom.render, us, frame=1, preset="auto").field == "query.preset"


# ------------------------------------------------------------------------ damaged files


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "dicom_unreadable"),
        (b"this is not a DICOM file at all, just some words " * 40, "dicom_unreadable"),
        (bytes(range(256)) * 64, "dicom_unreadable"),
        (data("CT_small.dcm")[:3000], "dicom_unreadable"),  # cut short before its pixels
        (b"%PDF-1.4 hasil lab", "dicom_unreadable"),
    ],
)
def test_garbage_and_cut_short_files_are_unreadable(content: bytes, code: str) -> None:
    e = refused(dicom.read, content)
    assert (e.field, e.code) == ("attachment", code)


def test_a_file_cut_inside_its_pixels_cannot_be_decoded() -> None:
    ds = dicom.read(data("CT_small.dcm")[:20_000])
    e = refused(dicom.render, ds, frame=1)
    assert (e.field, e.code) == ("attachment", "dicom_pixels")
    # pydicom's own truncated file, and a JPEG whose stream is broken (a misplaced marker)
    assert refused(dicom.render, study("MR_truncated.dcm"), frame=1).code == "dicom_pixels"
    assert refused(dicom.render, study("JPEG-lossy.dcm"), frame=1).code == "dicom_pixels"


def test_a_dicom_file_without_an_image_says_so() -> None:
    for name in ("test-SR.dcm", "rtplan.dcm"):
        e = refused(dicom.read, data(name))
        assert (e.field, e.code) == ("attachment", "dicom_no_image"), name


def test_a_compression_nothing_here_decodes_is_named() -> None:
    ds = study("MR_small.dcm")
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    e = refused(dicom.render, ds, frame=1)
    assert (e.code, e.params) == ("dicom_codec", {"syntax": MPEG4HP41.name})


def test_a_frame_too_large_is_refused_before_it_is_decoded() -> None:
    ds = study("CT_small.dcm")
    ds.Rows = ds.Columns = 20_000
    assert refused(dicom.render, ds, frame=1).code == "dicom_too_large"


# --------------------------------------------------------------------------------- the ECG


def test_an_ecg_waveform_is_drawn_on_paper() -> None:
    ds = study("waveform_ecg.dcm")
    s = dicom.summarise(ds)
    assert (s.kind, s.modality, s.frames, s.presets) == ("waveform", "ECG", 2, ())
    rhythm = picture(dicom.render(ds, frame=1))  # 12 leads, 10 s at 1000 Hz
    assert rhythm.mode == "RGB" and 900 < rhythm.size[0] <= dicom.MAX_EDGE and rhythm.size[1] > 600
    a = np.asarray(rhythm).astype(int)
    dark = (a.sum(axis=2) < 150).mean()  # the traces (and labels) on the pink and white paper
    assert 0.005 < dark < 0.2, dark
    median = picture(dicom.render(ds, frame=2))  # the median beat: 1.2 s
    assert median.size[0] < rhythm.size[0]
    assert refused(dicom.render, ds, frame=1, preset="auto").code == "not_greyscale"
    assert refused(dicom.render, ds, frame=3).field == "path.frame"


def test_lead_names() -> None:
    assert [ecg.lead_name(m) for m in ("Lead I (Einthoven)", "Lead aVR", "Lead V6", "II")] == [
        "I",
        "aVR",
        "V6",
        "II",
    ]
