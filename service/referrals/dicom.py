"""A DICOM result shown on the page: its key tags (never the patient) and a frame as a PNG.

pydicom reads the file; the pylibjpeg plugins decode compressed pixel data (JPEG baseline,
extended and lossless, JPEG-LS, JPEG 2000 and HTJ2K; RLE too, which pydicom also decodes itself).
A greyscale frame goes through the modality LUT (rescale slope and intercept: Hounsfield units for
CT), then a VOI window (``windowing``: the file's own, a radiographer's preset, min/max, or
numbers), then MONOCHROME1 is inverted; colour (RGB, YBR, palette) is shown as colour. An ECG
(waveform storage) is drawn on ECG paper by ``ecg``. Everything here is blocking: the routes call
it on the thread pool.

A file that cannot be read, holds no image, or uses a compression nothing here decodes is an
``InputError`` on the field ``attachment`` with a code naming the problem, never a 500.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pydicom
import pydicom.config
from PIL import Image
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.pixels.utils import pixel_array
from pydicom.uid import UID, ImplicitVRLittleEndian

from service.errors import InputError
from service.referrals import ecg, windowing
from service.referrals.windowing import CT_PRESETS, MAX_WINDOW, Window

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# A viewer reads what it is given: a value that breaks its VR's rules (a date written "2013-1-5")
# is kept as written, not warned about on every read (a warning is an error under the tests).
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

#: the longest edge of a rendered frame (a phone's screen; zoom is the browser's)
MAX_EDGE = 1024
#: a frame this large is refused before it is decoded (rows x columns x samples)
MAX_FRAME_PIXELS = 36_000_000

FIELD = "attachment"


@dataclass(frozen=True, slots=True)
class Summary:
    """What a viewer shows next to the image: no tag naming or identifying the patient."""

    kind: Literal["image", "waveform"]
    modality: str | None
    body_part: str | None
    study_date: str | None
    series_description: str | None
    rows: int | None
    columns: int | None
    frames: int
    transfer_syntax: str
    photometric: str | None
    colour: bool
    #: the file's own window, when it has one
    window: Window | None
    #: the presets that apply to this study, the first one the default
    presets: tuple[str, ...]


def read(data: bytes) -> Dataset:
    """Parse a stored DICOM file (a Part 10 file, or a bare dataset without the preamble)."""
    try:
        ds: Dataset = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        ds = _read_bare(data)
    except Exception as e:  # pydicom raises anything on a damaged file
        raise _unreadable(e) from e
    try:  # pydicom converts each element when first read: a cut-short file fails here, not later
        for element in ds:
            _ = element.value
    except Exception as e:  # a damaged element makes pydicom raise anything
        raise _unreadable(e) from e
    if "PixelData" not in ds and "WaveformSequence" not in ds:
        if _image_storage(ds):  # an image's header, and the file ends before its pixels
            raise _unreadable(EOFError("the file ends before its image data: cut short?"))
        raise InputError(FIELD, "the DICOM file holds no image nor waveform", code="dicom_no_image")
    if "TransferSyntaxUID" not in ds.file_meta:  # a bare dataset: the default transfer syntax
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def _image_storage(ds: Dataset) -> bool:
    """Whether the dataset says it is an image (its class, or the image pixel module's tags)."""
    if "Rows" in ds or "BitsAllocated" in ds:
        return True
    sop = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
    return sop is not None and "Image Storage" in UID(str(sop)).name


def _read_bare(data: bytes) -> Dataset:
    """A dataset written without the DICM preamble: accepted when it looks like one."""
    try:
        ds: Dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as e:  # garbage makes pydicom raise anything
        raise _unreadable(e) from e
    if not any(k in ds for k in ("SOPClassUID", "Modality", "PixelData", "WaveformSequence")):
        raise _unreadable(InvalidDicomError("no DICOM element found"))
    return ds


def _damaged(what: str, e: Exception) -> InputError:
    """Pixel data (or what it needs) that a file has but that cannot be turned into an image."""
    return InputError(FIELD, f"{what} ({str(e)[:160]})", code="dicom_pixels")


def _unreadable(e: Exception) -> InputError:
    return InputError(FIELD, f"not a DICOM file that can be read ({str(e)[:120]})", code="dicom_unreadable")


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    text = str(value).strip() if value is not None else ""
    return text or None


def _int(ds: Dataset, keyword: str, default: int) -> int:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise InputError(FIELD, f"{keyword} is not a number ({value!r})", code="dicom_unreadable") from e


def _first(value: Any) -> float | None:  # noqa: ANN401  a DS or a multi-value of DS, as pydicom gives
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _date(ds: Dataset) -> str | None:
    raw = _text(ds, "StudyDate") or _text(ds, "SeriesDate") or _text(ds, "AcquisitionDate")
    if raw and len(raw) == 8 and raw.isdigit():
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    return raw


def file_window(ds: Dataset) -> Window | None:
    """The file's own (first) VOI window, when it has a usable one."""
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is None or width is None or width < 1:
        return None
    return Window(center, width)


def _transfer_syntax(ds: Dataset) -> UID:
    uid = ds.file_meta.get("TransferSyntaxUID")
    return UID(str(uid)) if uid else ImplicitVRLittleEndian


def _colour(ds: Dataset) -> bool:
    return _int(ds, "SamplesPerPixel", 1) > 1 or _text(ds, "PhotometricInterpretation") == "PALETTE COLOR"


def presets(ds: Dataset) -> tuple[str, ...]:
    """The windows that mean something for this study, the default first: none for colour."""
    if "PixelData" not in ds or _colour(ds):
        return ()
    own = ("default",) if file_window(ds) else ()
    ct = tuple(CT_PRESETS) if _text(ds, "Modality") == "CT" else ()
    return (*own, "auto", *ct)


def summarise(ds: Dataset) -> Summary:
    """The key tags of a study: what it shows and how it is stored, never who the patient is."""
    waveform = "PixelData" not in ds
    frames = len(ds.WaveformSequence) if waveform else _int(ds, "NumberOfFrames", 1)
    return Summary(
        kind="waveform" if waveform else "image",
        modality=_text(ds, "Modality"),
        body_part=_text(ds, "BodyPartExamined"),
        study_date=_date(ds),
        series_description=_text(ds, "SeriesDescription") or _text(ds, "StudyDescription"),
        rows=None if waveform else _int(ds, "Rows", 0),
        columns=None if waveform else _int(ds, "Columns", 0),
        frames=max(frames, 1),
        transfer_syntax=_transfer_syntax(ds).name,
        photometric=_text(ds, "PhotometricInterpretation"),
        colour=not waveform and _colour(ds),
        window=None if waveform else file_window(ds),
        presets=presets(ds),
    )


def as_json(s: Summary) -> dict[str, Any]:
    """A summary as the API answers it (``DicomOut``)."""
    out = asdict(s)
    out["presets"] = list(s.presets)
    return out


def choose_window(
    ds: Dataset, *, preset: str | None, window: float | None, level: float | None
) -> str | Window:
    """The window asked for, checked against the study: a preset's name or numbers.

    Each problem names its query field: a preset that does not apply (a CT window on an MR), a
    width without a level, numbers and a preset together, any window on a colour image.
    """
    allowed = presets(ds)
    if (window is None) != (level is None):
        missing = "level" if level is None else "window"
        raise InputError(f"query.{missing}", "window and level go together", code="missing")
    if window is not None and level is not None:
        if preset is not None:
            message = "a preset or a window and level, not both"
            raise InputError("query.preset", message, code="preset_and_window")
        if not allowed:
            raise InputError("query.window", "a colour image has no window", code="not_greyscale")
        if not (0 < window <= MAX_WINDOW and abs(level) <= MAX_WINDOW):
            raise InputError("query.window", "window out of range", code="invalid")
        return Window(level, window)
    if preset is None:
        return allowed[0] if allowed else "colour"
    if preset not in allowed:
        choices = ", ".join(allowed) or "none: a colour image"
        raise InputError(
            "query.preset",
            f"the preset {preset!r} does not apply to this study ({choices})",
            code="preset_not_applicable",
            params={"choices": choices},
        )
    return preset


def render(
    ds: Dataset,
    *,
    frame: int,
    preset: str | None = None,
    window: float | None = None,
    level: float | None = None,
    max_edge: int = MAX_EDGE,
) -> bytes:
    """One frame (counted from 1) as a PNG no larger than ``max_edge`` on its longest side."""
    info = summarise(ds)
    if not 1 <= frame <= info.frames:
        raise InputError(
            "path.frame",
            f"the study has {info.frames} frame(s)",
            code="less_than_equal",
            params={"le": info.frames},
        )
    if info.kind == "waveform":
        if preset is not None or window is not None or level is not None:
            field = "query.preset" if preset is not None else "query.window"
            raise InputError(field, "an ECG has no window", code="not_greyscale")
        return _png(ecg.draw(ds, group=frame - 1))
    chosen = choose_window(ds, preset=preset, window=window, level=level)
    pixels = _decode(ds, frame - 1, info, max_edge)
    if chosen == "colour":
        shown = _colour_bytes(ds, pixels)
    elif pixels.ndim != 2:
        raise InputError(FIELD, "a greyscale image with more than one sample per pixel", code="dicom_pixels")
    else:
        values = _modality(ds, pixels)
        grey = windowing.apply(values, _window(ds, values, chosen))
        shown = 255 - grey if info.photometric == "MONOCHROME1" else grey
    image = Image.fromarray(np.ascontiguousarray(shown))  # 8-bit: "L" for greyscale, "RGB" for colour
    image.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=6)
    return out.getvalue()


def _decode(ds: Dataset, index: int, info: Summary, max_edge: int) -> np.ndarray:
    """One frame's stored values, thinned to about twice ``max_edge`` before any arithmetic."""
    syntax = _transfer_syntax(ds)
    if syntax.is_compressed:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError as e:
            raise _codec(syntax) from e
        if not decoder.is_available:
            raise _codec(syntax)
    samples = _int(ds, "SamplesPerPixel", 1)
    if (info.rows or 0) * (info.columns or 0) * samples > MAX_FRAME_PIXELS:
        raise InputError(
            FIELD,
            f"a frame of {info.rows} x {info.columns} is too large to show here",
            code="dicom_too_large",
        )
    try:
        pixels = pixel_array(ds, index=index)
    except Exception as e:  # a decoder's errors are its own (truncated data, bad stream)
        raise _damaged("the image data cannot be decoded", e) from e
    if pixels.ndim < 2 or pixels.size == 0:
        raise InputError(FIELD, "the image data has no pixels", code="dicom_pixels")
    step = max(1, max(pixels.shape[:2]) // (2 * max_edge))
    return pixels[::step, ::step] if step > 1 else pixels


def _codec(syntax: UID) -> InputError:
    return InputError(
        FIELD,
        f"images compressed as {syntax.name} cannot be shown here",
        code="dicom_codec",
        params={"syntax": syntax.name},
    )


def _modality(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    """Stored values to the modality's units (rescale slope and intercept, or a modality LUT)."""
    try:
        values = apply_modality_lut(pixels, ds)
    except Exception as e:  # a damaged modality LUT or rescale value
        raise _damaged("the rescale values cannot be read", e) from e
    return np.asarray(values, dtype=np.float32)


def _window(ds: Dataset, values: np.ndarray, chosen: str | Window) -> Window:
    """The window a choice means for this frame: numbers, the file's own, min/max, a CT preset."""
    if isinstance(chosen, Window):
        return chosen
    if chosen == "default":
        return file_window(ds) or windowing.auto(values)
    if chosen == "auto":
        return windowing.auto(values)
    return windowing.preset(chosen)


def _colour_bytes(ds: Dataset, pixels: np.ndarray) -> np.ndarray:
    """A colour frame (RGB after pydicom's YBR conversion, or a palette) as 8-bit RGB."""
    if _text(ds, "PhotometricInterpretation") == "PALETTE COLOR":
        try:
            pixels = apply_color_lut(pixels, ds)
        except Exception as e:  # a damaged palette
            raise _damaged("the palette cannot be read", e) from e
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InputError(FIELD, "the colour image is not RGB", code="dicom_pixels")
    if pixels.dtype == np.uint8:
        return np.asarray(pixels, dtype=np.uint8)
    if _text(ds, "PhotometricInterpretation") == "PALETTE COLOR":  # 8- or 16-bit entries
        top = 255.0 if float(pixels.max()) <= 255 else 65535.0
    else:
        top = float(2 ** min(_int(ds, "BitsStored", 16), 32) - 1)
    scaled = np.clip(np.asarray(pixels, dtype=np.float32) / top * 255, 0, 255)
    out: np.ndarray = np.rint(scaled).astype(np.uint8)
    return out
