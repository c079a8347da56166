"""Helpers to drive a session through a scripted timeline and collect its events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import numpy as np

from engine.events import Event
from engine.session import Session
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, StreamItem


class ScriptedSource:
    """A replayed source yielding prepared items; ``fail_after`` raises a SourceError after that many items."""

    def __init__(
        self, name: str, kind: str, items: Sequence[StreamItem], *, live: bool = False, fail_after: int | None = None
    ) -> None:
        self.name = name
        self.kind = kind
        self.live = live
        self._items = list(items)
        self.fail_after = fail_after
        self.closed = False

    def open(self) -> None:
        """Nothing to open."""

    async def items(self, now: Callable[[], float]) -> AsyncIterator[StreamItem]:
        from streams.source import SourceError

        for i, item in enumerate(self._items):
            if self.fail_after is not None and i >= self.fail_after:
                raise SourceError(f"{self.name}: device unplugged")
            yield item
            await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True


def audio_timeline(seconds: float, loud: Sequence[tuple[float, float]], name: str = "mic") -> ScriptedSource:
    """Silence with loud (speech-like) stretches [(start, end), ...] in 32 ms chunks."""
    chunks = []
    n = int(seconds * SAMPLE_RATE / CHUNK_SAMPLES)
    for i in range(n):
        t = i * CHUNK_SAMPLES / SAMPLE_RATE
        amp = 0.3 if any(a <= t < b for a, b in loud) else 0.0
        chunks.append(AudioChunk(t=round(t, 5), samples=np.full(CHUNK_SAMPLES, amp, np.float32), source=name))
    return ScriptedSource(name, "audio", chunks)


async def run_collect(session: Session, sources: Sequence[object]) -> list[Event]:
    events = session.subscribe()
    collected: list[Event] = []

    async def collect() -> None:
        async for event in events:
            collected.append(event)

    task = asyncio.create_task(collect())
    await session.run(sources)  # type: ignore[arg-type]
    await task
    return collected


def types(events: Sequence[Event]) -> list[str]:
    return [e.type for e in events if e.type != "metrics"]
