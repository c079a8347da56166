"""Per-frame perception: colours, movement and scene cuts on every frame; OCR only when the picture has changed.

OCR costs far more than the rest, so a frame is read only when it is the first one, when the scene cut, when enough
of the picture changed since the last frame that was read, or when ``ocr_interval_s`` has passed since then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from engine.backends.cascade.colours import ColourRegion, dominant_colours, place
from engine.backends.cascade.ocr import TextLine, TextReader
from streams.items import VideoFrame

_CHANGE_SIZE = (160, 90)  # (width, height) of the grey thumbnail compared between frames


@dataclass(frozen=True, slots=True)
class PerceptionConfig:
    ocr_interval_s: float = 5.0  # read text at least this often, even when the picture looks unchanged
    ocr_change_fraction: float = 0.003  # share of pixels changed since the last read frame that triggers a new read
    ocr_min_interval_s: float = 1.0  # a change (not a scene cut) triggers a read at most this often: motion is cheap
    pixel_delta: int = 24  # grey-level difference that counts as a changed pixel
    motion_fraction: float = 0.02  # share of pixels changed since the previous frame that counts as movement
    scene_distance: float = 0.35  # Bhattacharyya distance of colour histograms that counts as a scene change


@dataclass(frozen=True, slots=True)
class Observation:
    """What one frame showed. ``texts`` is None when OCR was skipped (the picture had not changed)."""

    t: float
    colours: tuple[ColourRegion, ...]
    motion: float
    motion_where: str
    scene_change: bool
    texts: tuple[TextLine, ...] | None
    ocr_ms: float
    total_ms: float


def _check(frame: VideoFrame) -> np.ndarray:
    image = frame.image
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"frame at {frame.t:.2f} s: expected an RGB uint8 array (H, W, 3), got {dtype} {shape}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"frame at {frame.t:.2f} s: {image.shape[1]}x{image.shape[0]} is too small to look at")
    return image


class Perceiver:
    """Change-tracking perception for one stream (not thread-safe: one ingest thread per context)."""

    def __init__(self, reader: TextReader, config: PerceptionConfig | None = None) -> None:
        self.reader = reader
        self.config = config or PerceptionConfig()
        self._prev_grey: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._ocr_grey: np.ndarray | None = None
        self._ocr_t = float("-inf")
        self.frames = 0
        self.ocr_runs = 0

    def _changed(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.absdiff(a, b) > self.config.pixel_delta

    def observe(self, frame: VideoFrame) -> Observation:
        started = time.perf_counter()
        image = _check(frame)
        cfg = self.config
        small = cv2.resize(image, _CHANGE_SIZE, interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
        cv2.normalize(hist, hist)

        motion, motion_where, scene_change = 0.0, "", False
        if self._prev_grey is not None and self._prev_hist is not None:
            moved = self._changed(grey, self._prev_grey)
            motion = float(moved.mean())
            if motion >= cfg.motion_fraction:
                motion_where = place(moved)
            distance = cv2.compareHist(self._prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA)
            scene_change = distance >= cfg.scene_distance
        self._prev_grey, self._prev_hist = grey, hist

        since = frame.t - self._ocr_t
        read = (
            self._ocr_grey is None
            or scene_change
            or since >= cfg.ocr_interval_s
            or (
                since >= cfg.ocr_min_interval_s
                and float(self._changed(grey, self._ocr_grey).mean()) >= cfg.ocr_change_fraction
            )
        )
        texts: tuple[TextLine, ...] | None = None
        ocr_ms = 0.0
        if read:
            ocr_started = time.perf_counter()
            texts = tuple(self.reader.read(image))
            ocr_ms = (time.perf_counter() - ocr_started) * 1000
            self._ocr_grey, self._ocr_t = grey, frame.t
            self.ocr_runs += 1
        self.frames += 1
        return Observation(
            t=frame.t,
            colours=tuple(dominant_colours(image)),
            motion=round(motion, 4),
            motion_where=motion_where,
            scene_change=scene_change,
            texts=texts,
            ocr_ms=round(ocr_ms, 2),
            total_ms=round((time.perf_counter() - started) * 1000, 2),
        )
