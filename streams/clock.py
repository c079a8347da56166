"""Clocks: what "now" means in stream time, and how a paced source waits for an item's time.

* ``LiveClock``: wall clock; stream time is seconds since the session started.
* ``ReplayClock``: media time of a file being replayed, paced ``realtime`` (item at media time m is released at
  wall time start + m) or ``fast`` (released as soon as the engine has consumed the previous item; stream time jumps
  to each item's timestamp, so events carry the same times as a realtime replay).
"""

from __future__ import annotations

import asyncio
import time
from typing import Literal, Protocol

Pace = Literal["realtime", "fast"]


class Clock(Protocol):
    @property
    def paced_by_engine(self) -> bool:
        """True when items are released only once the engine is idle (fast replay)."""
        ...

    def now(self) -> float:
        """Current stream time in seconds."""
        ...

    async def wait_until(self, t: float) -> None:
        """Return once stream time ``t`` has been reached, advancing it where the clock is driven by items."""
        ...


class LiveClock:
    paced_by_engine = False

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start

    async def wait_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


class ReplayClock:
    def __init__(self, pace: Pace = "fast", start: float = 0.0) -> None:
        if pace not in ("realtime", "fast"):
            raise ValueError(f"pace must be 'realtime' or 'fast', got {pace!r}")
        self.pace: Pace = pace
        self._media = start
        self._wall_origin: float | None = None

    @property
    def paced_by_engine(self) -> bool:
        return self.pace == "fast"

    def now(self) -> float:
        if self.pace == "realtime" and self._wall_origin is not None:
            return max(self._media, time.monotonic() - self._wall_origin)
        return self._media

    async def wait_until(self, t: float) -> None:
        if self.pace == "realtime":
            if self._wall_origin is None:
                self._wall_origin = time.monotonic() - self._media
            delay = self._wall_origin + t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        self._media = max(self._media, t)
