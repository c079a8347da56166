"""The ImageNet-1k vocabulary: class names (WordNet lemmas), the plain word a user says for each, and its parents."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class ImageNetClass:
    index: int
    synset: str  # WordNet 3.0 id, e.g. n02124075
    name: str  # first lemma, the class name the classifier reports: "Egyptian cat"
    lemmas: tuple[str, ...]  # all lemmas: ("tabby", "tabby cat")
    plain: str  # what a user would say: "cat"
    parents: tuple[str, ...]  # nearest first: ("mammal", "animal")


def _data(name: str) -> list[list[str]]:
    text = resources.files("engine.vision").joinpath(f"data/{name}").read_text()
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@cache
def classes() -> tuple[ImageNetClass, ...]:
    """All 1000 classes in the classifier's output order."""
    rows = _data("imagenet_classes.tsv")
    if [int(r[0]) for r in rows] != list(range(1000)):
        raise ValueError("imagenet_classes.tsv must list the classes 0..999 in order")
    lemmas = [tuple(word.strip() for word in r[2].split(",")) for r in rows]
    plain: list[str] = [lemma[0].lower() for lemma in lemmas]
    parents: list[tuple[str, ...]] = [()] * 1000
    by_name: dict[str, list[int]] = {}
    for index, lemma in enumerate(lemmas):
        by_name.setdefault(lemma[0], []).append(index)
    for key, word, up in _data("imagenet_plain.tsv"):
        if key[0].isdigit():
            first, _, last = key.partition("-")
            targets = list(range(int(first), int(last or first) + 1))
        elif key in by_name:
            targets = by_name[key]
        else:
            raise ValueError(f"imagenet_plain.tsv names {key!r}, which is not an ImageNet class")
        for index in targets:
            if word != "-":
                plain[index] = word
            parents[index] = tuple(up.split(","))
    return tuple(ImageNetClass(i, rows[i][1], lemmas[i][0], lemmas[i], plain[i], parents[i]) for i in range(len(rows)))


@cache
def _by_name() -> dict[str, ImageNetClass]:
    out: dict[str, ImageNetClass] = {}
    for entry in classes():
        out.setdefault(entry.name, entry)
    return out


def lookup(name: str) -> ImageNetClass:
    """The class called ``name`` (its first lemma); KeyError if there is none."""
    return _by_name()[name]


def plain_name(name: str) -> str:
    """The word a user says for an ImageNet class: "Egyptian cat" -> "cat", "espresso" -> "coffee"."""
    return lookup(name).plain


def parents(name: str) -> tuple[str, ...]:
    """Broader categories of an ImageNet class, nearest first: "tabby" -> ("mammal", "animal")."""
    return lookup(name).parents
