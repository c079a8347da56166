"""The session's work in flight, as one object: the worker threads (one single-thread executor per kind of model
work, so calls of one kind stay ordered), the tasks it spawned, the count of pending work that fast replay waits for
before releasing more input, and the timers that fire as stream time passes.

Pending work is held through ``Held`` handles: ``hold`` takes one, and it is released exactly once, by ``release``
(a second call does nothing) or by the task it was spawned with ending, whatever way it ends.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Held:
    """One unit of pending work."""

    def __init__(self, work: Work) -> None:
        self._work: Work | None = work

    def release(self) -> None:
        work, self._work = self._work, None
        if work is not None:
            work._release()


class Work:
    def __init__(self, pools: Sequence[str], name: str) -> None:
        self._pools = {pool: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{pool}-{name}") for pool in pools}
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()

    # ------------------------------------------------------------------ pending work
    def hold(self) -> Held:
        self._pending += 1
        self._idle.clear()
        return Held(self)

    def _release(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    async def idle(self) -> None:
        """Return once no work is held."""
        await self._idle.wait()

    # ------------------------------------------------------------------ tasks and threads
    def spawn(self, coro: Coroutine[Any, Any, T], name: str, held: Held | None = None) -> asyncio.Task[T]:
        """Run ``coro`` as a task the session cancels when it ends; ``held`` is released when the task ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if held is not None:
            task.add_done_callback(lambda _: held.release())
        return task

    def thread(self, pool: str, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """``fn(*args)`` on the ``pool`` worker thread, as an awaitable future."""
        return asyncio.get_running_loop().run_in_executor(self._pools[pool], fn, *args)

    def submit(self, pool: str, fn: Callable[[], None]) -> Future[None]:
        """``fn()`` on the ``pool`` worker thread, for work that reports back by itself."""
        return self._pools[pool].submit(fn)

    # ------------------------------------------------------------------ stream-time timers
    def at(self, t: float, action: Callable[[], None]) -> None:
        """Run ``action`` once stream time reaches ``t`` (checked as items arrive, so it works in fast replay)."""
        heapq.heappush(self._timers, (t, next(self._timer_seq), action))

    def run_timers(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, action = heapq.heappop(self._timers)
            action()

    # ------------------------------------------------------------------ the end
    async def close(self) -> None:
        """Cancel every task still running and stop the worker threads (queued calls are dropped)."""
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
