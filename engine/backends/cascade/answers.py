"""Open answers built from the evidence: plain sentences that say only what the scene log holds.

``evidence_answer`` answers an open question of a known kind (``intents``) from the facts of its window: the text on
screen with where it sits, the things in view with their own colours and places, counts, what came just before a
thing appeared, whether something is there, the people and what their pose shows, movement and what was heard. Each
sentence is made from log entries only, so it passes the grounding check by construction; when nothing bears on the
question it says so, and what it did notice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engine.backends.cascade.facts import SURE, TEXT, Facts, Seen
from engine.backends.cascade.intents import Intent
from engine.backends.cascade.people import SeenPerson
from engine.backends.cascade.scene_log import Entry
from engine.backends.cascade.vocabulary import CONCEPTS
from engine.backends.cascade.words import content_words, words, wordset

_PAST = wordset("was were did ago earlier before previously last")
_IRREGULAR = {"person": "people", "mouse": "mice", "sheep": "sheep", "skis": "skis", "knife": "knives"}
_RECENT = 3  # texts, utterances or things named at most in one sentence
_GENERIC = wordset("screen colour side left right top bottom thing something anything right going doing look")


def _a(thing: str) -> str:
    return f"an {thing}" if thing[:1] in "aeiou" else f"a {thing}"


def plural(thing: str, n: int) -> str:
    """``thing`` for a count of ``n`` ("1 cat", "3 cats", "2 people")."""
    if n == 1:
        return thing
    if thing in _IRREGULAR:
        return _IRREGULAR[thing]
    return f"{thing}es" if thing.endswith(("s", "sh", "ch", "x")) else f"{thing}s"


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" and {parts[-1]}"


def _place(where: str) -> str:
    return "in the centre" if where == "centre" else f"at the {where}"


def _thing(seen: Seen) -> str:
    """A thing as it was seen, with its main colour: "a brown cat in the centre" ("a person in the centre, mostly
    red"); a question about its colour gets the second one too."""
    colour = seen.obj.colours[0] if seen.obj.colours else ""
    if seen.obj.concept == "person":
        return f"a person {_place(seen.obj.where)}" + (f", mostly {colour}" if colour else "")
    return f"{_a(f'{colour} {seen.obj.concept}' if colour else seen.obj.concept)} {_place(seen.obj.where)}"


def _when(entry: Entry) -> str:
    if entry.end - entry.start < 0.05:
        return f"at {entry.start:.1f} s"
    return f"from {entry.start:.1f} to {entry.end:.1f} s"


def _is_kind(concept: str, kinds: frozenset[str]) -> bool:
    known = CONCEPTS.get(concept)
    return bool(kinds & set(known.parents if known else ()))


def _of_kind(seen: Sequence[Seen], intent: Intent) -> list[Seen]:
    """The things among ``seen`` that the question names or whose kind it names (all when it names none)."""
    if not intent.concepts and not intent.kinds:
        return list(seen)
    return [s for s in seen if s.obj.concept in intent.concepts or _is_kind(s.obj.concept, intent.kinds)]


def _unboxed(concept: str, facts: Facts) -> str | None:
    """For a thing only the whole-picture classifier names now (no box): the sentence that says so."""
    return f"The picture looks like {_a(concept)}" if concept in _named_now(facts) else None


def _things_sentence(seen: Sequence[Seen]) -> str:
    """ "I see a cat in the centre and two cups at the bottom." (one phrase per thing, surest first)."""
    ranked = sorted(seen, key=lambda s: -s.obj.score)
    return f"I see {_join([_thing(s) for s in ranked[:4]])}."


def _named_now(facts: Facts) -> list[str]:
    """Things the whole-picture classifier names now that no box holds."""
    boxed = {s.obj.concept for s in facts.in_view()}
    return [c for c, sure in sorted(facts.present().items(), key=lambda kv: -kv[1]) if sure >= SURE and c not in boxed]


def _latest(entries: Sequence[Entry], kind: str) -> Entry | None:
    found = [e for e in entries if e.kind == kind]
    return max(found, key=lambda e: (e.end, e.start)) if found else None


def _texts(entries: Sequence[Entry]) -> str:
    lines = sorted((e for e in entries if e.kind == "text"), key=lambda e: -e.end)[:_RECENT]
    return _join([f'"{e.content}"' + (f" ({_place(e.where)})" if e.where else "") for e in lines])


def _seen_now(facts: Facts) -> list[str]:
    """What is in view now, as sentences: things, whole-picture names, text; empty when nothing."""
    out = []
    things = facts.in_view()
    if things:
        out.append(_things_sentence(things))
    named = [c for c in _named_now(facts) if c != TEXT]
    if named:
        out.append(f"The picture looks like {_join([_a(c) for c in named[:2]])}.")
    now = facts.now()
    if any(e.kind == "text" for e in now):
        out.append(f"The screen says {_texts(now)}.")
    return out


def _colours_sentence(facts: Facts) -> str | None:
    colour = _latest(facts.now(), "colour") or _latest(facts.entries, "colour")
    return f"The main colours are {colour.content}." if colour is not None else None


def _nothing_now(facts: Facts) -> list[str]:
    """What to say when nothing nameable is in view: what was seen earlier, or the colours."""
    earlier = sorted(Facts.objects(facts.entries), key=lambda s: -s.end)
    if earlier:
        last = earlier[0]
        return [f"I don't see anything I can name right now; at {last.end:.1f} s I saw {_thing(last)}."]
    colours = _colours_sentence(facts)
    return ["I don't see anything I can name right now.", *([colours] if colours else [])]


def _describe(intent: Intent, facts: Facts) -> list[str]:
    if intent.concepts or intent.kinds:
        wanted = _of_kind(facts.in_view(), intent)
        if wanted:
            return [_things_sentence(wanted)]
        looks = [c for c in _named_now(facts) if c in intent.concepts or _is_kind(c, intent.kinds)]
        if looks:
            return [f"The picture looks like {_join([_a(c) for c in looks[:2]])}."]
        named = _join(sorted({*intent.kinds, *intent.concepts}))
        return [f"I don't see any {named} right now.", *(_seen_now(facts) or _nothing_now(facts))]
    return _seen_now(facts) or _nothing_now(facts)


def _text(question: str, facts: Facts) -> list[str]:
    now = [e for e in facts.now() if e.kind == "text"]
    if now and not set(words(question)) & _PAST:
        return [f"The screen says {_texts(now)}."]
    latest = _latest(facts.entries, "text")
    if latest is None:
        return ["I don't see any text on the screen."]
    lines = [e for e in facts.entries if e.kind == "text" and e.end >= latest.start - 0.05]
    said = f"{_when(latest)} the screen said {_texts(lines)}"
    return [f"{said[0].upper()}{said[1:]}."] if now else [f"Nothing is written on the screen right now; {said}."]


def _heard(facts: Facts) -> list[str]:
    said = sorted((e for e in facts.entries if e.kind == "speech"), key=lambda e: -e.end)[:_RECENT]
    if not said:
        return ["I haven't heard anyone say anything."]
    return [f'I heard "{e.content}" {_when(e)}.' for e in reversed(said)]


def _concept(intent: Intent, facts: Facts) -> str | None:
    """The thing the question is about: of those it names, the one the window's facts are surest of."""
    window = facts.presence(facts.entries)
    return max(sorted(intent.concepts), key=lambda c: window.get(c, 0.0), default=None)


def _count(intent: Intent, facts: Facts) -> list[str]:
    concept = _concept(intent, facts)
    if concept is None:
        kinds = intent.kinds
        if not kinds:
            return ["Tell me what to count, for example: how many people do you see?"]
        seen = [s for s in facts.in_view() if _is_kind(s.obj.concept, kinds)]
        kind = sorted(kinds)[0]
        return [f"I see {len(seen)} {plural(kind, len(seen))}."] if seen else [f"I don't see any {kind} right now."]
    n = facts.count(concept)
    unboxed = _unboxed(concept, facts)
    if n == 0 and unboxed:
        return [f"{unboxed}, but I can't count them: nothing in it is boxed as {_a(concept)}."]
    if n == 0:
        return [f"I don't see any {plural(concept, 2)} right now."]
    places = [s.obj.where for s in facts.in_view() if s.obj.concept == concept]
    where = f": {_join([_place(w) for w in places])}" if 1 < len(places) == n else ""
    return [f"I see {n} {plural(concept, n)}{where}."]


def _colour(intent: Intent, facts: Facts) -> list[str]:
    concept = _concept(intent, facts)
    if concept is None:
        colours = _colours_sentence(facts)
        return [colours] if colours else ["I have not seen the picture yet."]
    seen = facts.named(concept)
    if not seen or not seen[0].obj.colours:
        unboxed = _unboxed(concept, facts)
        if unboxed:
            return [f"{unboxed}, but I can't make out which part of it is the {concept}, so not its colour."]
        return [f"I don't see {_a(concept)}, so I can't tell its colour."]
    return [f"The {concept} is {' and '.join(seen[0].obj.colours)}."]


def _side(intent: Intent, facts: Facts) -> list[str]:
    things = [s for s in facts.in_view() if intent.side in s.obj.where.split()]
    texts = [e for e in facts.now() if e.kind == "text" and intent.side in e.where.split()]
    out = [f"On the {intent.side} I see {_join([_thing(s) for s in things[:4]])}."] if things else []
    if texts:
        out.append(f"The text there says {_texts(texts)}.")
    return out or [f"I don't see anything I can name on the {intent.side} right now."]


def _where(intent: Intent, facts: Facts) -> list[str]:
    concept = _concept(intent, facts)
    assert concept is not None
    now = [s for s in facts.in_view() if s.obj.concept == concept]
    if now:
        return [f"The {concept} is {_place(now[0].obj.where)}."]
    seen = facts.named(concept)
    if seen:
        return [f"I last saw the {concept} at {seen[0].end:.1f} s, {_place(seen[0].obj.where)}."]
    unboxed = _unboxed(concept, facts)
    if unboxed:
        return [f"{unboxed}, but I can't tell where in it the {concept} is."]
    return [f"I haven't seen {_a(concept)}."]


def _before(intent: Intent, facts: Facts) -> list[str]:
    concept = _concept(intent, facts)
    assert concept is not None
    appeared = facts.first_seen(concept)
    if appeared is None:
        return [f"I haven't seen {_a(concept)}."]
    earlier = [c for c, sure in sorted(facts.before(concept).items(), key=lambda kv: -kv[1]) if sure >= SURE]
    named = [("a page of text" if c == TEXT else _a(c)) for c in earlier[:_RECENT]]
    if not named:
        return [f"I didn't see anything I could name just before the {concept} appeared at {appeared:.1f} s."]
    return [f"Just before the {concept} appeared at {appeared:.1f} s, I saw {_join(named)}."]


def _presence(intent: Intent, facts: Facts) -> list[str]:
    concept = _concept(intent, facts)
    assert concept is not None
    now = [s for s in facts.in_view() if s.obj.concept == concept]
    if now:
        return [f"Yes, I see {_join([_thing(s) for s in now[:_RECENT]])}."]
    if facts.present().get(concept, 0.0) >= SURE:
        return [f"Yes, the picture looks like {_a(concept)}."]
    seen = facts.named(concept)
    if seen:
        return [f"Not right now, but I saw {_thing(seen[0])} at {seen[0].end:.1f} s."]
    return [f"No, I don't see {_a(concept)}."]


def _people(_: Intent, facts: Facts) -> list[str]:
    entry = _latest(facts.now(), "people")
    people = [p for p in entry.facts if isinstance(p, SeenPerson)] if entry and isinstance(entry.facts, tuple) else []
    if not people:
        n = facts.count("person")
        return (
            [f"I see {n} {plural('person', n)}, but I can't make out their pose."]
            if n
            else ["I don't see anyone right now."]
        )
    described = "; ".join(p.describe() for p in people[:4])
    return [f"I see {len(people)} {plural('person', len(people))}: {described}."]


def _motion(_: Intent, facts: Facts) -> list[str]:
    moved = _latest(facts.entries, "motion")
    if moved is None:
        return ["I haven't noticed any movement."]
    if moved.end >= facts.t - facts.present_s:
        return [f"Yes, {moved.content}, {_when(moved)}."]
    return [f"Not right now; the last movement I noticed was {_when(moved)}: {moved.content}."]


def _moment(group: Sequence[Entry]) -> str:
    first = group[0]
    if first.kind == "text":
        what = f"text {_texts(group)}"
    elif first.kind == "people" and isinstance(first.facts, tuple):
        what = "; ".join(p.describe() for p in first.facts if isinstance(p, SeenPerson))
    else:
        what = first.line().split(": ", 1)[1]
    return f"{_when(first).capitalize()}: {what}."


def timeline(entries: Sequence[Entry], limit: int = 12) -> list[str]:
    """What was noticed over the window, in time order, the latest ``limit`` moments: things appearing, the text read
    (the lines that appeared together as one), cuts, people, speech."""
    groups: list[list[Entry]] = []
    for entry in sorted(entries, key=lambda e: e.start):
        if entry.kind not in ("object", "text", "scene", "speech", "people"):
            continue
        same = [g for g in groups if entry.kind == "text" == g[0].kind and g[0].start == entry.start]
        if same:
            same[0].append(entry)
        else:
            groups.append([entry])
    return [_moment(group) for group in groups[-limit:]]


_SEEN: dict[str, Callable[[Intent, Facts], list[str]]] = {
    "count": _count,
    "colour": _colour,
    "side": _side,
    "where": _where,
    "before": _before,
    "presence": _presence,
    "people": _people,
    "motion": _motion,
}  # the other kinds about what was seen: a description


def _mentioned(question: str, facts: Facts) -> list[str]:
    """What was heard about the question's subject ("where does the train go?" → what was said of the train)."""
    asked = {w for w in content_words(question) if len(w) >= 3} - _GENERIC
    said = [e for e in facts.entries if e.kind == "speech" and asked & content_words(e.content)]
    return [f'I heard "{e.content}" {_when(e)}.' for e in said[-_RECENT:]]


def evidence_answer(question: str, intent: Intent, facts: Facts) -> list[str]:
    """The sentences that answer ``question`` (of kind ``intent``) from ``facts`` alone, and what was heard about
    its subject."""
    kind = intent.kind
    if kind == "text":
        return _text(question, facts)
    if kind == "heard":
        return _heard(facts)
    return _SEEN.get(kind, _describe)(intent, facts) + _mentioned(question, facts)
