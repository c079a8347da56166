"""A timestamped log of what the stream showed and said, deduplicated, with retrieval for a question.

Observations become entries that span time: text on screen is one entry from when it appeared until it was last
seen (with where it sits), the colour layout one entry for as long as it stays the same, movement one entry while it
lasts, a scene cut a point entry, and each transcript one speech entry. Each object the detector finds is tracked
across frames (same concept, overlapping boxes) as one entry from when it appeared until it was last seen (a track
that goes unseen for ``leave_after_s`` has left; a cut ends every track); the count of objects per concept, the
classifier's names for the whole picture and the people with their pose facts are entries that last while they stay
the same. Retrieval keeps the entries that overlap the question's context window and ranks them by word overlap with
the question, the objects and kinds it names, the kind of thing it asks about, and recency.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Literal

from engine.backends.cascade.objects import SeenObject, where
from engine.backends.cascade.options import CascadeOptions
from engine.backends.cascade.people import SeenPerson
from engine.backends.cascade.perception import Observation, iou
from engine.backends.cascade.vocabulary import CONCEPTS, concept_of, concepts_in, kinds_in
from engine.backends.cascade.words import content_words, wordset
from engine.vision.types import Box, Label

Kind = Literal["text", "colour", "motion", "scene", "speech", "object", "count", "labels", "people"]
Facts = SeenObject | tuple[SeenPerson, ...] | tuple[Label, ...] | dict[str, int] | None

_LABELS: dict[str, str] = {
    "text": "text on screen",
    "colour": "colours",
    "motion": "movement",
    "scene": "scene change",
    "speech": "heard",
    "object": "object",
    "count": "counts",
    "labels": "whole picture looks like",
    "people": "people",
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
    "object": wordset(
        "object thing item animal holding hold front table left right top bottom centre middle where many number "
        "count kind type"
    ),
    "count": wordset("many number count several multiple"),
    "people": wordset(
        "person people someone somebody man woman men women anyone who wave waving raise raising hand hands sit "
        "sitting stand standing face many"
    ),
    "labels": wordset("object thing animal kind type"),
}
_GENERAL = wordset("describe description happen happening going everything summary summarise summarize anything notice")
_DEFAULT = CascadeOptions()  # the defaults live with the options
_SAME_TEXT = 0.8  # similarity above which two OCR readings are the same text (recogniser jitter)


_MIN_LABEL = 0.1  # whole-frame classifier names less sure than this are not logged
_TRACK_IOU = 0.2  # a detection continues a track of the same concept whose box overlaps it this much


@dataclass(slots=True)
class Entry:
    kind: Kind
    content: str
    start: float
    end: float
    where: str = ""  # where in the frame (text and objects)
    facts: Facts = None  # the object, people or counts behind the entry
    number: int = 0  # its place in the log, from 1 (``notice_id`` names it ``n<number>``)

    def line(self) -> str:
        span = f"{self.start:.1f}s" if self.end - self.start < 0.05 else f"{self.start:.1f}-{self.end:.1f}s"
        body = f"'{self.content}'" if self.kind in ("text", "speech") else self.content
        label = f"{_LABELS[self.kind]} ({self.where})" if self.kind == "text" and self.where else _LABELS[self.kind]
        return f"[{span}] {label}: {body}"

    @property
    def concept(self) -> str:
        return self.facts.concept if isinstance(self.facts, SeenObject) else ""


def _parents(concept: str) -> tuple[str, ...]:
    known = CONCEPTS.get(concept)
    return known.parents if known else ()


def _same_text(a: str, b: str) -> bool:
    return SequenceMatcher(None, a.lower(), b.lower()).ratio() >= _SAME_TEXT


class SceneLog:
    """Thread-safe: one thread adds observations and speech while another retrieves."""

    def __init__(
        self,
        max_entries: int = _DEFAULT.log_entries,
        motion_gap_s: float = _DEFAULT.motion_gap_s,
        leave_after_s: float = _DEFAULT.leave_after_s,
    ) -> None:
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._texts: list[Entry] = []
        self._colour: Entry | None = None
        self._colour_key: frozenset[tuple[str, str]] = frozenset()
        self._motion: Entry | None = None
        self._motion_places: list[str] = []
        self.motion_gap_s = motion_gap_s
        self.leave_after_s = leave_after_s
        self._tracks: list[Entry] = []  # objects still in view
        self._last_t = -math.inf  # time of the latest observation
        self._last_t_seen = -math.inf  # time up to which the tracks seen by the latest detector run are extended
        self._spans: dict[str, Entry | None] = {"count": None, "labels": None, "people": None}
        self.added = 0  # entries logged so far (``since`` takes this count)

    def _add(self, entry: Entry) -> Entry:
        self._entries.append(entry)
        self.added += 1
        entry.number = self.added
        return entry

    def add_observation(self, obs: Observation) -> None:
        with self._lock:
            t = self._last_t = obs.t
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
            if obs.scene_change:
                self._tracks = []
                self._spans = dict.fromkeys(self._spans)
            self._update_objects(obs)
            if obs.labels is not None:
                named = [f"{label.name} ({concept_of(label.name) or 'other'})" for label in obs.labels[:3]]
                sure = tuple(label for label in obs.labels[:3] if label.score >= _MIN_LABEL)
                kept = ", ".join(n for n, label in zip(named, obs.labels, strict=False) if label.score >= _MIN_LABEL)
                self._span("labels", kept, t, sure)
            elif self._spans["labels"] is not None:
                self._spans["labels"].end = t
            if obs.people is not None:
                people = obs.people
                described = f"{len(people)}: " + "; ".join(p.describe() for p in people) if people else ""
                self._span("people", described, t, people)
            elif self._spans["people"] is not None:
                self._spans["people"].end = t

    def _span(self, kind: Kind, content: str, t: float, facts: Facts) -> None:
        """Extend the open entry of ``kind`` if it says the same, else open a new one (none for empty content)."""
        current = self._spans[kind]
        if current is not None and current.content == content:
            current.end = t
        else:
            self._spans[kind] = self._add(Entry(kind, content, t, t, facts=facts)) if content else None

    def _update_objects(self, obs: Observation) -> None:
        t = obs.t
        if obs.objects is None:  # the detector did not run: what it saw last is taken to still be there
            for track in self._tracks:
                if track.end >= self._last_t_seen:
                    track.end = t
            self._last_t_seen = t
            if self._spans["count"] is not None:
                self._spans["count"].end = t
            return
        self._last_t_seen = t
        still: list[Entry] = []
        open_tracks = list(self._tracks)
        for seen in sorted(obs.objects, key=lambda o: -o.score):
            box = Box(*seen.box)

            def overlap(track: Entry, box: Box = box) -> float:
                assert isinstance(track.facts, SeenObject)
                return iou(Box(*track.facts.box), box)

            candidates = [tr for tr in open_tracks if tr.concept == seen.concept and overlap(tr) >= _TRACK_IOU]
            track = max(candidates, key=overlap, default=None)
            if track is None:
                track = self._add(Entry("object", seen.describe(), t, t, where=seen.where, facts=seen))
            else:
                open_tracks.remove(track)
                track.end, track.content, track.where, track.facts = t, seen.describe(), seen.where, seen
            still.append(track)
        # a track missed by one run is kept a little (detectors flicker); one unseen for longer has left
        self._tracks = still + [tr for tr in open_tracks if t - tr.end < self.leave_after_s]
        counts: dict[str, int] = {}
        for seen in obs.objects:
            counts[seen.concept] = counts.get(seen.concept, 0) + 1
        described = ", ".join(f"{n} {concept}" for concept, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        self._span("count", described, t, counts)

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
                match = self._add(Entry("text", line.text, obs.t, obs.t, where=where(line.x, line.y)))
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

    def in_view(self, *, steady_s: float = 0.0) -> tuple[list[SeenObject], tuple[SeenPerson, ...] | None]:
        """The objects and the people (None: none seen, or no people model ran yet) seen in the latest observation.

        ``steady_s``: only the objects in view for at least that long. A track's end moves on only when a detector
        run finds it again (and through the frames between runs), so a detection the next run misses, often a
        flicker, does not last; on a picture that stopped changing the detector reruns only every
        ``vision_refresh_s``, and its last finding stands for the frames in between."""
        with self._lock:
            objects = [
                tr.facts
                for tr in self._tracks
                if tr.end >= self._last_t and tr.end - tr.start >= steady_s and isinstance(tr.facts, SeenObject)
            ]
            span = self._spans["people"]
            people = span.facts if span is not None and span.end >= self._last_t else None
        return objects, people if isinstance(people, tuple) else None

    def since(self, added: int) -> tuple[int, list[Entry]]:
        """The count of entries logged so far, and copies of those logged after the first ``added`` (those the log
        still holds)."""
        with self._lock:
            new = min(len(self._entries), self.added - added)
            kept = list(self._entries)[len(self._entries) - new :] if new > 0 else []
            return self.added, [replace(e) for e in kept]

    def tracked(self) -> set[str]:
        """The concepts of the objects still tracked (in view, or missed by the detector for less than
        ``leave_after_s``)."""
        with self._lock:
            return {tr.concept for tr in self._tracks}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def entries(self) -> list[Entry]:
        """A copy of every entry, in the order they were logged."""
        with self._lock:
            return [replace(e) for e in self._entries]

    def window(self, t: float, context_seconds: float | None) -> list[Entry]:
        """Entries overlapping ``[t - context_seconds, t]``; everything up to ``t`` when ``context_seconds`` is None."""
        if context_seconds is not None and context_seconds <= 0:
            raise ValueError(f"context_seconds must be positive or None, got {context_seconds}")
        low = -math.inf if context_seconds is None else t - context_seconds
        return [e for e in self.entries() if e.start <= t + 1e-6 and e.end >= low]

    def retrieve(self, question: str, t: float, context_seconds: float | None, limit: int = 12) -> list[Entry]:
        """The ``limit`` most useful entries for ``question`` within the window (those sharing a word or a topic with
        it first, then the most recent), in time order."""
        candidates = self.window(t, context_seconds)
        asked = content_words(question)
        named = concepts_in(question)
        kinds = kinds_in(question)
        general = not asked or bool(asked & _GENERAL)
        cued = set(_CUES) if general else {kind for kind, cues in _CUES.items() if asked & cues}
        if named or kinds:
            cued |= {"object", "count", "labels"}
        if "person" in named:
            cued.add("people")

        def about(entry: Entry) -> float:
            """1 for an object entry of a concept or kind the question names (as 'kitten' names a cat)."""
            if entry.kind != "object":
                return 0.0
            assert isinstance(entry.facts, SeenObject)
            concept = entry.facts.concept
            return 1.0 if concept in named or (kinds and kinds & set(_parents(concept))) else 0.0

        relevance = {
            id(e): len(asked & content_words(e.content)) + about(e) + (0.5 if e.kind in cued else 0.0)
            for e in candidates
        }

        def score(entry: Entry) -> float:
            return relevance[id(entry)] + 0.5 * math.exp(-max(0.0, t - entry.end) / 60.0)

        ranked = sorted(candidates, key=score, reverse=True)[:limit]
        return sorted(ranked, key=lambda e: (e.start, e.end))
