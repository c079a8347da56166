"""The model backend protocol.

A ``Backend`` holds loaded weights (loaded once, shared by every session). Each session opens its own
``BackendContext``: the stream state the model is kept up to date with. All methods are blocking and are called by the
session from worker threads, never on the event loop; ingest calls for one context arrive in stream order from a
single thread, and ``answer`` may run in another thread at the same time, so a context guards its own state.

``answer`` returns an iterator of text pieces; the session pulls one piece at a time and stops pulling when the
response is cancelled. An implementation must also check ``cancel.cancelled`` between decoding steps so that work
really stops (no further tokens are computed) rather than only being discarded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from engine.cancel import CancelToken
from streams.items import AudioChunk, VideoFrame

Role = Literal["user", "assistant"]


class BackendRecovered(Exception):
    """Raised by a context after it hit a problem and recovered (e.g. shrank its window after running out of
    memory): the session reports the message as a non-fatal ``error`` event and goes on."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of the dialogue. Assistant turns hold only what was delivered; ``interrupted`` marks cut-off ones."""

    role: Role
    text: str
    t: float
    interrupted: bool = False
    response_id: str = ""  # the response an assistant turn came from


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    query: str
    t: float
    history: Sequence[Turn] = ()
    context_seconds: float | None = None
    max_new_tokens: int = 96
    choices: Sequence[str] = field(default_factory=tuple)
    instructions: str = ""  # the client's instructions for this answer, added to the model's system prompt


@runtime_checkable
class JudgesAddressing(Protocol):
    """A context whose model can judge whether an utterance was said to the assistant (the ``model`` gate mode)."""

    def judge_addressed(self, text: str, start: float, end: float) -> float:
        """Probability that ``text``, heard at ``start``–``end`` s of the stream, was said to the assistant."""
        ...


@dataclass(frozen=True, slots=True)
class AssetStatus:
    """What ``omnistream models`` prints for one backend."""

    backend: str
    ready: bool
    detail: str


@runtime_checkable
class BackendContext(Protocol):
    def ingest_frame(self, frame: VideoFrame) -> None: ...

    def ingest_audio(self, chunk: AudioChunk) -> None: ...

    def ingest_transcript(self, start: float, end: float, text: str) -> None: ...

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]: ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    name: str

    def load(self) -> None:
        """Load weights (idempotent, blocking)."""
        ...

    def open_context(self) -> BackendContext: ...

    def check_assets(self) -> AssetStatus: ...
