"""Spoken questions: the ``_stream`` variants' ``audio_path`` recordings mixed into the replayed audio at their time
stamps, and the query policy that takes exactly those utterances as queries.

The video's own audio stays content; an utterance is a query only when it starts inside a question's slot (from its
time stamp to the end of its recording plus one second), and only the first utterance of each slot counts.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from engine.gate import GateDecision, UtteranceFeatures
from streams.audio import AudioFileSource, to_mono_16k
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk
from streams.source import SourceError

SLACK_S = 1.0


def load_clip(path: Path) -> np.ndarray:
    """A recording as 16 kHz mono float32; raises ``ValueError`` naming the file."""
    if not path.exists():
        raise ValueError(f"question audio not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"question audio has no audio track: {path}")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            parts = [to_mono_16k(resampler, frame) for frame in container.decode(audio=0)]
            parts.append(to_mono_16k(resampler, None))
    except (av.FFmpegError, OSError) as exc:
        raise ValueError(f"unreadable question audio ({exc}): {path}") from None
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if not len(samples):
        raise ValueError(f"question audio is empty: {path}")
    return samples


@dataclass(frozen=True)
class SpokenQuestion:
    uid: str
    t: float
    samples: np.ndarray

    @property
    def end(self) -> float:
        return self.t + len(self.samples) / SAMPLE_RATE


class MixedAudioSource:
    """The video's audio track (or silence when it has none) with the spoken questions added at their times."""

    kind = "audio"
    live = False

    def __init__(self, video: str | None, questions: Sequence[SpokenQuestion], duration_s: float) -> None:
        self.inner = AudioFileSource(video) if video is not None else None
        self.questions = sorted(questions, key=lambda q: q.t)
        self.duration_s = duration_s
        self.name = f"audio+questions:{os.path.basename(video) if video else 'silence'}"

    def open(self) -> None:
        if self.inner is not None:
            self.inner.open()

    def _mix(self, t: float, samples: np.ndarray) -> np.ndarray:
        out = samples.astype(np.float32, copy=True)
        start = round(t * SAMPLE_RATE)
        for q in self.questions:
            offset = start - round(q.t * SAMPLE_RATE)
            lo, hi = max(0, offset), min(len(q.samples), offset + len(out))
            if lo < hi:
                out[lo - offset : hi - offset] += q.samples[lo:hi]
        return np.clip(out, -1.0, 1.0)

    async def items(self, now: Callable[[], float]) -> AsyncIterator[AudioChunk]:
        emitted = 0
        if self.inner is not None:
            try:
                async for chunk in self.inner.items(now):
                    emitted += len(chunk.samples)
                    yield AudioChunk(t=chunk.t, samples=self._mix(chunk.t, chunk.samples), source=self.name)
            except SourceError:
                if emitted == 0:
                    raise
        end = max([self.duration_s, *(q.end + SLACK_S for q in self.questions)])
        silence = np.zeros(CHUNK_SAMPLES, np.float32)
        while emitted < end * SAMPLE_RATE:
            t = round(emitted / SAMPLE_RATE, 5)
            yield AudioChunk(t=t, samples=self._mix(t, silence), source=self.name)
            emitted += CHUNK_SAMPLES

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


class SpokenQuestionPolicy:
    """Accepts the first utterance that starts inside each question's slot; everything else is content."""

    def __init__(self, questions: Sequence[SpokenQuestion]) -> None:
        self.questions = sorted(questions, key=lambda q: q.t)
        self.accepted: list[str] = []

    def slot_of(self, start: float) -> str | None:
        """The question whose slot an utterance starting at ``start`` falls in (None: the media's own speech)."""
        return next((q.uid for q in self.questions if q.t - SLACK_S <= start <= q.end + SLACK_S), None)

    def decide(self, text: str, *, start: float, end: float, features: UtteranceFeatures | None = None) -> GateDecision:
        uid = self.slot_of(start)
        if uid is not None:
            if uid in self.accepted:
                return GateDecision(False, f"rest of spoken question {uid}")
            if not text.strip():
                return GateDecision(False, "empty transcript")
            self.accepted.append(uid)
            return GateDecision(True, f"spoken question {uid}")
        return GateDecision(False, "replayed media speech is content, not a query")
