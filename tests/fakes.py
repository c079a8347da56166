"""Scripted stand-ins for models, for unit tests of the engine's timing logic.

The real models have their own end-to-end tests; these only make timelines deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from engine.backends.base import AnswerRequest, Capabilities
from engine.cancel import CancelToken
from streams.items import AudioChunk, VideoFrame


class ScriptedBackendContext:
    capabilities = Capabilities()  # a subclass that checks conditions says so

    """Answers with ``"answer to <query>"`` split into words (or ``words_per_answer`` filler words, each taking
    ``seconds_per_word`` in the decoding thread); with ``cites``, word i rests on notice ``n<i>`` (reported through
    ``on_evidence`` before it); records everything it was given."""

    def __init__(self, words_per_answer: int | None = None, seconds_per_word: float = 0.0, cites: bool = False) -> None:
        self.frames: list[float] = []
        self.audio_chunks = 0
        self.transcripts: list[tuple[float, float, str]] = []
        self.requests: list[AnswerRequest] = []
        self.steps_after_cancel = 0
        self.closed = False
        self.words_per_answer = words_per_answer
        self.seconds_per_word = seconds_per_word
        self.cites = cites

    def ingest_frame(self, frame: VideoFrame) -> None:
        self.frames.append(frame.t)

    def ingest_audio(self, chunk: AudioChunk) -> None:
        self.audio_chunks += 1

    def ingest_transcript(self, start: float, end: float, text: str) -> None:
        self.transcripts.append((start, end, text))

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        self.requests.append(request)
        words = f"answer to {request.query}".split()
        if self.words_per_answer is not None:
            words = [f"w{i}" for i in range(self.words_per_answer)]
        for i, word in enumerate(words):
            if cancel.cancelled:
                return
            time.sleep(self.seconds_per_word)  # stands for the compute of one decoding step
            if cancel.cancelled:
                self.steps_after_cancel += 1
            if self.cites and request.on_evidence is not None:
                request.on_evidence(tuple(f"n{j}" for j in range(i + 1)))
            yield word if i == 0 else " " + word

    def close(self) -> None:
        self.closed = True


class ScriptedVad:
    """Speech probability from the window's RMS: loud windows are speech."""

    def probability(self, window: np.ndarray) -> float:
        return 1.0 if float(np.sqrt(np.mean(window**2))) > 0.05 else 0.0

    def reset(self) -> None:
        """No state."""


class ScriptedTranscriber:
    """Returns the next scripted text for each call; a scripted exception is raised instead (a failed transcription).
    With early transcription on, a pause may take a text of its own: script failures with early_asr_ms=0."""

    def __init__(self, texts: list[str | Exception]) -> None:
        self.texts = list(texts)
        self.seen: list[int] = []

    def transcribe(self, samples: np.ndarray) -> str:
        self.seen.append(len(samples))
        text = self.texts.pop(0) if self.texts else ""
        if isinstance(text, Exception):
            raise text
        return text
