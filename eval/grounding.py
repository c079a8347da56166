"""The grounding audit of open answers: each claim an answer makes about the scene is checked against the ground
truth of what was shown (an open question's ``scene``, written by ``eval/generator_real.py``). A claim the scene does
not support is *ungrounded*.

What the audit takes as a claim:

- **text**: anything in quotes, a run of capitalised words (``EXIT``, ``OPEN 24H``) and the words after "says",
  "reads", "written" …; grounded when its letters and digits (spaces and punctuation dropped: OCR joins and splits
  words) occur in the scene's text, exactly or with a similarity of at least 0.8 over a stretch of the same length
  (so an OCR slip of a letter or two in a long line still counts as read);
- **object**: a noun of the vocabulary below (the COCO-80 classes, ImageNet words a user would say, scene words),
  singular or plural, not negated in its clause ("no cat", "I don't see a dog"); grounded when the scene has that
  thing, a thing of that kind ("animal" ← cat), or shows the word as text. Saying that there is text ("I can read
  text") is not a claim of what it says and is not counted;
- **colour**: a colour word, not negated; tied to an object ("the red cup", "the cup is red") it must be one of that
  object's own colours; on its own, one of the colours in the scene;
- **number**: a number before an object ("two cats") must be a count of that object seen in the window; other digits
  must appear in the scene's text. Times ("12 s", "3.0-9.5s", "00:12") and percentages are not claims about the scene.

A count of a thing the scene lists without counting (``also``) cannot be checked: it is reported as unchecked, not
as grounded. A claim outside the vocabulary is not seen at all: the audit can miss an invented noun it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from difflib import SequenceMatcher
from typing import Any, Literal

Status = Literal["grounded", "ungrounded", "unchecked"]

# concept: surface forms (singular and irregular plurals; regular plurals are added), then its parent after "|"
_VOCABULARY = """
person: people, persons, man, men, woman, women, astronaut, astronauts, someone, somebody, human, humans, guy, lady,
    boy, girl, child, children, kid, photographer, cameraman, pedestrian, player
animal: animals, creature, pet, mammal
cat: kitten, kitty, tabby, feline, tomcat
dog: puppy, hound, labrador, retriever, terrier, poodle, beagle, collie, spaniel, husky, chihuahua, pug | animal
horse: pony, foal, stallion, mare | animal
bird: | animal
sheep: | animal
cow: cattle, ox | animal
elephant: | animal
bear: | animal
zebra: | animal
giraffe: | animal
mouse: mice | animal
tiger: | animal
lion: lioness | animal
leopard: cheetah, jaguar | animal
fox: | animal
wolf: wolves | animal
rabbit: bunny, hare | animal
squirrel: | animal
monkey: ape, gorilla, chimpanzee | animal
panda: | animal
deer: | animal
goat: | animal
pig: hog | animal
camel: | animal
fish: goldfish, shark | animal
jellyfish: | animal
snake: | animal
lizard: | animal
frog: toad | animal
turtle: tortoise | animal
spider: | animal
insect: butterfly, bee, ant, beetle | animal
vehicle: vehicles
bicycle: cycle | vehicle
motorcycle: motorbike, moped, scooter, motor scooter | vehicle
car: automobile, taxi | vehicle
bus: buses | vehicle
train: locomotive | vehicle
truck: lorry | vehicle
boat: ship | vehicle
airplane: aeroplane, plane, jet, aircraft | vehicle
rocket: missile, spacecraft, space shuttle, shuttle, launcher | vehicle
traffic light:
fire hydrant:
stop sign:
parking meter:
bench:
backpack:
umbrella:
handbag: purse
tie: bow tie, necktie
suitcase:
frisbee:
skis:
snowboard:
ball: sports ball, football, soccer ball, basketball
kite:
baseball bat:
baseball glove:
skateboard:
surfboard:
tennis racket:
bottle:
wine glass:
cup: mug, teacup, coffee cup, coffee mug, espresso cup
fork:
knife: knives
spoon: teaspoon
bowl:
banana:
apple:
sandwich:
broccoli:
carrot:
hot dog:
pizza:
donut: doughnut
cake:
chair:
couch: sofa
potted plant: plant, houseplant
bed:
table: dining table, desk
toilet:
tv: television, monitor
laptop: computer, notebook computer
remote:
keyboard:
phone: cell phone, mobile phone, smartphone, telephone
microwave:
oven:
toaster:
sink:
refrigerator: fridge
book:
clock:
vase:
scissors:
teddy bear:
hair drier: hair dryer
toothbrush:
coffee: espresso, latte, cappuccino
saucer:
plate: dish
flag:
helmet:
spacesuit: space suit, suit
camera:
tripod:
galaxy: galaxies
star:
outer space: deep space, universe
mountain:
beach:
sea: ocean
lake:
river:
road: street
bridge:
castle:
church:
tent:
mask:
hat: cap
shirt: jersey, sweatshirt, t-shirt
dress:
shoe: boot, sneaker
bag: sack
envelope:
poster:
candle:
torch: flashlight
tray:
pan: frying pan, wok
pot: kettle, teapot
jug: pitcher
van: minivan | vehicle
tractor: | vehicle
ambulance: | vehicle
sky:
cloud:
tower:
launch pad:
lamp: streetlight, floodlight
building: skyscraper
grass: lawn
tree:
water:
coin:
box: boxes, cardboard box, crate
shelf: shelves, shelving
wheel: tire, tyre
seat: saddle
garage:
wall:
floor: ground
door:
coat: jacket
glove:
dome:
page: sheet
paper:
document:
tissue:
cell:
sample: specimen
microscope:
eye:
nose:
whiskers:
patch:
badge:
"""
_PLURAL_EXCEPTIONS = {"people", "men", "women", "children", "mice", "knives", "galaxies", "shelves", "boxes", "buses"}
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey")
_COLOUR_WORDS = {
    **{c: c for c in COLOURS},
    "gray": "grey",
    "silver": "grey",
    "gold": "yellow",
    "golden": "yellow",
    "violet": "purple",
    "tan": "brown",
    "beige": "brown",
    "crimson": "red",
    "maroon": "red",
    "scarlet": "red",
    "navy": "blue",
    "ginger": "orange",
    "cream": "white",
}
_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "single": 1,
    "pair": 2,
    "couple": 2,
}
_NEGATIONS = {"no", "not", "never", "without", "nor", "neither", "nothing", "none", "cannot", "nobody"}
_STOP_AFTER_SAYS = {
    "on",
    "in",
    "at",
    "the",
    "a",
    "an",
    "that",
    "this",
    "there",
    "here",
    "nothing",
    "anything",
    "no",
    "not",
    "something",
    "it",
    "as",
    "by",
    "to",
    "from",
    "about",
    "is",
    "was",
    "quote",
}
_META_CAPS = {"I", "OK", "OCR", "ASR", "AI", "LLM", "AM", "PM"}
_QUOTE = re.compile(r'"([^"]+)"|“([^”]+)”|‘([^’]+)’|(?<![\w])\'([^\']+)\'(?![\w])')
_TIME = re.compile(
    r"\[?\d+(?:\.\d+)?\s*(?:-|–|to)\s*\d+(?:\.\d+)?\s*(?:s|sec|secs|seconds?|ms|min|minutes?)\b\]?"
    r"|\[?\d+(?:\.\d+)?\s*(?:s|sec|secs|seconds?|ms|min|minutes?)\b\]?|\b\d{1,2}:\d{2}(?::\d{2})?\b|\d+(?:\.\d+)?\s*%"
    r"|\b(?:score|confidence|probability)\s*[=:]?\s*\d+(?:\.\d+)?"
)
_SAYS = re.compile(
    r"\b(?:says|said|reads|reading|saying|written|writes|spells|spelling|labelled|labeled|shows the words?)\b\s*:?\s*"
    r"([A-Za-z0-9][\w'-]*(?:\s+[A-Za-z0-9][\w'-]*){0,3})"
)
_CAPS = re.compile(r"\b(?=[A-Z0-9-]*[A-Z])[A-Z0-9][A-Z0-9-]+\b(?:\s+\b(?=[A-Z0-9-]*[A-Z])[A-Z0-9][A-Z0-9-]+\b)*")
_CLAUSE = re.compile(r"[.!?;:\n]|,\s*(?=(?:but|and|however|though|although|while|yet)\b)|\bbut\b|\bhowever\b")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _parse_vocabulary(text: str) -> tuple[dict[str, str], dict[str, str]]:
    forms: dict[str, str] = {}
    parents: dict[str, str] = {}
    for line in re.sub(r",\s*\n\s+", ", ", text).strip().splitlines():
        head, _, rest = line.partition(":")
        words, _, parent = rest.partition("|")
        concept = head.strip()
        if parent.strip():
            parents[concept] = parent.strip()
        for form in [concept, *[w.strip() for w in words.split(",") if w.strip()]]:
            forms[form] = concept
            if form not in _PLURAL_EXCEPTIONS and not form.endswith("s"):
                plural = form[:-1] + "ies" if form.endswith("y") and form[-2] not in "aeiou" else form + "s"
                forms.setdefault(form + "es" if form.endswith(("ch", "sh", "x")) else plural, concept)
    for kind in ("cat", "dog", "horse", "bird", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "mouse"):
        parents.setdefault(kind, "animal")
    return forms, parents


FORMS, PARENTS = _parse_vocabulary(_VOCABULARY)
_FORM_PATTERN = re.compile(
    r"\b(" + "|".join(re.escape(f) for f in sorted(FORMS, key=len, reverse=True)) + r")\b", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Claim:
    kind: Literal["text", "object", "colour", "number"]
    value: str
    status: Status
    why: str


def concept(word: str) -> str | None:
    """The vocabulary concept a word or phrase names ("kittens" → cat), or None."""
    return FORMS.get(" ".join(word.casefold().split()))


def _ancestors(name: str) -> list[str]:
    chain = [name]
    while chain[-1] in PARENTS:
        chain.append(PARENTS[chain[-1]])
    return chain


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


@dataclass
class _Scene:
    """The ground truth in the form the checks need."""

    colours_of: dict[str, set[str]]  # concept of each counted thing → its own colours
    counts: dict[str, set[int]]  # concept → counts seen
    present: set[str]  # every concept shown (things and ``also``) and the kinds they are
    colours: set[str]  # every colour in the scene
    text_words: list[str]
    text_letters: str  # all the scene's text, letters and digits only

    @classmethod
    def of(cls, scene: Mapping[str, Any]) -> _Scene:
        colours_of: dict[str, set[str]] = {}
        counts: dict[str, set[int]] = {}
        present: set[str] = set()
        colours = {_COLOUR_WORDS.get(c, c) for c in scene.get("colours", ())}
        for label, entry in scene.get("things", {}).items():
            name = concept(label) or label
            own = {_COLOUR_WORDS.get(c, c) for c in entry.get("colours", ())}
            colours_of.setdefault(name, set()).update(own)
            colours |= own
            present.update(_ancestors(name))
            seen = scene.get("counts", {}).get(label, [])
            counts.setdefault(name, set()).update(int(n) for n in seen)
        for label in scene.get("also", ()):
            present.update(_ancestors(concept(label) or label))
        text_words = [w for line in scene.get("text", ()) for w in _words(line)]
        return cls(colours_of, counts, present, colours, text_words, _letters(" ".join(scene.get("text", ()))))

    def count_values(self, name: str) -> set[int] | None:
        """Counts seen of ``name`` (or of the things of that kind); None when it was shown but never counted."""
        values = {n for thing, ns in self.counts.items() if name in _ancestors(thing) for n in ns}
        if values:
            return values
        return None

    def read(self, text: str) -> bool:
        claim, shown = _letters(text), self.text_letters
        if claim in shown:
            return True
        if len(claim) <= 3 or len(claim) > len(shown) + 2:
            return False
        n = len(claim)
        return any(SequenceMatcher(None, claim, shown[i : i + n]).ratio() >= 0.8 for i in range(len(shown) - n + 1))


def _letters(text: str) -> str:
    return "".join(_words(text))


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    if len(a) <= 3 or len(b) <= 3:
        return False
    return SequenceMatcher(None, a, b).ratio() >= 0.8


def _negated(clause_before: str) -> bool:
    return any(w in _NEGATIONS or w.endswith("n't") for w in _words(clause_before))


def _text_claims(answer: str, scene: _Scene) -> tuple[list[Claim], str]:
    """Quoted text, capitalised runs and what follows "says"/"reads"; returns them and the answer without quotes."""
    claims = []
    for m in _QUOTE.finditer(answer):
        quoted = next(g for g in m.groups() if g is not None)
        if _words(quoted):
            ok = scene.read(quoted)
            claims.append(
                Claim(
                    "text",
                    quoted,
                    "grounded" if ok else "ungrounded",
                    "on screen" if ok else "not among the text shown",
                )
            )
    rest = _QUOTE.sub(" quote ", answer)
    for m in _CAPS.finditer(rest):
        run = " ".join(w for w in m.group(0).split() if w not in _META_CAPS and concept(w) is None)
        if run and any(c.isalpha() for c in run) and len(run) > 1:
            ok = scene.read(run)
            claims.append(
                Claim(
                    "text", run, "grounded" if ok else "ungrounded", "on screen" if ok else "not among the text shown"
                )
            )
    for m in _SAYS.finditer(rest):
        said: list[str] = []
        for word in m.group(1).split():
            if word.casefold() in _STOP_AFTER_SAYS or word.isupper():  # capitalised runs were taken above
                break
            said.append(word)
        if said and not _negated(rest[max(0, m.start() - 40) : m.start()]):
            phrase = " ".join(said)
            ok = scene.read(phrase)
            claims.append(
                Claim(
                    "text",
                    phrase,
                    "grounded" if ok else "ungrounded",
                    "on screen" if ok else "not among the text shown",
                )
            )
    return claims, rest


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text) if c and c.strip()]


def audit(answer: str, scene: Mapping[str, Any]) -> list[Claim]:
    """Every claim ``answer`` makes about the scene, each grounded, ungrounded or unchecked."""
    truth = _Scene.of(scene)
    claims, rest = _text_claims(answer, truth)
    rest = _TIME.sub(" ", rest)
    for clause in _clauses(rest):
        mentions = [(m.start(), m.end(), concept(m.group(1)) or "") for m in _FORM_PATTERN.finditer(clause)]
        nouns: list[tuple[int, int, str]] = []
        for start, end, name in mentions:
            if _negated(clause[:start]):
                continue
            nouns.append((start, end, name))
            word = clause[start:end]
            on_screen = any(_similar(w, seen) for w in _words(word) for seen in truth.text_words)
            if name in truth.present or on_screen:
                claims.append(Claim("object", word, "grounded", "shown" if name in truth.present else "on screen"))
            else:
                claims.append(Claim("object", word, "ungrounded", f"no {name} was shown"))
        claims += _colour_claims(clause, nouns, truth)
        claims += _number_claims(clause, nouns, truth)
    return claims


def _colour_claims(clause: str, nouns: list[tuple[int, int, str]], truth: _Scene) -> list[Claim]:
    out = []
    for m in re.finditer(r"\b(" + "|".join(_COLOUR_WORDS) + r")(?:ish)?\b", clause, re.IGNORECASE):
        if _negated(clause[: m.start()]):
            continue
        colour = _COLOUR_WORDS[m.group(1).casefold()]
        after = [n for n in nouns if 0 <= n[0] - m.end() <= 16]  # "red cup", "red sports car"
        before = [
            n
            for n in nouns
            if n[1] <= m.start()
            and re.fullmatch(
                r"\s+(?:is|are|was|were|looks|look|appears|seems)\s+(?:mostly\s+|mainly\s+|all\s+|bright\s+|dark\s+"
                r"|light\s+)?",
                clause[n[1] : m.start()],
                re.IGNORECASE,
            )
        ]
        tied = (after[:1] or before[-1:] or [None])[0]
        if tied is not None and tied[2] in truth.colours_of:
            ok = colour in truth.colours_of[tied[2]]
            why = f"the {tied[2]} is " + "/".join(sorted(truth.colours_of[tied[2]]))
        else:
            ok = colour in truth.colours
            why = "in the scene" if ok else "no such colour in the scene"
        out.append(Claim("colour", m.group(0), "grounded" if ok else "ungrounded", why))
    return out


def _number_claims(clause: str, nouns: list[tuple[int, int, str]], truth: _Scene) -> list[Claim]:
    out = []
    for m in re.finditer(r"\b(\d+(?:\.\d+)?|" + "|".join(_NUMBERS) + r")\b", clause, re.IGNORECASE):
        if _negated(clause[: m.start()]):
            continue
        token = m.group(1).casefold()
        value = float(token) if token[0].isdigit() else _NUMBERS[token]
        bound = [n for n in nouns if 0 < n[0] - m.end() <= 20 and not _FORM_PATTERN.search(clause[m.end() : n[0]])]
        if bound:
            name = bound[0][2]
            seen = truth.count_values(name)
            if seen is None:
                status: Status = "unchecked" if name in truth.present else "ungrounded"
                out.append(
                    Claim(
                        "number",
                        m.group(0) + clause[m.end() : bound[0][1]],
                        status,
                        "shown but not counted" if status == "unchecked" else f"no {name} was shown",
                    )
                )
            else:
                ok = value in seen
                out.append(
                    Claim(
                        "number",
                        m.group(0) + clause[m.end() : bound[0][1]],
                        "grounded" if ok else "ungrounded",
                        f"{name} seen: {sorted(seen)}",
                    )
                )
        elif token[0].isdigit():
            ok = token in truth.text_words
            out.append(
                Claim(
                    "number",
                    token,
                    "grounded" if ok else "ungrounded",
                    "on screen" if ok else "not a count or text in the scene",
                )
            )
    return out


def audit_records(records: Iterable[Mapping[str, Any]], scenes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The report's grounding section: over the open questions' answers (records whose uid has a scene), how many
    claims of each kind, how many ungrounded (every one listed), how many unchecked."""
    audited = 0
    kinds = {k: {"claims": 0, "ungrounded": 0} for k in ("text", "object", "colour", "number")}
    ungrounded: list[dict[str, Any]] = []
    unchecked = 0
    for record in records:
        scene = scenes.get(record["uid"])
        if scene is None or record.get("skipped"):
            continue
        audited += 1
        for claim in audit(str(record.get("response", "")), scene):
            if claim.status == "unchecked":
                unchecked += 1
                continue
            kinds[claim.kind]["claims"] += 1
            if claim.status == "ungrounded":
                kinds[claim.kind]["ungrounded"] += 1
                ungrounded.append(
                    {
                        "uid": record["uid"],
                        "time_s": record.get("time_s"),
                        "question": record["prompt"],
                        "response": record.get("response", ""),
                        **asdict(claim),
                    }
                )
    return {
        "open_answers": audited,
        "claims": sum(k["claims"] for k in kinds.values()),
        "ungrounded": len(ungrounded),
        "unchecked": unchecked,
        "by_kind": kinds,
        "ungrounded_claims": ungrounded,
    }
