"""What the live demo page shows: one tab's session events folded into HTML panels.

``LiveView.apply`` is fed every event of the session (on the engine loop); the page polls ``render`` from Gradio's
worker threads. Each panel is rebuilt from the folded state, which keeps only the recent part of the session, so a
render costs the same however long the session has run.
"""

from __future__ import annotations

import html
import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from app import demo_preview as preview
from engine.events import (
    Error,
    Event,
    InstructionAdded,
    InstructionRemoved,
    Metrics,
    Noticed,
    Perception,
    Proactive,
    QueryAccepted,
    QueryIgnored,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    ResponseStarted,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TranscriptFailed,
)

PANELS = ("status", "conversation", "transcript", "decisions", "alerts", "metrics", "notices", "preview", "timeline")
_KNOWN = (
    SessionStarted,
    SessionEnded,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    TranscriptFailed,
    QueryAccepted,
    QueryIgnored,
    ResponseStarted,
    ResponseDelta,
    ResponseDone,
    ResponsePaused,
    ResponseResumed,
    InstructionAdded,
    InstructionRemoved,
    Proactive,
    Metrics,
    Perception,
    Noticed,
    Error,
)
_HEARD_KEPT = 30
_METRIC_LABELS = {
    "ttft_ms_last": "time to first token, last (ms)",
    "ttft_ms_p50": "time to first token, median (ms)",
    "latency_ms_last": "reply latency after end of turn, last (ms)",
    "interrupt_ms_last": "interrupt latency: speech onset to reply paused, last (ms)",
    "ingest_fps": "ingest fps",
    "video_frames": "video frames ingested",
    "video_frames_dropped": "video frames dropped",
    "audio_chunks_dropped": "audio chunks dropped",
    "audio_lag_max_s": "audio lag, max (s)",
    "stream_s": "stream time (s)",
    "wall_s": "session running (s)",
    "audio_chunks": "audio chunks (32 ms) heard",
    "responses": "responses",
}


@dataclass
class _Turn:
    query_id: str
    query: str
    source: str
    response_id: str | None = None
    answer: str = ""
    status: str = ""
    reason: str = ""
    paused: str = ""
    evidence: tuple[str, ...] = ()  # the notice ids of the timeline moments the answer drew on
    heard: float | None = None  # seconds of its spoken audio played before the user cut it off


@dataclass(frozen=True, slots=True)
class _Moment:
    """A timeline row: something noticed (with its ``notice_id``) or heard (none)."""

    t: float
    kind: str
    text: str
    notice_id: str = ""


@dataclass
class _State:
    session_id: str = ""
    backend: str = ""
    ended: str = ""
    speaking: str | None = None  # the turn id of the speech being heard
    onset: float | None = None
    turns: deque[_Turn] = field(default_factory=lambda: deque(maxlen=40))
    transcript: dict[str, str] = field(default_factory=dict)  # turn id → its line, the latest _HEARD_KEPT
    decisions: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    alerts: deque[str] = field(default_factory=lambda: deque(maxlen=30))
    watching: dict[str, str] = field(default_factory=dict)
    notices: deque[str] = field(default_factory=lambda: deque(maxlen=12))
    metrics: dict[str, float] = field(default_factory=dict)
    perception: Perception | None = None  # what the backend last perceived
    timeline: deque[_Moment] = field(default_factory=lambda: deque(maxlen=200))  # what it noticed and heard, in order
    selected: str | None = None  # the response id of the answer selected on the page


def _e(text: object) -> str:
    return html.escape(str(text))


def _generic(event: Event) -> str:
    """An event type this page has no panel for: its type and fields, text-like fields first."""
    data = event.to_dict()
    kind = data.pop("type")
    t = data.pop("t")
    lead = next((str(data.pop(k)) for k in ("text", "message", "alert", "description") if k in data), "")
    rest = ", ".join(f"{k}={v}" for k, v in data.items())
    body = " — ".join(part for part in (lead, rest) if part)
    return f'<div class="alert"><b>{_e(kind)}</b> <span class="t">@{t:.1f}s</span> {_e(body)}</div>'


class LiveView:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._s = _State()
        self._by_response: dict[str, _Turn] = {}
        self._frame: np.ndarray | None = None  # the latest frame fed to the session, shrunk for the preview
        self.version = 0

    def frame(self, rgb: np.ndarray) -> None:
        """The latest frame fed to the session (the preview shows it when the next perception arrives)."""
        small = preview.shrink(rgb)
        with self._lock:
            self._frame = small

    def note(self, message: str) -> None:
        """A message from the page itself (bad input, replay problems), shown with the session's errors."""
        with self._lock:
            self._s.notices.append(f'<div class="notice">{_e(message)}</div>')
            self.version += 1

    def select(self, response_id: str | None) -> None:
        """The answer selected on the page (None: none): the timeline marks the moments it drew on."""
        with self._lock:
            self._s.selected = response_id
            self.version += 1

    def cut_off(self, response_id: str, heard_s: float) -> None:
        """The spoken answer ``response_id`` was cut off after ``heard_s`` seconds of it had played."""
        with self._lock:
            turn = next((t for t in reversed(self._s.turns) if t.response_id == response_id), None)
            if turn is not None:
                turn.heard = heard_s
                self.version += 1

    def apply(self, event: Event) -> None:
        with self._lock:
            self._apply(event)
            self.version += 1

    def _apply(self, ev: Event) -> None:
        s = self._s
        if isinstance(ev, SessionStarted):
            s.session_id, s.backend = ev.session_id, ev.backend
        elif isinstance(ev, SessionEnded):
            s.ended = ev.reason
        elif isinstance(ev, SpeechStarted):
            s.speaking, s.onset = ev.turn_id, ev.t
        elif isinstance(ev, SpeechStopped):
            if s.speaking == ev.turn_id:
                s.speaking = None
        elif isinstance(ev, Transcript):
            if ev.text:
                self._heard(ev.turn_id, f'<span class="t">{ev.start:.1f}–{ev.end:.1f}s</span> {_e(ev.text)}')
                s.timeline.append(_Moment(ev.start, "speech", f"heard “{ev.text}”"))
        elif isinstance(ev, Perception):
            s.perception = ev
        elif isinstance(ev, Noticed):
            s.timeline.append(_Moment(ev.t, ev.kind, ev.text, ev.notice_id))
        elif isinstance(ev, TranscriptFailed):
            self._heard(
                ev.turn_id,
                f'<span class="t">{ev.start:.1f}–{ev.end:.1f}s</span> <i>not understood ({_e(ev.reason)})</i>',
                "line failed",
            )
        elif isinstance(ev, QueryAccepted):
            s.turns.append(_Turn(query_id=ev.query_id, query=ev.text, source=ev.source))
            if ev.source == "speech":
                why = f" ({_e(ev.reason)})" if ev.reason else ""
                s.decisions.append(f'<div class="accepted">answered{why}: “{_e(ev.text)}”</div>')
        elif isinstance(ev, QueryIgnored):
            s.decisions.append(f'<div class="ignored">ignored: {_e(ev.reason)} — “{_e(ev.text)}”</div>')
        elif isinstance(ev, ResponseStarted):
            turn = next((t for t in reversed(s.turns) if t.query_id == ev.query_id), None)
            if turn is None:
                turn = _Turn(query_id=ev.query_id, query=ev.query, source="")
                s.turns.append(turn)
            turn.response_id = ev.response_id
            self._by_response[ev.response_id] = turn
        elif isinstance(ev, ResponseDelta):
            turn = self._by_response.get(ev.response_id)
            if turn is not None:
                turn.answer += ev.text
        elif isinstance(ev, ResponseDone):
            turn = self._by_response.pop(ev.response_id, None)
            if turn is not None:
                turn.answer, turn.status, turn.reason, turn.evidence = ev.text, ev.status, ev.reason, ev.evidence
            if ev.ttft_ms is not None:
                s.metrics["ttft_ms_last"] = ev.ttft_ms
            if ev.latency_ms is not None:
                s.metrics["latency_ms_last"] = ev.latency_ms
        elif isinstance(ev, ResponsePaused | ResponseResumed):
            turn = self._by_response.get(ev.response_id)
            if turn is not None:
                turn.paused = ev.reason if isinstance(ev, ResponsePaused) else ""
            if isinstance(ev, ResponsePaused) and s.onset is not None:
                s.metrics["interrupt_ms_last"] = round(max(0.0, ev.t - s.onset) * 1000, 1)
        elif isinstance(ev, InstructionAdded):
            s.watching[ev.instruction_id] = f"when {ev.condition}: “{ev.say}”"
        elif isinstance(ev, InstructionRemoved):
            s.watching.pop(ev.instruction_id, None)
        elif isinstance(ev, Proactive):
            s.alerts.append(
                f'<div class="alert proactive"><span class="t">@{ev.t:.1f}s</span> <b>{_e(ev.text)}</b> '
                f'<span class="t">({_e(ev.condition)})</span></div>'
            )
        elif isinstance(ev, Metrics):
            s.metrics.update(ev.values)
        elif isinstance(ev, Error):
            level = "fatal error" if ev.fatal else "error"
            s.notices.append(f'<div class="error">{level} ({_e(ev.source)}): {_e(ev.message)}</div>')
        elif not isinstance(ev, _KNOWN):
            s.alerts.append(_generic(ev))

    @staticmethod
    def _timeline(s: _State) -> str:
        """The timeline's rows, those the selected answer drew on marked ``evidence`` (in a ``data-selected`` block)."""
        if not s.timeline:
            return '<div class="empty">Nothing noticed yet.</div>'
        turn = next((t for t in s.turns if s.selected is not None and t.response_id == s.selected), None)
        used = set(turn.evidence) if turn is not None else set()
        rows = []
        for m in s.timeline:
            classes = f"moment {m.kind}" + (" evidence" if m.notice_id in used else "")
            notice = f' data-notice="{_e(m.notice_id)}"' if m.notice_id else ""
            when = f'<span class="t">{m.t:.1f}s</span>'
            rows.append(f'<div class="{classes}" data-kind="{m.kind}"{notice}>{when} {_e(m.text)}</div>')
        return f'<div class="moments" data-selected="{_e(turn.response_id if turn else "")}">{"".join(rows)}</div>'

    def _heard(self, turn_id: str, body: str, classes: str = "line") -> None:
        """The transcript panel's line of one turn (kept in the order the turns were heard)."""
        lines = self._s.transcript
        lines[turn_id] = f'<div class="{classes}">{body}</div>'
        while len(lines) > _HEARD_KEPT:
            del lines[next(iter(lines))]

    def render(self) -> dict[str, str]:
        with self._lock:
            s = self._s
            turns = "".join(self._turn(t, s.selected) for t in s.turns)
            return {
                "status": self._status(s),
                "conversation": turns or '<div class="empty">No questions yet.</div>',
                "transcript": "".join(s.transcript.values()) or '<div class="empty">Nothing heard yet.</div>',
                "decisions": "".join(s.decisions) or '<div class="empty">No spoken queries yet.</div>',
                "alerts": self._alerts(s),
                "metrics": self._metrics(s.metrics),
                "notices": "".join(s.notices),
                "preview": preview.render(self._frame, s.perception),
                "timeline": self._timeline(s),
            }

    @staticmethod
    def _alerts(s: _State) -> str:
        watching = "".join(f'<div class="watching">watching {_e(w)}</div>' for w in s.watching.values())
        return (watching + "".join(s.alerts)) or '<div class="empty">No alerts.</div>'

    @staticmethod
    def _status(s: _State) -> str:
        if s.ended:
            return f'<div class="status ended">Session {_e(s.session_id)} ended: {_e(s.ended)}</div>'
        if not s.session_id:
            return '<div class="status">Starting…</div>'
        hearing = " · <b>hearing speech</b>" if s.speaking else ""
        return f'<div class="status live">Live session {_e(s.session_id)} ({_e(s.backend)}){hearing}</div>'

    @staticmethod
    def _turn(turn: _Turn, selected: str | None) -> str:
        label = {"speech": "voice", "text": "typed"}.get(turn.source, "query")
        out = f'<div class="turn user"><span class="who">{label}:</span> {_e(turn.query)}</div>'
        if turn.response_id is None:
            return out
        classes = "turn assistant"
        badge = ""
        if turn.status == "" and turn.paused:
            classes += " streaming paused"
            badge = f' <span class="badge">[paused: {_e(turn.paused)}]</span>'
        elif turn.status == "":
            classes += " streaming"
        elif turn.status != "completed":
            classes += f" {turn.status}"
            why = f": {_e(turn.reason)}" if turn.reason else ""
            badge = f' <span class="badge">[{_e(turn.status)}{why}]</span>'
        if turn.response_id == selected:
            classes += " selected"
        if turn.heard is not None:
            classes += " cut"
            badge += f' <span class="badge heard">[cut off: {turn.heard:.1f} s of it was heard]</span>'
        return out + f'<div class="{classes}" data-response="{_e(turn.response_id)}">{_e(turn.answer)}{badge}</div>'

    @staticmethod
    def _metrics(values: dict[str, float]) -> str:
        if not values:
            return '<div class="empty">No metrics yet.</div>'
        rows = [(label, values[key]) for key, label in _METRIC_LABELS.items() if key in values]
        rows += [(key, v) for key, v in values.items() if key not in _METRIC_LABELS]
        body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
        return f'<table class="metrics">{body}</table>'
