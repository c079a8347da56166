"""What an open question asks of the stream, read from its words: the cascade answers each kind from its own facts.

``read_intent`` sorts a question into one kind:

- ``chat``: a request that is not about the stream at all ("say hello", "count to ten", "what can you do?", "tell me a
  story"): it names nothing that can be seen or heard and points at nothing on screen;
- ``heard``: what was said ("what did she say?", "what did you hear?");
- ``text``: what is written ("what is written on the screen?", "what does the sign say?");
- ``count``: "how many cats / people …";
- ``colour``: "what colour is the cup?" (the thing's own colour) or "what colour is the background?";
- ``side``: "what is on the left side?"; ``where``: "where is the cat?";
- ``before``: "what was shown just before the cat?";
- ``presence``: "is there a dog?", "do you see a person?";
- ``people``: "is someone waving?", "is the person sitting?";
- ``motion``: "is anything moving?";
- ``describe``: "what do you see?", "what animal is this?", "describe the scene";
- ``notes``: anything else about the stream ("why …", "what is the man doing?"): answered from the notes.

``long`` marks a request for a long answer ("in detail", "tell me a story", "explain"), which gets more than a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from engine.backends.cascade.colours import COLOURS
from engine.backends.cascade.vocabulary import concepts_in, kinds_in
from engine.backends.cascade.words import MOTION, words, wordset

IntentKind = Literal[
    "chat",
    "heard",
    "text",
    "count",
    "colour",
    "side",
    "where",
    "before",
    "presence",
    "people",
    "motion",
    "describe",
    "notes",
]

_HEARD = wordset("hear heard said spoke speak speaking talk talking talked mention mentioned voice audio sound")
_TEXT = wordset(
    "written write writing text sign read reads word title label caption subtitle headline banner poster menu "
    "price number letter"
)
_SCREEN_SAYS = wordset("sign screen display board banner poster label page it")
_SIDES = ("left", "right", "top", "bottom", "centre", "middle")
_PEOPLE = wordset(
    "someone somebody anyone anybody person people man woman men women wave waving sit sitting stand standing raise "
    "raising hand hands"
)
_PRESENCE_START = (("is", "there"), ("are", "there"), ("do", "you", "see"), ("can", "you", "see"), ("is", "a"))
# Words that point at the stream: a question with none of these and no named thing is conversation.
_STREAM = (
    wordset(
        "see saw seen seeing look looking watch watching show shown showing screen video picture image frame camera "
        "view visible front here this that these those there now currently moment scene happen happening happened "
        "appear appeared appears left right top bottom centre middle background foreground colour wear wearing hold "
        "holding doing many where describe notice noticed object thing item animal stream clip recording display dark "
        "bright light"
    )
    | _HEARD
    | _TEXT
    | MOTION
)
_NOT_A_SIDE = re.compile(r"\bright (?:now|away|here|there|then)\b|\ball right\b", re.IGNORECASE)
_LONG = wordset("detail detailed details story explain long everything elaborate thoroughly essay paragraph")


@dataclass(frozen=True, slots=True)
class Intent:
    kind: IntentKind
    concepts: frozenset[str] = frozenset()  # the things the question names ("kitten" → cat)
    kinds: frozenset[str] = frozenset()  # the kinds it names ("which animal" → animal)
    side: str = ""  # for ``side``: left, right, top, bottom or centre
    long: bool = False  # a request for a long answer


def _starts(plain: list[str], *heads: tuple[str, ...]) -> bool:
    return any(tuple(plain[: len(head)]) == head for head in heads)


def read_intent(question: str) -> Intent:
    plain = words(_NOT_A_SIDE.sub(" now ", question))
    said = set(plain)
    concepts = frozenset(concepts_in(question))
    kinds = frozenset(kinds_in(question))
    long = bool(said & _LONG)
    named = bool(concepts or kinds)

    def intent(kind: IntentKind, side: str = "") -> Intent:
        return Intent(kind, concepts, kinds, side, long)

    if "say" in said and said & _SCREEN_SAYS:
        return intent("text")
    asks_what_was_said = "say" in said and "what" in said and said & {"did", "does", "do"}
    if asks_what_was_said or (said & _HEARD and not said & {"written", "sign", "screen", "text"}):
        return intent("heard")
    if not named and not said & _STREAM:
        return intent("chat")
    if "many" in said and "how" in said:
        return intent("count")
    if said & {"colour", "coloured"} or (said & COLOURS and _starts(plain, ("what",), ("which",))):
        return intent("colour")
    side = next((s for s in _SIDES if s in said), "")
    if said & _TEXT and not named:
        return intent("text")
    if "before" in said and named:
        return intent("before")
    if side and not named:
        return intent("side", "centre" if side == "middle" else side)
    if "where" in said and named:
        return intent("where")
    if said & _PEOPLE and not concepts - {"person"}:
        return intent("people")
    if named and _starts(plain, *_PRESENCE_START):
        return intent("presence")
    if said & MOTION:
        return intent("motion")
    if said & wordset("what which describe see notice anything everything") or named:
        return intent("describe")
    return intent("notes")
