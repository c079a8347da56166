"""Protocols of the audio front end's models, so the session can be tested with scripted ones.

The real implementations are ``engine.vad.SileroVad``, ``engine.asr.WhisperTranscriber`` and
``engine.turn_end.TurnEndModel``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class WordTranscriber(Protocol):
    """A transcriber that can also say how sure it is of the last word (the semantic end of turn reads it)."""

    def transcribe_words(self, samples: np.ndarray) -> tuple[str, float | None]: ...


class TurnEndDetector(Protocol):
    def finished(self, text: str) -> float:
        """Probability that ``text``, what was said so far, is a finished turn (0 for no words)."""
        ...

    def finished_each(self, texts: Sequence[str]) -> list[float]:
        """``finished`` of each text, at once (what a model can read in one pass)."""
        ...
