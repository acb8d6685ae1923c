"""An ECG stored as DICOM waveform (12-lead ECG storage and the like) drawn on ECG paper.

The standard paper: 25 mm per second, 10 mm per millivolt, 1 mm squares with a darker line every
5 mm; one row per lead, labelled, up to the first ten seconds of the multiplex group. Pure and
blocking (Pillow); the routes call it on the thread pool through ``dicom.render``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from service.errors import InputError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

MM_PER_S = 25.0
MM_PER_MV = 10.0
#: the longest strip drawn (a rhythm strip of an ECG cart is 10 s)
MAX_SECONDS = 10.0
#: millimetres per lead row (±1 mV fits; larger waves overlap the next row, as on paper)
ROW_MM = 20.0
#: pixels per millimetre at most, and the widest picture
PX_PER_MM = 4.0
MAX_WIDTH = 1024
LABEL_PX = 40
MAX_CHANNELS = 24
#: millivolts per unit of a channel's sensitivity (UCUM codes of ChannelSensitivityUnitsSequence)
TO_MV = {"uV": 0.001, "mV": 1.0, "V": 1000.0}
MINOR, MAJOR, TRACE = (255, 226, 226), (240, 170, 170), (20, 20, 20)


def lead_name(meaning: str) -> str:
    """A channel's code meaning as the lead's short name: "Lead I (Einthoven)" -> "I"."""
    name = re.sub(r"\s*\(.*?\)", "", meaning).strip()
    name = re.sub(r"^lead\s+", "", name, flags=re.IGNORECASE)
    return name[:8] or "?"


def _channels(group: Dataset) -> list[tuple[str, float]]:
    """Each channel's lead name and the factor from its values to millivolts."""
    out = []
    for i, c in enumerate(group.get("ChannelDefinitionSequence", [])):
        source = c.get("ChannelSourceSequence")
        meaning = str(source[0].get("CodeMeaning", "")) if source else ""
        units = c.get("ChannelSensitivityUnitsSequence")
        code = str(units[0].get("CodeValue", "uV")) if units else "uV"
        out.append((lead_name(meaning) if meaning else str(i + 1), TO_MV.get(code, 0.001)))
    return out


def draw(ds: Dataset, *, group: int) -> Image.Image:
    """One multiplex group (counted from 0) of a waveform dataset, as a picture of ECG paper."""
    try:
        seq = ds.WaveformSequence[group]
        hz = float(seq.SamplingFrequency)
        values = np.asarray(ds.waveform_array(group), dtype=np.float64)
    except Exception as e:  # a damaged waveform makes pydicom raise anything
        message = f"the waveform cannot be read ({str(e)[:120]})"
        raise InputError("attachment", message, code="dicom_pixels") from e
    if values.ndim != 2 or values.shape[0] < 2 or not 0 < hz <= 100_000:
        raise InputError("attachment", "the waveform has no samples", code="dicom_pixels")
    channels = _channels(seq)[: values.shape[1]]
    channels += [(str(i + 1), 0.001) for i in range(len(channels), values.shape[1])]
    channels = channels[:MAX_CHANNELS]
    n = min(values.shape[0], int(MAX_SECONDS * hz))
    seconds = n / hz
    ppm = min(PX_PER_MM, (MAX_WIDTH - LABEL_PX) / (seconds * MM_PER_S))
    width = LABEL_PX + round(seconds * MM_PER_S * ppm)
    row = ROW_MM * ppm
    height = round(row * len(channels) + 8 * ppm)
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    _paper(pen, width, height, ppm)
    font = ImageFont.load_default(size=max(10, round(3.5 * ppm)))
    t = np.arange(n) / hz
    xs = LABEL_PX + t * MM_PER_S * ppm
    for i, (name, to_mv) in enumerate(channels):
        base = row * (i + 0.5)
        trace = values[:n, i] * to_mv
        ys = np.clip(base - np.nan_to_num(trace) * MM_PER_MV * ppm, 0, height - 1)
        pen.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=TRACE, width=1)
        pen.text((4, base - 3 * ppm), name, fill=TRACE, font=font)
    legend = f"{MM_PER_S:g} mm/s · {MM_PER_MV:g} mm/mV · {hz:g} Hz"
    pen.text((LABEL_PX, height - 6 * ppm), legend, fill=TRACE, font=font)
    return image


def _paper(pen: ImageDraw.ImageDraw, width: int, height: int, ppm: float) -> None:
    """1 mm squares, a darker line every 5 mm, from the strip's start."""
    for major in (False, True):
        step = ppm * (5 if major else 1)
        colour = MAJOR if major else MINOR
        x = float(LABEL_PX)
        while x < width:
            pen.line([(x, 0), (x, height)], fill=colour)
            x += step
        y = 0.0
        while y < height:
            pen.line([(LABEL_PX, y), (width, y)], fill=colour)
            y += step
