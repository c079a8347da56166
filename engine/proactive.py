"""Standing instructions: "tell me when the scoreboard shows 3", "when someone enters, say hello".

``parse_instruction`` recognises an instruction in a query and splits it into the condition to watch and what to say
when it comes true; ``parse_cancel`` recognises a request to drop them. The session keeps the instructions and asks
the backend context to check each condition as the stream goes on (``check_condition``, an optional capability of a
backend context: a context without it cannot take instructions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LEAD = r"(?:please\s+|can you\s+|could you\s+|hey\s+\w+,?\s+)?"
_WHEN = r"(?:when(?:ever)?|if|once|as soon as)"
_NOTIFY = (
    r"(?:tell|let|notify|alert|warn|ping|remind|inform|call out to)\s+(?:me|us)(?:\s+know)?"
    r"|say something|speak up|shout"
)
# One sentence: no sentence end inside (a decimal point is fine), so "When X, output Y. Is it time?" is a question.
_CLAUSE = r"(?:[^.!?\n]|\.(?=\d))+?"
_NOTIFY_WHEN = re.compile(rf"^{_LEAD}(?:{_NOTIFY})\s+{_WHEN}\s+(?P<cond>{_CLAUSE})[.!?]*$", re.I)
_WHEN_SAY = re.compile(
    rf"^{_LEAD}{_WHEN}\s+(?P<cond>{_CLAUSE}),?\s+(?:say|output|tell me|announce|shout)\s+(?P<say>{_CLAUSE})[.!?]*$",
    re.I,
)
_SAY_WHEN = re.compile(
    rf"^{_LEAD}(?:say|output|announce|shout)\s+(?P<say>{_CLAUSE})\s+{_WHEN}\s+(?P<cond>{_CLAUSE})[.!?]*$", re.I
)
_CANCEL = re.compile(
    r"^(?:please\s+)?(?:stop|cancel|forget|clear|drop)\b.*\b(?:alert|alerts|reminder|reminders|instruction|"
    r"instructions|watching|telling me|notifying me|notifications)\b",
    re.I | re.S,
)


@dataclass(frozen=True, slots=True)
class Instruction:
    condition: str
    say: str


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" ,.;:!?\"'")


def parse_instruction(text: str) -> Instruction | None:
    for pattern in (_WHEN_SAY, _SAY_WHEN, _NOTIFY_WHEN):
        m = pattern.match(text.strip())
        if m:
            condition = _clean(m.group("cond"))
            say = _clean(m.groupdict().get("say") or "") or f"Now: {condition}."
            if condition:
                return Instruction(condition=condition, say=say)
    return None


def parse_cancel(text: str) -> bool:
    return bool(_CANCEL.match(text.strip()))


def is_standing(text: str) -> bool:
    """Whether ``text`` sets or cancels standing instructions (the engine replies to it, not the model)."""
    return parse_cancel(text) or parse_instruction(text) is not None
