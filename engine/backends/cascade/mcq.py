"""Multiple choice: each option is scored by how well the observations match it plus how likely the LM finds it.

The deterministic match counts ``EVIDENCE_WEIGHT`` times as much as the LM's probability for the option (a softmax
over the options of their mean token log-probabilities as the reply to the evidence prompt); the LM breaks ties and
decides when nothing matches. The match is the recognition facts' support (``option_facts``) when the question asks
about things, counts, colours of a thing, sides or what came before; otherwise the share of the option's words found
in the logged text on screen, colour names and places, movement and speech.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.backends.cascade.facts import Facts
from engine.backends.cascade.llm import LocalLM
from engine.backends.cascade.option_facts import option_evidence
from engine.backends.cascade.prompt import choice_question
from engine.backends.cascade.scene_log import Entry
from engine.backends.cascade.words import content_words
from engine.cancel import CancelToken

EVIDENCE_WEIGHT = 2.0


@dataclass(frozen=True, slots=True)
class OptionScore:
    letter: str
    text: str
    evidence: float
    lm: float
    total: float


def evidence_words(entries: Sequence[Entry]) -> set[str]:
    """Words the observations support: text and speech verbatim, colour names and places (not their percentages)."""
    found: set[str] = set()
    for entry in entries:
        if entry.kind == "scene":
            continue
        words = content_words(entry.content)
        found |= {w for w in words if not w.isdigit()} if entry.kind == "colour" else words
    return found


def evidence_match(option: str, supported: set[str]) -> float:
    """Share of the option's meaningful words that the observations support (0 for an option of only stopwords)."""
    wanted = content_words(option)
    return len(wanted & supported) / len(wanted) if wanted else 0.0


def score_options(
    lm: LocalLM, stem: str, options: Sequence[str], facts: Facts, entries: Sequence[Entry], cancel: CancelToken
) -> list[OptionScore]:
    """Every option's scores (``facts``: the question's window; ``entries``: the notes the LM reads); empty when
    ``cancel`` was set before all options were scored."""
    t = facts.t
    letters = [chr(ord("A") + i) for i in range(len(options))]
    logprobs = lm.score(
        choice_question(stem, options, t, entries),
        [f"{letter}. {option}" for letter, option in zip(letters, options, strict=True)],
        cancel,
    )
    if len(logprobs) < len(options):
        return []
    peak = max(logprobs)
    weights = [math.exp(lp - peak) for lp in logprobs]
    total = sum(weights)
    supported = evidence_words(entries)
    grounded = option_evidence(stem, options, facts)
    if grounded is not None and not any(grounded):
        grounded = None  # the facts bear on no option: the words on screen and heard may
    scores = []
    for index, (letter, option, weight) in enumerate(zip(letters, options, weights, strict=True)):
        match = grounded[index] if grounded is not None else evidence_match(option, supported)
        prob = weight / total
        scores.append(OptionScore(letter, option, round(match, 3), round(prob, 3), EVIDENCE_WEIGHT * match + prob))
    return scores


def best(scores: Sequence[OptionScore]) -> OptionScore:
    return max(scores, key=lambda s: s.total)
