"""Live sources fed by an interface (websocket, MQTT, browser) rather than read from a device.

The interface calls ``push_audio`` / ``push_frame`` as data arrives; items are stamped with the session clock on
arrival. Audio is stamped contiguously (each chunk starts where the previous ended) unless the sender paused, so
the VAD sees a gapless timeline. ``end()`` finishes the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np

from streams.audio import ChunkAssembler
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, StreamItem, VideoFrame
from streams.source import Kind

_END = object()


class PushSource:
    live = True

    def __init__(self, kind: Kind, name: str, *, now: Callable[[], float]) -> None:
        self.kind = kind
        self.name = name
        self._now = now
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._assembler = ChunkAssembler()
        self._audio_end: float | None = None
        self._ended = False

    def open(self) -> None:
        """Nothing to open: data arrives through ``push_*``."""

    def close(self) -> None:
        self.end()

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_END)

    def push_audio(self, samples: np.ndarray) -> int:
        """Add 16 kHz mono float32 samples; returns the number of whole 32 ms chunks released."""
        if self._ended:
            raise RuntimeError(f"{self.name}: stream already ended")
        chunks = self._assembler.push(samples)
        now = self._now()
        for chunk in chunks:
            duration = CHUNK_SAMPLES / SAMPLE_RATE
            fresh = max(0.0, now - duration)
            t = self._audio_end if self._audio_end is not None and self._audio_end > fresh - 0.5 else fresh
            self._audio_end = t + duration
            self._queue.put_nowait(AudioChunk(t=round(t, 5), samples=chunk, source=self.name))
        return len(chunks)

    def push_frame(self, image: np.ndarray, t: float | None = None) -> None:
        """Add an RGB uint8 frame, stamped now unless the sender gives its own stream time."""
        if self._ended:
            raise RuntimeError(f"{self.name}: stream already ended")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{self.name}: frame must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
        self._queue.put_nowait(VideoFrame(t=self._now() if t is None else t, image=image, source=self.name))

    async def items(self, now: Callable[[], float]) -> AsyncIterator[StreamItem]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]
