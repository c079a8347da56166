"""What the cascade can name: concepts with the words a user says for them and the broader kinds they belong to.

A concept is a COCO-80 detector class ("cat", "cell phone") or an ImageNet class group ("rabbit", "rocket"); its
synonyms are other names for it ("kitten", "tabby", "Egyptian cat" → cat) and its parents the kinds above it (cat →
animal). ``concept_of`` maps a model's label to a concept, ``concepts_in`` finds the concepts a question or an answer
names (by a synonym or by the concept's own name), ``kinds_in`` the parent words it uses ("which animal").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from engine.backends.cascade.words import normalise


@dataclass(frozen=True, slots=True)
class Concept:
    name: str
    synonyms: tuple[str, ...]
    parents: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        """Every name that refers to this concept or one of its kinds."""
        return (self.name, *self.synonyms, *self.parents)


_ANIMAL, _VEHICLE, _FOOD, _FURNITURE, _DEVICE, _DISH = "animal", "vehicle", "food", "furniture", "device", "dish"
_DOG_BREEDS = (
    "retriever terrier spaniel poodle collie beagle bulldog husky pug chihuahua dalmatian labrador mastiff schnauzer "
    "setter corgi malamute samoyed dachshund rottweiler doberman greyhound whippet pinscher boxer sheepdog"
)
# name: (synonyms separated by "|", parents separated by "|")
_TABLE: dict[str, tuple[str, str]] = {
    "person": (
        "man|woman|men|women|people|someone|somebody|anyone|anybody|human|boy|girl|child|kid|guy|lady|astronaut",
        "",
    ),
    "bicycle": ("bike|cycle|mountain bike|bicycle-built-for-two|tandem", _VEHICLE),
    "car": ("automobile|sports car|cab|taxi|convertible|jeep|limousine|minivan|racer|station wagon", _VEHICLE),
    "motorcycle": ("motorbike|moped|scooter|motor scooter", _VEHICLE),
    "airplane": ("plane|aeroplane|aircraft|airliner|jet|warplane", _VEHICLE),
    "bus": ("coach|minibus|school bus|trolleybus", _VEHICLE),
    "train": ("locomotive|railway|tram|streetcar|passenger car|electric locomotive|steam locomotive", _VEHICLE),
    "truck": ("lorry|pickup|trailer truck|fire engine|garbage truck|tow truck", _VEHICLE),
    "boat": ("ship|canoe|speedboat|yacht|gondola|lifeboat|fireboat|schooner|catamaran", _VEHICLE),
    "traffic light": ("traffic signal|stoplight", ""),
    "fire hydrant": ("hydrant", ""),
    "stop sign": ("", ""),
    "parking meter": ("", ""),
    "bench": ("park bench", _FURNITURE),
    "bird": ("parrot|pigeon|sparrow|robin|eagle|owl|duck|goose|chicken|hen|cock|ostrich|penguin|flamingo", _ANIMAL),
    "cat": ("kitten|kitty|tabby|feline|tiger cat|persian cat|siamese cat|egyptian cat", _ANIMAL),
    "dog": (f"puppy|pup|hound|{_DOG_BREEDS.replace(' ', '|')}", _ANIMAL),
    "horse": ("pony|foal|sorrel", _ANIMAL),
    "sheep": ("lamb|ram|ewe", _ANIMAL),
    "cow": ("cattle|bull|ox|calf", _ANIMAL),
    "elephant": ("tusker", _ANIMAL),
    "bear": ("brown bear|black bear|polar bear|ice bear", _ANIMAL),
    "zebra": ("", _ANIMAL),
    "giraffe": ("", _ANIMAL),
    "rabbit": ("bunny|hare|wood rabbit|angora", _ANIMAL),
    "backpack": ("rucksack|knapsack", "bag"),
    "umbrella": ("parasol", ""),
    "handbag": ("purse", "bag"),
    "tie": ("necktie|bow tie|bowtie|windsor tie|bolo tie", "clothing"),
    "suitcase": ("luggage", "bag"),
    "frisbee": ("flying disc", "toy"),
    "skis": ("ski", ""),
    "snowboard": ("", ""),
    "sports ball": ("ball|football|soccer ball|basketball|tennis ball|volleyball|rugby ball|baseball", ""),
    "kite": ("", "toy"),
    "baseball bat": ("bat", ""),
    "baseball glove": ("glove|mitt", ""),
    "skateboard": ("", ""),
    "surfboard": ("", ""),
    "tennis racket": ("racket|racquet", ""),
    "bottle": ("beer bottle|wine bottle|water bottle|pop bottle|water jug", ""),
    "wine glass": ("glass|goblet", _DISH),
    "cup": ("mug|coffee mug|coffee cup|teacup|espresso|cappuccino", _DISH),
    "fork": ("", "cutlery"),
    "knife": ("", "cutlery"),
    "spoon": ("wooden spoon", "cutlery"),
    "bowl": ("mixing bowl|soup bowl", _DISH),
    "plate": ("", _DISH),
    "banana": ("", f"{_FOOD}|fruit"),
    "apple": ("granny smith", f"{_FOOD}|fruit"),
    "sandwich": ("cheeseburger|burger", _FOOD),
    "orange": ("lemon", f"{_FOOD}|fruit"),
    "broccoli": ("", f"{_FOOD}|vegetable"),
    "carrot": ("", f"{_FOOD}|vegetable"),
    "hot dog": ("hotdog", _FOOD),
    "pizza": ("", _FOOD),
    "donut": ("doughnut|bagel", _FOOD),
    "cake": ("trifle|cupcake", _FOOD),
    "chair": ("armchair|folding chair|rocking chair|barber chair|throne|stool", _FURNITURE),
    "couch": ("sofa|studio couch", _FURNITURE),
    "potted plant": ("plant|houseplant|pot plant|flowerpot|pot", ""),
    "bed": ("four-poster|cradle|crib", _FURNITURE),
    "dining table": ("table|desk", _FURNITURE),
    "toilet": ("toilet seat", ""),
    "tv": ("television|tv set|monitor", _DEVICE),
    "laptop": ("notebook computer|computer|notebook", _DEVICE),
    "mouse": ("computer mouse", _DEVICE),
    "remote": ("remote control", _DEVICE),
    "keyboard": ("computer keyboard|typewriter keyboard", _DEVICE),
    "cell phone": ("phone|mobile phone|cellphone|cellular telephone|smartphone|telephone|dial telephone", _DEVICE),
    "microwave": ("microwave oven", "appliance"),
    "oven": ("stove", "appliance"),
    "toaster": ("", "appliance"),
    "sink": ("washbasin", ""),
    "refrigerator": ("fridge", "appliance"),
    "book": ("book jacket|comic book|binder", ""),
    "clock": ("wall clock|analog clock|digital clock|alarm clock|watch", ""),
    "vase": ("", ""),
    "scissors": ("", ""),
    "teddy bear": ("teddy|stuffed animal|toy bear", "toy"),
    "hair drier": ("hair dryer|hairdryer|blow dryer", ""),
    "toothbrush": ("", ""),
    "rocket": ("missile|projectile|space shuttle|spacecraft", _VEHICLE),
    "camera": ("reflex camera|polaroid camera|movie camera|camcorder|video camera|lens cap", _DEVICE),
    "tripod": ("", ""),
}
# Words that name a concept only in a context the cascade cannot tell apart: "orange" is first of all a colour.
_AMBIGUOUS = frozenset({"orange", "glass", "bat", "glove", "pot", "notebook", "watch", "plant", "table", "ball"})


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split("|") if part)


CONCEPTS: dict[str, Concept] = {
    name: Concept(name, _split(synonyms), _split(parents)) for name, (synonyms, parents) in _TABLE.items()
}
KINDS: frozenset[str] = frozenset(parent for concept in CONCEPTS.values() for parent in concept.parents)


def _key(phrase: str) -> str:
    return " ".join(normalise(w) for w in re.findall(r"[a-z]+|[0-9]+", phrase.lower().replace("-", " ")))


@cache
def _names() -> dict[str, str]:
    """Normalised phrase → concept name, for every concept name and synonym."""
    table: dict[str, str] = {}
    for concept in CONCEPTS.values():
        for phrase in (concept.name, *concept.synonyms):
            table.setdefault(_key(phrase), concept.name)
    return table


def concept_of(label: str) -> str | None:
    """The concept a model's label names ("Egyptian cat" → "cat", "tabby, tabby cat" → "cat"), or None."""
    names = _names()
    parts = [_key(part) for part in label.split(",")]
    for part in parts:
        if part in names:
            return names[part]
    for part in parts:  # "golden retriever" → "retriever"; "coffee mug" → "mug"
        pieces = part.split()
        for n in range(len(pieces) - 1, 0, -1):
            tail = " ".join(pieces[-n:])
            if tail in names:
                return names[tail]
    return None


def _spans(text: str) -> list[str]:
    """``text`` cut into known names, longest first from left to right ("a hot dog" → ["a", "hot dog"])."""
    names = _names()
    pieces = _key(text).split()
    spans, i = [], 0
    while i < len(pieces):
        n = next((n for n in (3, 2) if " ".join(pieces[i : i + n]) in names and i + n <= len(pieces)), 1)
        spans.append(" ".join(pieces[i : i + n]))
        i += n
    return spans


def mentions(text: str) -> list[tuple[str, str | None]]:
    """``text`` cut into normalised words and known names, in order, each with the concept it names or None
    ("two red cars" → [("two", None), ("red", None), ("car", "car")]); ambiguous names like "orange" name none."""
    names = _names()
    return [(span, names[span] if span in names and span not in _AMBIGUOUS else None) for span in _spans(text)]


def concepts_in(text: str, *, ambiguous: bool = False) -> set[str]:
    """Concepts ``text`` names by their name or a synonym ("a kitten on the sofa" → {"cat", "couch"}).

    Words like "orange" or "glass" that are more often something else count only when ``ambiguous`` is set.
    """
    names = _names()
    return {names[span] for span in _spans(text) if span in names and (ambiguous or span not in _AMBIGUOUS)}


def kinds_in(text: str) -> set[str]:
    """Parent kinds ``text`` names ("which animal" → {"animal"})."""
    return {span for span in _key(text).split() if span in KINDS}


def describes(concept: str, words: set[str]) -> bool:
    """Whether ``words`` (normalised) contain a name of ``concept`` or one of its kinds."""
    known = CONCEPTS.get(concept)
    names = known.words if known else (concept,)
    return any(_key(name) in words for name in names)


def word_forms(concept: str) -> set[str]:
    """The normalised single words and phrases that refer to ``concept`` (its name, synonyms and parents)."""
    known = CONCEPTS.get(concept)
    names = known.words if known else (concept,)
    return {_key(name) for name in names}
