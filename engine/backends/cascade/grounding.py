"""The grounding check of what the cascade says: every claim about the stream in a sentence must be in the evidence.

``Grounds`` gathers what the scene log holds for a question's window: the text read on screen and the speech heard,
the things seen (with the kinds they belong to), each thing's own colours and the frame's, and the counts of things.
``ungrounded`` lists the claims of one sentence that the grounds do not hold:

- **text**: anything in quotes, and words in capitals ("EXIT", "OPEN 24H"), must have been read or heard (letters and
  digits compared, spaces and punctuation dropped: OCR joins and splits words; a near match of at least
  ``SAME_TEXT`` over a stretch of the same length counts);
- **thing**: a thing of the vocabulary ("kitten" → cat) or a kind ("animal") not negated in its clause ("no cat",
  "I don't see a dog") must have been seen (or be written on screen);
- **colour**: a colour word not negated; next to a thing ("the red car", "the car is red") it must be one of that
  thing's own colours, on its own one of the colours seen;
- **number**: a number before a thing ("two cats") must be a count of that thing seen; other digits must have been
  read or heard; a time ("at 12.5 s", "from 3.0 to 4.5 s") must be when something was logged (within
  ``SAME_TIME``). Shares ("60%") are not claims about the scene.

Conversation that is not about the stream is checked only in sentences that claim to perceive something ("I can
see…", "on the screen…"): "count to ten" may say numbers that nobody read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from engine.backends.cascade.colours import COLOURS
from engine.backends.cascade.objects import SeenObject
from engine.backends.cascade.people import SeenPerson
from engine.backends.cascade.scene_log import Entry
from engine.backends.cascade.vocabulary import CONCEPTS, KINDS, concept_of, mentions
from engine.backends.cascade.words import NUMBER_WORDS, wordset
from engine.vision.types import Label

SAME_TEXT = 0.8  # similarity at which a quoted text counts as the text read (an OCR slip of a letter or two)
OWN_COLOUR = 0.15  # a colour covering at least this share of a thing's pixels may be said of it
SAME_TIME = 0.15  # seconds between a time said and a logged one that still count as the same

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|(?<![A-Za-z])\'([^\']{2,}?)\'(?![A-Za-z])')
_CAPITALS = re.compile(r"\b[A-Z][A-Z0-9]+(?:\s+[A-Z0-9]+)*\b")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(\s*(?:%|percent)|\s*(?:s|sec|secs|seconds?)\b)?")
# words are split at apostrophes, so "don't" arrives as "don" "t"
_NEGATION = wordset("no not never nothing none nobody without cannot neither nor t don doesn didn isn aren wasn weren")
_NEGATION |= wordset("haven hasn couldn won wouldn")
_CLAUSE = re.compile(r"[,;:]|\bbut\b|\band\b")
_PERCEIVES = re.compile(
    r"\b(see|seen|saw|sees|seeing|screen|video|camera|picture|image|frame|stream|visible|in front|in view|"
    r"there (?:is|are)|appears?|showing|shown|notice[sd]?|spotted|written|reads)\b",
    re.IGNORECASE,
)
_ALLOWED_CAPITALS = frozenset({"I", "OK", "TV", "A"})
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”')\]]*\s+|\n+")


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@dataclass
class Grounds:
    """What the evidence holds: text read and heard, things seen with their kinds, colours and counts."""

    texts: list[str] = field(default_factory=list)  # letters and digits of each text read or heard
    concepts: set[str] = field(default_factory=set)  # things seen, and the kinds they belong to
    colours: set[str] = field(default_factory=set)  # every colour seen, of things and of the frame
    colours_of: dict[str, set[str]] = field(default_factory=dict)  # thing → its own colours
    counts: dict[str, set[int]] = field(default_factory=dict)  # thing → how many were seen at once
    numbers: set[str] = field(default_factory=set)  # numbers in the text read or heard
    times: list[float] = field(default_factory=list)  # when entries began and ended

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> Grounds:
        grounds = cls()
        for entry in entries:
            grounds._add(entry)
        return grounds

    def _see(self, concept: str) -> None:
        self.concepts.add(concept)
        known = CONCEPTS.get(concept)
        self.concepts.update(known.parents if known else ())

    def _add(self, entry: Entry) -> None:
        facts = entry.facts
        self.times += [entry.start, entry.end]
        if entry.kind in ("text", "speech"):
            self.texts.append(_letters(entry.content))
            self.numbers.update(re.findall(r"\d+", entry.content))
        elif entry.kind == "colour":
            self.colours.update(word for word in re.findall(r"[a-z]+", entry.content) if word in COLOURS)
        elif isinstance(facts, SeenObject):
            self._see(facts.concept)
            own = {name for name, share in facts.palette if share >= OWN_COLOUR} | set(facts.colours)
            self.colours_of.setdefault(facts.concept, set()).update(own)
            self.colours.update(own)
        elif entry.kind == "count" and isinstance(facts, dict):
            for concept, n in facts.items():
                self.counts.setdefault(concept, set()).add(int(n))
        elif entry.kind == "labels" and isinstance(facts, tuple):
            for label in facts:
                concept = concept_of(label.name) if isinstance(label, Label) else None
                if concept is not None:
                    self._see(concept)
        elif entry.kind == "people" and isinstance(facts, tuple):
            people = [p for p in facts if isinstance(p, SeenPerson)]
            if people:
                self._see("person")
                self.counts.setdefault("person", set()).add(len(people))

    def read(self, text: str) -> bool:
        """Whether ``text`` was read on screen or heard (exactly, or nearly over a stretch of the same length)."""
        wanted = _letters(text)
        if not wanted:
            return True
        for seen in self.texts:
            if wanted in seen:
                return True
            if len(seen) >= len(wanted) - 1 and len(wanted) >= 4:
                size = len(wanted)
                for start in range(0, max(1, len(seen) - size + 1)):
                    if SequenceMatcher(None, wanted, seen[start : start + size]).ratio() >= SAME_TEXT:
                        return True
        return False


def _clauses(sentence: str) -> list[str]:
    return [part for part in _CLAUSE.split(sentence) if part.strip()]


def _negated(clause_words: Sequence[str], index: int) -> bool:
    return any(word in _NEGATION for word in clause_words[:index])


def ungrounded(sentence: str, grounds: Grounds, *, about_stream: bool = True) -> list[str]:
    """The claims of ``sentence`` the grounds do not hold, described ("text 'EXIT'", "colour 'red' of the car");
    empty when it is grounded. ``about_stream`` False: conversation, checked only where it claims to perceive."""
    if not about_stream and not _PERCEIVES.search(sentence):
        return []
    problems: list[str] = []
    quoted = [next(g for g in match.groups() if g) for match in _QUOTED.finditer(sentence)]
    problems += [f"text '{text}'" for text in quoted if not grounds.read(text)]
    unquoted = _QUOTED.sub(" ", sentence)
    for match in _CAPITALS.finditer(unquoted):
        text = match.group(0)
        if text in _ALLOWED_CAPITALS or concept_of(text.lower()) is not None or grounds.read(text):
            continue
        problems.append(f"text '{text}'")
    for clause in _clauses(unquoted):
        problems += _clause_problems(clause, grounds)
    return problems


def _clause_problems(clause: str, grounds: Grounds) -> list[str]:
    spans = mentions(clause)
    plain = [span for span, _ in spans]
    things = [(i, concept) for i, (span, concept) in enumerate(spans) if concept is not None]
    problems: list[str] = []
    for i, (span, concept) in enumerate(spans):
        if _negated(plain, i):
            continue
        if concept is not None:
            if concept not in grounds.concepts and not grounds.read(span):
                problems.append(f"thing '{span}'")
        elif span in KINDS and span not in grounds.concepts:
            problems.append(f"thing '{span}'")
    for i, span in enumerate(plain):
        if span not in COLOURS or _negated(plain, i):
            continue
        nearest = min(things, key=lambda thing: abs(thing[0] - i), default=None)
        if nearest is not None:
            own = grounds.colours_of.get(nearest[1], set())
            if span not in own:
                problems.append(f"colour '{span}' of the {nearest[1]}")
        elif span not in grounds.colours:
            problems.append(f"colour '{span}'")
    for i, span in enumerate(plain):
        n = NUMBER_WORDS.get(span, int(span) if span.isdigit() else None)
        if n is None or _negated(plain, i) or i + 1 >= len(spans) or spans[i + 1][1] is None:
            continue
        concept = spans[i + 1][1]
        assert concept is not None
        if n not in grounds.counts.get(concept, set()) and not (n == 1 and concept in grounds.concepts):
            problems.append(f"count {n} of {concept}")
    for match in _NUMBER.finditer(clause):
        number, unit = match.groups()
        if (unit and "%" in unit) or (unit and "percent" in unit):
            continue  # a colour's share of the picture
        if unit or "." in number:  # a time
            if not any(abs(float(number.replace(",", ".")) - t) <= SAME_TIME for t in grounds.times):
                problems.append(f"time {number} s")
            continue
        after = clause[match.end() :].split()
        if after and concept_of(after[0].strip(".,!?").lower()) is not None:
            continue  # a count, judged above
        if number not in grounds.numbers:
            problems.append(f"number {number}")
    return problems


def support(sentence: str, entries: Sequence[Entry]) -> list[Entry]:
    """The entries a grounded ``sentence`` rests on: the text and speech it quotes, and for each thing it names (not
    negated) and a scene cut it mentions, the entries of that thing logged at a time it says, else the latest one."""
    times = [
        float(number.replace(",", "."))
        for number, unit in _NUMBER.findall(sentence)
        if (unit and "%" not in unit and "percent" not in unit) or "." in number
    ]
    quoted = [next(g for g in match.groups() if g) for match in _QUOTED.finditer(sentence)]
    found: list[Entry] = [
        e for e in entries if e.kind in ("text", "speech") and any(Grounds.of([e]).read(q) for q in quoted)
    ]
    named: set[str] = set()
    for clause in _clauses(_QUOTED.sub(" ", sentence)):
        spans = mentions(clause)
        plain = [span for span, _ in spans]
        named |= {concept for i, (_, concept) in enumerate(spans) if concept is not None and not _negated(plain, i)}
    wanted: dict[str, list[Entry]] = {}
    for entry in entries:
        concepts = set(Grounds.of([entry]).concepts) & named
        if entry.kind == "scene" and re.search(r"\bcut\b|\bscene\b", sentence, re.IGNORECASE):
            concepts.add("scene")
        for concept in concepts:
            wanted.setdefault(concept, []).append(entry)
    for of_it in wanted.values():
        at_times = [e for e in of_it if any(min(abs(e.start - t), abs(e.end - t)) <= SAME_TIME for t in times)]
        found += at_times or [max(of_it, key=lambda e: (e.end, e.start))]
    return sorted({e.number: e for e in found}.values(), key=lambda e: e.number)


def sentences(pieces: Iterable[str]) -> Iterator[str]:
    """The text of ``pieces`` cut into sentences as soon as each is complete (the rest at the end)."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        while True:
            match = _SENTENCE_END.search(buffer)
            if match is None:
                break
            sentence, buffer = buffer[: match.start()] + match.group(0).rstrip(), buffer[match.end() :]
            if sentence.strip():
                yield sentence.strip()
    if buffer.strip():
        yield buffer.strip()
