"""Query policies: decide whether a finished utterance is addressed to the assistant.

A policy gets the transcript, the utterance's times and its acoustic features and returns a ``GateDecision``.
Swappable: the session takes any object with ``decide``. The modes ``gate`` (learned) and ``wake`` are in
``engine.gate_policies``; ``always`` is ``AnswerEverything`` here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class GateDecision:
    accepted: bool
    reason: str
    score: float | None = None


@dataclass(frozen=True, slots=True)
class UtteranceFeatures:
    """Acoustic facts about one utterance, measured by the audio front end."""

    level_dbfs: float | None = None  # speech level (loud frames) in dB relative to full scale
    playback_overlap_s: float = 0.0  # seconds of the utterance during which the assistant's own speech was playing

    def __post_init__(self) -> None:
        if self.level_dbfs is not None and not math.isfinite(self.level_dbfs):
            raise ValueError(f"level_dbfs must be finite or None, got {self.level_dbfs}")
        if not (math.isfinite(self.playback_overlap_s) and self.playback_overlap_s >= 0):
            raise ValueError(f"playback_overlap_s must be finite and >= 0, got {self.playback_overlap_s}")


def utterance_features(
    samples: np.ndarray, *, start: float, end: float, playback: list[tuple[float, float]] | None = None
) -> UtteranceFeatures:
    """Level of the louder half of 20 ms frames of 16 kHz ``samples``, and overlap with ``playback`` intervals."""
    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    frame = 320
    count = len(audio) // frame
    level = None
    if count:
        rms = np.sqrt(np.mean(audio[: count * frame].reshape(count, frame) ** 2, axis=1))
        loud = np.sort(rms)[count // 2 :]
        level = round(20.0 * math.log10(max(float(np.sqrt(np.mean(loud**2))), 1e-10)), 1)
    overlap = sum(max(0.0, min(end, b) - max(start, a)) for a, b in playback or [])
    return UtteranceFeatures(level_dbfs=level, playback_overlap_s=round(overlap, 3))


class QueryPolicy(Protocol):
    def decide(
        self, text: str, *, start: float, end: float, features: UtteranceFeatures | None = None
    ) -> GateDecision: ...


class AnswerEverything:
    """Every non-empty utterance is a query (the ``always`` mode)."""

    def decide(self, text: str, *, start: float, end: float, features: UtteranceFeatures | None = None) -> GateDecision:
        if not text.strip():
            return GateDecision(False, "empty transcript")
        return GateDecision(True, "always")
