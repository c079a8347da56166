"""Query policies: decide whether a finished utterance is addressed to the assistant.

A policy gets the transcript and the utterance and returns a ``GateDecision``. Swappable: the session takes any
object with ``decide``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class GateDecision:
    accepted: bool
    reason: str
    score: float | None = None


class QueryPolicy(Protocol):
    def decide(self, text: str, *, start: float, end: float) -> GateDecision: ...


class AnswerEverything:
    """Every non-empty utterance is a query (the ``always`` mode)."""

    def decide(self, text: str, *, start: float, end: float) -> GateDecision:
        if not text.strip():
            return GateDecision(False, "empty transcript")
        return GateDecision(True, "always")
