"""Finished utterances, and the same utterances cut off before their end.

A finished example is a whole sentence someone says to the assistant or near it: the gate's hand-written and
templated lines (``engine/gate_data``) and, for training, the questions of the official StreamingBench annotation
files. An unfinished example is one of those sentences cut before its end, as a speaker who pauses there leaves it:
up to two cuts right after a word no one ends on (an article, a preposition, a conjunction, a possessive: "What colour
is the") and up to two anywhere else ("How many people", of "How many people are standing near the door?"). Some of
those read as sentences of their own; they are still unfinished where they were cut, and they are rarer as whole
utterances than as beginnings, which is what the classifier learns. A quarter of the cuts are written the way a
recogniser returns them (lower case, no punctuation), like the gate's own share.

The held-out split is the gate's held-out lines, which share no text or template with training.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from engine.gate_data.dataset import PLAIN_SHARE, load_examples, plain, stable_rng

Split = Literal["train", "heldout"]
Kind = Literal["whole", "mid-phrase", "elsewhere"]  # a whole sentence; cut after a word no one ends on; cut elsewhere
# Words after which no one ends what they say: the rest of the phrase is still to come.
# Words that often end sentences as pronouns or adverbs are left out ("What colour is this?", "Is the game over?");
# prepositions that a question may leave at its end ("Which floor is it on?") stay, the classifier learns those.
CONTINUES = frozenset(
    (
        "a",
        "an",
        "the",
        "my",
        "your",
        "his",
        "her",
        "its",
        "our",
        "their",
        "every",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "with",
        "about",
        "into",
        "onto",
        "by",
        "near",
        "under",
        "between",
        "during",
        "than",
        "and",
        "or",
        "but",
        "because",
        "if",
        "very",
    )
)
CUTS_PER_KIND = 2  # cuts of each kind per sentence: after a word no one ends on, and anywhere else
MIN_WORDS_LEFT = 2


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1: finished, 0: cut off
    split: Split
    kind: Kind


def _normal(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower().replace("colour", "color")).strip()


def cuts(sentence: str) -> list[tuple[str, Kind]]:
    """``sentence`` cut before its end (a fixed choice per sentence): up to ``CUTS_PER_KIND`` cuts right after a word
    that cannot end it and as many elsewhere, each leaving at least ``MIN_WORDS_LEFT`` words and none at a sentence's
    own end inside it."""
    words = sentence.split()
    places: dict[Kind, list[int]] = {"mid-phrase": [], "elsewhere": []}
    for i in range(MIN_WORDS_LEFT, len(words)):
        if re.search(r"[.?!]$", words[i - 1]):
            continue
        mid_phrase = re.sub(r"[^\w']", "", words[i - 1].lower()) in CONTINUES and not words[i - 1].endswith(
            (",", ";", ":")
        )
        places["mid-phrase" if mid_phrase else "elsewhere"].append(i)
    rng = stable_rng("cut", sentence)
    chosen = sorted(
        (i, kind) for kind, where in places.items() for i in rng.sample(where, min(CUTS_PER_KIND, len(where)))
    )
    out: list[tuple[str, Kind]] = []
    for i, kind in chosen:
        cut = " ".join(words[:i]).rstrip(",;:")
        out.append((plain(cut) if rng.random() < PLAIN_SHARE else cut, kind))
    return out


def load_examples_for(split: Split, *, more: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Example]:
    """The finished and cut examples of ``split`` in a fixed order, from the gate's sentences and then ``more``
    (training adds the StreamingBench questions); sentences in ``exclude`` (a benchmark's, say) are left out, and
    training leaves out every held-out sentence."""
    left_out = {_normal(text) for text in exclude}
    if split == "train":
        left_out |= {_normal(e.text) for e in load_examples("heldout")}
    seen: set[str] = set()
    examples: list[Example] = []
    for sentence in [*(e.text for e in load_examples(split)), *more]:
        key = _normal(sentence)
        if key in left_out or key in seen:
            continue
        seen.add(key)
        examples.append(Example(sentence, 1, split, "whole"))
        examples.extend(Example(cut, 0, split, kind) for cut, kind in cuts(sentence))
    return examples
