"""The session's event stream: every subscriber gets every event from its subscription on, in order, through its
own bounded queue; one that falls too far behind is disconnected (``SubscriberOverflow``) without slowing the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from engine.events import Event


class SubscriberOverflow(Exception):
    """A subscriber fell more than its queue size behind and was disconnected."""


class EventStream:
    """One subscriber's bounded view of the session's events, in order."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=maxsize)
        self.overflowed = False

    def _offer(self, event: Event | None) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            if self.overflowed and self._queue.empty():
                raise SubscriberOverflow("event subscriber fell too far behind and was disconnected")
            event = await self._queue.get()
            if event is None:
                return
            yield event


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[EventStream] = []

    def subscribe(self, maxsize: int) -> EventStream:
        stream = EventStream(maxsize)
        self._subscribers.append(stream)
        return stream

    def emit(self, event: Event) -> None:
        for sub in self._subscribers:
            sub._offer(event)

    def close(self) -> None:
        """The end of the stream: every subscriber's iteration finishes after the events it has."""
        for sub in self._subscribers:
            sub._offer(None)
