"""Video sources through OpenCV: a file or URL (replayed in media time) or a webcam (live)."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Callable, Iterator

import cv2
import numpy as np

from streams.items import VideoFrame
from streams.source import SourceError, iterate_in_thread

_TEXT_CODECS = {b"ansi"}  # FFmpeg's tty demuxer shows any text file as a video of rendered text
_MAX_BAD_RUN = 50  # consecutive undecodable frames after which the rest of a file is taken as missing


def _is_url(spec: str) -> bool:
    return "://" in spec


def _frame_count(cap: cv2.VideoCapture) -> int:
    """Frames the container declares (0 when unknown: live streams, images, some formats)."""
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if math.isfinite(count) and 0 < count < 1e9 else 0


class VideoFileSource:
    """Frames of a video file or stream URL, resampled to ``fps`` and stamped with media time."""

    kind = "video"
    live = False

    def __init__(self, path: str, *, fps: float = 2.0, name: str | None = None) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = str(path)
        self.fps = fps
        self.name = name or f"video:{os.path.basename(self.path) or self.path}"
        self.native_fps = 0.0
        self.frame_count = 0
        self.frames_decoded = 0
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        if not _is_url(self.path) and not os.path.exists(self.path):
            raise SourceError(f"{self.name}: file not found: {self.path}")
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            raise SourceError(f"{self.name}: cannot open as video (unreadable or unsupported format): {self.path}")
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
        if fourcc.to_bytes(4, "little") in _TEXT_CODECS:
            cap.release()
            raise SourceError(f"{self.name}: not a video (it is a text file): {self.path}")
        native = cap.get(cv2.CAP_PROP_FPS)
        self.native_fps = native if native and math.isfinite(native) and native > 0 else 0.0
        self.frame_count = _frame_count(cap)
        ok = cap.grab()
        if not ok:
            cap.release()
            raise SourceError(f"{self.name}: no decodable video frames in {self.path}")
        self._cap = cap

    def _frames(self) -> Iterator[VideoFrame]:
        """Frames at ``fps``. Undecodable frames of a file that declares its length are skipped (the decoder picks up
        again after damage); a file that ends short of that length raises ``SourceError`` after its last frame."""
        cap = self._cap
        if cap is None:
            raise SourceError(f"{self.name}: not opened")
        step = 1.0 / self.fps
        next_t = 0.0
        index = 0
        last_t = 0.0
        bad_run = 0
        grabbed = True  # open() grabbed the first frame already
        while True:
            if grabbed:
                t = index / self.native_fps if self.native_fps else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                last_t = t
                bad_run = 0
                self.frames_decoded += 1
                if t + 1e-6 >= next_t:
                    ok, bgr = cap.retrieve()
                    if ok and bgr is not None:
                        yield VideoFrame(t=round(t, 4), image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), source=self.name)
                        next_t = (math.floor(t / step + 1e-6) + 1) * step
            elif index >= self.frame_count or bad_run >= _MAX_BAD_RUN:
                break
            else:
                bad_run += 1
            index += 1
            grabbed = cap.grab()
        missing = self.frame_count - self.frames_decoded
        if missing > max(2, self.frame_count // 50):
            length = f" of {self.frame_count / self.native_fps:.2f} s" if self.native_fps else ""
            raise SourceError(
                f"{self.name}: {missing} of {self.frame_count} frames could not be decoded (decoded up to "
                f"{last_t:.2f} s{length}): the file is truncated or corrupt: {self.path}"
            )

    async def items(self, now: Callable[[], float]) -> AsyncIterator[VideoFrame]:
        async for frame in iterate_in_thread(self._frames, maxsize=4, name=self.name):
            yield frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class WebcamSource:
    """Live frames from a camera (an index, or a device path such as ``/dev/v4l/by-id/…``), at most ``fps`` per
    second, stamped with the session clock. A camera that stops delivering frames raises ``SourceError``."""

    kind = "video"
    live = True

    def __init__(self, device: int | str = 0, *, fps: float = 2.0) -> None:
        self.device = device
        self.fps = fps
        self.name = f"webcam:{device}"
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened() or not cap.grab():
            cap.release()
            where = f"at index {self.device}" if isinstance(self.device, int) else f"at {self.device}"
            raise SourceError(f"{self.name}: no camera device {where}")
        self._cap = cap

    async def items(self, now: Callable[[], float]) -> AsyncIterator[VideoFrame]:
        cap = self._cap
        if cap is None:
            raise SourceError(f"{self.name}: not opened")

        def frames() -> Iterator[np.ndarray]:
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    raise SourceError(f"{self.name}: camera stopped delivering frames")
                yield bgr

        step = 1.0 / self.fps
        next_t = 0.0
        async for bgr in iterate_in_thread(frames, maxsize=2, name=self.name):
            t = now()
            if t >= next_t:
                next_t = t + step
                yield VideoFrame(t=t, image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), source=self.name)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
