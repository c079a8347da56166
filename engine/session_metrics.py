"""A session's running counters and the ``metrics`` event's values: frames and audio taken in, what the bounded queues
dropped, how far audio processing lags the stream, and time to first token over the latest responses."""

from __future__ import annotations

import time
from collections import deque

import numpy as np


class SessionMetrics:
    def __init__(self, interval_s: float, ttft_window: int) -> None:
        self.interval_s = interval_s
        self.frames = 0
        self.audio_chunks = 0
        self.lag_max = 0.0
        self.responses = 0
        self.ttft: deque[float] = deque(maxlen=ttft_window)
        self._started_wall = time.monotonic()
        self._next_t = interval_s
        self._frames_at_last = 0
        self._wall_at_last = self._started_wall

    def audio(self, chunks: int, lag: float) -> None:
        self.audio_chunks += chunks
        self.lag_max = max(self.lag_max, lag)

    def answered(self, ttft_ms: float) -> None:
        self.ttft.append(ttft_ms)
        self.responses += 1

    def due(self, now: float) -> bool:
        """Whether stream time ``now`` has reached the next report; if so, the one after is scheduled."""
        if now < self._next_t:
            return False
        while self._next_t <= now:
            self._next_t += self.interval_s
        return True

    def values(self, now: float, *, frames_dropped: int, audio_dropped: int) -> dict[str, float]:
        """The report at stream time ``now``; ``ingest_fps`` counts frames since the previous report."""
        wall = time.monotonic()
        window = max(1e-6, wall - self._wall_at_last)
        values: dict[str, float] = {
            "stream_s": round(now, 3),
            "wall_s": round(wall - self._started_wall, 3),
            "video_frames": self.frames,
            "video_frames_dropped": frames_dropped,
            "ingest_fps": round((self.frames - self._frames_at_last) / window, 2),
            "audio_chunks": self.audio_chunks,
            "audio_chunks_dropped": audio_dropped,
            "audio_lag_max_s": round(self.lag_max, 3),
            "responses": self.responses,
        }
        if self.ttft:
            values["ttft_ms_last"] = self.ttft[-1]
            values["ttft_ms_p50"] = float(np.percentile(self.ttft, 50))
        self._frames_at_last = self.frames
        self._wall_at_last = wall
        return values
