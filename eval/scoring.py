"""Scoring, official and robust.

Official (as StreamingBench's ``count.py`` computes it): a multiple-choice answer is correct when its first character
equals the gold letter; a proactive answer is correct when the time of the last entry of its ``dialog_history`` is
within −2…+2 s of the ground-truth time and that entry contains the ground-truth output (case-insensitive). Overall and
per-category numbers are micro-averages over the scored items (the leaderboard's 4,301 items: real 2,500 + omni
ER/SCU/SD/MA 1,000 + ACU, MCU, SQA 250 each + proactive 51).

Robust: the letter is parsed from the whole answer (``(B)``, ``Answer: B``, ``b) …``, or the text of exactly one
option); a proactive answer is correct when any output in the window contains the ground-truth output, ignoring case
and punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eval.loader import LETTERS
from eval.tasks import BY_CODE, CATEGORIES, TASKS

PROACTIVE_TOLERANCE_S = 2.0

_LEAD = re.compile(r"^\s*[\(\[]?([A-H])[\)\]]?\s*(?:[.):,;]|$)")
_KEYWORD = re.compile(r"\b(?:answer|option|choice)\b\s*(?:is|would be|:)?\s*[\(\[]?([A-Ha-h])\b", re.I)
_TOKEN = re.compile(r"(?<![\w'])[\(\[]?([A-H])[\)\]]?(?![\w'])")


def official_choice(response: str, gold: str) -> bool:
    """The official rule: the first character of the answer is the gold letter."""
    return bool(response) and response[0] == gold


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def parse_letter(response: str, options: Sequence[str]) -> str | None:
    """The option letter an answer picks, or None when it picks none (or several)."""
    valid = LETTERS[: len(options)]
    for pattern in (_LEAD, _KEYWORD):
        m = pattern.search(response)
        if m and m.group(1).upper() in valid:
            return m.group(1).upper()
    tokens = {m.group(1) for m in _TOKEN.finditer(response) if m.group(1) in valid and m.group(1) != "A"}
    bare_a = re.search(r"(?<![\w'])[\(\[]?A[\)\]]?(?:[.):,;]|$)", response)
    if bare_a:
        tokens.add("A")
    if len(tokens) == 1:
        return tokens.pop()
    said = _norm(response)
    if not said:
        return None
    hits = [valid[i] for i, option in enumerate(options) if _norm(option) and _norm(option) in said]
    return hits[0] if len(hits) == 1 else None


def robust_choice(response: str, gold: str, options: Sequence[str]) -> bool:
    return parse_letter(response, options) == gold


def official_proactive(history: Sequence[Mapping[str, Any]], gt_time: float, gt_output: str) -> bool:
    """The last entry of the dialogue is on time (±2 s) and says the ground-truth output."""
    if not history:
        return False
    last = history[-1]
    on_time = -PROACTIVE_TOLERANCE_S <= float(last["time"]) - gt_time <= PROACTIVE_TOLERANCE_S
    return on_time and gt_output.casefold() in str(last.get("content", "")).casefold()


def robust_proactive(history: Sequence[Mapping[str, Any]], gt_time: float, gt_output: str) -> bool:
    """Some assistant output within ±2 s says the ground-truth output (case and punctuation ignored)."""
    want = _norm(gt_output)
    return any(
        entry.get("role", "assistant") == "assistant"
        and abs(float(entry["time"]) - gt_time) <= PROACTIVE_TOLERANCE_S
        and want in _norm(str(entry.get("content", "")))
        for entry in history
    )


def _accuracy(correct: int, total: int) -> float | None:
    return round(100.0 * correct / total, 2) if total else None


def _bucket(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    total = len(records)
    official = sum(bool(r["official"]) for r in records)
    robust = sum(bool(r["robust"]) for r in records)
    return {
        "total": total,
        "official_correct": official,
        "robust_correct": robust,
        "official": _accuracy(official, total),
        "robust": _accuracy(robust, total),
    }


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy (percent) overall, per category and per task, for the scored (not skipped) records; open questions
    have no right letter and are left to the grounding audit."""
    scored = [r for r in records if not r.get("skipped") and r.get("kind") != "open"]
    by_task: dict[str, list[Mapping[str, Any]]] = {t.code: [] for t in TASKS}
    for r in scored:
        by_task[r["task"]].append(r)
    categories = {c: _bucket([r for r in scored if BY_CODE[r["task"]].category == c]) for c in CATEGORIES}
    tasks = {
        code: {**_bucket(rs), "name": BY_CODE[code].name, "category": BY_CODE[code].category}
        for code, rs in by_task.items()
        if rs
    }
    return {"overall": _bucket(scored), "categories": categories, "tasks": tasks}
