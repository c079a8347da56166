"""Protocols of the audio front end's models, so the session can be tested with scripted ones.

The real implementations are ``engine.vad.SileroVad`` and ``engine.asr.WhisperTranscriber``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VoiceDetector(Protocol):
    def probability(self, window: np.ndarray) -> float:
        """Speech probability of one 512-sample float32 window at 16 kHz (stateful across calls)."""
        ...

    def reset(self) -> None: ...


class Transcriber(Protocol):
    def transcribe(self, samples: np.ndarray) -> str:
        """Text of a 16 kHz mono float32 utterance ('' when nothing intelligible)."""
        ...
