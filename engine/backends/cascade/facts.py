"""What the scene log says about one moment or one stretch of the stream, in the terms a question uses.

``Facts`` is built from scene-log entries (those of a question's window): which concepts were seen and how sure the
models were (``presence``), the objects in view with their colours and positions, how many of a concept were in view,
the text read, and what was on screen just before something first appeared. Only the detector's boxes give positions,
colours and counts; the classifier's names for the whole picture add concepts, except where a detected object of the
same kind contradicts them (a black horse the classifier takes for a retriever stays a horse).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.backends.cascade.objects import SeenObject
from engine.backends.cascade.scene_log import Entry
from engine.backends.cascade.vocabulary import CONCEPTS, concept_of, concepts_in
from engine.backends.cascade.words import content_words, wordset
from engine.vision.types import Label

TEXT = "text"  # the pseudo-concept "printed text": several lines read on screen at once
TEXT_WORDS = wordset("text page document paper printed written writing words letter article")
TEXT_LINES = 2  # lines read at once that make "a page of text"
LABEL_WEIGHT = 0.8  # a whole-picture name counts this much of its score (it has no box to back it)
SURE = 0.3  # how sure a model must be before a thing counts as having appeared
BEFORE_S = 4.0  # "just before X": what was seen in the last seconds before X first appeared


def _parents(concept: str) -> tuple[str, ...]:
    known = CONCEPTS.get(concept)
    return known.parents if known else ()


@dataclass(frozen=True, slots=True)
class Seen:
    """One object entry: the object as last seen, and when it was in view."""

    obj: SeenObject
    start: float
    end: float

    @property
    def side(self) -> str:
        x0, _, x1, _ = self.obj.box
        return "left" if (x0 + x1) / 2 < 0.5 else "right"


class Facts:
    """The facts of ``entries`` (a question's window) as of time ``t``; "now" is within ``present_s`` of ``t``."""

    def __init__(self, entries: Sequence[Entry], t: float, present_s: float) -> None:
        self.entries = list(entries)
        self.t = t
        self.present_s = present_s

    def _now(self, entry: Entry) -> bool:
        return entry.start <= self.t + 1e-6 and entry.end >= self.t - self.present_s

    def now(self) -> list[Entry]:
        return [e for e in self.entries if self._now(e)]

    # ---- what was seen ----------------------------------------------------------------------------------------

    @staticmethod
    def objects(entries: Iterable[Entry]) -> list[Seen]:
        return [Seen(e.facts, e.start, e.end) for e in entries if isinstance(e.facts, SeenObject)]

    @staticmethod
    def presence(entries: Sequence[Entry]) -> dict[str, float]:
        """Concept → how sure the models were that it was there, over ``entries``."""
        found: dict[str, float] = {}
        kinds_boxed: dict[str, set[str]] = {}
        for seen in Facts.objects(entries):
            concept = seen.obj.concept
            found[concept] = max(found.get(concept, 0.0), seen.obj.score)
            for kind in _parents(concept):
                kinds_boxed.setdefault(kind, set()).add(concept)
        for entry in entries:
            if entry.kind != "labels" or not isinstance(entry.facts, tuple):
                continue
            for label in entry.facts:
                if not isinstance(label, Label):
                    continue
                concept = concept_of(label.name)
                if concept is None:
                    continue
                contradicted = any(kinds_boxed.get(kind, {concept}) - {concept} for kind in _parents(concept))
                if concept not in found and contradicted:
                    continue
                found[concept] = max(found.get(concept, 0.0), LABEL_WEIGHT * label.score)
        lines = max((Facts._lines_at(entries, e.start) for e in entries if e.kind == "text"), default=0)
        if lines >= TEXT_LINES:
            found[TEXT] = 1.0
        return found

    @staticmethod
    def _lines_at(entries: Sequence[Entry], t: float) -> int:
        return sum(1 for e in entries if e.kind == "text" and e.start <= t + 1e-6 and e.end >= t - 1e-6)

    def in_view(self) -> list[Seen]:
        return self.objects(self.now())

    def present(self) -> dict[str, float]:
        return self.presence(self.now())

    def count(self, concept: str) -> int:
        """How many ``concept`` objects the latest detector run saw (0 when none is in view)."""
        latest = [e for e in self.now() if e.kind == "count" and isinstance(e.facts, dict)]
        if not latest:
            return 0
        counts = max(latest, key=lambda e: e.end).facts
        assert isinstance(counts, dict)
        return int(counts.get(concept, 0))

    def named(self, concept: str) -> list[Seen]:
        """Objects of ``concept`` in the window, the latest seen first."""
        return sorted((s for s in self.objects(self.entries) if s.obj.concept == concept), key=lambda s: -s.end)

    def first_seen(self, concept: str) -> float | None:
        """When ``concept`` (or printed text, for ``TEXT``) first appeared in the window; None if it never did."""
        times = []
        for entry in self.entries:
            if (
                concept == TEXT and entry.kind == "text" and self._lines_at(self.entries, entry.start) >= TEXT_LINES
            ) or self.presence([entry]).get(concept, 0.0) >= SURE:
                times.append(entry.start)
        return min(times) if times else None

    def before(self, concept: str) -> dict[str, float]:
        """What was seen in the ``BEFORE_S`` seconds before ``concept`` first appeared (without ``concept``)."""
        appeared = self.first_seen(concept)
        if appeared is None:
            return {}
        # what had stopped being seen by then: entries still open when it appeared belong to its view
        earlier = [e for e in self.entries if e.kind != "scene" and appeared - BEFORE_S <= e.end < appeared - 0.1]
        found = self.presence(earlier)
        found.pop(concept, None)
        return found


def asked_concepts(text: str) -> set[str]:
    """The concepts a question or option names, printed text included ("a page of printed text" → {text})."""
    found = concepts_in(text)
    if content_words(text) & TEXT_WORDS:
        found.add(TEXT)
    return found
