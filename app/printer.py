"""Console rendering of events: ``jsonl`` (one event object per line, nothing else) or ``pretty`` for people."""

from __future__ import annotations

from typing import TextIO

from engine.events import (
    Error,
    Event,
    Metrics,
    Noticed,
    Perception,
    QueryAccepted,
    QueryIgnored,
    ResponseDelta,
    ResponseDone,
    ResponseStarted,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)


class EventPrinter:
    def __init__(self, mode: str, out: TextIO) -> None:
        if mode not in ("pretty", "jsonl"):
            raise ValueError(f"unknown event format {mode!r}")
        self.mode = mode
        self.out = out
        self._open_line = False

    def show(self, event: Event) -> None:
        if self.mode == "jsonl":
            self.out.write(event.to_json() + "\n")
            self.out.flush()
            return
        if isinstance(event, ResponseDelta):
            self.out.write(event.text)
            self.out.flush()
            return
        if self._open_line:
            self.out.write("\n")
            self._open_line = False
        line = self._describe(event)
        if line is None:
            return
        if isinstance(event, ResponseStarted):
            self.out.write(f"[{event.t:7.2f}s] {line}")
            self._open_line = True
        else:
            self.out.write(f"[{event.t:7.2f}s] {line}\n")
        self.out.flush()

    @staticmethod
    def _describe(event: Event) -> str | None:
        match event:
            case SessionStarted():
                return (
                    f"session {event.session_id} started: backend {event.backend}, sources {', '.join(event.sources)}"
                )
            case SpeechStarted():
                return "speech started"
            case SpeechStopped():
                return f"speech stopped ({event.duration:.2f} s from {event.start:.2f} s)"
            case Transcript():
                return f'transcript "{event.text}"  (asr {event.asr_ms:.0f} ms)'
            case QueryAccepted():
                return f'query accepted [{event.source}] "{event.text}"'
            case QueryIgnored():
                return f'query ignored [{event.source}] "{event.text}": {event.reason}'
            case ResponseStarted():
                return "answer: "
            case ResponseDone():
                timing = ""
                if event.latency_ms is not None:
                    timing = f", end of turn → first token {event.latency_ms:.0f} ms"
                return f"answer {event.status}{timing}"
            case Metrics():
                v = event.values
                return (
                    f"metrics: {v.get('video_frames', 0):.0f} frames ({v.get('video_frames_dropped', 0):.0f} dropped), "
                    f"{v.get('audio_chunks', 0):.0f} audio chunks ({v.get('audio_chunks_dropped', 0):.0f} dropped)"
                )
            case Perception():
                return None  # boxes for a page to draw, at the perception rate: too many lines to print
            case Noticed():
                return f"noticed [{event.kind}] {event.text}"
            case Error():
                return f"error [{event.source}] {event.message}"
            case SessionEnded():
                return f"session ended: {event.reason}"
        return f"{event.type}: {event.to_json()}"
