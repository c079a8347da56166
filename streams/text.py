"""Scheduled text input: lines typed to the assistant at given stream times (``"question@12.5"`` on the CLI)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence

from streams.items import TextInput

_AT = re.compile(r"^(?P<text>.*?)@(?P<t>\d+(?:\.\d+)?)\s*$", re.S)


def parse_timed_text(spec: str) -> tuple[float, str]:
    """``"what is this?@3.5"`` → (3.5, "what is this?"); no ``@seconds`` suffix → time 0."""
    m = _AT.match(spec)
    if m and m.group("text").strip():
        return float(m.group("t")), m.group("text").strip()
    if not spec.strip():
        raise ValueError("text input is empty")
    return 0.0, spec.strip()


class ScheduledTextSource:
    """Lines ``(t, text)``, or ``(t, text, turn_id)`` to name the turn each becomes (its ``query.accepted`` or
    ``query.ignored`` carries the id, so a caller can tell its answers apart)."""

    kind = "text"
    live = False

    def __init__(self, lines: Sequence[tuple[float, str] | tuple[float, str, str]], name: str = "text") -> None:
        for line in lines:
            if line[0] < 0:
                raise ValueError(f"{name}: negative time {line[0]}")
        self.lines = sorted(lines, key=lambda line: line[0])
        self.name = name

    def open(self) -> None:
        """Nothing to open."""

    async def items(self, now: Callable[[], float]) -> AsyncIterator[TextInput]:
        for t, text, *turn_id in self.lines:
            yield TextInput(t=t, text=text, source=self.name, turn_id=turn_id[0] if turn_id else None)

    def close(self) -> None:
        """Nothing to close."""
