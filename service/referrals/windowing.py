"""VOI windows: which grey a value is shown as.

The radiographer's CT presets, the frame's own range, and DICOM's linear window function (PS3.3
C.11.2.1.2.1). Pure numpy; ``dicom`` decides which window a study and a request mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: the CT windows a radiographer expects, in Hounsfield units: name -> (width, level)
CT_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (80, 40),
    "subdural": (200, 75),
    "stroke": (40, 40),
    "lung": (1500, -600),
    "mediastinum": (350, 50),
    "abdomen": (400, 40),
    "liver": (150, 30),
    "bone": (2000, 500),
}
#: ``default``: the file's own window (WindowCenter/WindowWidth); ``auto``: the frame's min to max
Preset = Literal[
    "default", "auto", "brain", "subdural", "stroke", "lung", "mediastinum", "abdomen", "liver", "bone"
]
#: custom windows: the widest and the furthest level accepted (far beyond any modality's range)
MAX_WINDOW = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window: the centre (level) and the width, in the modality LUT's units."""

    center: float
    width: float


def preset(name: str) -> Window:
    """A CT preset by name."""
    width, level = CT_PRESETS[name]
    return Window(level, width)


def auto(values: np.ndarray) -> Window:
    """The frame's own range: its lowest value black, its highest white."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Window(0, 2)
    low, high = float(finite.min()), float(finite.max())
    return Window((low + high + 1) / 2, max(high - low + 1, 2))


def apply(values: np.ndarray, win: Window) -> np.ndarray:
    """Values to 0-255 through a linear VOI window (a width of 1 or less: a threshold)."""
    if win.width <= 1:
        return np.where(values > win.center - 0.5, 255, 0).astype(np.uint8)
    low = win.center - 0.5 - (win.width - 1) / 2
    scaled = ((values - (win.center - 0.5)) / (win.width - 1) + 0.5) * 255
    out = np.where(values <= low, 0, np.clip(scaled, 0, 255))
    grey: np.ndarray = np.rint(out).astype(np.uint8)
    return grey
