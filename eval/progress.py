"""A plain-text progress bar with ETA on stderr (redrawn in place on a terminal, one line per update otherwise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, *, stream: TextIO | None = None, width: int = 28) -> None:
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        filled = round(self.width * self.done / self.total) if self.total else self.width
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        return (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} items"
            f"  {_clock(elapsed)} elapsed  ETA {_clock(eta) if eta is not None else '?'}"
        )

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.tty:
            self.stream.write("\r" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
