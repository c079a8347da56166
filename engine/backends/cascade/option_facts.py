"""How strongly the recognition facts support each option of a multiple-choice question, by what the question asks.

The question's stem decides which facts count: "how many X" → the count of X in view; "what colour is the X" → the
share of each option's colour among the pixels of the X last seen; "which side is the X on" → where the X is;
"what is on the left side" → the things seen in that half; "what was shown before X" → what was seen just before X
first appeared; "what is shown / what animal / what do you see" → the things in view now. An option naming things is
scored by the sureness of each thing it names that was seen, less ``MISSING`` for each it names that was not (a man
with a camera on a tripod is not supported by a person alone): a negative score is evidence against it. ``None``:
the stem asks nothing these facts decide (text, speech and colours of the frame are then matched word by word).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.backends.cascade.colours import COLOURS
from engine.backends.cascade.facts import Facts, Seen, asked_concepts
from engine.backends.cascade.objects import SeenObject
from engine.backends.cascade.words import NUMBER_WORDS, content_words, words, wordset

MISSING = 0.3  # taken off an option for each thing it names that was not seen
UNBOXED = 0.5  # a thing the classifier named but no box holds may be in either half: this share of its sureness
UNBOXED_CLEAR = 0.45  # boxes at least this sure tell which half holds other things
_SHOWN = wordset("shown show see showing visible animal object thing front screen")
_SIDES = ("left", "right", "top", "bottom")


def number_in(text: str) -> int | None:
    """The first number an option states ("3." → 3, "Three cats" → 3), or None."""
    for word in re.findall(r"[a-z]+|\d+", text.lower()):
        if word.isdigit():
            return int(word)
        if word in NUMBER_WORDS:
            return NUMBER_WORDS[word]
    return None


def colours_in(text: str) -> list[str]:
    return [w for w in words(text) if w in COLOURS]


def _things(options: Sequence[str], seen: dict[str, float]) -> list[float]:
    scores = []
    for option in options:
        named = asked_concepts(option)
        matched = sum(seen.get(concept, 0.0) for concept in named)  # negative for a thing seen elsewhere
        missing = sum(1 for concept in named if concept not in seen)
        scores.append(matched - MISSING * missing if named else 0.0)
    return scores


def option_evidence(stem: str, options: Sequence[str], facts: Facts) -> list[float] | None:
    """Each option's support by the recognition facts (0 = nothing for it), or None when the stem is not theirs."""
    asked = content_words(stem)
    plain = words(stem)
    named = asked_concepts(stem)
    # "the man with the camera": the thing the window's facts are surest of is the one meant
    window = facts.presence(facts.entries)
    concept = max(sorted(named), key=lambda c: window.get(c, 0.0), default=None)
    if "many" in plain and "how" in plain and concept is not None:
        n = facts.count(concept)
        stated = [number_in(option) for option in options]
        return [1.0 if s == n else 0.3 if s is not None and abs(s - n) == 1 and n > 0 else 0.0 for s in stated]
    if "colour" in asked and concept is not None:
        seen = facts.named(concept)
        if not seen:
            return None
        palette = dict(seen[0].obj.palette)
        return [max((palette.get(c, 0.0) for c in colours_in(option)), default=0.0) for option in options]
    if "side" in asked and concept is not None and "which" in plain:
        side = _side_of(concept, facts)
        return [1.0 if side is not None and side in words(option) else 0.0 for option in options]
    side = next((s for s in ("left", "right") if s in plain), None)
    if side is not None and "side" in asked and concept is None:
        return _things(options, _on_side(side, facts))
    if "before" in plain and concept is not None:
        return _things(options, facts.before(concept))
    if set(plain) & _SHOWN and any(asked_concepts(option) for option in options):
        return _things(options, facts.present())
    return None


def _side_of(concept: str, facts: Facts) -> str | None:
    """Which half of the frame ``concept`` is in now: its surest box's; for a thing only the whole-picture classifier
    named, the half without boxes when every box in view is in the other half; None when unknown."""
    boxed = [s for s in facts.in_view() if s.obj.concept == concept]
    if boxed:
        return max(boxed, key=lambda s: s.obj.score).side
    if concept not in facts.present():
        return None
    sides = {s.side for s in facts.in_view() if s.obj.score >= UNBOXED_CLEAR}
    return ({"left", "right"} - sides).pop() if len(sides) == 1 else None


def _on_side(side: str, facts: Facts) -> dict[str, float]:
    """What is in view in the ``side`` half: its boxes' concepts; a thing only the whole-picture classifier named
    counts at ``UNBOXED`` of its sureness unless a box of it lies in the other half; a thing boxed only in the other
    half counts against."""
    in_view = facts.in_view()
    boxed = [e for e in facts.now() if isinstance(e.facts, SeenObject)]
    here = Facts.presence([e for e in boxed if Seen(e.facts, e.start, e.end).side == side])
    there = {s.obj.concept for s in in_view if s.side != side} - set(here)
    seen = dict(here)
    for concept, sure in facts.present().items():
        if concept in seen or concept in there:
            continue
        if not any(s.obj.concept == concept for s in in_view):
            seen[concept] = UNBOXED * sure
    for concept in there:
        seen[concept] = -MISSING
    return seen
