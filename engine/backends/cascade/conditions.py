"""Standing-instruction checks for the cascade: conditions about text on screen, objects and people, colours,
movement or speech.

A condition is classified by its words, in this order:
- quoted words are text, never objects ('the word "APPLE" appears', 'the screen says "ROCKET"'): they must all be
  read on screen now (or, after a speech word and no screen word, heard: 'someone says "goodbye"');
- speech words ("says", "hear", "mentions") with no screen word ("screen", "sign", "word"...) → "did a transcript
  since the last check contain the words to listen for";
- writing words ("word", "text", "sign", "caption", "reads", "says"...) with a word other than a colour name → the
  remaining content words must be on screen now ("the sign says EXIT"; "the sign turns red" is a colour condition);
- things the vocabulary names, a concept ("a cat", "someone", "a kitten") or a kind ("an animal", "a vehicle") →
  each must be among the objects the detector sees now: an object of that concept, or of a concept whose parents
  include the kind. A colour word before it (or after the last one, "a car that is red") must be one of that
  object's own colours; a number before it asks for at least that many ("two people", "3 cars"); "and" asks for
  all of them, "or" for any. People's pose facts, where the people models give them, answer "someone raises a
  hand", "a person sits" or "someone stands" (the person must also be a steady detection). The context passes only
  the objects in view for at least ``detect_interval_s`` (``SceneLog.in_view``): found again by the next detector
  run, or standing on a picture that has not changed since, so a single detection the next run misses never fires;
- a colour name alone → "is that colour dominant now"; movement words → "is something moving now";
- otherwise the remaining content words (numbers, names) must all be on screen now ("the scoreboard shows 3").

Presence is what the cascade sees, so "appears", "arrives", "comes", "shows up" and "is there" all mean "is in view
now": "when a car arrives" fires once a car is in view (also one already there when the instruction was given).
The objects are the detector's (COCO-80 classes, renamed by the classifier when it is sure of another concept of the
same kind): the whole-frame classifier's names are not watched, so "a rocket" fires only if a detected box is named
one. Actions the cascade cannot see ("enters", "leaves", "opens", "waves", "runs") and absence ("not", "no", "is
gone") return None, as does any condition about things when no detector is loaded: the session then tells the user
it cannot watch for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.backends.base import ConditionCheck
from engine.backends.cascade.colours import ColourRegion
from engine.backends.cascade.objects import SeenObject
from engine.backends.cascade.people import SeenPerson
from engine.backends.cascade.vocabulary import CONCEPTS, KINDS, mentions
from engine.backends.cascade.words import MOTION, content_words, wordset

COLOURS = wordset("red green blue yellow orange purple pink white black gray brown cyan")
_SCREEN = wordset(
    "screen sign scoreboard board score display displays shows show says say read reads written text word number "
    "appear appears caption title label banner reach reaches become becomes turn turns change changes"
)
_SCREEN_NOUNS = wordset("screen sign scoreboard board display caption title label banner text word subtitle")
_WRITING = wordset("word text written writing caption title label banner sign subtitle letter say read spell")
_SPEECH = wordset("say says said hear heard mention mentions mentioned announce announces announced talk talks speak")
_WHO = wordset("someone somebody anyone anybody person people man woman men women")
_UNSEEABLE = wordset(
    "enter enters entering leave leaves leaving walk walks walking run runs running open opens opening close closes "
    "closing wave waves waving jump jumps fall falls eat eats drink drinks disappear disappears gone exit exits "
    "pick picks drop drops throw throws"
)
_ABSENT = wordset("no not nobody none nothing without never")  # absence: a different condition from presence
_POSES = {
    "sit": "sitting",
    "sits": "sitting",
    "sitting": "sitting",
    "seated": "sitting",
    "stand": "standing",
    "stands": "standing",
    "standing": "standing",
}
_RAISE = wordset("raise raises raising raised lift lifts lifting")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_NUMBERS = {word: n for n, word in enumerate(_NUMBER_WORDS)}
_QUOTED = re.compile(r'"([^"]*)"?|“([^”]*)”?')  # an instruction's closing quote may have been trimmed with it
_DOMINANT = 0.25  # share of the frame a colour must cover to count as "the" colour


@dataclass(frozen=True, slots=True)
class Wanted:
    """One thing a condition asks to see: a concept or a kind, in one of ``colours`` (any), ``count`` of them."""

    name: str
    colours: frozenset[str] = frozenset()
    count: int = 1

    def matches(self, seen: SeenObject) -> bool:
        known = CONCEPTS.get(seen.concept)
        if seen.concept != self.name and not (known and self.name in known.parents):
            return False
        return not self.colours or bool(self.colours & set(seen.colours))

    def describe(self) -> str:
        return " ".join(part for part in (str(self.count), " or ".join(sorted(self.colours)), self.name) if part)


def wanted_things(condition: str) -> tuple[list[Wanted], bool]:
    """The things ``condition`` names, with their colour and number words, and whether any one of them is enough
    ("or") rather than all of them."""
    found: list[Wanted] = []
    colours: set[str] = set()
    count = 1
    for span, concept in mentions(condition):
        name = concept or (span if span in KINDS else None)
        if name is not None:
            found.append(Wanted(name, frozenset(colours), count))
            colours, count = set(), 1
        elif span in COLOURS:
            colours.add(span)
        elif span in _NUMBERS or span.isdigit():
            count = _NUMBERS.get(span) or int(span)
    if colours and found:  # "a car that is red"
        last = found[-1]
        found[-1] = Wanted(last.name, last.colours | colours, last.count)
    return found, "or" in condition.lower().split()


def _text_check(wanted: set[str], visible_texts: list[str]) -> ConditionCheck | None:
    if not wanted:
        return None
    on_screen = set().union(*(content_words(text) for text in visible_texts)) if visible_texts else set()
    found = wanted & on_screen
    return ConditionCheck(found == wanted, round(len(found) / len(wanted), 3), "; ".join(visible_texts))


def _speech_check(wanted: set[str], new_speech: list[str]) -> ConditionCheck | None:
    if not wanted:
        return None
    heard = [text for text in new_speech if wanted <= content_words(text)]
    return ConditionCheck(bool(heard), 1.0 if heard else 0.0, heard[0] if heard else "")


def _things_check(
    things: list[Wanted],
    any_one: bool,
    pose: str,
    objects: Sequence[SeenObject],
    people: Sequence[SeenPerson],
) -> ConditionCheck:
    shares: list[float] = []
    evidence: list[str] = []
    for thing in things:
        matching = [seen for seen in objects if thing.matches(seen)]
        have = len(matching)
        if pose and thing.name == "person":
            posed = sum(1 for person in people if pose in person.facts)
            have = min(have, posed)  # a steady person, and as many showing the pose in the latest people run
            evidence.extend(person.describe() for person in people if pose in person.facts)
        shares.append(min(1.0, have / thing.count))
        evidence.extend(seen.describe() for seen in matching)
    met = any(s >= 1.0 for s in shares) if any_one else all(s >= 1.0 for s in shares)
    score = max(shares) if any_one else sum(shares) / len(shares)
    return ConditionCheck(met, round(score, 3), "; ".join(dict.fromkeys(evidence)))


def _pose(words: set[str]) -> str | None:
    """The pose fact a condition asks for ("" for none), or None when it asks for one the people models don't give."""
    if words & _RAISE:
        if not words & {"hand", "arm"}:
            return None
        return "raising both hands" if "both" in words else "raising a hand"
    poses = {_POSES[w] for w in words if w in _POSES}
    return poses.pop() if len(poses) == 1 else "" if not poses else None


def check(
    condition: str,
    *,
    visible_texts: list[str],
    colours: tuple[ColourRegion, ...],
    moving: bool,
    new_speech: list[str],
    objects: Sequence[SeenObject] | None = None,
    people: Sequence[SeenPerson] | None = None,
) -> ConditionCheck | None:
    """Whether ``condition`` holds now. ``objects``: those seen steadily now (None: no detector, so none can be
    watched for); ``people``: the people with pose facts from the latest people run (None: none seen)."""
    quoted = " ".join(a or b for a, b in _QUOTED.findall(condition))
    rest = _QUOTED.sub(" ", condition)
    words = content_words(rest)
    raw = set(re.findall(r"[a-z]+", rest.lower()))
    speech = bool(words & _SPEECH) and not words & _SCREEN_NOUNS
    if quoted:
        wanted = content_words(quoted)
        return _speech_check(wanted, new_speech) if speech else _text_check(wanted, visible_texts)
    if speech:
        return _speech_check(words - _SPEECH - _SCREEN - _WHO, new_speech)
    written = words - _SCREEN - _WRITING
    if words & _WRITING and written - COLOURS:  # "the sign turns red" is about a colour; quote a colour's name
        return _text_check(written, visible_texts)
    things, any_one = wanted_things(rest)
    if things:
        pose = _pose(words | raw)
        if objects is None or pose is None or raw & _ABSENT or words & _UNSEEABLE:
            return None
        if pose and not any(t.name == "person" for t in things):
            return None
        return _things_check(things, any_one, pose, objects, people or ())
    colour_words = words & COLOURS
    if colour_words:
        share = sum(c.fraction for c in colours if c.name in colour_words)
        return ConditionCheck(share >= _DOMINANT, round(share, 3), ", ".join(c.describe() for c in colours))
    if words & MOTION and not (words - MOTION - _SCREEN - {"something", "anything"}):
        return ConditionCheck(moving, 1.0 if moving else 0.0)
    if words & _UNSEEABLE:
        return None
    return _text_check(words - _SCREEN, visible_texts)
