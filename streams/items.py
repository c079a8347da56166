"""Timestamped items that sources yield and the engine consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
CHUNK_SAMPLES = 512  # 32 ms at 16 kHz: the Silero VAD window


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One video frame, RGB uint8 of shape (H, W, 3), at stream time ``t`` seconds."""

    t: float
    image: np.ndarray
    source: str = "video"


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Mono float32 samples in [-1, 1] at 16 kHz starting at stream time ``t`` seconds."""

    t: float
    samples: np.ndarray
    source: str = "audio"

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.t + self.duration


@dataclass(frozen=True, slots=True)
class TextInput:
    """A line of text typed to the assistant at stream time ``t``; ``turn_id`` names its turn (None: the session
    gives it one); ``standing`` False: it is only answered, never taken as a standing instruction."""

    t: float
    text: str
    source: str = "text"
    turn_id: str | None = None
    standing: bool = True


StreamItem = VideoFrame | AudioChunk | TextInput
