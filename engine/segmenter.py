"""Turns per-window speech probabilities into speech onsets and finished utterances.

Pure logic with no model inside, so it is tested with scripted probabilities. Windows are 512 samples (32 ms).
Hysteresis: speech starts when p >= ``threshold`` and only counts as silence once p < ``neg_threshold``; an
utterance ends after ``min_silence_ms`` of silence. Audio from ``pre_roll_ms`` before the onset is kept so the
first phoneme reaches ASR. Bursts shorter than ``min_speech_ms`` end as ``Utterance(too_short=True)``. After
``early_asr_ms`` of silence a ``Pause`` hands out the utterance so far, so transcription can start before the
utterance is declared over; if voice comes back after a ``Pause``, ``Resumed`` says so. The silence that ends an
utterance is ``wait_ms`` (``min_silence_ms`` unless given) until ``settle`` sets it for the pause in progress: a
semantic end of turn waits less after words that look finished and more after words that do not.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from engine.options import VadOptions
from streams.items import SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class Onset:
    t: float


@dataclass(frozen=True, slots=True)
class Pause:
    """Speech went quiet for ``early_asr_ms``: the utterance so far, to transcribe early. If speech resumes, a later
    ``Utterance`` will differ (a later ``end``); otherwise it ends with the same ``start`` and ``end``."""

    start: float
    end: float
    samples: np.ndarray


@dataclass(frozen=True, slots=True)
class Utterance:
    start: float
    end: float
    samples: np.ndarray  # pre-roll included
    too_short: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Resumed:
    """Voice came back at ``t`` after a ``Pause``: the utterance goes on, and what was judged of it so far is stale."""

    t: float


SegmentEvent = Onset | Pause | Resumed | Utterance


class SpeechSegmenter:
    def __init__(self, options: VadOptions | None = None, wait_ms: int | None = None) -> None:
        self.options = options or VadOptions()
        o = self.options
        self.wait_ms = o.min_silence_ms if wait_ms is None else wait_ms  # the silence that ends an utterance
        self._wait_ms = self.wait_ms  # for the pause in progress (``settle``)
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(o.pre_roll_ms / 32)))
        self._speech: list[np.ndarray] = []
        self._start: float | None = None
        self._pre_roll_samples = 0
        self._silence_s = 0.0
        self._last_voiced_end = 0.0
        self._paused = False  # a Pause was emitted for the current stretch of silence

    @property
    def in_speech(self) -> bool:
        return self._start is not None

    def push(self, t: float, window: np.ndarray, prob: float) -> list[SegmentEvent]:
        """Feed one window starting at stream time ``t`` with its speech probability."""
        o = self.options
        end = t + len(window) / SAMPLE_RATE
        if self._start is None:
            if prob >= o.threshold:
                self._start = t
                self._pre_roll_samples = sum(len(w) for w in self._pre_roll)
                self._speech = [*self._pre_roll, window]
                self._pre_roll.clear()
                self._silence_s = 0.0
                self._last_voiced_end = end
                return [Onset(t)]
            self._pre_roll.append(window)
            return []
        self._speech.append(window)
        out: list[SegmentEvent] = []
        if prob < o.neg_threshold:
            self._silence_s += end - t
        else:
            self._silence_s = 0.0
            self._last_voiced_end = end
            self._wait_ms = self.wait_ms
            if self._paused:
                self._paused = False
                out.append(Resumed(t))
        if self._silence_s * 1000 >= self._wait_ms:
            return [self._finish()]
        early = o.early_asr_ms and self._silence_s * 1000 >= o.early_asr_ms and not self._paused
        if early and (self._last_voiced_end - self._start) * 1000 >= o.min_speech_ms:
            self._paused = True
            return [Pause(start=self._start, end=self._last_voiced_end, samples=self._cut())]
        if end - self._start >= o.max_utterance_s:
            self._last_voiced_end = end
            return [*out, self._finish()]
        return out

    def settle(self, end: float, wait_ms: int) -> bool:
        """The silence that ends the utterance if it ends at ``end`` (the pause judged): ``wait_ms``. Nothing changes
        when voice came back since; returns whether it applied."""
        if self._start is None or self._last_voiced_end != end:
            return False
        self._wait_ms = wait_ms
        return True

    def flush(self) -> list[SegmentEvent]:
        """End of stream: close an utterance in progress."""
        return [self._finish()] if self._start is not None else []

    def _cut(self) -> np.ndarray:
        """The utterance's audio so far: pre-roll plus everything up to the end of the last voiced window."""
        assert self._start is not None
        keep = self._pre_roll_samples + round((self._last_voiced_end - self._start) * SAMPLE_RATE)
        samples = np.concatenate(self._speech)[:keep] if self._speech else np.zeros(0, np.float32)
        return samples.astype(np.float32, copy=False)

    def _finish(self) -> Utterance:
        assert self._start is not None
        start, end = self._start, self._last_voiced_end
        samples = self._cut()
        self._paused = False
        self._wait_ms = self.wait_ms
        too_short = (end - start) * 1000 < self.options.min_speech_ms
        self._start = None
        self._speech = []
        self._silence_s = 0.0
        return Utterance(start=start, end=end, samples=samples, too_short=too_short)
