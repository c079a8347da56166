"""The model backend protocol.

A ``Backend`` holds loaded weights (loaded once, shared by every session). Each session opens its own
``BackendContext``: the stream state the model is kept up to date with. All methods are blocking and are called by the
session from worker threads, never on the event loop; ingest calls for one context arrive in stream order from a
single thread, and ``answer`` may run in another thread at the same time, so a context guards its own state.

``answer`` returns an iterator of text pieces; the session pulls one piece at a time and stops pulling when the
response is cancelled. An implementation must also check ``cancel.cancelled`` between decoding steps so that work
really stops (no further tokens are computed) rather than only being discarded.

What a backend can do beyond that is declared once, in its ``Capabilities`` (every context it opens has the same):
code outside ``engine/backends/`` asks these, never a backend's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from engine.cancel import CancelToken
from engine.events import Event
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
    # called (from the answering thread) with the ids of the ``noticed`` events the text so far rests on, each time
    # they grow: a backend that reports perception says what its answer drew on
    on_evidence: Callable[[tuple[str, ...]], None] | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend and its contexts can do, beyond ingesting the stream and answering."""

    judges_addressing: bool = False  # contexts are ``JudgesAddressing``: the ``model`` gate mode can use them
    checks_conditions: bool = False  # contexts are ``ChecksConditions``: they can watch standing instructions
    hears_audio: bool = False  # ``ingest_audio`` feeds the raw audio to the model (else it hears transcripts only)
    reports_perception: bool = False  # contexts are ``ReportsPerception``: the session emits what they perceived
    media_window: bool = False  # contexts keep a media window (``options.window_seconds``) a question's context needs
    options: type | None = None  # the option dataclass ``open_context`` takes (None: it takes none)


@runtime_checkable
class JudgesAddressing(Protocol):
    """A context whose model can judge whether an utterance was said to the assistant (the ``model`` gate mode)."""

    def judge_addressed(self, text: str, start: float, end: float) -> float:
        """Probability that ``text``, heard at ``start``–``end`` s of the stream, was said to the assistant."""
        ...


@dataclass(frozen=True, slots=True)
class ConditionCheck:
    met: bool
    score: float
    evidence: str = ""


@runtime_checkable
class ChecksConditions(Protocol):
    """A context that can watch a standing instruction's condition (``checks_conditions``)."""

    def check_condition(self, condition: str, t: float) -> ConditionCheck | None:
        """Whether ``condition`` holds in the stream at time ``t``; None when this context cannot judge it."""
        ...


@runtime_checkable
class ReportsPerception(Protocol):
    """A context that can say what it perceived, for the session's ``perception`` and ``noticed`` events."""

    def perceived(self) -> list[Event]:
        """Called after each ingested frame (on the ingest thread): a ``Perception`` when a recognition model ran on
        that frame, and a ``Noticed`` for each thing that began since the last call; empty when nothing is new."""
        ...


@dataclass(frozen=True, slots=True)
class AssetStatus:
    """What ``omnistream models`` prints for one backend."""

    backend: str
    ready: bool
    detail: str


@runtime_checkable
class BackendContext(Protocol):
    capabilities: Capabilities  # its backend's

    def ingest_frame(self, frame: VideoFrame) -> None: ...

    def ingest_audio(self, chunk: AudioChunk) -> None: ...

    def ingest_transcript(self, start: float, end: float, text: str) -> None: ...

    def answer(self, request: AnswerRequest, cancel: CancelToken) -> Iterator[str]: ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    name: str
    capabilities: ClassVar[Capabilities]

    def load(self) -> None:
        """Load weights (idempotent, blocking)."""
        ...

    def open_context(self, options: Any | None = None) -> BackendContext:
        """A new session's context; ``options`` (an instance of ``capabilities.options``, None: the backend's own)
        replace the backend's options for it. A backend that takes none refuses any with ``ValueError``."""
        ...

    def check_assets(self) -> AssetStatus: ...
