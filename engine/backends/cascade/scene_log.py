"""A timestamped log of what the stream showed and said, deduplicated, with retrieval for a question.

Observations become entries that span time: text on screen is one entry from when it appeared until it was last
seen, the colour layout one entry for as long as it stays the same, movement one entry while it lasts, a scene cut a
point entry, and each transcript one speech entry. Retrieval keeps the entries that overlap the question's context
window and ranks them by word overlap with the question, the kind of thing it asks about, and recency.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from engine.backends.cascade.perception import Observation
from engine.backends.cascade.words import content_words, wordset

Kind = Literal["text", "colour", "motion", "scene", "speech"]

_LABELS: dict[str, str] = {
    "text": "text on screen",
    "colour": "colours",
    "motion": "movement",
    "scene": "scene change",
    "speech": "heard",
}
# Question words that point at one kind of observation.
_CUES: dict[str, frozenset[str]] = {
    "text": wordset(
        "text written write sign read word number title label caption screen display letter name say board score "
        "price headline subtitle menu logo brand page slide chart"
    ),
    "colour": wordset(
        "colour wear wearing shirt background dress paint bright dark light red green blue yellow orange purple pink "
        "white black gray brown cyan"
    ),
    "speech": wordset(
        "say said hear heard talk speak spoke mention told tell voice ask asked audio sound announce announced "
        "announcement call called"
    ),
    "motion": wordset("move moving motion movement run walk happen happening action going still static"),
    "scene": wordset("scene change changed cut switch happen happened new begin start"),
}
_GENERAL = wordset("describe description happen happening going everything summary summarise summarize anything notice")
_SAME_TEXT = 0.8  # similarity above which two OCR readings are the same text (recogniser jitter)


@dataclass(slots=True)
class Entry:
    kind: Kind
    content: str
    start: float
    end: float

    def line(self) -> str:
        span = f"{self.start:.1f}s" if self.end - self.start < 0.05 else f"{self.start:.1f}-{self.end:.1f}s"
        body = f"'{self.content}'" if self.kind in ("text", "speech") else self.content
        return f"[{span}] {_LABELS[self.kind]}: {body}"


@dataclass(frozen=True, slots=True)
class Evidence:
    """Entries retrieved for a question, in time order; ``relevant`` of them share a word or a topic with it."""

    entries: list[Entry]
    relevant: int


def _same_text(a: str, b: str) -> bool:
    return SequenceMatcher(None, a.lower(), b.lower()).ratio() >= _SAME_TEXT


class SceneLog:
    """Thread-safe: one thread adds observations and speech while another retrieves."""

    def __init__(self, max_entries: int = 20_000, motion_gap_s: float = 1.5) -> None:
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._texts: list[Entry] = []
        self._colour: Entry | None = None
        self._colour_key: frozenset[tuple[str, str]] = frozenset()
        self._motion: Entry | None = None
        self._motion_places: list[str] = []
        self.motion_gap_s = motion_gap_s

    def _add(self, entry: Entry) -> Entry:
        self._entries.append(entry)
        return entry

    def add_observation(self, obs: Observation) -> None:
        with self._lock:
            t = obs.t
            if obs.scene_change:
                self._add(Entry("scene", "the picture cut to a different view", t, t))
            self._update_texts(obs)
            key = frozenset((c.name, c.where) for c in obs.colours)
            if self._colour is not None and key == self._colour_key:
                self._colour.end = t
            else:
                described = ", ".join(c.describe() for c in obs.colours)
                self._colour = self._add(Entry("colour", described, t, t)) if key else None
                self._colour_key = key
            if obs.motion_where and not obs.scene_change:
                self._update_motion(t, obs.motion_where)

    def _update_motion(self, t: float, where: str) -> None:
        current = self._motion
        if current is not None and t - current.end <= self.motion_gap_s:  # the same spell of movement goes on
            current.end = t
            if where not in self._motion_places:
                self._motion_places.append(where)
                current.content = f"something moved ({', '.join(self._motion_places)})"
        else:
            self._motion_places = [where]
            self._motion = self._add(Entry("motion", f"something moved ({where})", t, t))

    def _update_texts(self, obs: Observation) -> None:
        if obs.texts is None:  # not read again: the picture had not changed, so the same text is still there
            for entry in self._texts:
                entry.end = obs.t
            return
        still: list[Entry] = []
        for line in obs.texts:
            match = next((e for e in self._texts if _same_text(e.content, line.text)), None)
            if match is None:
                match = self._add(Entry("text", line.text, obs.t, obs.t))
            else:
                match.end = obs.t
                self._texts.remove(match)
            still.append(match)
        self._texts = still

    def add_speech(self, start: float, end: float, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        if end < start:
            raise ValueError(f"transcript ends ({end:.2f} s) before it starts ({start:.2f} s): {text!r}")
        with self._lock:
            self._add(Entry("speech", text, start, end))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def entries(self) -> list[Entry]:
        """A copy of every entry, in the order they were logged."""
        with self._lock:
            return [Entry(e.kind, e.content, e.start, e.end) for e in self._entries]

    def window(self, t: float, context_seconds: float | None) -> list[Entry]:
        """Entries overlapping ``[t - context_seconds, t]``; everything up to ``t`` when ``context_seconds`` is None."""
        if context_seconds is not None and context_seconds <= 0:
            raise ValueError(f"context_seconds must be positive or None, got {context_seconds}")
        low = -math.inf if context_seconds is None else t - context_seconds
        return [e for e in self.entries() if e.start <= t + 1e-6 and e.end >= low]

    def retrieve(self, question: str, t: float, context_seconds: float | None, limit: int = 12) -> Evidence:
        """The ``limit`` most useful entries for ``question`` within the window, in time order."""
        candidates = self.window(t, context_seconds)
        asked = content_words(question)
        general = not asked or bool(asked & _GENERAL)
        cued = set(_CUES) if general else {kind for kind, cues in _CUES.items() if asked & cues}
        relevance = {
            id(e): len(asked & content_words(e.content)) + (0.5 if e.kind in cued else 0.0) for e in candidates
        }

        def score(entry: Entry) -> float:
            return relevance[id(entry)] + 0.5 * math.exp(-max(0.0, t - entry.end) / 60.0)

        ranked = sorted(candidates, key=score, reverse=True)[:limit]
        return Evidence(
            entries=sorted(ranked, key=lambda e: (e.start, e.end)),
            relevant=sum(1 for e in ranked if relevance[id(e)] > 0),
        )
