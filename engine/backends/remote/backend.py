"""``RemoteBackend``: no weights here, the model runs on an OpenAI-compatible server; ``RemoteContext``: one
stream's recent frames, audio and transcripts, sent with each question.

Request layout, append-only across questions so the server's prefix cache covers all but the new part: the system
text, then the dialogue in stream order (each past question after the speech heard before it, each answer), then
the speech heard since, the frames and audio, then the question. A past question is sent again exactly as it was
sent, less its media, so the next request shares everything up to that question's frames. The prefix changes only
when something leaves its front, and that happens in blocks: speech older than the window leaves in whole steps of
``prefix_step_s`` (the window's start stands still in between), and when the dialogue outgrows the turns the
session passes (``history_turns``), its older half leaves at once, so the next few questions share it again.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from engine.backends.base import AnswerRequest, AssetStatus, Capabilities, Turn
from engine.backends.remote.client import ChatClient
from engine.backends.remote.media import audio_part, image_part, pick_frames
from engine.backends.remote.options import RemoteOptions
from engine.cancel import CancelToken
from streams.items import SAMPLE_RATE, AudioChunk, VideoFrame

SYSTEM = (
    "You are a helpful assistant watching and listening to a live stream. Answer the user's question about it "
    "briefly, from the frames and speech you are given."
)
JUDGE_QUESTION = (
    'Someone near you just said: "{text}". Were they talking to you, the assistant, with a question or a request '
    "for you, rather than to someone else or as background talk? Answer yes or no."
)


class RemoteBackend:
    """Answers through ``model`` on the server each session's ``RemoteOptions.base_url`` names."""

    name = "remote"
    # hears raw audio only with RemoteOptions.audio (a per-session choice): each context declares it
    capabilities = Capabilities(judges_addressing=True, media_window=True, options=RemoteOptions)

    def __init__(self, model: str | None = None, device: str = "auto") -> None:
        if device != "auto":
            raise ValueError(f"remote: the model runs on the server; --device must stay 'auto', got {device!r}")
        self.model = model

    def load(self) -> None:
        if not self.model:
            raise ValueError("remote: give the model name the server serves (--model NAME)")

    def open_context(self, options: RemoteOptions | None = None) -> RemoteContext:
        assert self.model is not None, "load() first"
        return RemoteContext(self.model, options or RemoteOptions())

    def check_assets(self) -> AssetStatus:
        return AssetStatus(self.name, True, "nothing local: needs an OpenAI-compatible server (--base-url, --model)")


class RemoteContext:
    def __init__(self, model: str, options: RemoteOptions) -> None:
        # its backend's, and it hears the raw audio when this session sends it (``RemoteOptions.audio``)
        self.capabilities = dataclasses.replace(RemoteBackend.capabilities, hears_audio=options.audio)
        self.options = options
        self.client = ChatClient(options, model)
        self._lock = threading.Lock()
        self._frames: deque[VideoFrame] = deque()
        self._audio: deque[AudioChunk] = deque()
        self._speech: list[tuple[float, float, str]] = []
        self._dialogue_from = -math.inf  # stream time of the oldest dialogue turn requests still carry

    def _step(self, t: float) -> float:
        """``t`` moved back to the start of its ``prefix_step_s`` step: a window's start that stands still."""
        return math.floor(t / self.options.prefix_step_s) * self.options.prefix_step_s if math.isfinite(t) else t

    def _trim(self, now: float) -> None:
        oldest = now - self.options.window_seconds
        while self._frames and self._frames[0].t < oldest:
            self._frames.popleft()
        while self._audio and self._audio[0].end < oldest:
            self._audio.popleft()
        self._speech = [s for s in self._speech if s[1] >= self._step(oldest)]

    def _dialogue(self, history: tuple[Turn, ...]) -> list[Turn]:
        """The turns of ``history`` (the session's newest) the request carries: from the oldest carried before, or,
        once the session no longer passes that one, from the middle of what it passes."""
        turns = [turn for turn in history if turn.text]
        if turns and turns[0].t > self._dialogue_from:
            # a user turn leads (chat templates may insist on it): the first of the newer half, if there is one
            newer = [turn.t for turn in turns[len(turns) // 2 :] if turn.role == "user"]
            self._dialogue_from = newer[0] if newer and math.isfinite(self._dialogue_from) else turns[0].t
        return [turn for turn in turns if turn.t >= self._dialogue_from]

    def ingest_frame(self, frame: VideoFrame) -> None:
        with self._lock:
            self._frames.append(frame)
            self._trim(frame.t)

    def ingest_audio(self, chunk: AudioChunk) -> None:
        if not self.options.audio:
            return
        with self._lock:
            self._audio.append(chunk)
            self._trim(chunk.t)

    def ingest_transcript(self, start: float, end: float, text: str) -> None:
        with self._lock:
            self._speech.append((start, end, text))
            self._trim(end)

    def messages(self, request: AnswerRequest) -> list[dict[str, Any]]:
        """The chat request for ``request``: system, the dialogue with the speech heard before each past question,
        then the speech heard since, the media and the question."""
        system = SYSTEM + (f"\n\n{request.instructions}" if request.instructions else "")
        out: list[dict[str, Any]] = [{"role": "system", "content": system}]
        start = request.t - request.context_seconds if request.context_seconds is not None else -np.inf
        with self._lock:
            frames = pick_frames(self._frames, start, request.t, self.options.max_images)
            speech = [s for s in self._speech if self._step(start) <= s[1] <= request.t]
            audio = [c for c in self._audio if c.end > request.t - self.options.audio_seconds and c.t <= request.t]
            dialogue = self._dialogue(tuple(request.history))
        for turn in dialogue:
            content = turn.text
            if turn.role == "user":  # as it was sent when it was asked (a transcript ends before it was)
                heard, speech = [s for s in speech if s[1] <= turn.t], [s for s in speech if s[1] > turn.t]
                content = "\n\n".join(p["text"] for p in [*_heard(heard), _question(turn.t, turn.text)])
            out.append({"role": turn.role, "content": content})
        parts = _heard(speech)
        for frame in frames:
            parts.append({"type": "text", "text": f"Frame at {frame.t:.1f} s:"})
            parts.append(image_part(frame, self.options.image_size, self.options.jpeg_quality))
        if audio:
            parts.append({"type": "text", "text": f"Stream audio up to {request.t:.1f} s:"})
            parts.append(audio_part(np.concatenate([c.samples for c in audio]), SAMPLE_RATE))
        parts.append(_question(request.t, request.query))
        if all(p["type"] == "text" for p in parts):  # text-only servers may not take content parts
            out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts)})
        else:
            out.append({"role": "user", "content": parts})
        return out

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]:
        if request.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {request.max_new_tokens}")
        yield from self.client.stream(self.messages(request), request.max_new_tokens, cancel)

    def judge_addressed(self, text: str, start: float, end: float) -> float:
        """P(said to the assistant), from the server model's first-token logprobs of "yes" and "no"."""
        question = JUDGE_QUESTION.format(text=text.strip())
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        return self.client.yes_probability(messages, CancelToken())

    def close(self) -> None:
        self.client.close()


def _heard(speech: list[tuple[float, float, str]]) -> list[dict[str, Any]]:
    if not speech:
        return []
    heard = "\n".join(f"[{a:.1f}-{b:.1f} s] {text}" for a, b, text in speech)
    return [{"type": "text", "text": f"Speech heard in the stream:\n{heard}"}]


def _question(t: float, query: str) -> dict[str, Any]:
    return {"type": "text", "text": f"Question at {t:.1f} s: {query}"}
