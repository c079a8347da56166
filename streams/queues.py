"""Bounded async queues with an explicit overflow policy.

One policy, two uses. When full, the oldest item is discarded, counted and handed back to the caller, which reports
it. Video uses a short queue, so the engine always works on the freshest frames and drops are routine (counted in
metrics). Audio uses a deep queue (minutes): the backlog is reported as lag long before anything is dropped, and a
drop past the hard limit becomes an ``error`` event, never silent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class QueueClosed(Exception):
    """Raised by ``get`` once the queue is closed and drained."""


class DropOldestQueue(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.put_count = 0
        self.dropped = 0
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    def put_nowait(self, item: T) -> T | None:
        """Add ``item``; returns the item that was dropped to make room, if any."""
        if self._closed:
            raise QueueClosed("queue is closed")
        dropped = None
        if len(self._items) >= self.maxsize:
            dropped = self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self.put_count += 1
        self.high_water = max(self.high_water, len(self._items))
        self._ready.set()
        return dropped

    async def get(self) -> T:
        while not self._items:
            if self._closed:
                raise QueueClosed("queue is closed")
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def peek_oldest(self) -> T | None:
        return self._items[0] if self._items else None
