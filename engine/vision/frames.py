"""Frames as the vision models take them: RGB uint8 (H, W, 3), letterboxed into a square model input."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.vision.types import Box

MIN_SIDE = 16


def as_rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as RGB uint8 (H, W, 3): grey (H, W) or (H, W, 1) is repeated, RGBA loses its alpha.

    Raises ValueError naming the shape or dtype for anything else, and for frames under 16 px on a side.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {image.dtype} with shape {image.shape}")
    shape = image.shape
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"frame of shape {shape} is not grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4)")
    if min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(f"frame of shape {shape} is too small to recognise anything (under {MIN_SIDE} px)")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was scaled into the top-left of a ``size`` square (padding right and bottom)."""

    scale: float
    size: int

    def to_frame(self, box: Box, shape: tuple[int, ...]) -> Box:
        h, w = shape[:2]
        return Box(
            float(np.clip(box.x0 / self.scale, 0, w)),
            float(np.clip(box.y0 / self.scale, 0, h)),
            float(np.clip(box.x1 / self.scale, 0, w)),
            float(np.clip(box.y1 / self.scale, 0, h)),
        )


def letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Scale ``rgb`` to fit a ``size``×``size`` square keeping its aspect ratio, padded with zeros."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=interpolation)
    return canvas, Letterbox(scale, size)


def square_region(rgb: np.ndarray, box: Box | None, margin: float = 0.1) -> np.ndarray:
    """The whole frame padded to a square, or ``box`` widened to a square plus ``margin`` of its longer side.

    Zeros fill whatever lies outside the frame.
    """
    h, w = rgb.shape[:2]
    if box is None:  # the whole frame, padded (not stretched, not cut) to a square
        side = max(h, w)
        cx, cy = w / 2, h / 2
    else:
        if box.width < 1 or box.height < 1:
            raise ValueError(f"box {box} is empty")
        side = max(box.width, box.height) * (1 + margin)
        cx, cy = box.centre
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    size = max(1, round(side))
    out = np.zeros((size, size, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if sx1 <= sx0 or sy1 <= sy0:
        raise ValueError(f"box {box} lies outside the {w}x{h} frame")
    out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out
