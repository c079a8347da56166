"""The engine's output contract: small immutable events, one class per dotted ``type``.

Every event carries ``t``, the stream time in seconds at which it happened (media time in replay, seconds since the
session started when live). ``app/`` and ``eval/`` only consume these events; anything they need to know about the
engine is in here. Events serialise to flat JSON objects with a ``type`` field and parse back with ``event_from_dict``.

User turns are known by id: every turn (a stretch of speech from its onset, a committed stretch of audio, a typed
line) gets a ``turn_id`` when it starts, and every event about that turn carries it (``speech.started``,
``speech.stopped``, ``transcript`` or ``transcript.failed``, then ``query.accepted`` or ``query.ignored``). Consumers
match events to turns by this id, never by arrival order.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

QuerySource = Literal["speech", "text"]
ResponseStatus = Literal["completed", "interrupted", "cancelled", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    t: float

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session.started"
    session_id: str
    backend: str
    sources: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(Event):
    """Voice activity began at ``t`` (the VAD's onset, pre-roll excluded): a new user turn, ``turn_id``."""

    type: ClassVar[str] = "speech.started"
    turn_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStopped(Event):
    type: ClassVar[str] = "speech.stopped"
    turn_id: str
    start: float
    duration: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript(Event):
    """Text of one finished utterance of the stream's audio; ``t`` is when the transcript became available."""

    type: ClassVar[str] = "transcript"
    turn_id: str
    text: str
    start: float
    end: float
    asr_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptFailed(Event):
    """The utterance of turn ``turn_id`` (``start``–``end``) could not be transcribed: the turn ends here, unheard."""

    type: ClassVar[str] = "transcript.failed"
    turn_id: str
    start: float
    end: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryAccepted(Event):
    type: ClassVar[str] = "query.accepted"
    turn_id: str
    query_id: str
    text: str
    source: QuerySource
    reason: str = ""
    score: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryIgnored(Event):
    type: ClassVar[str] = "query.ignored"
    turn_id: str
    text: str
    source: QuerySource
    reason: str
    score: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseStarted(Event):
    type: ClassVar[str] = "response.started"
    response_id: str
    query_id: str
    query: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseDelta(Event):
    type: ClassVar[str] = "response.delta"
    response_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseDone(Event):
    """End of a response. ``text`` is what was actually delivered; ``ttft_ms`` is wall time from the query being
    accepted to the first delta (None when nothing was delivered); ``latency_ms`` is from the end of the user's turn
    (speech stop or text arrival) to the first delta. ``evidence``: the ``notice_id`` of each ``noticed`` event the
    delivered text rests on (empty when it rests on none, or the backend does not say)."""

    type: ClassVar[str] = "response.done"
    response_id: str
    status: ResponseStatus
    text: str
    reason: str = ""
    ttft_ms: float | None = None
    latency_ms: float | None = None
    evidence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", tuple(self.evidence))  # JSON brings a list back


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsePaused(Event):
    """Output of the response stopped at ``t`` because the user started speaking (barge-in candidate)."""

    type: ClassVar[str] = "response.paused"
    response_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseResumed(Event):
    """A paused response goes on where it stopped: the interruption was false (noise, cough, backchannel)."""

    type: ClassVar[str] = "response.resumed"
    response_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstructionAdded(Event):
    """A standing instruction the engine now watches for without being asked again."""

    type: ClassVar[str] = "instruction.added"
    instruction_id: str
    condition: str
    say: str
    query_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstructionRemoved(Event):
    type: ClassVar[str] = "instruction.removed"
    instruction_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Proactive(Event):
    """The assistant speaks up by itself: a standing instruction came true at ``t``."""

    type: ClassVar[str] = "proactive"
    instruction_id: str
    text: str
    condition: str
    score: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Perception(Event):
    """What the backend perceived in the frame at ``t`` (sent when one of its recognition models ran on it), for a
    client to draw. Boxes are ``[x0, y0, x1, y1]`` shares of the frame's width and height.

    ``objects``: ``{"label", "score", "box"}`` each; ``texts``: ``{"text", "box"}`` (``box`` null when not known);
    ``people``: ``{"box", "facts"}`` (``box`` null when not known, ``facts`` e.g. ``["raising a hand"]``)."""

    type: ClassVar[str] = "perception"
    objects: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)
    people: list[dict[str, Any]] = field(default_factory=list)


NoticedKind = Literal["object", "left", "text", "scene", "people"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Noticed(Event):
    """Something the backend noticed began at ``t``: an object appeared (``object``) or left the view (``left``),
    text was read (``text``), the picture cut (``scene``), people were seen (``people``). ``text`` says it in words;
    ``notice_id`` names it within the session (a response's ``evidence`` lists the ones it drew on)."""

    type: ClassVar[str] = "noticed"
    notice_id: str
    kind: NoticedKind
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics(Event):
    type: ClassVar[str] = "metrics"
    values: dict[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Error(Event):
    """Something failed. ``source`` names the part (a stream source, ``asr``, ``backend``, ``input``…);
    ``fatal`` is true only when the session cannot go on."""

    type: ClassVar[str] = "error"
    source: str
    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded(Event):
    type: ClassVar[str] = "session.ended"
    reason: str


AnyEvent = (
    SessionStarted
    | SpeechStarted
    | SpeechStopped
    | Transcript
    | TranscriptFailed
    | QueryAccepted
    | QueryIgnored
    | ResponseStarted
    | ResponseDelta
    | ResponseDone
    | ResponsePaused
    | ResponseResumed
    | InstructionAdded
    | InstructionRemoved
    | Proactive
    | Perception
    | Noticed
    | Metrics
    | Error
    | SessionEnded
)


EVENT_TYPES: dict[str, type[Event]] = {cls.type: cls for cls in typing.get_args(AnyEvent)}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Parse an event produced by ``Event.to_dict``; raises ``ValueError`` naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"event must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown event type {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names - {"type"}
    if unknown:
        raise ValueError(f"{kind}: unknown field(s) {sorted(unknown)}")
    try:
        return cls(**{k: v for k, v in data.items() if k != "type"})
    except TypeError as exc:
        raise ValueError(f"{kind}: {exc}") from None
