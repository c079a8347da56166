"""Ingest: the sources' items into the engine. Replayed sources are merged by timestamp and released as the clock
allows (in fast replay only once the engine is idle); live ones feed as they capture. Frames wait in a short
drop-oldest queue, audio in a deep one whose backlog is reported as lag; a worker takes each into the backend context
on the ``ingest`` thread, and audio also to listening. A context that reports what it perceived is asked after each
frame, on the same thread, and its events are emitted."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence

from engine.backends.base import BackendContext, BackendRecovered, ReportsPerception
from engine.events import Event
from engine.options import IngestOptions
from engine.session_metrics import SessionMetrics
from engine.work import Held, Work
from streams.clock import Clock
from streams.items import AudioChunk, StreamItem, VideoFrame
from streams.queues import DropOldestQueue, QueueClosed
from streams.source import Source, SourceError


class Ingest:
    def __init__(
        self,
        *,
        context: BackendContext,
        clock: Clock,
        work: Work,
        options: IngestOptions,
        metrics: SessionMetrics,
        error: Callable[[str, str], None],
        hear: Callable[[list[AudioChunk]], Awaitable[None]],
        emit: Callable[[Event], None],
    ) -> None:
        self.context = context
        self.clock = clock
        self.work = work
        self.options = options
        self.metrics = metrics
        self.error = error
        self.hear = hear  # audio to listening, after it went to the backend
        self.emit = emit
        # what the context perceived in each frame, when it can say (``perception`` and ``noticed`` events)
        self._reporter = (
            context if context.capabilities.reports_perception and isinstance(context, ReportsPerception) else None
        )
        # queued input, each item held as pending work until it is taken in
        self._video_q: DropOldestQueue[tuple[VideoFrame, Held]] = DropOldestQueue(options.video_queue_frames)
        self._audio_q: DropOldestQueue[tuple[AudioChunk, Held]] = DropOldestQueue(options.audio_queue_chunks)
        self._lag_reported = False

    @property
    def frames_dropped(self) -> int:
        return self._video_q.dropped

    @property
    def audio_dropped(self) -> int:
        return self._audio_q.dropped

    # ------------------------------------------------------------------ sources
    async def open(self, sources: Sequence[Source]) -> list[Source]:
        """Open every source; one that fails is reported and left out."""
        opened: list[Source] = []
        for source in sources:
            try:
                await asyncio.to_thread(source.open)
                opened.append(source)
            except SourceError as exc:
                self.error(source.name, str(exc))
            except Exception as exc:
                self.error(source.name, f"{source.name}: cannot open ({type(exc).__name__}: {exc})")
        return opened

    async def feed(self, opened: Sequence[Source], accept: Callable[[StreamItem], None], stop: asyncio.Event) -> None:
        """Give every item of ``opened`` to ``accept`` until they are exhausted or ``stop`` is set; then close them."""
        feeders = [self.work.spawn(self._feed_live(s, accept), f"feed-{s.name}") for s in opened if s.live]
        replayed = [s for s in opened if not s.live]
        if replayed:
            feeders.append(self.work.spawn(self._feed_replay(replayed, accept), "feed-replay"))
        stop_wait = asyncio.ensure_future(stop.wait())
        try:
            if feeders:
                await asyncio.wait(
                    [stop_wait, asyncio.gather(*feeders, return_exceptions=True)], return_when=asyncio.FIRST_COMPLETED
                )
            else:
                await stop_wait
        finally:
            stop_wait.cancel()
            for task in feeders:
                task.cancel()
            await asyncio.gather(*feeders, return_exceptions=True)
            for source in opened:
                with contextlib.suppress(Exception):
                    source.close()

    async def _feed_replay(self, sources: Sequence[Source], accept: Callable[[StreamItem], None]) -> None:
        """Merge the replayed sources by timestamp and release items as the clock allows."""
        iters = {}
        for source in sources:
            try:
                iters[source.name] = source.items(self.clock.now).__aiter__()
            except Exception as exc:
                self.error(source.name, f"{source.name}: cannot stream ({type(exc).__name__}: {exc})")
        order = itertools.count()
        heap: list[tuple[float, int, str, StreamItem]] = []

        async def pull(name: str) -> None:
            try:
                item = await iters[name].__anext__()
            except StopAsyncIteration:
                return
            except SourceError as exc:
                self.error(name, str(exc))
                return
            except Exception as exc:
                self.error(name, f"{name}: failed ({type(exc).__name__}: {exc})")
                return
            heapq.heappush(heap, (item.t, next(order), name, item))

        for name in iters:
            await pull(name)
        while heap:
            t, _, name, item = heapq.heappop(heap)
            if self.clock.paced_by_engine:
                await self.work.idle()
            await self.clock.wait_until(t)
            accept(item)
            await pull(name)
        if self.clock.paced_by_engine:
            await self.work.idle()

    async def _feed_live(self, source: Source, accept: Callable[[StreamItem], None]) -> None:
        try:
            async for item in source.items(self.clock.now):
                accept(item)
        except asyncio.CancelledError:
            raise
        except SourceError as exc:
            self.error(source.name, f"{exc}; continuing with the other streams")
        except Exception as exc:
            self.error(
                source.name, f"{source.name}: failed ({type(exc).__name__}: {exc}); continuing with the other streams"
            )

    # ------------------------------------------------------------------ queues and workers
    def queue_frame(self, frame: VideoFrame) -> None:
        dropped = self._video_q.put_nowait((frame, self.work.hold()))
        if dropped is not None:
            dropped[1].release()

    def queue_audio(self, chunk: AudioChunk) -> None:
        dropped = self._audio_q.put_nowait((chunk, self.work.hold()))
        if dropped is not None:
            dropped[1].release()
            self.error("audio", f"audio backlog over {self._audio_q.maxsize} chunks: oldest chunk dropped")

    def start_workers(self) -> list[asyncio.Task[None]]:
        return [
            self.work.spawn(self._video_worker(), "video-worker"),
            self.work.spawn(self._audio_worker(), "audio-worker"),
        ]

    async def drain(self, workers: list[asyncio.Task[None]]) -> None:
        """No more input: the workers take in what is queued and end."""
        self._video_q.close()
        self._audio_q.close()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _video_worker(self) -> None:
        while True:
            try:
                frame, held = await self._video_q.get()
            except QueueClosed:
                return
            try:
                perceived = await self.work.thread("ingest", self._ingest_frame, frame)
                self.metrics.frames += 1
                for event in perceived:
                    self.emit(event)
            except BackendRecovered as exc:
                self.metrics.frames += 1
                self.error("backend", str(exc))
            except Exception as exc:
                self.error("backend", f"ingesting the frame at {frame.t:.2f} s failed: {type(exc).__name__}: {exc}")
            finally:
                held.release()

    def _ingest_frame(self, frame: VideoFrame) -> list[Event]:
        self.context.ingest_frame(frame)
        return self._reporter.perceived() if self._reporter is not None else []

    async def _audio_worker(self) -> None:
        while True:
            try:
                first = await self._audio_q.get()
            except QueueClosed:
                return
            queued = [first]
            while len(self._audio_q) and len(queued) < self.options.audio_batch_chunks:
                queued.append(await self._audio_q.get())
            try:
                await self._process_audio([chunk for chunk, _ in queued])
            except Exception as exc:
                self.error("audio", f"audio processing failed: {type(exc).__name__}: {exc}")
            finally:
                for _, held in queued:
                    held.release()

    async def _process_audio(self, batch: list[AudioChunk]) -> None:
        lag = max(0.0, self.clock.now() - batch[-1].end) if not self.clock.paced_by_engine else 0.0
        self.metrics.audio(len(batch), lag)
        if lag > self.options.audio_lag_warn_s and not self._lag_reported:
            self._lag_reported = True
            self.error("audio", f"audio processing is {lag:.1f} s behind the stream")
        elif lag < self.options.audio_lag_warn_s / 2:
            self._lag_reported = False
        # the backend's audio ingest queues behind frames; voice detection must not wait for it
        held = self.work.hold()
        ingest = self.work.thread("ingest", self._ingest_audio_batch, batch)
        ingest.add_done_callback(lambda future: self._audio_ingested(future, held))
        await self.hear(batch)

    def _audio_ingested(self, future: asyncio.Future[None], held: Held) -> None:
        held.release()
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, BackendRecovered):
            self.error("backend", str(exc))
        elif exc is not None:
            self.error("backend", f"ingesting audio failed: {type(exc).__name__}: {exc}")

    def _ingest_audio_batch(self, batch: list[AudioChunk]) -> None:
        for chunk in batch:
            self.context.ingest_audio(chunk)
