"""Echo suppression: the assistant's own voice coming back through the microphone must not count as the user.

The engine knows what it plays (``add_playback``: samples with the stream time playback starts). For each microphone
window while playback is recent, ``is_echo`` correlates the window against the played audio over the plausible
acoustic delays; a window that matches the reference (normalised cross-correlation ≥ ``threshold``) is echo and is
treated as silence by the VAD. A user talking over the playback lowers the correlation, so real barge-in still
gets through. Limits: this handles a loudspeaker-to-microphone path with a delay up to ``max_delay_s`` and little
reverberation; remote clients should rely on the browser's acoustic echo cancellation (``echoCancellation: true``).
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from engine.options import TurnOptions
from streams.items import SAMPLE_RATE

_DEFAULT = TurnOptions()  # the defaults live with the options


class EchoGuard:
    def __init__(
        self,
        *,
        threshold: float = _DEFAULT.echo_threshold,
        max_delay_s: float = _DEFAULT.echo_max_delay_s,
        keep_s: float = _DEFAULT.echo_keep_s,
        span_s: float = _DEFAULT.echo_span_s,
    ) -> None:
        self.threshold = threshold
        self.span = int(span_s * SAMPLE_RATE)
        self._mic: deque[tuple[float, np.ndarray]] = deque()
        self.max_delay = int(max_delay_s * SAMPLE_RATE)
        self.keep_s = keep_s
        self._segments: deque[tuple[float, np.ndarray]] = deque()
        self._lock = threading.Lock()
        self.suppressed_windows = 0

    def add_playback(self, t: float, samples: np.ndarray) -> None:
        """Audio the assistant plays, starting at stream time ``t`` (16 kHz mono float32)."""
        with self._lock:
            self._segments.append((t, samples.astype(np.float32, copy=False)))
            end = t + len(samples) / SAMPLE_RATE
            while self._segments and self._segments[0][0] + len(self._segments[0][1]) / SAMPLE_RATE < end - self.keep_s:
                self._segments.popleft()

    def playback_intervals(self) -> list[tuple[float, float]]:
        """Stream-time intervals during which the assistant's audio was playing."""
        with self._lock:
            return [(t, t + len(samples) / SAMPLE_RATE) for t, samples in self._segments]

    def _reference(self, t: float, n: int) -> np.ndarray | None:
        """Played audio from ``max_delay`` before ``t`` to the end of the window, or None when nothing played."""
        start = t - self.max_delay / SAMPLE_RATE
        length = self.max_delay + n
        out = np.zeros(length, np.float32)
        found = False
        with self._lock:
            for seg_t, samples in self._segments:
                offset = round((seg_t - start) * SAMPLE_RATE)
                lo, hi = max(0, offset), min(length, offset + len(samples))
                if lo < hi:
                    out[lo:hi] = samples[lo - offset : hi - offset]
                    found = True
        return out if found else None

    def _mic_span(self, t: float, window: np.ndarray) -> tuple[float, np.ndarray]:
        """The window with the contiguous microphone audio just before it, up to ``span`` samples."""
        end = t + len(window) / SAMPLE_RATE
        if self._mic and abs(self._mic[-1][0] + len(self._mic[-1][1]) / SAMPLE_RATE - t) > 1e-3:
            self._mic.clear()  # a gap: start over
        self._mic.append((t, window))
        while sum(len(w) for _, w in self._mic) - len(self._mic[0][1]) >= self.span:
            self._mic.popleft()
        samples = np.concatenate([w for _, w in self._mic])
        return end - len(samples) / SAMPLE_RATE, samples

    def is_echo(self, t: float, window: np.ndarray) -> bool:
        """Whether the microphone window starting at ``t`` is (mostly) the assistant's own playback.

        Call it for consecutive windows of one microphone: the decision uses the last ``span_s`` of them.
        """
        t, window = self._mic_span(t, window)
        if not self._segments:
            return False
        ref = self._reference(t, len(window))
        if ref is None:
            return False
        energy = float(np.dot(window, window))
        if energy < 1e-8:
            return False
        n = len(window)
        size = 1 << (len(ref) + n - 1).bit_length()
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(window, size)), size)[: len(ref) - n + 1]
        csum = np.concatenate([[0.0], np.cumsum(ref.astype(np.float64) ** 2)])
        ref_energy = csum[n:] - csum[:-n]
        valid = ref_energy > 1e-8
        if not valid.any():
            return False
        score = np.zeros_like(corr)
        score[valid] = corr[valid] / np.sqrt(ref_energy[valid] * energy)
        echo = float(score.max()) >= self.threshold
        if echo:
            self.suppressed_windows += 1
        return echo
