"""Semantic end of turn: whether the words heard so far look like a finished turn ("what colour is the car?") or one
the speaker is still in the middle of ("what colour is the…").

``TurnEndClassifier`` is a logistic regression over the transcript's shape: how it ends (a question mark or full
stop, a trailing "…", a comma or dash, nothing), what kind of word it ends on and the one before (a determiner,
preposition, conjunction, auxiliary, subject pronoun or question word leave a phrase open), its length, whether it
opens like a question, and the last word and last two words hashed into small buckets. It is trained here
(``scripts/train_turn_end.py``) on the project's own utterance set (``engine/gate_data``): every utterance as a
finished turn, and its prefixes cut at word boundaries, written as a recogniser writes speech that stopped (no stop,
"…", a comma), as unfinished ones. Whisper itself helps: it ends a cut-off phrase with "..." and a finished question
with "?". The weights are ``engine/gate_data/turn_end_weights.npz``; a judgement takes microseconds.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

WEIGHTS_PATH = Path(__file__).resolve().parent / "gate_data" / "turn_end_weights.npz"

_CLASSES: tuple[frozenset[str], ...] = tuple(
    frozenset(words.split())
    for words in (
        "the a an this that these those my your his her its our their some any every each no another",  # determiners
        "of in on at to for with from by about into onto over under between through after before behind near like "
        "than without during across along around against toward towards upon",  # prepositions
        "and or but so because if when while although though whether nor then",  # conjunctions
        "is are was were be been being am do does did have has had can could will would should may might must shall",
        "i you he she we they it there",  # subject pronouns
        "what which who whom whose where when why how",  # question words
        "not don't doesn't didn't isn't aren't can't won't very really just also uh um er",  # fillers, negation
    )
)
_QUESTION_OPENERS = _CLASSES[3] | _CLASSES[5]
_BUCKETS = 64
_WORD = re.compile(r"[a-z0-9']+")
DIMENSIONS = 6 + 2 * (len(_CLASSES) + 1) + 4 + 1 + 2 * _BUCKETS


def _ending(text: str) -> int:
    """0 '?', 1 '.' or '!', 2 a trailing '...' or '…', 3 ',', '-', ':' or ';', 4 nothing, 5 anything else."""
    stripped = text.rstrip(" \"')]")
    if stripped.endswith(("...", "…")):
        return 2
    last = stripped[-1:] if stripped else ""
    return {"?": 0, ".": 1, "!": 1, ",": 3, "-": 3, "—": 3, ":": 3, ";": 3}.get(last, 4 if last.isalnum() else 5)


def _word_class(word: str) -> int:
    return next((i for i, members in enumerate(_CLASSES) if word in members), len(_CLASSES))


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode()) % _BUCKETS


def features(text: str) -> np.ndarray:
    """The feature vector of one transcript (``DIMENSIONS`` values)."""
    x = np.zeros(DIMENSIONS, np.float32)
    words = _WORD.findall(text.lower())
    x[_ending(text)] = 1.0
    offset = 6
    last = words[-1] if words else ""
    before = words[-2] if len(words) > 1 else ""
    x[offset + _word_class(last)] = 1.0
    offset += len(_CLASSES) + 1
    x[offset + _word_class(before)] = 1.0
    offset += len(_CLASSES) + 1
    n = len(words)
    x[offset + (0 if n <= 1 else 1 if n == 2 else 2 if n <= 5 else 3)] = 1.0
    offset += 4
    x[offset] = float(bool(words) and words[0] in _QUESTION_OPENERS)
    offset += 1
    x[offset + _bucket(last)] = 1.0
    x[offset + _BUCKETS + _bucket(f"{before} {last}")] = 1.0
    return x


class TurnEndClassifier:
    """P(the turn is finished | its transcript so far); implements ``engine.speech.TurnEndDetector``."""

    def __init__(self, path: Path = WEIGHTS_PATH) -> None:
        try:
            stored = np.load(path)
            self.weights = stored["weights"].astype(np.float32)
            self.bias = float(stored["bias"])
        except (OSError, KeyError, ValueError) as exc:
            raise RuntimeError(
                f"turn-end weights {path} cannot be read ({exc}); run scripts/train_turn_end.py"
            ) from exc
        if self.weights.shape != (DIMENSIONS,):
            raise RuntimeError(f"turn-end weights {path} have shape {self.weights.shape}, expected ({DIMENSIONS},)")

    def finished(self, text: str) -> float:
        if not text.strip():
            return 0.0
        return float(1.0 / (1.0 + np.exp(-(features(text) @ self.weights + self.bias))))
