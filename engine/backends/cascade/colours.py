"""Named dominant colours of a frame and where in the frame they sit, from an HSV classification of a thumbnail."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

COLOURS = frozenset(
    ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "white", "gray", "black")
)
THUMB_SIZE = (64, 36)  # (width, height) the frame is shrunk to before classifying pixels

# OpenCV hue runs 0..179; each chromatic name owns the hue range [low, high).
_HUES: tuple[tuple[str, int, int], ...] = (
    ("red", 0, 8),
    ("orange", 8, 20),
    ("yellow", 20, 34),
    ("green", 34, 86),
    ("cyan", 86, 100),
    ("blue", 100, 130),
    ("purple", 130, 150),
    ("pink", 150, 170),
    ("red", 170, 180),
)
_DARK_V = 50  # value below which a pixel is black
_GREY_S = 45  # saturation below which a pixel is white or gray
_WHITE_V = 190  # value above which an unsaturated pixel is white
_BROWN_V = 150  # orange darker than this reads as brown
_BROWN_S = 110  # orange paler than this reads as brown too (a tabby's fur, wood, tan)


@dataclass(frozen=True, slots=True)
class ColourRegion:
    """A named colour covering ``fraction`` of the frame, centred at ``where`` (e.g. "top left", "centre")."""

    name: str
    fraction: float
    where: str

    def describe(self) -> str:
        return f"{self.name} {round(self.fraction * 100)}% {self.where}"


def place(mask: np.ndarray) -> str:
    """Where the true pixels of a non-empty mask sit: "whole frame" past 60 % cover, else e.g. "top left", "centre"."""
    ys, xs = np.nonzero(mask)
    if len(xs) > 0.6 * mask.size:
        return "whole frame"
    cx, cy = xs.mean() / mask.shape[1], ys.mean() / mask.shape[0]
    col = "left" if cx < 0.36 else "right" if cx > 0.64 else ""
    row = "top" if cy < 0.36 else "bottom" if cy > 0.64 else ""
    return " ".join(part for part in (row, col) if part) or "centre"


def colour_names(hsv: np.ndarray) -> np.ndarray:
    """An array of colour names (object dtype) for every pixel of an HSV (OpenCV ranges) image."""
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    names = np.empty(h.shape, dtype=object)
    for name, low, high in _HUES:
        names[(h >= low) & (h < high)] = name
    names[(h >= 8) & (h < 20) & ((v < _BROWN_V) | (s < _BROWN_S))] = "brown"
    grey = s < _GREY_S
    names[grey] = "gray"
    names[grey & (v >= _WHITE_V)] = "white"
    names[v < _DARK_V] = "black"
    return names


def dominant_colours(rgb: np.ndarray, *, min_fraction: float = 0.08, limit: int = 3) -> list[ColourRegion]:
    """The ``limit`` largest named colours of an RGB uint8 frame that cover at least ``min_fraction`` of it."""
    thumb = cv2.resize(rgb, THUMB_SIZE, interpolation=cv2.INTER_AREA)
    names = colour_names(cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV))
    total = names.size
    labels, counts = np.unique(names, return_counts=True)
    regions = []
    for index in np.argsort(-counts):
        fraction = counts[index] / total
        if fraction < min_fraction or len(regions) == limit:
            break
        regions.append(ColourRegion(str(labels[index]), round(float(fraction), 3), place(names == labels[index])))
    return regions
