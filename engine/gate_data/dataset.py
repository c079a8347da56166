"""The gate's labelled English dataset: hand-written utterances plus templates filled with split-specific words.

Labels: 1 = addressed to the assistant, 0 = background speech. The held-out split has its own hand-written lines,
its own templates and its own filler words, so no held-out sentence shares a template or filler list with training.
About a quarter of the sentences are rewritten the way a recogniser may return them (lower case, no punctuation).
"""

from __future__ import annotations

import json
import random
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DATA_DIR = Path(__file__).resolve().parent
SPLITS: tuple[str, ...] = ("train", "heldout")
LABELS = {"addressed": 1, "background": 0}
Split = Literal["train", "heldout"]

_FILLS_PER_TEMPLATE = {"train": 14, "heldout": 10}
PLAIN_SHARE = 0.25  # sentences written the way a recogniser returns them
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1 addressed, 0 background
    split: str
    source: str  # "handwritten" or "template"


def stable_rng(*parts: str) -> random.Random:
    """A random generator seeded by ``parts``: the same choices on every run and machine."""
    return random.Random(zlib.crc32("\x1f".join(parts).encode()))


def _read_lines(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    return text[:1].upper() + text[1:]


def _expand(template: str, fillers: dict[str, list[str]], count: int, seed: str) -> list[str]:
    slots = _SLOT.findall(template)
    missing = [slot for slot in slots if slot not in fillers]
    if missing:
        raise ValueError(f"template {template!r} uses slots without fillers: {missing}")
    rng = stable_rng(seed, template)
    out: list[str] = []
    for _ in range(count * 4):
        text = _tidy(_SLOT.sub(lambda m: rng.choice(fillers[m.group(1)]), template))
        if text not in out:
            out.append(text)
        if len(out) == count:
            break
    return out


def plain(text: str) -> str:
    """``text`` in lower case without punctuation, as a recogniser may return it."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w' ]", " ", text.lower())).strip()


def _asr_style(text: str, seed: str) -> str:
    """``plain`` for a fixed share of sentences."""
    return plain(text) if stable_rng(seed, "plain", text).random() < PLAIN_SHARE else text


def load_examples(split: Split | None = None, *, seed: str = "gate-v1") -> list[Example]:
    """All examples of ``split`` (both splits when None), in a fixed order. Train never repeats a held-out text."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    spec = json.loads((DATA_DIR / "templates.json").read_text(encoding="utf-8"))
    by_split: dict[str, list[Example]] = {}
    for name in SPLITS:
        examples: list[Example] = []
        for label_name, label in LABELS.items():
            texts = [(t, "handwritten") for t in _read_lines(DATA_DIR / f"{label_name}_{name}.txt")]
            for template in spec[name][label_name]:
                filled = _expand(template, spec["fillers"][name], _FILLS_PER_TEMPLATE[name], seed)
                texts.extend((t, "template") for t in filled)
            seen: set[str] = set()
            for text, source in texts:
                styled = _asr_style(text, seed)
                if styled.lower() not in seen:
                    seen.add(styled.lower())
                    examples.append(Example(styled, label, name, source))
        by_split[name] = examples
    heldout_texts = {e.text.lower() for e in by_split["heldout"]}
    by_split["train"] = [e for e in by_split["train"] if e.text.lower() not in heldout_texts]
    if split is not None:
        return by_split[split]
    return by_split["train"] + by_split["heldout"]
