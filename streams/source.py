"""The source protocol and the bridge from a blocking reader thread to the event loop.

A source is opened (blocking: devices and files are opened in a worker thread, and a failure raises ``SourceError``
with a message naming the source), then iterated asynchronously for timestamped items. ``live`` sources stamp items
with the wall clock as they capture them; the others (files, scheduled text) carry media time and are paced by the
session's clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Literal, Protocol, TypeVar

from streams.items import StreamItem

Kind = Literal["video", "audio", "text"]
T = TypeVar("T")


class SourceError(Exception):
    """A source could not be opened or failed while streaming. The message names the source."""


class Source(Protocol):
    name: str
    kind: Kind
    live: bool

    def open(self) -> None:
        """Blocking: open the device or file; raise ``SourceError`` naming the source when that fails."""
        ...

    def items(self, now: Callable[[], float]) -> AsyncIterator[StreamItem]:
        """Yield items in time order. Live sources stamp them with ``now()`` (the session clock)."""
        ...

    def close(self) -> None: ...


_END = object()


async def iterate_in_thread(
    make: Callable[[], Iterator[T]], *, maxsize: int = 64, name: str = "reader"
) -> AsyncIterator[T]:
    """Run a blocking generator in its own thread and yield its items on the event loop.

    At most ``maxsize`` items wait between the thread and the consumer (the thread blocks beyond that). An exception
    in the generator is re-raised in the consumer. Closing the async iterator stops the thread at its next item.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    slots = threading.Semaphore(maxsize)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in make():
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(queue.put_nowait, item)
            loop.call_soon_threadsafe(queue.put_nowait, _END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            if not stop.is_set():
                loop.call_soon_threadsafe(queue.put_nowait, exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            slots.release()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
